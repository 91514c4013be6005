"""Site templates learned from a host's own pages (issue 13, item 2), on a host and a template that no rule,
selector or threshold was tuned on: an invented forum host whose frame we write here, around real cnews texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fincorpus.cleaning import sitetemplate
from fincorpus.cleaning.boilerplate import notices_in_html
from fincorpus.cleaning.extract import extract_html
from fincorpus.cleaning.normalize import normalize_text
from fincorpus.cleaning.textpath import clean_text

HOST = "licai-shequ.example"
NAV = "社区首页 | 理财交流 | 基金论坛 | 保险问答 | 信用卡专区"
FOOTER = [
    "网站导航 · 意见反馈 · 帮助中心 · 联系我们",
    "Copyright © 2009-2024 理财社区 版权所有",
    "沪ICP备00000000号-1",
]
PROMO = "关注社区公众号，每日获取理财干货"
SHARED_PROSE = "以上内容仅为个人观点分享，市场有风险，投资需谨慎，请读者根据自身情况独立判断。"


def _paragraphs(text: str, size: int = 3) -> list[str]:
    sentences = [s + "。" for s in text.split("。") if s.strip()]
    return ["".join(sentences[i : i + size]) for i in range(0, len(sentences), size)]


def _page(i: int, title: str, body: list[str]) -> str:
    """An old-portal layout: frame and post in one container without semantic classes, so a generic extractor
    keeps the frame (as it did on 6.5 % of the texts of the sites in issue 13)."""
    paras = "".join(f"<p>{p}</p>" for p in body)
    frame_tail = "".join(f"<p>{x}</p>" for x in (PROMO, *FOOTER))
    return (
        f"<html><head><title>{title}_理财社区</title></head><body><div class='w'>"
        f"<p>{NAV}</p><p>社区首页 &gt; 理财交流 &gt; {title}</p>"
        f"<h1>{title}</h1><p>楼主：用户{i:04d}　发表于 2024-03-{i % 28 + 1:02d}</p>"
        f"{paras}{frame_tail}</div></body></html>"
    )


@pytest.fixture(scope="module")
def forum(data_dir: Path) -> list[tuple[str, list[str]]]:
    rows = [json.loads(x) for x in (data_dir / "texts/cnews/cnews_500.jsonl").read_text("utf-8").splitlines()]
    pages = []
    for i, row in enumerate(rows[:24]):
        body = _paragraphs(row["text"])[:6]
        if i in (3, 11, 17):  # a sentence a few posts share: content, not template
            body.append(SHARED_PROSE)
        pages.append((_page(i, row["text"][:18], body), body))
    return pages


def _extracted(forum: list[tuple[str, list[str]]]) -> list[str]:
    return [extract_html(html, f"http://{HOST}/t/{i}.html").text for i, (html, _) in enumerate(forum)]


def test_template_learned_from_the_hosts_own_pages_removes_its_frame(
    forum: list[tuple[str, list[str]]],
) -> None:
    texts = _extracted(forum)
    template = sitetemplate.learn(texts, HOST)
    assert template.pages == 24 and template
    kept_frame = 0
    for text, (html, body) in zip(texts, forum, strict=True):
        result = clean_text(
            text, page_notices=notices_in_html(html), doc_type="forum", site_template=template
        )
        for para in body:  # every line of the post survives, the shared sentence too
            assert normalize_text(para) in result.text
        for frame in (NAV, FOOTER[0], FOOTER[2], PROMO, "社区首页 > 理财交流 >"):
            kept_frame += normalize_text(frame) in result.text
        assert "版权所有" in (
            result.rights_notice or ""
        )  # notices are copied before the template removes lines
        assert any(s["step"] == sitetemplate.STEP for s in result.steps)
    assert kept_frame == 0


def test_without_a_template_the_frame_stays(forum: list[tuple[str, list[str]]]) -> None:
    """The control: the same texts cleaned without the host template keep (some of) the frame, so the test
    above measures the template, not the generic boilerplate rules."""
    texts = _extracted(forum)
    kept = sum(normalize_text(FOOTER[0]) in clean_text(t, doc_type="forum").text for t in texts)
    assert kept >= 12


def test_a_sentence_on_a_few_pages_is_not_template() -> None:
    pages = [f"标题{i}\n正文第{i}段讲述了不同的内容，篇篇不一样。\n页脚导航" for i in range(20)]
    pages[2] += "\n" + SHARED_PROSE
    pages[5] += "\n" + SHARED_PROSE
    template = sitetemplate.learn(pages, HOST)
    assert SHARED_PROSE not in template and "页脚导航" in template
    text, removed = sitetemplate.apply(template, pages[2])
    assert SHARED_PROSE in text and removed == ["页脚导航"]


def test_shared_prose_in_mid_text_is_protected_even_when_on_most_pages() -> None:
    """A long sentence on every page is template only where it frames the page (head or tail run)."""
    pages = [
        f"导航栏\n标题{i}\n{SHARED_PROSE}\n第{i}篇正文的句子各不相同，内容也不一样。\n页脚" for i in range(10)
    ]
    template = sitetemplate.learn(pages, HOST)
    text, removed = sitetemplate.apply(template, pages[0])
    assert SHARED_PROSE in template
    assert SHARED_PROSE in text and removed == ["导航栏", "页脚"]


def test_statute_headings_are_never_removed(data_dir: Path) -> None:
    """108 laws as the pages of one host: 第一章 总则 opens most of them and is still content."""
    texts = [normalize_text(p.read_text("utf-8")) for p in sorted((data_dir / "texts/laws").glob("**/*.md"))]
    template = sitetemplate.learn(texts, "laws.example")
    for text in texts:
        _, removed = sitetemplate.apply(template, text)
        assert all(not line.lstrip("# ").startswith("第") for line in removed), removed


def test_first_pages_of_a_new_host_learn_nothing_and_remove_nothing() -> None:
    pages = ["导航\n正文一。\n页脚", "导航\n正文二。\n页脚", "导航\n正文三。\n页脚"]
    template = sitetemplate.learn(pages, HOST)
    assert not template  # below MIN_PAGES: no template yet
    assert sitetemplate.apply(template, pages[0]) == (pages[0], [])


def test_template_is_serialisable_with_a_stable_hash() -> None:
    pages = [f"导航 | 首页\n正文{i}。\n页脚 © 2024" for i in range(8)]
    a = sitetemplate.learn(pages, HOST)
    b = sitetemplate.learn(list(reversed(pages)), HOST)
    assert a.sha256 == b.sha256
    again = sitetemplate.SiteTemplate.from_json(json.loads(json.dumps(a.to_json(), ensure_ascii=False)))
    assert again == a and again.sha256 == a.sha256
    with pytest.raises(ValueError, match="version"):
        sitetemplate.SiteTemplate.from_json({**a.to_json(), "version": 99})


def test_learning_memory_is_bounded() -> None:
    learner = sitetemplate.TemplateLearner(HOST, max_keys=1000, max_pages=50)
    for i in range(80):
        learner.add(
            [f"独一无二的第{i}页第{j}行内容" + "甲乙丙丁"[j % 4] * (i % 7) for j in range(100)] + ["页脚"]
        )
    assert learner.pages == 50 and learner.skipped == 30
    assert len(learner._df) <= 1000 + 101
    assert "页脚" in learner.template()


def test_breadcrumb_with_a_page_specific_last_crumb_is_template() -> None:
    pages = [f"企业服务首页 > 产经资讯 > 第{i}条新闻的标题文字{'甲' * i}\n正文{i}。" for i in range(10)]
    template = sitetemplate.learn(pages, HOST)
    text, removed = sitetemplate.apply(template, "企业服务首页 > 产经资讯 > 全新的标题\n新的正文。")
    assert text == "新的正文。" and len(removed) == 1


def test_breadcrumb_at_the_head_of_a_single_page_goes_without_a_template() -> None:
    """A host seen for the first time, one page: the generic breadcrumb rule still removes the path line."""
    text = "企业服务首页 > 产经资讯 > 央行开展逆回购操作\n央行开展逆回购操作\n中国人民银行今日开展了逆回购操作，维护银行体系流动性合理充裕。"
    result = clean_text(text, doc_type="news")
    assert not result.text.startswith("企业服务首页")
    assert "中国人民银行今日开展了逆回购操作" in result.text
    assert "breadcrumb=1" in next(
        s["detail"] or "" for s in result.steps if s["step"] == "boilerplate:lines+notices"
    )
    statute = "首页 > 法规\n第一条 为了规范金融机构的经营行为，制定本办法。"
    assert "首页 > 法规" in clean_text(statute, doc_type="official").text  # only web pages are trimmed
