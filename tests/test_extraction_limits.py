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
