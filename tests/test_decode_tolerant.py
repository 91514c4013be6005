"""Issue 13, item 1: a few broken bytes must not drop a Chinese page or turn it into Cyrillic.

The two cases of the issue, reproduced with bytes made here (our own sentences, no third-party text): a page
declaring gb2312 with a dozen undecodable bytes in ~38 KB, and a page without a declared charset and two bad bytes.
"""

from __future__ import annotations

import pytest

from fincorpus.cleaning.decode import REPLACE_MAX_SHARE, decode_bytes, ensure_clean, tolerant_decode

SENTENCES = [
    "本行今日发布公告称，第三季度营业收入同比增长百分之八，净利润保持稳定。",
    "监管部门表示，将继续完善资本市场基础制度，加强对上市公司信息披露的监督。",
    "分析人士认为，债券市场收益率短期内仍将在较低水平附近波动，投资者宜保持耐心。",
    "该基金管理人提醒投资者，基金的过往业绩并不预示其未来表现，请审慎决策。",
    "会议强调，要稳步推进利率市场化改革，引导金融机构降低实体经济融资成本。",
]


def _page(n_paragraphs: int, meta: str = "", links: int = 0) -> str:
    paras = "\n".join(f"<p>{SENTENCES[i % len(SENTENCES)]}</p>" for i in range(n_paragraphs))
    nav = "".join(
        f'<li><a href="/news/2024/{i:04d}.html" class="nav-item">item {i}</a></li>\n' for i in range(links)
    )
    return (
        f"<html><head>{meta}<title>公告</title><script>var cfg={{a:1,b:2}};</script></head>"
        f"<body><ul>{nav}</ul><div class='content'>{paras}</div><ul>{nav}</ul></body></html>"
    )


def _break(data: bytes, count: int, bad: bytes = b"\xff") -> bytes:
    """Insert ``count`` undecodable bytes between characters (after '>' so no character is split)."""
    out = bytearray(data)
    positions = [i for i, b in enumerate(out) if b == ord(">")]
    step = max(1, len(positions) // (count + 1))
    for pos in sorted(positions[step::step][:count], reverse=True):
        out[pos + 1 : pos + 1] = bad
    assert len(out) == len(data) + count * len(bad)
    return bytes(out)


def test_declared_gb2312_with_a_dozen_bad_bytes_decodes_with_replacement() -> None:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
    html = _page(420, meta)
    raw = _break(html.encode("gbk"), 12)
    assert 30_000 < len(raw) < 45_000
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb18030")
    decoded = ensure_clean(decode_bytes(raw))  # before issue 13: MojibakeError "no clean decoding"
    assert decoded.charset == "gb18030" and decoded.source == "meta"
    assert decoded.replaced == 12
    assert SENTENCES[1] in decoded.text


def test_undeclared_utf8_with_two_bad_bytes_is_not_read_as_a_cyrillic_code_page() -> None:
    html = _page(30, links=200)  # markup-heavy, as real pages are: detection guesses a single-byte code page
    raw = _break(html.encode("utf-8"), 2)
    decoded = ensure_clean(decode_bytes(raw))  # before issue 13: cp775/ptcp154, Chinese turned into Cyrillic
    assert decoded.charset == "utf-8"
    assert decoded.replaced == 2
    assert SENTENCES[0] in decoded.text


def test_undeclared_gbk_with_two_bad_bytes_stays_chinese() -> None:
    raw = _break(_page(30, links=200).encode("gbk"), 2)
    decoded = ensure_clean(decode_bytes(raw))
    assert decoded.charset == "gb18030" and decoded.replaced == 2
    assert SENTENCES[2] in decoded.text


def test_a_wrong_charset_is_not_accepted_with_replacement() -> None:
    """GBK bytes declared as UTF-8 fail on far more than REPLACE_MAX_SHARE: not a 'few broken bytes' case."""
    raw = _page(50).encode("gbk")
    assert tolerant_decode(raw, "utf-8") is None
    decoded = ensure_clean(decode_bytes(raw, "text/html; charset=utf-8"))
    assert decoded.charset == "gb18030" and decoded.replaced == 0
    assert SENTENCES[3] in decoded.text


def test_replacement_share_limit_is_a_share_of_the_bytes() -> None:
    raw = _page(200).encode("utf-8")
    many = _break(raw, int(len(raw) * REPLACE_MAX_SHARE) + 5)
    assert tolerant_decode(many, "utf-8") is None
    few = _break(raw, 3)
    got = tolerant_decode(few, "utf-8")
    assert got is not None and got[1] == 3


def test_clean_pages_report_no_replacement() -> None:
    for raw, ctype in (
        (_page(10).encode("utf-8"), None),
        (_page(10).encode("gbk"), "text/html; charset=gbk"),
    ):
        decoded = decode_bytes(raw, ctype)
        assert decoded.replaced == 0 and decoded.mojibake is None
