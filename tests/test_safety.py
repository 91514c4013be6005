"""TC260 screens: matching, warning contexts, false positives on real financial texts, sample sizes, intervals,
and the source gate on a source seeded with spam (the spam texts are written for the test)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from fincorpus.licensing import LicenceDecision, OptOuts, derive_usage
from fincorpus.safety import (
    ScreenDoc,
    assess_source,
    clopper_pearson,
    default_library,
    draw_sample,
    fold,
    load_classifier,
    read_gate_report,
    sample_size,
    screen_text,
    training_blocks,
    wilson_interval,
    write_gate_report,
)

# Our own spam, in the forms the library's categories describe.
SPAM_PARTS = [
    "内部原始股认购，保本保息，月息3%，到期还本，名额有限",
    "老师带单，明日必涨，免费领取牛股，拉你进群，加微信 gu888168",
    "股票配资1:10，免息配资，秒到账，实盘配资开户，联系客服",
    "真人荷官百家乐，注册送88元彩金，首充送，秒出款，加QQ 12345678",
    "兼职日结，刷单返利，动动手指日赚500，加vx tt55667",
    "静态收益加动态收益，发展下线拉人头，直推奖见点奖天天到账",
    "无抵押贷款秒批秒到，黑户可贷不看征信，详情咨询",
    "午夜福利视频，同城约炮，裸聊一对一，点击链接",
]


def spam_text(rng: random.Random) -> str:
    parts = rng.sample(SPAM_PARTS, 2)
    return "。".join(parts) + "。机会难得，错过再等一年！"


def test_folding_defeats_spacing_width_and_traditional_script() -> None:
    assert "配资" in fold("配 资") and "配资" in fold("配*资") and "配资" in fold("場外配資")
    assert fold("ＣＣ１２３ＡＢ") == "cc123ab"
    hits = {h.term for h in screen_text("免 息 配 资，秒·到·账，１：１０倍杠杆").hits}
    assert {"免息配资", "秒到账"} <= hits


def test_fast_fold_and_regex_patterns_match_what_the_plain_re_forms_match() -> None:
    """fold's separator pattern (written to begin with a character class) removes what the lookbehind form removed,
    and every library pattern compiled with the regex module finds the spans re finds."""
    import re

    from fincorpus import safety

    lookbehind = re.compile(r"(?<=[\u4e00-\u9fff])[\s\-_*·.|/\\~^+=#@]+(?=[\u4e00-\u9fff])")
    rng = random.Random(11)
    alphabet = ["中", "国", " ", "-", ".", "a", "\n", "*", "1", "|", "\u3000"]
    for _ in range(20000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
        assert safety._SEPARATOR.sub(r"\1", s) == lookbehind.sub("", s), repr(s)
    spam = safety.fold(
        "月息高达 5.5% 投 100 元 三天赚 300，1:10倍配资，20 倍杠杆，注册即送 88 元，微信：abc_12345，明天必涨停，"
        "日赚 5000，收益翻 3倍，一代 奖励，年化收益率 35%。"
    )
    found = 0
    for pattern, _term in safety.default_library().patterns:
        plain = re.compile(pattern.pattern)
        for text in (spam, spam * 3 + "第1条 x" * 50):
            spans = [m.span() for m in plain.finditer(text)]
            assert [m.span() for m in pattern.finditer(text)] == spans, pattern.pattern
            found += len(spans)
    assert found >= 20  # most patterns really matched something


def test_warnings_and_topics_are_not_promotion() -> None:
    warning = "警惕以高额回报为诱饵的非法集资，谨防保本保息骗局，切勿相信老师带单。"
    r = screen_text(warning)
    assert not r.flagged and all(h.warned for h in r.hits if h.kind != "topic")
    law = "第一条 为了防范和处置非法集资，制定本条例。第二条 非法集资是指未经许可向不特定对象吸收资金。" * 5
    assert not screen_text(law).flagged  # topic terms alone never flag
    assert not screen_text("客服电话请加微信 abc12345 咨询开户事宜。").flagged  # a contact alone is no spam
    spam = screen_text(SPAM_PARTS[0] + "。" + SPAM_PARTS[1])
    assert spam.flagged and spam.categories[0] in ("illegal-fundraising", "unlicensed-stock-tips")
    assert spam.library_version == default_library().version


def _real_texts(data_dir: Path) -> dict[str, list[str]]:
    base = data_dir / "texts"
    laws = [p.read_text(encoding="utf-8") for p in sorted((base / "laws").glob("**/*.md"))]
    cnews = [
        json.loads(line)["text"]
        for line in (base / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    ann = []
    for line in (base / "announcements_cfee" / "FREEZE_Data.json").read_text(encoding="utf-8").splitlines():
        if line.strip():
            ann.append(json.loads(line)["Doc"])
    return {"laws": laws, "cnews": cnews, "announcements": ann}


def test_no_false_positives_on_real_financial_texts(data_dir: Path) -> None:
    """Laws (incl. 防范和处置非法集资条例 and the judicial interpretations on illegal fund-raising), news and
    announcements of the shared data: legitimate texts that name the practices the library looks for."""
    for name, texts in _real_texts(data_dir).items():
        assert len(texts) > 100, name
        flagged = [t[:60] for t in texts if screen_text(t).flagged]
        assert len(flagged) / len(texts) <= 0.002, (name, flagged)


def test_sample_size_is_cochran_with_finite_population_correction() -> None:
    assert sample_size(10**9) == 457  # 1.96^2 * 0.05 * 0.95 / 0.02^2 = 456.2
    assert sample_size(1000) == 314
    assert sample_size(25) == 25 and sample_size(0) == 0
    assert sample_size(10**9, margin=0.01) == 1825


def test_intervals() -> None:
    lo, hi = wilson_interval(5, 100)
    assert lo == pytest.approx(0.0215, abs=5e-4) and hi == pytest.approx(0.1118, abs=5e-4)
    lo, hi = clopper_pearson(5, 100)
    assert lo == pytest.approx(0.0164, abs=5e-4) and hi == pytest.approx(0.1128, abs=5e-4)
    assert wilson_interval(0, 50)[0] == 0.0 and clopper_pearson(0, 50)[0] == 0.0
    from scipy.stats import beta  # the textbook form, against the betaincinv one used

    for k, n in ((1, 10), (5, 100), (37, 380), (199, 200)):
        lo, hi = clopper_pearson(k, n)
        assert lo == pytest.approx(beta.ppf(0.025, k, n - k + 1), rel=1e-9)
        assert hi == pytest.approx(beta.ppf(0.975, k + 1, n - k), rel=1e-9)


def test_sample_is_reproducible() -> None:
    ids = [f"d{i}" for i in range(500)]
    assert draw_sample(ids, 50, 7) == draw_sample(reversed(ids), 50, 7) != draw_sample(ids, 50, 8)


def test_sample_of_arrow_ids_is_the_sample_of_the_same_ids_as_strings() -> None:
    """The gate passes a run's ids as Arrow arrays (no Python list of the run): same population, same sample as
    the list form and as the earlier ``random.sample(sorted(set(ids)), n)`` (reports drawn before still match)."""
    import random

    import pyarrow as pa

    from fincorpus.safety import sorted_ids

    rng = random.Random(3)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(3000)] + ["上海", "上海", "ab", "Ab"]
    arrow = pa.chunked_array([pa.array(ids[:1000]), pa.array([*ids[1000:], None])])
    assert list(sorted_ids(arrow)) == sorted(set(ids))
    for seed in (1, 2, 99):
        expected = sorted(random.Random(seed).sample(sorted(set(ids)), 200))
        assert draw_sample(ids, 200, seed) == expected
        assert draw_sample(sorted_ids(arrow), 200, seed) == expected
        assert draw_sample(arrow, 200, seed) == expected


@pytest.fixture(scope="module")
def clean_docs(data_dir: Path) -> list[ScreenDoc]:
    texts = _real_texts(data_dir)
    return [ScreenDoc(f"c{i}", t) for i, t in enumerate(texts["cnews"][:300] + texts["announcements"][:300])]


def test_gate_blocks_a_spam_seeded_source_and_passes_a_clean_one(
    clean_docs: list[ScreenDoc], tmp_path: Path
) -> None:
    rng = random.Random(11)
    seeded = clean_docs[:500] + [
        ScreenDoc(f"s{i}", spam_text(rng), url=f"http://spam.example/{i}") for i in range(50)
    ]
    report = assess_source("spammy", seeded, stage="pre-assessment", seed=3)
    assert report.sample_size == sample_size(550) and report.blocked and report.rate > 0.05
    assert report.wilson[0] < report.rate < report.wilson[1] and "blocked for training" in report.reason
    assert report.flagged_docs and all(d["doc_id"].startswith("s") for d in report.flagged_docs)
    clean = assess_source("clean", clean_docs, stage="post-verification", seed=3)
    assert clean.decision == "pass" and clean.flagged == 0 and clean.certain
    json_path, md_path = write_gate_report(report, tmp_path)
    assert read_gate_report(json_path).rate == report.rate and "blocked" in md_path.read_text(
        encoding="utf-8"
    )
    blocks = training_blocks([clean, report])
    assert set(blocks) == {"spammy"}
    decision = LicenceDecision(
        "exchange-asserted", ("research", "train"), "prior", None, None, "exchange-asserted", "", ""
    )
    assert derive_usage(decision, OptOuts(training_blocked=blocks["spammy"])) == ["research"]
    with pytest.raises(ValueError, match="stage"):
        assess_source("x", clean_docs, stage="later")


class MarkerClassifier:
    """A stand-in model for the hook: 'probability' 0.9 of fraud when a marker word occurs."""

    name = "marker"
    version = "1"

    def __call__(self, texts: Sequence[str]) -> Sequence[Mapping[str, float]]:
        return [{"fraud": 0.9 if "暗号" in t else 0.01} for t in texts]


def make_classifier() -> MarkerClassifier:
    return MarkerClassifier()


def test_classifier_hook_adds_to_the_keywords() -> None:
    clf = load_classifier("tests.test_safety:make_classifier")
    r = screen_text("一段普通的文字，带着暗号。", classifier=clf)
    assert r.flagged and r.classifier == "marker/1" and r.classifier_category == "fraud" and r.score == 0
    assert not screen_text("一段普通的文字。", classifier=clf).flagged
    with pytest.raises(ValueError, match="module:attribute"):
        load_classifier("no_colon")
