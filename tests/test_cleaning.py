import json
from pathlib import Path

import pytest

from fincorpus.cleaning.decode import canonical_charset, decode_bytes
from fincorpus.cleaning.extract import extract_html, extract_plain
from fincorpus.cleaning.normalize import normalize_text
from fincorpus.cleaning.quality import QualityFilter, Thresholds, compute_quality, lang_of
from fincorpus.sources.base import AccessDecision
from fincorpus.sources.optout import detect_optout

GBK_PAGE = '<html><head><meta charset="gb2312"><title>央行</title></head><body><p>中国人民银行公告：鍀</p></body></html>'


def test_gb_family_is_read_as_gb18030() -> None:
    assert canonical_charset("GB2312") == "gb18030"
    assert canonical_charset("gbk") == "gb18030"
    assert canonical_charset("x-unknown-charset") is None
    # 鍀 is a GBK character outside GB2312: a strict gb2312 decode would fail on it.
    d = decode_bytes(GBK_PAGE.encode("gbk"))
    assert (d.charset, d.source) == ("gb18030", "meta")
    assert "中国人民银行公告：鍀" in d.text


def test_http_header_beats_meta() -> None:
    d = decode_bytes(GBK_PAGE.replace("gb2312", "utf-8").encode("gbk"), "text/html; charset=GBK")
    assert (d.charset, d.source) == ("gb18030", "http-header")


def test_valid_utf8_wins_over_a_wrong_gb2312_declaration() -> None:
    d = decode_bytes(GBK_PAGE.encode("utf-8"))
    assert (d.charset, d.source) == ("utf-8", "utf-8-valid")
    assert "中国人民银行" in d.text


def test_undeclared_gbk_is_detected() -> None:
    body = (
        "<html><body>"
        + "上海证券交易所发布关于上市公司信息披露的通知，要求各公司按时披露年度报告。" * 5
        + "</body></html>"
    ).encode("gbk")
    d = decode_bytes(body)
    assert d.charset == "gb18030" and d.source == "chinese-candidate"  # tried before generic detection
    assert "上海证券交易所" in d.text


