"""HTML extraction on real pages: ground-truth quality, selectors, page types, fallbacks and mojibake."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from fincorpus.cleaning.decode import Decoded, MojibakeError, decode_bytes, ensure_clean
from fincorpus.cleaning.extract import Extracted, ExtractionError, _to_xpath, extract_html
from fincorpus.cleaning.mojibake import is_mojibake, mojibake_score


def _index(data_dir: Path) -> list[dict]:
    return [
        json.loads(x) for x in (data_dir / "html" / "index.jsonl").read_text(encoding="utf-8").splitlines()
    ]


def _chars(text: str) -> Counter[str]:
    return Counter(c for c in text if not c.isspace())


def _page(data_dir: Path, rel: str) -> str:
    return decode_bytes((data_dir / rel).read_bytes()).text


def test_cwced_ground_truth_precision_and_recall(data_dir: Path) -> None:
    """Micro-averaged character P/R on the 35 human-annotated CWCED pages (plain trafilatura: P 0.68, R 0.88;
    the former favor_recall configuration: P 0.82, R 0.99; see bench/extraction.py)."""
    overlap = ours = truth = 0
    gt = data_dir / "groundtruth" / "cwced" / "cleaned"
    for entry in _index(data_dir):
        if entry["site"] != "cwced":
            continue
        ex = extract_html(_page(data_dir, entry["file"]), "http://cwced.test/a.html")
        a, b = _chars(ex.text), _chars((gt / f"{Path(entry['file']).stem}.txt").read_text(encoding="utf-8"))
        overlap, ours, truth = (
            overlap + sum((a & b).values()),
            ours + sum(a.values()),
            truth + sum(b.values()),
        )
    assert overlap / ours >= 0.92
    assert overlap / truth >= 0.96


def test_selectors_pick_the_template_body(data_dir: Path) -> None:
    rows = [
        json.loads(x) for x in (data_dir / "sites" / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    law = next(
        r for r in rows if r["host"] == "regulator.test" and (r.get("source") or "").startswith("texts/laws")
    )
    page = _page(data_dir, f"sites/{law['file']}")
    source = (data_dir / law["source"]).read_text(encoding="utf-8")
    article_1 = next(line for line in source.splitlines() if line.startswith("第一条"))
    for selector in ("#zoom", "div#zoom", "//div[@id='zoom']"):
        ex = extract_html(page, law["url"], selectors=("//div[@id='no-such-block']", selector))
        assert ex.path.split(";")[0] == f"selector:{selector}"
        assert article_1 in ex.text
        assert "设为首页" not in ex.text and "打印本页" not in ex.text
        assert ex.title and ex.published_at is not None  # metadata still comes from the whole page
    assert extract_html(page, law["url"], selectors=("#no-such-block",)).path.split(";")[0] == "trafilatura"
    with pytest.raises(ValueError, match="content selector"):
        extract_html(page, law["url"], selectors=("div[data-x=1] ~ p",))


@pytest.mark.parametrize(
    ("css", "xpath"),
    [
        ("#zoom", "//*[@id='zoom']"),
        ("div.ann-body", "//div[contains(concat(' ', normalize-space(@class), ' '), ' ann-body ')]"),
        ("div#main > p", "//div[@id='main']/p"),
        ("//div[@id='artibody']", "//div[@id='artibody']"),
    ],
)
def test_css_subset_translation(css: str, xpath: str) -> None:
    assert _to_xpath(css) == xpath


def test_page_type_on_real_pages(data_dir: Path) -> None:
    index = _index(data_dir)
    got = [
        (e["page_type"], extract_html(_page(data_dir, e["file"]), "http://x.test/").page_type) for e in index
    ]
    assert sum(a == b for a, b in got) / len(got) >= 0.95
    lists = [b for a, b in got if a == "list"]
    assert lists.count("list") / len(lists) >= 0.75


def test_fallback_when_the_main_result_is_implausibly_short(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the balanced mode returns next to nothing for an article page, the recall mode and then the
    baseline extractor are tried, and `path` records which one produced the text."""
    from types import SimpleNamespace

    import fincorpus.cleaning.extract as extract

    entry = next(e for e in _index(data_dir) if e["site"] == "cwced")
    page = _page(data_dir, entry["file"])
    real = extract._trafilatura
    normal = extract_html(page, "http://cwced.test/a.html")
    assert normal.path.split(";")[0] == "trafilatura"

    def starved(tree, url, *, favor_recall, **kw):  # type: ignore[no-untyped-def]
        doc = real(tree, url, favor_recall=favor_recall, **kw)
        metadata_only = kw.get("metadata_only", False)
        return (
            doc
            if metadata_only or favor_recall
            else SimpleNamespace(text="短", title=None, date=None, author=None)
        )

    monkeypatch.setattr(extract, "_trafilatura", starved)
    ex = extract_html(page, "http://cwced.test/a.html")
    assert ex.path.split(";")[0] == "fallback:trafilatura-recall"
    assert len(ex.text) > 0.8 * len(normal.text)
    assert extract_html(page, "http://cwced.test/a.html", fallback=False).text == "短"

    def empty(tree, url, *, favor_recall, **kw):  # type: ignore[no-untyped-def]
        return None

    monkeypatch.setattr(extract, "_trafilatura", empty)
    ex = extract_html(page, "http://cwced.test/a.html")
    assert ex.path.split(";")[0] == "fallback:baseline" and len(ex.text) > 300


