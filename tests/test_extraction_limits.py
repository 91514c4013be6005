"""Hardening: pathological markup keeps its text or fails with a recorded reason, never an empty text silently.

libxml2 stops building the tree at 256 nested elements and drops the rest without raising; before the fix a page
of deeply nested divs came out of extract_html as "" with path "trafilatura".
"""

from __future__ import annotations

import pytest

from fincorpus.cleaning.extract import MAX_DEPTH, ExtractionError, extract_html, flatten_deep_nesting

PARAS = [
    "本公司董事会保证公告内容真实、准确、完整，没有虚假记载、误导性陈述或者重大遗漏。",
    "经审议，董事会同意以自有资金开展现金管理业务，投资期限不超过十二个月。",
    "公司将根据相关规定及时履行信息披露义务，敬请广大投资者注意投资风险。",
]


def _nested(depth: int) -> str:
    body = "".join(f"<p>{PARAS[i % 3]}第{i}段。</p>" for i in range(12))
    return f"<html><head><title>深层嵌套</title></head><body>{'<div>' * depth}{body}{'</div>' * depth}</body></html>"


@pytest.mark.parametrize("depth", [300, 100_000])
def test_deeply_nested_page_keeps_its_text_and_records_the_cut(depth: int) -> None:
    ex = extract_html(_nested(depth), "http://x.test/a.html")
    for para in PARAS:
        assert para in ex.text
    assert "第11段" in ex.text
    assert ex.path is not None and f"deeper than {MAX_DEPTH} unwrapped" in ex.path
    assert "\n" in ex.text  # paragraphs stay on their own lines


def test_shallow_page_is_not_touched() -> None:
    ex = extract_html(_nested(20), "http://x.test/a.html")
    assert ex.path is not None and "unwrapped" not in ex.path


def test_flatten_keeps_text_in_order_and_counts_tags() -> None:
    html = "<div>" * 10 + "甲<span>乙</span><p>丙" + "</div>" * 10 + "丁"
    out, n = flatten_deep_nesting(html, 3)
    assert n == 7 + 2  # seven divs and the span and p below depth 3
    assert [c for c in out if c in "甲乙丙丁"] == list("甲乙丙丁")
    assert out.count("<div>") == 3


def test_article_page_without_any_main_text_fails_with_a_reason() -> None:
    """A page that shows plenty of text but yields none is an extraction failure with a reason, not ''."""
    text = "".join(f"<span>{PARAS[i % 3]}</span>" for i in range(20))
    html = f"<html><body><script>var a=1;</script><template>{text}</template><div>{text}</div></body></html>"
    try:
        ex = extract_html(html, "http://x.test/a.html")
    except ExtractionError as exc:
        assert "no main text" in str(exc)
    else:
        assert ex.text.strip()


def test_rows_opened_inside_a_cell_are_moved_out_as_an_html5_parser_would() -> None:
    """A broken table page (fuzz input 15:170: an unknown tag left open every few rows) made libxml2 nest each
    row inside the previous row's cell, 70 deep; trafilatura then spent over a second on it. The rows must come
    out flat, each row's cells on one line, and the repair be recorded."""
    from fincorpus.cleaning.extract import _parse

    rows = "".join(
        f"<tr><td>第{i}行</td><td>营业收入{i * 37}万元，同比增长{i % 9}个百分点。"
        + ("<trr>" if i % 28 == 0 else "</td></tr>")
        for i in range(2000)
    )
    page = f"<html><body><p>2024年度主要财务数据如下表所示。</p><table>{rows}</table></body></html>"
    tree, note = _parse(page)
    depth = max(len(list(el.iterancestors())) for el in tree.iter())
    assert depth < 10, depth
    assert note is not None and "table rows opened inside a cell moved" in note
    ex = extract_html(page, "http://example.test/t.html")
    assert "第56行 | 营业收入2072万元，同比增长2个百分点。" in ex.text
    assert all(f"营业收入{i * 37}万元" in ex.text for i in range(2000))
    assert "table rows opened inside a cell moved" in ex.path


