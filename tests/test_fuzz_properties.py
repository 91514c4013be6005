"""Issue 14: property tests over the cleaning functions, and a regression test for every bug the fuzzing found.

Inputs mix random bytes and text, GBK/GB18030/Big5/UTF-8 encodings of Chinese text, windows and byte mutations of
the real pages of shared/data/html and the mirror, HTML fragments (deep nesting, broken tags, huge attributes,
tables in tables), full-width and traditional characters and numbers shaped like IDs, cards and phone numbers.
Example counts are bounded (``max_examples``) so the file runs in about a minute; the long run is bench/fuzz/run.py.
The deadline is generous on purpose (the machine is shared): it catches hangs, not speed.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fincorpus.cleaning import boilerplate, normalize, pii, quality, structure
from fincorpus.cleaning import pdf as pdfmod
from fincorpus.cleaning.decode import MojibakeError, decode_bytes, ensure_clean
from fincorpus.cleaning.extract import Extracted, ExtractionError, extract_html, extract_plain
from fincorpus.cleaning.textpath import clean_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
URL = "http://fuzz.test/news/a.html"
FAST = settings(
    max_examples=150, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(max_examples=40, deadline=timedelta(seconds=30), suppress_health_check=[HealthCheck.too_slow])

SIMPLIFIED = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
TRADITIONAL = "這個們來時說國會為與學對經發後開關長門問間現實種東銀證務債權險監總財產帳戶號碼"
FULLWIDTH = "０１２３４５６７８９ＡＢＣＤＸＹＺａｂｃｘｙｚ，。；：！？（）「」《》【】、　％＋－＠．"
PUNCT = "，。、；：？！“”‘’（）《》【】—…·"
ODD = "\x00\x01\x07\x0b\x0c\x1b\x7f\x85\u200b\u2028\ufeff\ufffd\ue000\U0001f600\u0301\u3000\xa0\r\t\f\n"
WORDS = [
    "版权所有",
    "未经授权不得转载",
    "来源：新华社",
    "责任编辑：张三",
    "分享到：",
    "【打印】【关闭】",
    "第一章 总则",
    "第三条",
    "特此公告",
    "证券代码：600000 证券简称：浦发银行 公告编号：临2024-012",
    "首页 > 新闻 > 正文",
    "一、",
    "（二）",
    "| a | b |",
    "|---|---|",
    "身份证号：",
    "手机：",
    "卡号：",
    "电话：",
    "护照号码：",
    "邮箱：",
    "IP地址：",
]


# -- strategies --------------------------------------------------------------------------------------------------

_ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@st.composite
def id18(draw: st.DrawFn, valid: bool | None = None) -> str:
    region = draw(st.sampled_from(["110101", "310104", "440305", "320102", "990000"]))
    born = draw(st.dates(min_value=datetime(1901, 1, 1).date(), max_value=datetime(2020, 12, 31).date()))
    body = region + born.strftime("%Y%m%d") + f"{draw(st.integers(0, 999)):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_W, strict=True)) % 11]
    if valid is False or (valid is None and draw(st.booleans())):
        check = draw(st.sampled_from("0123456789X"))
    return body + check


def luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body + "0")):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


@st.composite
def card(draw: st.DrawFn) -> str:
    body = "62" + draw(st.text("0123456789", min_size=14, max_size=16))
    return body + luhn_digit(body)


@st.composite
def number_like(draw: st.DrawFn) -> str:
    core = draw(
        st.one_of(
            id18(),
            card(),
            st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
            st.from_regex(r"0(10|2[0-9]|[3-9][0-9]{2})[- ]?[2-9][0-9]{6,7}", fullmatch=True),
            st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){3,4}", fullmatch=True),
            st.from_regex(r"[EGPSD][A-Z]?[0-9]{7,8}", fullmatch=True),
            st.from_regex(r"[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,8}(\.[a-z]{2,4}){1,2}", fullmatch=True),
            st.text("0123456789 -", min_size=7, max_size=40),
        )
    )
    if draw(st.booleans()):
        core = core.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
    label = draw(
        st.sampled_from(["", "身份证号：", "手机：", "卡号：", "账号", "联系电话", "护照号码：", "信用代码"])
    )
    return label + core + draw(st.sampled_from(["", "元", "万股", "。", "%", ".00", ",5", "X"]))


CHARS = st.sampled_from(
    SIMPLIFIED + TRADITIONAL + FULLWIDTH + PUNCT + ODD + "abcXYZ0123456789 .,;:!?()-_/|<>&#*"
)
chinese_text = st.lists(
    st.one_of(st.text(CHARS, max_size=60), st.sampled_from(WORDS), number_like(), st.just("\n")), max_size=40
).map("".join)


@lru_cache(maxsize=1)
def real_texts() -> list[str]:
    out = [p.read_text(encoding="utf-8") for p in sorted((DATA / "texts" / "laws").glob("**/*.md"))[:30]]
    lines = (DATA / "texts" / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    return out + [json.loads(x)["text"] for x in lines[::10]]


@lru_cache(maxsize=1)
def real_pages() -> list[Path]:
    pages = sorted((DATA / "html").glob("*/*.htm*"))
    return pages + sorted(p for p in (DATA / "sites").rglob("*.html") if not p.name.startswith("_"))[::25]


@st.composite
def real_text_window(draw: st.DrawFn) -> str:
    t = draw(st.sampled_from(real_texts()))
    a = draw(st.integers(0, max(0, len(t) - 1)))
    return t[a : a + draw(st.sampled_from([20, 200, 1500, 6000]))]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    t = draw(base)
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(t)))
        t = (
            t[:pos]
            + draw(st.one_of(chinese_text, st.sampled_from(WORDS), st.sampled_from(list(ODD))))
            + t[pos:]
        )
    return t


any_text = st.one_of(chinese_text, real_text_window(), mutated(real_text_window()), mutated(chinese_text))


def html_fragments() -> st.SearchStrategy[str]:
    tags = st.sampled_from(
        [
            "div",
            "p",
            "span",
            "table",
            "tr",
            "td",
            "li",
            "a",
            "font",
            "article",
            "br",
            "script",
            "style",
            "h1",
            "pre",
            "iframe",
            "textarea",
            "title",
            "body",
            "html",
        ]
    )
    leaf = st.one_of(
        chinese_text,
        st.builds(lambda t, n, x: f"<{t}>" * n + x + f"</{t}>" * n, tags, st.integers(1, 600), chinese_text),
        st.builds(lambda n, x: f'<div class="{"x" * n}">{x}</div>', st.integers(1000, 200_000), chinese_text),
        st.lists(
            st.sampled_from(
                [
                    "<div",
                    "<p>",
                    "</td>",
                    "<a href='",
                    "<!--",
                    "-->",
                    "<![CDATA[",
                    "&#xD800;",
                    "&#0;",
                    "&nbsp;",
                    "<",
                    ">",
                    "<?xml version='1.0' encoding='gbk'?>",
                    "</html>",
                ]
            ),
            max_size=30,
        ).map("".join),
    )

    def extend(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(lambda t, ks: f"<{t}>{''.join(ks)}</{t}>", tags, st.lists(kids, max_size=5))

    return st.recursive(leaf, extend, max_leaves=20)


ENCODINGS = ["utf-8", "gb18030", "gbk", "big5", "utf-16", "latin-1"]


@st.composite
def encoded(draw: st.DrawFn) -> bytes:
    text = draw(st.one_of(chinese_text, real_text_window(), html_fragments()))
    cs = draw(st.sampled_from(ENCODINGS))
    declared = draw(
        st.sampled_from(
            [
                "",
                '<meta charset="gbk">',
                '<meta charset="utf-8">',
                '<meta charset="big5">',
                '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">',
            ]
        )
    )
    return (declared + text).encode(
        cs, errors=draw(st.sampled_from(["replace", "ignore", "xmlcharrefreplace"]))
    )


@st.composite
def page_window(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(real_pages())).read_bytes()
    a = draw(st.integers(0, len(raw) - 1))
    data = bytearray(raw[a : a + draw(st.sampled_from([100, 2000, 20000]))])
    for _ in range(draw(st.integers(0, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


any_bytes = st.one_of(st.binary(max_size=3000), encoded(), page_window())


# -- checks shared by the properties -----------------------------------------------------------------------------


def chars(s: str) -> Counter[str]:
    return Counter(c for c in s if not c.isspace())


def check_extracted(e: Extracted) -> None:
    assert isinstance(e.text, str)
    e.text.encode("utf-8")
    assert e.page_type in (None, "article", "list")
    assert e.title is None or (isinstance(e.title, str) and e.title)
    assert e.published_at is None or e.published_at.tzinfo is not None


def check_quality(q: quality.QualityScores, text: str) -> None:
    assert set(q) == set(quality.QualityScores.__annotations__)
    for k, v in q.items():
        assert math.isfinite(v), (k, v)
        if k in ("length_chars", "lines"):
            assert isinstance(v, int) and v >= 0
        else:
            assert 0.0 <= v <= 1.0, (k, v)
    assert q["length_chars"] == len(text)


# -- decoding ----------------------------------------------------------------------------------------------------


@FAST
@given(
    body=any_bytes,
    ctype=st.sampled_from([None, "text/html", "text/html; charset=gbk", "text/plain; charset=x"]),
)
def test_decode_any_bytes(body: bytes, ctype: str | None) -> None:
    d = decode_bytes(body, ctype)
    assert isinstance(d.text, str) and d.charset and d.replaced >= 0
    d.text.encode("utf-8")  # no lone surrogates
    if d.mojibake:
        with pytest.raises(MojibakeError):
            ensure_clean(d)
    else:
        assert ensure_clean(d) is d


@FAST
@given(
    text=st.text(st.sampled_from(SIMPLIFIED + PUNCT), min_size=30, max_size=400),
    cs=st.sampled_from(["utf-8", "gb18030", "gbk"]),
    where=st.sampled_from(["meta", "header", "none"]),
)
def test_declared_chinese_round_trips(text: str, cs: str, where: str) -> None:
    """Chinese text in the charsets Chinese pages use comes back exactly, declared or not."""
    meta = f'<meta charset="{cs}">' if where == "meta" else ""
    body = f"<html><head>{meta}</head><body>{text}</body></html>".encode(cs)
    d = decode_bytes(body, f"text/html; charset={cs}" if where == "header" else None)
    assert text in d.text and d.mojibake is None and d.replaced == 0


# -- extraction --------------------------------------------------------------------------------------------------


@FAST
@given(html=st.one_of(html_fragments(), any_text))
def test_extract_html_fragments(html: str) -> None:
    try:
        e = extract_html(html, URL)
    except ExtractionError:
        return
    check_extracted(e)


@SLOW
@given(body=page_window())
def test_extract_html_real_page_windows(body: bytes) -> None:
    d = decode_bytes(body)
    if d.mojibake:
        return
    try:
        e = extract_html(d.text, URL)
    except ExtractionError:
        return
    check_extracted(e)


@FAST
@given(text=any_text)
def test_extract_plain_keeps_the_text(text: str) -> None:
    e = extract_plain(text)
    assert e.text == text and (e.title is None or 0 < len(e.title) <= 120)


# -- normalisation -----------------------------------------------------------------------------------------------


@FAST
@given(text=any_text)
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    out = normalize.normalize_text(text)
    assert normalize.normalize_text(out) == out
    out.encode("utf-8")
    assert "\r" not in out and "\n\n\n" not in out
    assert not any(ord(c) < 32 and c not in "\n\t\f" for c in out)
    assert not any("\uff10" <= c <= "\uff19" for c in out)  # full-width digits folded
    # Chinese punctuation stays full-width (NFC never touches it; only a control character next to it can go)
    for p in "，。；：（）「」":
        assert out.count(p) == text.count(p)
    conv = normalize.to_simplified(out)
    assert 0.0 <= conv.traditional_share <= 1.0 and conv.changed_chars >= 0


# -- boilerplate -------------------------------------------------------------------------------------------------


@FAST
@given(text=any_text, web=st.booleans())
def test_boilerplate_only_removes_lines(text: str, web: bool) -> None:
    text = normalize.normalize_text(text)
    c = boilerplate.clean_boilerplate(text, web_page=web, as_written=text)
    src = iter([x.strip() for x in text.split("\n") if x.strip()])
    assert all(any(k == s for s in src) for k in (x.strip() for x in c.text.split("\n") if x.strip()))
    lines = {x.strip() for x in text.split("\n")}
    assert not c.rights_notice or all(n in lines for n in c.rights_notice.split("\n"))  # verbatim


# -- PII ---------------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=timedelta(seconds=10))
@given(
    text=st.one_of(
        any_text, st.lists(st.one_of(number_like(), st.text(CHARS, max_size=8)), max_size=30).map("".join)
    )
)
def test_pii_findings_and_masking(text: str) -> None:
    found = pii.find_pii(text)
    last = 0
    for f in found:
        assert last <= f.start < f.end <= len(text)
        last = f.end
    masked = pii.mask_pii(text, found)
    assert len(masked) <= len(text) + sum(len(pii.MASK_TOKENS[f.kind]) for f in found)
    # masking never grows a finding: nothing in the masked text is found again, so masking is idempotent
    assert pii.find_pii(masked) == []
    assert pii.mask_pii(masked) == masked


@FAST
@given(
    before=st.text(st.sampled_from(SIMPLIFIED + "，。"), max_size=20),
    number=id18(valid=True),
    after=st.sampled_from(["", "，", "。", "的"]),
)
def test_labelled_valid_ids_are_masked(before: str, number: str, after: str) -> None:
    assume(number[:2] != "99")
    text = f"{before}身份证号：{number}{after}"
    assert pii.mask_pii(text) == f"{before}身份证号：[身份证号]{after}"


@FAST
@given(number=card())
def test_labelled_cards_are_masked(number: str) -> None:
    assert (
        "[银行卡号]" in pii.mask_pii(f"收款卡号：{number}。")
        or pii.valid_uscc(number)
        or pii.valid_id18(number)
    )


# -- quality -----------------------------------------------------------------------------------------------------


@FAST
@given(
    text=st.one_of(
        any_text, st.builds(lambda s, n: s * n, st.text(CHARS, min_size=1, max_size=5), st.integers(1, 500))
    )
)
def test_quality_signals_are_finite_and_in_range(text: str) -> None:
    check_quality(quality.compute_quality(text), text)


# -- structure and PDF text ----------------------------------------------------------------------------------------


@FAST
@given(text=any_text, cut=st.integers(0, 40))
def test_structure_only_moves_line_breaks(text: str, cut: int) -> None:
    r = structure.restore(text, text[:cut] or None)
    assert not (chars(r.text) - chars(text))


@FAST
@given(pages=st.lists(any_text, min_size=1, max_size=8))
def test_pdf_page_cleaning(pages: list[str]) -> None:
    p = pdfmod.clean_pages(pages)
    assert p.page_count == len(pages) == len(p.pages)
    assert all("\f" not in x for x in p.pages)
    for out, raw in zip(p.pages, pages, strict=True):
        assert not (chars(out) - chars(raw))
    assert p.removed_lines >= 0


@FAST
@given(
    lines=st.lists(st.text(CHARS, min_size=1, max_size=50).filter(str.strip), max_size=30),
    column=st.integers(0, 120),
)
def test_joining_wrapped_lines_keeps_every_character(lines: list[str], column: int) -> None:
    lines = [x.rstrip() for x in lines]
    joined = pdfmod.join_wrapped_lines(lines, column)
    assert chars("".join(joined)) == chars("".join(lines))


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_sandbox_survives_mutated_real_pdfs(data: st.DataObject) -> None:
    from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated

    pdfs = sorted(p for p in (DATA / "pdf").glob("*.pdf") if p.stat().st_size < 1_000_000)
    raw = bytearray(data.draw(st.sampled_from(pdfs)).read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(0, 200))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        e = extract_pdf_isolated(bytes(raw), timeout_s=60)
    except ExtractionError:
        return
    check_extracted(e)
    assert e.pages is not None and e.text.count("\f") == max(0, e.pages - 1)


# -- the text path and the record --------------------------------------------------------------------------------


@FAST
@given(text=any_text, doc_type=st.sampled_from(quality.DOC_TYPES), mode=st.sampled_from(["mask", "flag"]))
def test_clean_text_output_is_valid(text: str, doc_type: str, mode: str) -> None:
    r = clean_text(text, doc_type=doc_type, pii_mode=mode)
    r.text.encode("utf-8")
    check_quality(r.quality, r.text)
    assert r.lang in ("zh", "und")
    assert r.finance_score is None or 0.0 <= r.finance_score <= 1.0
    assert set(r.pii) == {*pii.PII_KINDS, "max_class"}
    if mode == "mask":
        assert pii.find_pii(r.text) == []


class _Home:
    """process_capture on a real home: the bytes stored as a WARC record of a web source."""

    def __init__(self) -> None:
        from fincorpus.sources.archive import WarcArchive
        from fincorpus.sources.registry import SourceConfig, SourcesFile

        self.tmp = tempfile.TemporaryDirectory(prefix="fincorpus-prop-")
        self.home = Path(self.tmp.name)
        self.archive = WarcArchive(self.home, "raw/prop/prop.warc.gz")
        src = SourceConfig.model_validate(
            {
                "id": "prop",
                "name": "Prop",
                "kind": "web",
                "seeds": ["http://prop.test/"],
                "licence": "unknown",
                "legal_basis": "test",
                "json_document": {"html": "content", "title": "title"},
            }
        )
        self.sources = SourcesFile(sources=[src])
        self.n = 0

    def record(self, body: bytes, ctype: str) -> dict:
        from fincorpus.pipelines.ingest import process_capture
        from fincorpus.sources.base import Capture

        self.n += 1
        now = datetime(2026, 1, 1, tzinfo=UTC)
        url = f"http://prop.test/news/{self.n}.html"
        rec = self.archive.write_resource(url=url, fetched_at=now, content_type=ctype, body=body)
        cap = Capture(
            "prop",
            url,
            url,
            200,
            ctype.split(";")[0],
            {"content-type": ctype},
            now,
            rec.raw_ref,
            rec.raw_sha256,
            rec.record_id,
        )
        return process_capture(cap, self.sources, self.home, "prop-run")


@pytest.fixture(scope="module")
def prop_home() -> _Home:
    h = _Home()
    yield h
    h.archive.close()
    h.tmp.cleanup()


@settings(
    max_examples=60,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(any_bytes, st.builds(lambda h: h.encode("utf-8"), html_fragments())),
    ctype=st.sampled_from(["text/html", "text/html; charset=gbk", "text/plain"]),
)
def test_every_record_passes_the_schema(prop_home: _Home, body: bytes, ctype: str) -> None:
    from fincorpus.schema import records_table

    row = prop_home.record(body, ctype)
    records_table([row], stage="property test")
    assert row["status"] in ("kept", "removed")
    assert row["status"] == "kept" or row["removed_reason"]


# -- regressions: one test per bug the fuzzing found ---------------------------------------------------------------


def test_regression_lone_surrogates_become_replacement_characters() -> None:
    """JSON documents can carry lone surrogates ("\\ud800"); quality, PDF text and t2s crashed on them."""
    text = "公司公告\ud800董事会\udfff" * 5
    out = normalize.normalize_text(text)
    assert "\ufffd" in out and out.encode("utf-8")
    check_quality(quality.compute_quality(text), text)  # also safe on text that was not normalised
    assert pdfmod.display_width("表\ud800") == 4
    pdfmod.clean_pages([text, text])
    clean_text(text)


def test_regression_normalize_is_idempotent_with_combining_marks() -> None:
    """Full-width 'Ｉ' + U+0301 composes only once folded to 'I': NFC now runs after the folding."""
    text = "ＺＥ）3；Ｉ\u0301、！片"
    once = normalize.normalize_text(text)
    assert once == "ZE）3；Í、！片" and normalize.normalize_text(once) == once
    assert normalize.normalize_text("e\x00\u0301") == "é"  # a control character between letter and mark


def test_regression_top_ngram_share_never_exceeds_one() -> None:
    """Overlapping occurrences ("哈哈哈哈") were counted n characters each: shares up to 2.0."""
    q = quality.compute_quality("哈" * 50)
    assert q["top_2gram_char_frac"] == q["top_4gram_char_frac"] == 1.0
    q = quality.compute_quality("ab" * 30 + "公司董事会审议通过")
    assert 0.0 < q["top_3gram_char_frac"] <= 1.0
    assert (
        quality.compute_quality("公司董事会审议通过年度报告。" * 5)["top_2gram_char_frac"] == 0.1429
    )  # unchanged


def test_regression_mask_token_is_no_phone_label() -> None:
    """'[手机号]' holds the label word 手机: a figure with a unit after a masked phone became a phone."""
    text = "手机：13912345678，另计18946630612万股"
    masked = pii.mask_pii(text)
    assert masked == "手机：[手机号]，另计18946630612万股"
    assert pii.find_pii(masked) == []


def test_regression_shorter_mask_token_does_not_reach_an_earlier_label() -> None:
    """A token is shorter than the number it replaced, so the 24-character context of the next value reached a
    label further back ("联系电话" before a passport): the context now stops at the previous value."""
    text = "多对者联系电话E87654321元\f權國實碼時碼東權國證：、卡号：19757183019万股"
    masked = pii.mask_pii(text)
    assert "[护照号]" in masked and pii.find_pii(masked) == []
    assert (
        pii.mask_pii("联系电话：13912345678") == "联系电话：[手机号]"
    )  # labels before their own value still count


@pytest.mark.parametrize("sign", ["·", "×", "°", "±", "÷"])
@pytest.mark.parametrize("cs", ["utf-8", "gb18030"])
def test_regression_runs_of_signs_are_not_mojibake(sign: str, cs: str) -> None:
    """UTF-8 "······" (leader dots) and "×××公司" (a placeholder) were flagged as Latin-1 mojibake and re-read as
    GB18030 ("路路路")."""
    text = f"第一章 总则{sign * 30}3\n{sign * 3}公司董事会"
    d = decode_bytes(f'<html><head><meta charset="{cs}"></head><body>{text}</body></html>'.encode(cs))
    assert text in d.text and d.mojibake is None and d.charset == ("gb18030" if cs != "utf-8" else "utf-8")


def test_regression_latin1_mojibake_is_still_caught() -> None:
    garbled = "公司董事会审议通过年度报告。".encode().decode("latin-1")
    assert decode_bytes(("<p>" + garbled * 5 + "</p>").encode("utf-8")).mojibake


def test_regression_context_window_starting_inside_a_token() -> None:
    """The 24-character window can start inside "[护照号]": "护照" then read as the passport label of the next
    value, "S47498652" (a weak passport form that needs one)."""
    text = "身份证号：E52761042教社维同经国小适过门式自求报：\n\n电话：S47498652。"
    masked = pii.mask_pii(text)
    assert masked.startswith("身份证号：[护照号]") and pii.find_pii(masked) == []


@pytest.mark.parametrize(
    "html",
    ['<svg class="content"><html><p>公司董事会审议通过年度报告。</p></svg>', "<math> <body><p>公司</p>"],
)
def test_regression_page_starting_with_a_dropped_element(html: str) -> None:
    """lxml handed back the page's first element (an <svg>) instead of the document; htmldate then dropped it as
    an unwanted element and asserted (AssertionError out of extract_html)."""
    assert "公司" in extract_html(html, URL).text


def test_json_title_with_a_lone_surrogate_gives_a_record(prop_home: _Home) -> None:
    """A lone surrogate escape in a JSON title (valid JSON) made process_capture raise in safety.fold."""
    from fincorpus.schema import records_table

    body = b'{"title": "\\ud800\\u516c\\u544a", "content": "<p>\\u516c\\u53f8\\u8463\\u4e8b\\u4f1a</p>"}'
    row = prop_home.record(body, "application/json")
    records_table([row], stage="property test")


def test_regression_lone_surrogate_does_not_cut_the_page() -> None:
    """libxml2 stopped at a lone surrogate: '<p>\\ud800公司董事会</p>' extracted as '' (the rest was lost)."""
    assert extract_html("<p>\ud800公司董事会审议通过</p>", URL).text == "\ufffd公司董事会审议通过"
    assert "董事会审议" in extract_html("<html><body><p>公司\udfff董事会审议</p></body></html>", URL).text


def test_regression_control_characters_in_the_page() -> None:
    """A page read in a single-byte code page is full of control characters; trafilatura's baseline (our
    fallback for short results) raised ValueError ("All strings must be XML compatible") building elements."""
    html = "<html><body><div>\x01\x06短&#25;&#x1d;\x07</div>" + "<p>\x1b&#2;\x0f</p>" * 50 + "</body></html>"
    e = extract_html(html, URL)
    assert not any(ord(c) < 32 and c not in "\n\t" for c in e.text)
    assert "ÿ5" in extract_html("<p>&#255;5 &#x1d;</p>", URL).text  # references to real characters stay


def test_regression_mask_token_after_a_thousands_comma() -> None:
    """ "17408525635,5x@qq.com": the comma read as a thousands separator kept the phone unmasked, but once the
    e-mail was masked ("…635,[电子邮箱]") the phone stood free and a second masking found it."""
    text = "手机：17408525635,5x@qq.com 另见 a@b.cn-13912345678"
    masked = pii.mask_pii(text)
    assert pii.find_pii(masked) == [] and pii.mask_pii(masked) == masked


@pytest.mark.timeout(
    60
)  # a hang guard, not a speed test: fixed it takes well under a second, unfixed minutes
def test_regression_long_runs_of_spaces_do_not_make_the_patterns_backtrack() -> None:
    """bench/fuzz input 14:64446: a 30 KB line of '(' and spaces kept _TRAILING (byline sign-off), _CLOSING and
    _TITLE_SUFFIX (structure) backtracking for 21 s; this line is 3x longer (the cost was quadratic)."""
    from fincorpus.cleaning import metadata, structure

    run = " " * 60_000  # one run of spaces, twice the fuzz input's
    assert metadata.author("(" + run + "公司") is None
    assert metadata.author("公告全文。" + run + "（记者 张三）") == "张三"
    restored = structure.restore("(" + run + "特此公告。", title="标题" + run + "网站")
    assert restored.text.split("\n")[-1] == "特此公告。"
    html = f"<html><head><title>标题{run}网站</title></head><body><p>({run}特此公告。{run}</p></body></html>"
    assert "特此公告" in extract_html(html, URL).text


def test_regression_a_page_edge_line_with_a_huge_number() -> None:
    """bench/fuzz input 15:83242: a page-edge line holding one 4,618-digit number made running_line_scores raise
    (int() refuses strings over 4,300 digits); a page number has at most 4 digits."""
    from fincorpus.cleaning.pdf import running_line_scores

    pages = [["年度报告", "9" * 5000, "正文第一行"] for _ in range(4)]
    scores = running_line_scores(pages)
    assert scores and all(s.pages == 4 for s in scores.values())


@pytest.mark.timeout(60)  # a hang guard, not a speed test: fixed it takes milliseconds, unfixed minutes
def test_regression_a_long_run_of_digits_in_pdf_text() -> None:
    """bench/fuzz input 16:46040: a long run of digits made the table-line pattern retry the run from every digit
    (quadratic: 1.2 s for 5,900 digits); a run of 60,000 now takes milliseconds and gives the same answers."""
    from fincorpus.cleaning import pdf as pdfmod

    line = "1" * 60_000
    assert pdfmod._TWO_NUMBERS.search(line) is None
    assert pdfmod._TWO_NUMBERS.search(line + "  -3") is not None
    for s, want in (
        ("营业收入 1,234.5  -3.2%", True),
        ("x.5 3", True),
        ("12%,  x", False),
        ("第1章 总则", False),
    ):
        assert (pdfmod._TWO_NUMBERS.search(s) is not None) is want, s
    pages = pdfmod.clean_pages(["年度报告\n" + line + "\n正文"], None)
    assert pages.page_count == 1
