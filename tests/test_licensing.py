"""Licence class per document from evidence: each rule on a page written for the test (our own text)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fincorpus.licensing import (
    LICENCE_CLASSES,
    LicenceDecision,
    OptOuts,
    class_legend,
    collect_evidence,
    decide_licence,
    default_rules,
    derive_usage,
)
from fincorpus.sources.registry import SourceConfig, SourcesError, SourcesFile, load_sources

LAW = "\n".join(
    [
        "示范金融服务管理条例",
        "2024年1月1日 国务院令第999号公布",
        "第一条 为了规范金融服务，制定本条例。",
        "第二条 本条例适用于境内的金融服务活动。",
        "第三条 金融机构应当依法经营。",
        "第四条 本条例自公布之日起施行。",
    ]
)
NEWS = "本报讯 昨日，某银行发布年度报告，净利润同比增长百分之五。分析人士认为，息差收窄的压力仍在。" * 3


def source(licence: str = "media-unknown", **over: object) -> SourceConfig:
    return SourceConfig(
        id="s",
        name="测试源",
        kind="web",
        seeds=["http://news.example/"],
        licence=licence,
        legal_basis="test basis",
        **over,
    )


def page(body: str, head: str = "", footer: str = "示例网 版权所有") -> str:
    return f"<html><head><title>t</title>{head}</head><body><div class='nav'><a href='/'>首页</a></div>{body}<div class='foot'>{footer}</div></body></html>"


def decide(html: str | None, text: str, src: SourceConfig | None = None, **fields: object) -> LicenceDecision:
    src = src or source()
    args: dict = {
        "url": "http://news.example/a/1.html",
        "prior": src.licence,
        "prior_legal_basis": src.legal_basis,
        "html": html,
        "content_type": "text/html",
        "page_type": "article",
        "doc_type": "news",
        "title": "标题",
        "text": text,
    }
    args.update(fields)
    return decide_licence(collect_evidence(**args), src)


def test_news_keeps_the_prior_and_records_its_notices() -> None:
    d = decide(
        page(f"<p>{NEWS}</p>", footer="示例网 版权所有 未经授权不得转载"),
        NEWS,
        rights_notice="示例网 版权所有 未经授权不得转载",
    )
    assert d.licence_class == "media-unknown" and d.rule == "prior+notice.no-reprint"
    assert "no-reprint" in d.restrictions and "rights-reserved" in d.restrictions
    assert (
        d.usage == ("research",) and d.prior == "media-unknown" and d.rules_version == default_rules().version
    )


def test_list_and_attachment_pages_are_unknown() -> None:
    assert decide(page("<ul><li><a href='/1'>一</a></li></ul>"), "一", page_type="list").rule == "page.list"
    wrapper = decide(page("<p>附件：<a href='/f/report.pdf'>2025年报.pdf</a></p>"), "附件：2025年报.pdf")
    assert wrapper.licence_class == "unknown" and wrapper.rule == "page.attachment"


def test_reprint_statement_names_the_publisher() -> None:
    html = page(f"<p>{NEWS}</p><p>免责声明：本文转载自示例日报，转载目的在于传递更多信息。</p>")
    d = decide(html, NEWS)
    assert d.licence_class == "media-third-party-reprint" and d.rule == "reprint.statement"
    assert d.publisher == "示例日报"


def test_source_link_to_another_sites_article_is_a_reprint_but_a_home_page_link_is_not() -> None:
    d = decide(
        page(f"<p>{NEWS}</p>"),
        NEWS,
        original_source="示例日报",
        original_url="http://daily.example/2024/01/02/a.html",
    )
    assert (d.licence_class, d.rule, d.evidence_link) == (
        "media-third-party-reprint",
        "reprint.source-link",
        "http://daily.example/2024/01/02/a.html",
    )
    assert d.publisher == "示例日报"
    home = decide(
        page(f"<p>{NEWS}</p>"), NEWS, original_source="示例日报", original_url="http://daily.example/"
    )
    assert home.licence_class == "media-unknown"
    own = decide(page(f"<p>{NEWS}</p>"), NEWS, original_url="http://m.news.example/a/1.html")
    assert (
        own.licence_class == "media-unknown"
    )  # a link to the same site (mobile copy) is not another publisher


def test_canonical_elsewhere_needs_a_corroborating_signal() -> None:
    alone = decide(page(f"<p>{NEWS}</p>"), NEWS, rel_canonical="http://daily.example/a.html")
    assert alone.licence_class == "media-unknown"
    html = page(f"<p>{NEWS}</p><p>版权归原作者所有，如有侵权请联系删除。</p>")
    d = decide(html, NEWS, rel_canonical="http://daily.example/a.html")
    assert d.licence_class == "media-third-party-reprint" and d.rule == "reprint.canonical"


def test_forum_thread_is_unknown_but_a_news_comment_box_is_not() -> None:
    thread = page(
        "<div class='post'><p>楼主 股海老王</p><p>发表于 2024-03-01 10:00</p><p>这只票大家怎么看？</p>"
        "<p class='info'>注册时间：2019-01-01</p></div><div><p>2楼</p><p>回复 发表于 2024-03-01 11:00</p></div>"
    )
    d = decide(thread, "这只票大家怎么看？")
    assert d.licence_class == "unknown" and d.rule == "ugc" and "thread" in d.evidence
    news = page(f"<p>{NEWS}</p><div class='comment'><p>网友评论</p><p>回复</p><p>关注</p></div>")
    assert decide(news, NEWS).licence_class == "media-unknown"
    declared = decide(page(f"<p>{NEWS}</p>"), NEWS, doc_type="forum")
    assert declared.licence_class == "media-unknown"  # doc_type alone is passed as declared_forum
    forum = decide_licence(
        collect_evidence(
            url="http://bbs.example/t/1",
            prior="media-unknown",
            prior_legal_basis="x",
            html=None,
            content_type="text/html",
            page_type="article",
            doc_type="forum",
            title="t",
            text=NEWS,
            declared_forum=True,
        ),
        source(),
    )
    assert forum.rule == "ugc"


def test_official_source_needs_an_official_document() -> None:
    gov = source("cn-art5-official")
    law = decide(
        page("<div id='zoom'>" + LAW.replace("\n", "<br>") + "</div>"), LAW, gov, issuing_body="国务院"
    )
    assert law.licence_class == "cn-art5-official" and law.rule == "official.statute"
    notice = decide(
        page("<p>通知</p>"),
        "各有关单位：请做好相关工作。\n示例省人民政府\n2024年1月2日",
        gov,
        issuing_body="示例省人民政府",
        doc_number="示政发〔2024〕1号",
    )
    assert notice.rule == "official.doc-number"
    news = decide(page(f"<p>{NEWS}</p>"), NEWS, gov, title="我局召开工作会议")
    assert news.licence_class == "unknown" and news.rule == "official.not-a-document"
    reading = decide(
        page("<p>解读</p>"), LAW, gov, title="《示范金融服务管理条例》政策解读", issuing_body="国务院"
    )
    assert reading.licence_class == "unknown"  # an interpretation is about the document, not the document
    report = decide(
        None,
        "某某股份有限公司2024年年度报告",
        gov,
        content_type="application/pdf",
        page_type=None,
        issuing_body="某某股份有限公司董事会",
    )
    assert report.licence_class == "unknown"


def test_law_text_on_a_news_site_is_an_unverified_copy_unless_it_names_its_source() -> None:
    copy = decide(page("<p>" + LAW.replace("\n", "</p><p>") + "</p>"), LAW)
    assert copy.licence_class == "unknown" and copy.rule == "official-text.unverified-copy"
    sourced = decide(
        page("<p>x</p>"), LAW, original_source="中国政府网", original_url="http://gov.example/zc/1.html"
    )
    assert sourced.licence_class == "media-third-party-reprint"


def test_pdf_on_a_media_site_is_unknown_but_on_an_exchange_it_is_the_exchanges() -> None:
    pdf = decide(None, "研究报告 本报告仅供客户参考", content_type="application/pdf", page_type=None)
    assert pdf.licence_class == "unknown" and pdf.rule == "media.attachment"
    ex = source("exchange-asserted")
    d = decide(
        None,
        "证券代码：600000 公告编号：2024-001\n特此公告。",
        ex,
        content_type="application/pdf",
        page_type=None,
    )
    assert d.licence_class == "exchange-asserted" and d.rule == "exchange.disclosure"


@pytest.mark.parametrize(
    ("head", "text", "spdx", "usage"),
    [
        (
            '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">',
            NEWS,
            "CC-BY-4.0",
            ("research", "train", "commercial", "redistribute"),
        ),
        (
            '<meta name="dc.rights" content="CC BY-NC 4.0">',
            NEWS,
            "CC-BY-NC-4.0",
            ("research", "train", "redistribute"),
        ),
        (
            "",
            NEWS + "\n本作品采用知识共享署名-相同方式共享 4.0 国际许可协议进行许可。",
            "CC-BY-SA-4.0",
            ("research", "train", "commercial", "redistribute"),
        ),
        (
            "",
            NEWS + "\n本文以ＣＣ　ＢＹ－ＮＤ　４．０发布。",
            "CC-BY-ND-4.0",
            ("research", "commercial", "redistribute"),
        ),
    ],
)
def test_explicit_open_licences_carry_their_spdx_id(head: str, text: str, spdx: str, usage: tuple) -> None:
    d = decide(page("<p>" + text.replace("\n", "</p><p>") + "</p>", head=head), text)
    assert (d.licence_class, d.spdx, d.usage) == ("open-licence", spdx, usage)


def test_overrides_still_win() -> None:
    src = source(
        licence_overrides=[{"match": "/a/", "licence": "unknown", "legal_basis": "operator says so"}]
    )
    d = decide(page(f"<p>{NEWS}</p>"), NEWS, src)
    assert (d.licence_class, d.rule, d.legal_basis) == ("unknown", "override", "operator says so")


def _contract_sources(tmp_path: Path, expires: str = "2027-06-30") -> SourcesFile:
    f = tmp_path / "sources.yaml"
    f.write_text(
        f"""