def test_extracted_keeps_positional_construction() -> None:
    ex = Extracted("正文", None, None, "plain-text", "1")
    assert (ex.author, ex.issuing_body, ex.doc_number, ex.page_type, ex.path) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_no_real_page_is_flagged_after_our_decoding(data_dir: Path) -> None:
    flagged = []
    for entry in _index(data_dir):
        d = decode_bytes((data_dir / entry["file"]).read_bytes())
        bad, reason = is_mojibake(d.text)
        if bad or d.mojibake or d.source == "fallback-after-mojibake":
            flagged.append((entry["file"], reason, d.source))
    assert flagged == []


def test_wrong_decodings_of_real_pages_are_mojibake(data_dir: Path) -> None:
    gbk = [e for e in _index(data_dir) if e["detected_encoding"] != "utf-8"]
    utf8 = [e for e in _index(data_dir) if e["declared_charset"] == "utf-8"][:15]
    assert len(gbk) >= 20
    for e in gbk:
        body = (data_dir / e["file"]).read_bytes()
        for wrong in ("utf-8", "latin-1", "big5"):
            assert is_mojibake(body.decode(wrong, errors="replace"))[0], (e["file"], wrong)
        assert mojibake_score(body.decode("gb18030", errors="replace")) < 1.0
    for e in utf8:
        body = (data_dir / e["file"]).read_bytes()
        for wrong in ("gb18030", "cp1252"):
            assert is_mojibake(body.decode(wrong, errors="replace"))[0], (e["file"], wrong)


def test_lying_header_is_redecoded(data_dir: Path) -> None:
    entry = next(e for e in _index(data_dir) if e["detected_encoding"] != "utf-8")
    body = (data_dir / entry["file"]).read_bytes()
    d = decode_bytes(
        body, "text/html; charset=iso-8859-1"
    )  # every byte is valid Latin-1: only the check catches it
    assert (d.charset, d.source, d.mojibake) == ("gb18030", "fallback-after-mojibake", None)
    assert decode_bytes(body, "text/html; charset=iso-8859-1", check=False).charset == "iso8859-1"


def test_no_clean_decoding_is_reported_and_raises() -> None:
    # text that was already garbled before it was encoded: no charset can repair it
    garbled = ("<html><body><p>" + "ä¸­å›½äººæ°‘é“¶è¡Œå…¬å‘Š" * 30 + "</p></body></html>").encode("utf-8")
    d = decode_bytes(garbled)
    assert d.mojibake and "latin1_runs" in d.mojibake
    with pytest.raises(MojibakeError, match="no clean decoding"):
        ensure_clean(d)
    assert ensure_clean(Decoded("正常文本", "utf-8", "meta")).text == "正常文本"
    with pytest.raises(ExtractionError, match="mojibake"):
        extract_html(d.text, "http://x.test/a.html")


def test_mojibake_signals_on_invented_text() -> None:
    clean = "中国人民银行今日开展逆回购操作，维护银行体系流动性合理充裕。" * 3
    assert is_mojibake(clean) == (False, "")
    assert is_mojibake(clean.encode("utf-8").decode("gb18030", errors="replace"))[0]
    assert is_mojibake("锟斤拷" * 3 + clean)[1].startswith("mojibake: 3 runs")
    assert not is_mojibake(clean + "\ufffd")[0]  # one stray replacement character is the publisher's
    assert re.search(
        r"rare_cjk|replacement", is_mojibake(clean.encode("utf-8").decode("gb18030", "replace"))[1]
    )
