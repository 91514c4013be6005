"""Quality signals and per-type thresholds on real texts: real documents are kept, list pages and junk dropped."""

import json
from pathlib import Path

import pytest

from fincorpus.cleaning.boilerplate import clean_boilerplate
from fincorpus.cleaning.decode import decode_bytes
from fincorpus.cleaning.extract import extract_html
from fincorpus.cleaning.normalize import normalize_text
from fincorpus.cleaning.quality import (
    DEFAULT_THRESHOLDS,
    QualityFilter,
    Thresholds,
    compute_quality,
    thresholds_for,
)


def _kept(texts: list[str], doc_type: str) -> list[bool]:
    f = QualityFilter(thresholds_for(doc_type), doc_type)
    return [f.decide(compute_quality(clean_boilerplate(normalize_text(t)).text)).keep for t in texts]


def test_repetition_signals_on_invented_text() -> None:
    prose = "央行今天开展了逆回购操作，市场流动性保持合理充裕。分析人士认为，后续政策仍有空间。"
    spam = "点击领取红包" * 40
    assert compute_quality(prose)["dup_10gram_char_frac"] == 0.0
    s = compute_quality(spam)
    assert s["top_2gram_char_frac"] > 0.3 and s["dup_10gram_char_frac"] > 0.9
    assert not QualityFilter(Thresholds()).decide(s).keep
    lines = compute_quality("\n".join(["首页", "新闻", "财经", "股票", "基金", "债券", "期货"]))
    assert lines["nav_line_share"] == 1.0 and lines["punct_end_share"] == 0.0
    assert not QualityFilter(Thresholds()).decide(lines).keep


def test_digit_share_is_recorded_but_never_decides() -> None:
    assert not any(f.name.endswith("digit_share") for f in __import__("dataclasses").fields(Thresholds))
    table = "营业收入 1,234,567.89 1,111,222.33 11.10%\n净利润 234,567.12 210,000.00 11.70%\n" * 3
    assert compute_quality(table)["digit_share"] > 0.5


def test_thresholds_differ_per_document_type() -> None:
    assert DEFAULT_THRESHOLDS["report"].min_punct_end_share is None
    assert (
        DEFAULT_THRESHOLDS["announcement"].max_dup_10gram_char_frac
        > DEFAULT_THRESHOLDS["news"].max_dup_10gram_char_frac
    )
    assert thresholds_for("news", {"news": {"min_chars": 10}}).min_chars == 10
    with pytest.raises(ValueError, match="unknown document type 'blog'"):
        thresholds_for("blog")


def test_real_news_articles_are_kept(data_dir: Path) -> None:
    rows = [
        json.loads(x)
        for x in (data_dir / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    kept = _kept([r["text"] for r in rows], "news")
    long_enough = [k for k, r in zip(kept, rows, strict=True) if len(r["text"]) >= 100]
    assert sum(long_enough) / len(long_enough) >= 0.99


def test_statutes_announcements_and_reports_are_kept(data_dir: Path) -> None:
    laws = [p.read_text(encoding="utf-8") for p in sorted((data_dir / "texts/laws").glob("*/*.md"))]
    assert all(_kept(laws, "official"))
    lines = (data_dir / "texts/announcements_cfee/FREEZE_Data.json").read_text(encoding="utf-8").splitlines()
    announcements = [json.loads(x)["Doc"] for x in lines]
    kept = _kept(announcements, "announcement")
    assert sum(kept) / len(kept) >= 0.995


def test_real_list_pages_are_dropped_and_articles_kept(data_dir: Path) -> None:
    """shared/data/html labels each real page article or list; lists must go, articles must stay."""
    index = [json.loads(x) for x in (data_dir / "html/index.jsonl").read_text(encoding="utf-8").splitlines()]
    f = QualityFilter(thresholds_for("news"), "news")
    outcome: dict[str, list[bool]] = {"article": [], "list": []}
    for entry in index:
        html = decode_bytes((data_dir / entry["file"]).read_bytes()).text
        ex = extract_html(html, "http://x.test/")
        text = clean_boilerplate(normalize_text(ex.text)).text
        outcome[entry["page_type"]].append(f.decide(compute_quality(text), ex.page_type).keep)
    assert len(outcome["list"]) >= 8 and not any(outcome["list"])
    assert sum(outcome["article"]) / len(outcome["article"]) >= ARTICLE_KEEP_SHARE


ARTICLE_KEEP_SHARE = 0.85


def test_repetition_of_a_text_over_the_sample_size_is_measured_on_windows_and_agrees_with_the_whole() -> None:
    """Over REPETITION_SAMPLE_CHARS the repetition signals see evenly spaced windows; on invented long texts
    (a repeated block, unique characters, a spam tail) they agree with the exact figure over the whole text."""
    import numpy as np

    from fincorpus.cleaning import quality

    rng = np.random.default_rng(7)
    unique = "".join(chr(c) for c in rng.integers(0x4E00, 0x9FFF, 1_600_000))  # almost no repeated 10-grams
    block = unique[:4_000]
    cases = {
        "repeated block": block * 400,  # 1.6M characters, every 10-gram after the first block repeats
        "unique": unique,
        "half spam": unique[:800_000] + "点击领取红包" * 133_334,
    }
    for name, text in cases.items():
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        assert len(codes) > quality.REPETITION_SAMPLE_CHARS
        sample = quality.repetition_sample(codes)
        assert len(sample) == quality.REPETITION_SAMPLE_CHARS
        assert (sample[:10] == codes[:10]).all() and (sample[-10:] == codes[-10:]).all()  # both ends are in
        exact, got = quality._repetition(codes), compute_quality(text)
        for key in (
            "top_2gram_char_frac",
            "top_4gram_char_frac",
            "dup_5gram_char_frac",
            "dup_10gram_char_frac",
        ):
            assert abs(got[key] - exact[key]) <= 0.03, (name, key, got[key], exact[key])
    short = block * 10  # under the sample size: the whole text, as before
    codes = np.frombuffer(short.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    assert quality.repetition_sample(codes) is codes
