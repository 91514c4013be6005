"""Cards for a pulled snapshot: the Hugging Face dataset card, the 语料来源清单 and the 数据产品说明书.

- ``README.md``: a Hugging Face dataset card whose YAML header gives licence, language, task, size and one
  ``datasets`` config per allowed use. A config filters rows with the Parquet builder's ``filters`` (a DNF over
  ``licence_class`` and the opt-out flags, which is how ``usage`` is derived); the writer checks on the data that
  each filter selects exactly the rows whose ``usage`` lists that use, and leaves a config out (saying why) if not.
- ``corpus-sources.zh.md`` / ``corpus-sources.json`` (语料来源清单): per source the operator, URLs, collection
  method and period, legal basis, licence classes, document counts and robots/TDM counts.
- ``data-product.zh.md`` / ``data-product.json`` (数据产品说明书): basic information, legality and tradability,
  the three parts of a data product in DB31 "数据交易 第1部分：数据流通交易合规指南" section 7, the shape used for
  Shanghai Data Exchange listings.

Source declarations (``SourcesFile``) are optional; without them the cards say which facts are missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from fincorpus.catalog.stats import PII_KINDS, Batches, SnapshotStats, Span, iter_batches
from fincorpus.licensing import LICENCE_CLASSES, USES
from fincorpus.schema import SCHEMA_VERSION

CARD = "README.md"
SOURCES_MD, SOURCES_JSON = "corpus-sources.zh.md", "corpus-sources.json"
PRODUCT_MD, PRODUCT_JSON = "data-product.zh.md", "data-product.json"
OPTOUT_FLAGS = ("tdm_reserved", "noai", "ai_reserved")
NOT_GIVEN = "未提供（生成时未给出来源声明文件）"
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))  # fmt: skip


def size_category(n: int) -> str:
    return next((label for limit, label in SIZES if n < limit), "n>1B")


def usage_filter(use: str, training_blocked: Sequence[str] = ()) -> list[list[list[Any]]]:
    """The ``datasets`` Parquet ``filters`` (DNF) selecting documents whose ``usage`` lists ``use``.

    Mirrors :func:`fincorpus.licensing.derive_usage`: the licence class allows the use, and for train and
    commercial use no opt-out flag is set (a null flag is not an opt-out); for train, the source is not one the
    TC260 source gate blocked (``training_blocked``, from the pull's filters).
    """
    classes = sorted(c.name for c in LICENCE_CLASSES.values() if use in c.usage)
    conj: list[list[Any]] = [["licence_class", "in", classes]]
    if use in ("train", "commercial"):
        conj += [[flag, "not in", [True]] for flag in OPTOUT_FLAGS]
    if use == "train" and training_blocked:
        conj.append(["source_id", "not in", sorted(training_blocked)])
    return [conj]


def check_usage_filters(data: Batches, training_blocked: Sequence[str] = ()) -> dict[str, str | None]:
    """For each use: None when its filter selects exactly the rows whose ``usage`` lists it, else the reason."""
    cols = ("usage", "licence_class", "source_id", *OPTOUT_FLAGS)
    bad: dict[str, str | None] = dict.fromkeys(USES)
    exprs = {u: pq.filters_to_expression(usage_filter(u, training_blocked)) for u in USES}
    for batch in iter_batches(data, cols):
        missing = [c for c in cols if c not in batch.schema.names]
        if missing:
            return dict.fromkeys(USES, f"column(s) {missing} missing")
        table = pa.Table.from_batches([batch])
        for u, expr in exprs.items():
            if bad[u]:
                continue
            selected = table.filter(expr).num_rows
            listed = sum(1 for us in table["usage"].to_pylist() if us and u in us)
            if selected != listed:
                bad[u] = f"the filter selects {selected} rows of a batch where usage lists {u} for {listed}"
    return bad


def _period(s: Span) -> dict[str, str | None]:
    return {
        "from": s.first.strftime("%Y-%m-%d") if s.first else None,
        "to": s.last.strftime("%Y-%m-%d") if s.last else None,
    }


@dataclass(frozen=True)
class CardInputs:
    tag: str
    snapshot_id: int | str | None
    stats: SnapshotStats
    filters: Mapping[str, Any]
    sources: Any | None = None  # fincorpus.sources.registry.SourcesFile
    publisher: str | None = None  # who offers the data product (数据提供方)
    fingerprint: str | None = None  # of the key that signs the manifest


# -- 语料来源清单 --------------------------------------------------------------------------------------------------


def _declared(inp: CardInputs, sid: str) -> Any | None:
    if inp.sources is None:
        return None
    return next((s for s in inp.sources.sources if s.id == sid), None)


def _method(decl: Any) -> str:
    kind = {"web": "网络爬取", "files": "本地文件导入", "warc": "WARC 归档导入", "dataset": "数据集导入"}
    parts = [kind.get(decl.kind, decl.kind)]
    if decl.kind == "web":
        via = [
            n for n, v in (("种子页", decl.seeds), ("站点地图", decl.sitemaps), ("RSS/Atom", decl.feeds)) if v
        ]
        if decl.json_api:
            via.append("JSON 接口")
        parts.append("经" + "、".join(via) + "发现链接，遵守 robots.txt（RFC 9309）与 TDMRep")
    if decl.schedule:
        parts.append(f"定时 `{decl.schedule}`")
    return "；".join(parts)


def sources_inventory(inp: CardInputs) -> dict[str, Any]:
    """The 语料来源清单 as data (also written as JSON)."""
    out = []
    for sid, s in sorted(inp.stats.sources.items()):
        decl = _declared(inp, sid)
        urls = []
        if decl is not None:
            urls = decl.seeds + decl.sitemaps + decl.feeds + (decl.json_api.start if decl.json_api else [])
        out.append(
            {
                "source_id": sid,
                "name": decl.name if decl else None,
                "operator": getattr(decl, "operator", None) if decl else None,
                "urls": urls,
                "collection_method": _method(decl) if decl else None,
                "collection_period": _period(s.fetched),
                "published_period": _period(s.published),
                "legal_basis": sorted(s.legal_bases),
                "declared_licence": decl.licence if decl else None,
                "licence_classes": dict(s.licences.most_common()),
                "documents": s.documents,
                "usage": dict(s.usage.most_common()),
                "robots_tdm": {
                    "robots_txt_read": s.robots_checked,
                    "robots_txt_unreachable": s.robots_unreachable,
                    "ai_crawler_disallowed": s.ai_disallowed,
                    "tdm_reserved": s.tdm_reserved,
                    "noai": s.noai,
                    "ai_reserved": s.ai_reserved,
                    "training_excluded": s.opted_out,
                },
                "documents_with_pii": s.pii_documents,
            }
        )
    return {
        "title": "语料来源清单",
        "tag": inp.tag,
        "snapshot_id": None if inp.snapshot_id is None else str(inp.snapshot_id),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources_file_given": inp.sources is not None,
        "crawler_user_agent": inp.sources.crawler.user_agent if inp.sources is not None else None,
        "sources": out,
    }


def sources_inventory_md(inv: dict[str, Any]) -> str:
    na = NOT_GIVEN if not inv["sources_file_given"] else "未声明"
    lines = [
        f"# 语料来源清单：快照 `{inv['tag']}`",
        "",
        f"- 快照编号：{inv['snapshot_id'] or '未知'}",
        f"- 生成时间：{inv['generated_at']}",
        f"- 采集程序标识（User-Agent）：{inv['crawler_user_agent'] or na}",
        "",
        "| 来源 | 名称 | 运营方 | 网址 | 采集方式 | 采集期间 | 法律依据 | 许可类别（文档数） | 文档数 | robots/TDM |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in inv["sources"]:
        p = s["collection_period"]
        rt = s["robots_tdm"]
        robots = (
            f"读取 robots.txt {rt['robots_txt_read']}，不可达 {rt['robots_txt_unreachable']}；"
            f"AI 爬虫禁止 {rt['ai_crawler_disallowed']}，TDM 保留 {rt['tdm_reserved']}，noai {rt['noai']}，"
            f"排除训练 {rt['training_excluded']}"
        )
        lic = "、".join(f"{k}（{v}）" for k, v in s["licence_classes"].items())
        lines.append(
            f"| {s['source_id']} | {s['name'] or na} | {s['operator'] or na} | {'<br>'.join(s['urls']) or na} | "
            f"{s['collection_method'] or na} | {p['from']} 至 {p['to']} | {'；'.join(s['legal_basis']) or na} | "
            f"{lic} | {s['documents']} | {robots} |"
        )
    lines += [
        "",
        "说明：文档数只计入本快照中保留的文档；被质量、去重或许可环节移除的记录保存在目录的 removed 表中。"
        "“不可达”指 robots.txt 无法读取，按 RFC 9309 第 2.3.1.3 节视为允许。",
    ]
    return "\n".join(lines) + "\n"


# -- 数据产品说明书 ------------------------------------------------------------------------------------------------


def data_product(inp: CardInputs, inventory: dict[str, Any]) -> dict[str, Any]:
    st = inp.stats
    uses = dict(st.usage.most_common())
    return {
        "title": "数据产品说明书",
        "basic_information": {
            "product_name": f"上海金融语料快照 {inp.tag}",
            "product_type": "数据集（文本语料）",
            "industry": "金融",
            "description": "经爬取、抽取、清洗、去重并逐篇标注许可类别的中文金融文本（监管规章、交易所与上市公司公告、"
            "政策文件、资讯、研究报告 PDF），供金融垂直大模型研究与训练。",
            "provider": inp.publisher,
            "version": {
                "tag": inp.tag,
                "snapshot_id": None if inp.snapshot_id is None else str(inp.snapshot_id),
            },
            "documents": st.documents,
            "characters": sum(s.chars for s in st.sources.values()),
            "sources": len(st.sources),
            "time_range": {"fetched": _period(st.fetched), "published": _period(st.published)},
            "languages": dict(st.languages.most_common()),
            "document_types": dict(st.doc_types.most_common()),
            "format": "Apache Parquet（zstd），字段见 docs/data-model.md，schema 版本 " + SCHEMA_VERSION,
            "delivery": "离线交付快照文件夹：data/*.parquet、签名清单 manifest.json（SM2 签名，SM3/SHA-256 摘要）",
            "update_frequency": sorted({s.schedule for s in inp.sources.sources if s.schedule})
            if inp.sources is not None
            else None,
            "filters_applied": dict(inp.filters),
        },
        "legality": {
            "source_legality": [
                {
                    "source_id": s["source_id"],
                    "legal_basis": s["legal_basis"],
                    "collection_method": s["collection_method"],
                }
                for s in inventory["sources"]
            ],
            "crawling_compliance": "遵守 robots.txt 与 TDMRep；AI 爬虫禁止、TDM 保留与 noai 的文档不用于训练与商用"
            f"（本快照 {sum(st.optout_reasons.values())} 篇）",
            "personal_information": {
                "handling": "按 JR/T 0171-2020 识别个人信息，正文中以占位符（如 [身份证号]）遮蔽",
                "findings_masked": {k: st.pii_found.get(k, 0) for k in PII_KINDS},
                "documents_by_highest_class": dict(st.pii_max_class),
            },
            "intellectual_property": {
                name: LICENCE_CLASSES[name].meaning if name in LICENCE_CLASSES else "未知类别"
                for name in st.licences
            },
            "provenance": "每篇文档可追溯至原始抓取字节（WARC 记录与 SHA-256）；提供 W3C PROV 导出与签名清单",
            "signing_key_fingerprint": inp.fingerprint,
        },
        "tradability": {
            "licence_classes": dict(st.licences.most_common()),
            "documents_by_allowed_use": {u: uses.get(u, 0) for u in USES},
            "redistribution": f"{uses.get('redistribute', 0)} 篇允许再分发；其余仅限所列用途",
            "usage_rule": "以每行 usage 字段为准：research 研究、train 训练、commercial 商用、redistribute 再分发",
            "restrictions": "不得用于 usage 未列出的用途；再分发须保留 rights_notice 与来源信息",
            "verification": "fincorpus verify 离线核验签名与每个文件的 SM3/SHA-256、行数与 schema",
        },
    }


def data_product_md(p: dict[str, Any]) -> str:
    b, legal, t = p["basic_information"], p["legality"], p["tradability"]
    tr = b["time_range"]
    na = "未提供"
    lines = [
        f"# 数据产品说明书：{b['product_name']}",
        "",
        "## 一、基本信息",
        "",
        "| 项目 | 内容 |",
        "|---|---|",
        f"| 产品名称 | {b['product_name']} |",
        f"| 产品类型 | {b['product_type']} |",
        f"| 所属行业 | {b['industry']} |",
        f"| 数据提供方 | {b['provider'] or na} |",
        f"| 产品简介 | {b['description']} |",
        f"| 版本 | 标签 {b['version']['tag']}，快照 {b['version']['snapshot_id'] or na} |",
        f"| 数据规模 | {b['documents']} 篇文档，约 {b['characters']} 字符，{b['sources']} 个来源 |",
        f"| 时间范围 | 采集 {tr['fetched']['from']} 至 {tr['fetched']['to']}；发布 {tr['published']['from']} 至 "
        f"{tr['published']['to']} |",
        f"| 语言 | {json.dumps(b['languages'], ensure_ascii=False)} |",
        f"| 文档类型 | {json.dumps(b['document_types'], ensure_ascii=False)} |",
        f"| 数据格式 | {b['format']} |",
        f"| 交付方式 | {b['delivery']} |",
        f"| 更新频率 | {', '.join(b['update_frequency']) if b['update_frequency'] else NOT_GIVEN} |",
        f"| 导出筛选条件 | {json.dumps(b['filters_applied'], ensure_ascii=False)} |",
        "",
        "## 二、合法性",
        "",
        "| 来源 | 法律依据 | 采集方式 |",
        "|---|---|---|",
    ]
    for s in legal["source_legality"]:
        lines.append(
            f"| {s['source_id']} | {'；'.join(s['legal_basis']) or na} | {s['collection_method'] or NOT_GIVEN} |"
        )
    pi = legal["personal_information"]
    lines += [
        "",
        f"- 采集合规：{legal['crawling_compliance']}",
        f"- 个人信息：{pi['handling']}；遮蔽数 {json.dumps(pi['findings_masked'], ensure_ascii=False)}；"
        f"按最高级别计文档数 {json.dumps(pi['documents_by_highest_class'], ensure_ascii=False)}",
        "- 知识产权（许可类别）：",
        *[f"  - `{k}`：{v}" for k, v in sorted(legal["intellectual_property"].items())],
        f"- 可追溯性：{legal['provenance']}",
        f"- 签名公钥指纹：{legal['signing_key_fingerprint'] or na}",
        "",
        "## 三、可交易性",
        "",
        f"- 许可类别文档数：{json.dumps(t['licence_classes'], ensure_ascii=False)}",
        f"- 按允许用途的文档数：{json.dumps(t['documents_by_allowed_use'], ensure_ascii=False)}",
        f"- 再分发：{t['redistribution']}",
        f"- 使用规则：{t['usage_rule']}",
        f"- 使用限制：{t['restrictions']}",
        f"- 核验方式：{t['verification']}",
    ]
    return "\n".join(lines) + "\n"


# -- Hugging Face card ----------------------------------------------------------------------------------------------


def _blocked(inp: CardInputs) -> list[str]:
    """Sources the TC260 gate blocked for training, as the pull recorded them in its filters."""
    return list(inp.filters.get("training_blocked_sources") or [])


def card_header(inp: CardInputs, filter_problems: Mapping[str, str | None]) -> dict[str, Any]:
    configs: list[dict[str, Any]] = [
        {
            "config_name": "default",
            "default": True,
            "data_files": [{"split": "train", "path": "data/*.parquet"}],
        }
    ]
    for u in USES:
        if inp.stats.usage.get(u) and not filter_problems.get(u):
            configs.append(
                {
                    "config_name": u,
                    "data_files": [{"split": "train", "path": "data/*.parquet"}],
                    "filters": usage_filter(u, _blocked(inp)),
                }
            )
    return {
        "pretty_name": f"fincorpus snapshot {inp.tag}",
        "license": "other",
        "license_name": "fincorpus-licence-classes",
        "license_link": "README.md",  # the licence-class table below: each row's own class governs it
        "language": sorted({lang for lang in inp.stats.languages if lang != "und"}) or ["zh"],
        "task_categories": ["text-generation"],
        "size_categories": [size_category(inp.stats.documents)],
        "tags": ["finance", "chinese", "regulatory", "provenance"],
        "configs": configs,
    }


def card_markdown(inp: CardInputs, filter_problems: Mapping[str, str | None]) -> str:
    header = yaml.safe_dump(card_header(inp, filter_problems), allow_unicode=True, sort_keys=False, width=110)
    st = inp.stats
    lines = [
        "---",
        header.rstrip(),
        "---",
        "",
        f"# fincorpus snapshot `{inp.tag}`",
        "",
        "Chinese financial texts crawled, cleaned, deduplicated and licence-tagged by fincorpus.",
        "",
        f"- snapshot id: {inp.snapshot_id if inp.snapshot_id is not None else 'unknown'}",
        f"- documents: {st.documents}",
        f"- schema version: {SCHEMA_VERSION} (field meanings: docs/data-model.md in the fincorpus repository)",
        f"- filters applied at pull: {json.dumps(dict(inp.filters), ensure_ascii=False)}",
        f"- manifest signed by: {inp.fingerprint or 'not signed yet'}",
        "",
        "## Load",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("<this folder>", split="train")            # every document',
        'ds = datasets.load_dataset("<this folder>", "train", split="train")   # only documents cleared for training',
        "```",
        "",
        "The configs `research`, `train`, `commercial` and `redistribute` select the rows whose `usage` column lists "
        "that use (checked on this snapshot when the card was written). The `usage` column is authoritative.",
    ]
    skipped = {u: why for u, why in filter_problems.items() if why}
    if skipped:
        lines += ["", "Configs left out because their filter would not match `usage`:"]
        lines += [f"- `{u}`: {why}" for u, why in skipped.items()]
    lines += [
        "",
        "## Licence classes",
        "",
        "| licence class | documents | allowed uses | meaning |",
        "|---|---|---|---|",
    ]
    for name, n in st.licences.most_common():
        c = LICENCE_CLASSES.get(name)
        lines.append(f"| {name} | {n} | {', '.join(c.usage) if c else '?'} | {c.meaning if c else ''} |")
    lines += ["", "## Sources", "", "| source | documents | licence classes |", "|---|---|---|"]
    for sid, s in sorted(st.sources.items()):
        lines.append(
            f"| {sid} | {s.documents} | {', '.join(f'{k} {v}' for k, v in s.licences.most_common())} |"
        )
    pii = ", ".join(f"{k} {st.pii_found[k]}" for k in PII_KINDS if st.pii_found.get(k)) or "none found"
    lines += [
        "",
        "## Personal information and opt-outs",
        "",
        f"PII found and masked in the text: {pii}. Documents whose training use was excluded by an opt-out: "
        f"{sum(st.optout_reasons.values())}.",
        "",
        "## Provenance",
        "",
        "Beside the data: `manifest.json` (every file with SHA-256, SM3 and rows; SM2-signed in `manifest.sig`), "
        f"`report.html`, `croissant.json`, `prov.json`/`prov.ttl` (W3C PROV), `{SOURCES_MD}` (语料来源清单) and "
        f"`{PRODUCT_MD}` (数据产品说明书). Check everything offline with `fincorpus verify <folder> --key <publisher.pem>`.",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CardFiles:
    card: Path
    sources_md: Path
    sources_json: Path
    product_md: Path
    product_json: Path


def write_cards(folder: Path, inp: CardInputs, data: Batches | None = None) -> CardFiles:
    """Write README.md, the 语料来源清单 and the 数据产品说明书 (Markdown and JSON) into ``folder``."""
    problems = check_usage_filters(data if data is not None else folder, _blocked(inp))
    inv = sources_inventory(inp)
    product = data_product(inp, inv)
    files = CardFiles(
        folder / CARD, folder / SOURCES_MD, folder / SOURCES_JSON, folder / PRODUCT_MD, folder / PRODUCT_JSON
    )
    files.card.write_text(card_markdown(inp, problems), encoding="utf-8")
    files.sources_md.write_text(sources_inventory_md(inv), encoding="utf-8")
    files.sources_json.write_text(json.dumps(inv, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    files.product_md.write_text(data_product_md(product), encoding="utf-8")
    files.product_json.write_text(json.dumps(product, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return files