def test_well_formed_nested_tables_are_not_moved() -> None:
    from fincorpus.cleaning.extract import _parse

    page = (
        "<html><body><table><tr><td>外层"
        "<table><tr><td>内层甲</td><td>1</td></tr><tr><td>内层乙</td><td>2</td></tr></table>"
        "</td></tr></table></body></html>"
    )
    tree, note = _parse(page)
    assert note is None
    assert len(tree.xpath("//table//table//tr")) == 2


def test_flattened_rows_keep_their_document_order() -> None:
    from fincorpus.cleaning.extract import ROW_NESTING_LIMIT, _parse

    # every row leaves an unknown tag open in its last cell, so libxml2 nests the next row inside it
    n = ROW_NESTING_LIMIT * 3
    body = "".join(f"<tr><td>行{i}</td><td>值{i}<x>" for i in range(n))
    tree, note = _parse(f"<html><body><table>{body}</table></body></html>")
    assert note is not None
    order = [tr[0].text_content() for tr in tree.iter("tr")]
    assert order == [f"行{i}" for i in range(n)]
    assert max(len(list(tr.iterancestors("tr"))) for tr in tree.iter("tr")) == 0


def test_a_few_rows_inside_a_cell_stay_where_the_page_put_them() -> None:
    """A real page (CWCED, wenxuecity.com) keeps its article's rows directly in a <div> inside a cell; moving
    them out of that block lost the article."""
    from fincorpus.cleaning.extract import _parse

    rows = "".join(f"<tr><td>段落{i}</td></tr>" for i in range(4))
    tree, note = _parse(
        f"<html><body><table><tr><td><div id='c'>{rows}</div></td></tr></table></body></html>"
    )
    assert note is None
    assert len(tree.xpath("//div[@id='c']//tr")) == 4


def test_empty_paragraphs_from_stray_end_tags_are_dropped_without_losing_text() -> None:
    """libxml2 turns each stray </p> into an empty paragraph: 5,000 <p> then 5,000 </p> (fuzz input 17:3211)
    made 9,500 elements, a second of trafilatura's time. They go before extraction; every character stays."""
    from fincorpus.cleaning.extract import _parse, drop_empty_blocks

    text = "第一季度本行净利润同比增长百分之八。"
    page = f"<html><body>{'<p>' * 5000}{text}{'</p>' * 5000}<div><span> </span></div>尾注</body></html>"
    tree, _ = _parse(page)
    assert len(list(tree.iter())) < 10
    assert text in tree.text_content() and "尾注" in tree.text_content()
    assert text in extract_html(page, "http://example.test/p.html").text
    kept = _parse(f"<html><body>{'<p></p>' * 1500}甲<p></p>乙<div>丙</div></body></html>")[0]
    assert drop_empty_blocks(kept) == 0  # _parse already dropped the 1,500 empty ones
    assert [p.tail for p in kept.iter("p")] == ["甲", "乙"]  # an empty paragraph before a text separates it
    few = _parse("<html><body><p></p><div></div>正文</body></html>")[0]
    assert len(list(few.iter("p", "div"))) == 2  # below EMPTY_BLOCKS_LIMIT a page is left as it is


@pytest.mark.parametrize(
    "page",
    [
        "<?xml version='1.0' encoding='gbk'?>",
        "<?xml version='1.0' encoding='gbk'?><![CDATA[<body>",
        "<?xml version='1.0' encoding='gbk'?><!--<body>",
    ],
)
def test_an_encoding_declaration_and_nothing_parseable_is_a_clear_extraction_error(page: str) -> None:
    """Fuzz input 17:114642: the string with an encoding declaration was re-parsed as bytes, and that parse's
    "Document is empty" escaped as an lxml ParserError instead of the documented ExtractionError."""
    from fincorpus.cleaning.extract import _parse_once

    _parse_once(page)  # no exception; trafilatura's loader decides
    try:
        extract_html(page, "http://example.test/x.html")
    except ExtractionError as exc:
        assert str(exc)