contracts:
  - {{id: wire-2026, counterparty: 示例通讯社, uses: [research, train], expires: {expires}, reference: HT-2026-01}}
sources:
  - {{id: wire, name: 通讯社稿件, kind: web, seeds: ["http://wire.example/"], licence: "contract:wire-2026",
     legal_basis: "licensed feed"}}
""",
        encoding="utf-8",
    )
    return load_sources(f)


def test_contract_licence_clears_its_uses_until_it_expires(tmp_path: Path) -> None:
    sources = _contract_sources(tmp_path)
    src = sources.get("wire")
    ev = collect_evidence(
        url="http://wire.example/1.html",
        prior=src.licence,
        prior_legal_basis=src.legal_basis,
        html=page(f"<p>{NEWS}</p>", footer="版权所有 禁止转载"),
        content_type="text/html",
        page_type="article",
        doc_type="news",
        title="t",
        text=NEWS,
        rights_notice="版权所有 禁止转载",
    )
    d = decide_licence(ev, src, contracts=sources.contract_map)
    assert (d.licence_class, d.contract_id, d.publisher) == ("contract-licensed", "wire-2026", "示例通讯社")
    assert d.spdx == "LicenseRef-fincorpus-contract-wire-2026"
    before = datetime(2027, 6, 29, tzinfo=UTC)
    after = datetime(2027, 7, 1, tzinfo=UTC)
    assert derive_usage(d, OptOuts(noai=True), at=before) == ["research", "train"]  # licensed expressly
    assert derive_usage(d, at=after) == []
    assert derive_usage(d, OptOuts(training_blocked="gate"), at=before) == ["research"]
    stored = LicenceDecision.from_row({"licence_class": d.licence_class, **d.row_fields()})
    assert derive_usage(stored, at=after) == [] and stored.contract_expires == d.contract_expires


def test_contract_errors_are_one_clear_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        'sources:\n  - {id: w, name: w, kind: web, seeds: ["http://w.example/"], licence: "contract:nope", legal_basis: x}\n',
        encoding="utf-8",
    )
    with pytest.raises(
        SourcesError, match=r"licence 'contract:nope' names no contract; declare it under 'contracts:'"
    ):
        load_sources(f)
    f.write_text(
        "contracts:\n  - {id: c, counterparty: x, uses: [resell], expires: 2027-01-01}\n"
        'sources:\n  - {id: w, name: w, kind: web, seeds: ["http://w.example/"], licence: "contract:c", legal_basis: x}\n',
        encoding="utf-8",
    )
    with pytest.raises(SourcesError, match=r"unknown use\(s\) \['resell'\]"):
        load_sources(f)
    with pytest.raises(ValueError, match="contract-licensed"):
        source("contract-licensed")  # the class is reached through contract:<id>, not named directly


def test_opt_outs_and_the_gate_apply_at_pull_time() -> None:
    d = decide(page(f"<p>{NEWS}</p>"), NEWS, source("exchange-asserted"))
    assert derive_usage(d) == ["research", "train"]
    assert derive_usage(d, OptOuts(tdm_reserved=True)) == ["research"]
    assert derive_usage(d, OptOuts(training_blocked="TC260 gate: 9% flagged")) == ["research"]


def test_every_class_is_documented() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "licensing.md").read_text(encoding="utf-8")
    for entry in class_legend():
        assert f"`{entry['class']}`" in doc, entry["class"]
    for rule in (
        "prior",
        "page.list",
        "page.attachment",
        "reprint.statement",
        "reprint.source-link",
        "reprint.canonical",
        "ugc",
        "official.statute",
        "official.not-a-document",
        "official-text.unverified-copy",
        "media.attachment",
        "exchange.disclosure",
        "override",
        "contract",
    ):
        assert f"`{rule}`" in doc, rule
    assert set(LICENCE_CLASSES) == {e["class"] for e in class_legend()}


def test_regex_module_patterns_match_what_re_matches_on_real_texts(data_dir: Path) -> None:
    """_ARTICLE_LINE and _DISCLOSURE are compiled with the regex module for speed on long texts; on the statutes
    and announcements of shared/data they find exactly the spans the same patterns find with re, and _chars (now
    str.split) counts what the \\s+ form counted."""
    import json
    import re

    from fincorpus import licensing

    texts = [p.read_text(encoding="utf-8") for p in sorted((data_dir / "texts/laws").rglob("*.md"))]
    lines = (data_dir / "texts/announcements_cfee/FREEZE_Data.json").read_text(encoding="utf-8").splitlines()
    texts += [json.loads(line)["Doc"] for line in lines[:400]]  # one announcement a line
    assert len(texts) > 100
    counts = []
    for fast in (licensing._ARTICLE_LINE, licensing._DISCLOSURE):
        plain = re.compile(fast.pattern, re.M if fast.flags & re.M else 0)
        n = 0
        for text in texts:
            spans = [m.span() for m in plain.finditer(text)]
            assert [m.span() for m in fast.finditer(text)] == spans, fast.pattern
            n += len(spans)
        counts.append(n)
    assert min(counts) > 100  # both patterns really matched
    for text in texts[:50]:
        assert licensing._chars(text) == len(text) - sum(len(m) for m in re.findall(r"\s+", text))