def test_real_pages_decode_without_replacement_characters(data_dir: Path) -> None:
    """Every real page in shared/data/html decodes to the encoding its collector detected, adding no U+FFFD.

    (A few real pages carry U+FFFD in their own UTF-8 bytes; only replacement characters beyond those count.)
    """
    index = [
        json.loads(x) for x in (data_dir / "html" / "index.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    wrong = []
    for entry in index:
        body = (data_dir / entry["file"]).read_bytes()
        d = decode_bytes(body)
        expected = canonical_charset(entry["detected_encoding"])
        if d.charset != expected or d.text.count("\ufffd") > body.decode(expected, "replace").count("\ufffd"):
            wrong.append((entry["file"], entry["detected_encoding"], d.charset, d.source))
    assert len(index) > 100
    assert wrong == []


def test_normalize_keeps_fullwidth_punctuation_and_drops_controls() -> None:
    raw = "\u3000\u3000第一条　为了规范金融活动，制定本法。\x07\r\n\r\n\r\n\r\n第二条（定义）“金融机构”是指：\u200b银行。  "
    out = normalize_text(raw)
    assert out == "第一条 为了规范金融活动，制定本法。\n\n第二条（定义）“金融机构”是指：银行。"
    assert normalize_text("页一\f页二") == "页一\f页二"  # PDF page separators survive


def test_fast_space_and_symbol_counts_agree_with_the_patterns_they_replace() -> None:
    """normalize.collapse_spaces is _SPACES.sub(" ", …) and quality.symbol_count is len(_SYMBOL.findall(…)), on
    random strings over the characters that matter and over code points of every plane."""
    import random

    import numpy as np

    from fincorpus.cleaning import normalize, quality

    rng = random.Random(5)
    alphabet = [" ", "  ", "\t", "\u00a0", "\u3000", "\n", "a", "中", "，"]
    for _ in range(5000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert normalize.collapse_spaces(s) == normalize._SPACES.sub(" ", s), repr(s)
    for _ in range(200):
        cps = [rng.randrange(lo, hi) for lo, hi in ((0x20, 0x3000), (0x3000, 0x10000), (0x10000, 0x110000))]
        cps = [c for c in cps * 100 if not 0xD800 <= c <= 0xDFFF]
        rng.shuffle(cps)
        s = "".join(map(chr, cps)) + "■→|＄￥$+<"
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32)
        assert quality.symbol_count(codes) == len(quality._SYMBOL.findall(s))
    assert (
        quality.symbol_count(np.array([0xD800, 0x24, 0x4E2D], dtype=np.uint32)) == 1
    )  # a surrogate is no symbol


def test_normalize_text_equals_its_plain_pattern_form() -> None:
    """normalize_text (one gate scan, literal-first patterns) gives what the straightforward composition gave."""
    import random
    import re
    import unicodedata

    from fincorpus.cleaning import normalize as n

    def plain(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = n._CONTROL.sub("", n._SURROGATE.sub("\ufffd", text))
        if n._FULL_WIDTH_ALNUM.search(text):
            text = n._WIDE_POINT.sub(".", text.translate(n._HALF_WIDTH))
        text = unicodedata.normalize("NFC", text)
        lines = [re.sub(r"[ \t\u00a0\u3000]+", " ", line).strip(" ") for line in text.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

    rng = random.Random(4)
    alphabet = [
        " ",
        "\t",
        "\n",
        "\r",
        "\x00",
        "\x0b",
        "\u200b",
        "\ud800",
        "\uff11",
        "．",
        "1",
        "Ｉ",
        "\u0301",
        "中",
    ]
    alphabet += ["\u3000", "\u00a0", "a", "\n\n\n", "\x85", "\ufeff", "，"]
    for _ in range(30000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 25)))
        assert n.normalize_text(s) == plain(s), repr(s)


def test_quality_scores_then_decision() -> None:
    scores = compute_quality("中国人民银行决定下调存款准备金率0.5个百分点。")
    assert scores["length_chars"] == 24
    assert 0.7 < scores["cjk_share"] < 1.0
    assert lang_of(scores) == "zh"
    f = QualityFilter(Thresholds(min_chars=50, min_cjk_share=0.2))
    assert not f.decide(scores).keep and "length_chars=24 < min_chars=50" in f.decide(scores).reason
    english = compute_quality("The People's Bank of China cut the reserve requirement ratio today. " * 3)
    assert f.decide(english).reason.startswith("cjk_share=0.0 < min_cjk_share=0.2")
    digits = compute_quality(
        "2024年营业收入1,234,567.89万元，同比增长12.34%；归属于上市公司股东的净利润567,890.12万元，"
        "同比下降3.21%；基本每股收益0.45元，加权平均净资产收益率8.76%，经营活动现金流量净额98,765.43万元。"
    )
    assert digits["digit_share"] > 0.3
    assert f.decide(digits).keep  # numbers in financial text are not punished


def test_extract_html_fragment_and_metadata() -> None:
    page = (
        "<text id='x'><div><h1>标题</h1>"
        + "<p>这是一段足够长的正文内容，讨论货币政策与金融稳定的关系。</p>" * 5
        + "</div></text>"
    )
    ex = extract_html(page, "http://a.test/1.html")
    assert "货币政策与金融稳定" in ex.text
    assert ex.extractor == "trafilatura" and ex.extractor_version
    assert extract_plain("\n标题行\n正文").title == "标题行"


@pytest.mark.parametrize(
    ("access", "html", "expected"),
    [
        (AccessDecision(tdm_reservation="1", tdm_source="http-header"), None, (True, False, False)),
        (AccessDecision(tdm_reservation="1", tdm_source="tdmrep.json"), None, (True, False, False)),
        (AccessDecision(x_robots_tag="noindex, noai"), None, (False, True, False)),
        (AccessDecision(), '<head><meta name="tdm-reservation" content="1"></head>', (True, False, False)),
        (
            AccessDecision(),
            '<head><meta name="robots" content="noai, noimageai"></head>',
            (False, True, False),
        ),
        (AccessDecision(ai_disallowed=("CCBot",)), None, (False, False, True)),
        (
            AccessDecision(tdm_reservation="0"),
            '<meta name="robots" content="index,follow">',
            (False, False, False),
        ),
    ],
)
def test_optout_signals(access: AccessDecision, html: str | None, expected: tuple[bool, bool, bool]) -> None:
    o = detect_optout(access, html)
    assert (o.tdm_reserved, o.noai, o.ai_reserved) == expected
    assert bool(o.reason) == any(expected)


def test_ai_disallow_policy_can_be_turned_off() -> None:
    o = detect_optout(AccessDecision(ai_disallowed=("GPTBot",)), None, ai_disallow_is_reservation=False)
    assert not o.ai_reserved and o.reason is None
