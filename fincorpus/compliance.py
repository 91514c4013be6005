"""Corpus QA samples (TC260-003 9.2), data security levels and tiers, and the cross-border negative list.

QA works on a pulled snapshot folder (``data/*.parquet`` as ``fincorpus pull`` writes it): a seeded random sample
is exported as a review sheet (CSV for the verdicts, HTML to read), the filled sheet is read back into a pass
rate against 96 %; the technical sample screens 10 % of the snapshot with the TC260 keyword library (and a
classifier, if configured) against 98 %. Reports are JSON and Markdown, kept beside the snapshot.

Classification gives each document a JR/T 0197-2020 data security level (1-5), a GB/T 43697-2024 tier (general,
important, core) and the data categories the cross-border negative list is written in, from documented rules over
fields the pipeline already stores (licence class, PII counts and mode, safety flag, markings in the text).
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from fincorpus.safety import (
    Classifier,
    KeywordLibrary,
    default_library,
    draw_sample,
    screen_text,
    wilson_interval,
    write_report,
)

MANUAL_MIN = 4000  # TC260-003 9.2 a: at least 4,000 items reviewed by people
MANUAL_PASS = 0.96
TECHNICAL_FRACTION = 0.10  # 9.2 b: at least 10 % of the corpus screened by keywords and classifiers
TECHNICAL_PASS = 0.98
EXCERPT_CHARS = 600
SHEET_COLUMNS = (
    "doc_id",
    "source_id",
    "licence_class",
    "url",
    "title",
    "excerpt",
    "verdict",
    "category",
    "reviewer",
    "note",
)
_PASS = {"pass", "ok", "y", "yes", "1", "合格", "通过", "是"}
_FAIL = {"fail", "no", "n", "0", "不合格", "不通过", "否"}


# -- snapshot access -----------------------------------------------------------------------------------------------


def read_snapshot(
    folder: str | Path, columns: Sequence[str] | None = None, doc_ids: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """The documents of a pulled snapshot folder (its ``data/`` Parquet files, or Parquet files in the folder);
    with ``doc_ids``, only those (a sample's texts are read, not the snapshot's)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = Path(folder)
    data = root / "data" if (root / "data").is_dir() else root
    files = sorted(data.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{root}: no Parquet files (expected {data}/*.parquet from `fincorpus pull`)")
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    cols = [c for c in columns if c in dataset.schema.names] if columns else None
    where = None if doc_ids is None else ds.field("doc_id").isin(pa.array(sorted(set(doc_ids)), pa.string()))
    return dataset.to_table(columns=cols, filter=where).to_pylist()


# -- QA samples ----------------------------------------------------------------------------------------------------


@dataclass
class QaSample:
    kind: str  # manual
    tag: str | None
    seed: int
    population: int
    size: int
    sheet_csv: str
    sheet_html: str
    created_at: str
    doc_ids: list[str] = field(default_factory=list)


@dataclass
class QaReport:
    kind: str  # manual | technical
    tag: str | None
    population: int
    sample_size: int
    reviewed: int
    passed: int
    failed: int
    pass_rate: float
    wilson: tuple[float, float]
    threshold: float
    meets_threshold: bool
    meets_sample_size: bool
    minimum_sample: int
    verdict: str  # pass | fail | incomplete
    reason: str
    created_at: str
    seed: int | None = None
    library_version: str | None = None
    classifier: str | None = None
    failures_by_category: dict[str, int] = field(default_factory=dict)
    failed_docs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        lo, hi = self.wilson
        lines = [
            f"# Corpus QA ({self.kind}){f': {self.tag}' if self.tag else ''}",
            "",
            f"- verdict: **{self.verdict}**: {self.reason}",
            f"- sample {self.sample_size} of {self.population} documents (minimum {self.minimum_sample}); "
            f"reviewed {self.reviewed}",
            f"- pass rate {self.pass_rate:.2%} (95% Wilson {lo:.2%}-{hi:.2%}) against {self.threshold:.0%}",
            f"- created {self.created_at}"
            + (f"; keyword library {self.library_version}" if self.library_version else "")
            + (f"; classifier {self.classifier}" if self.classifier else ""),
        ]
        if self.failures_by_category:
            lines += ["", "| failure category | documents |", "|---|---|"]
            lines += [
                f"| {c} | {n} |" for c, n in sorted(self.failures_by_category.items(), key=lambda kv: -kv[1])
            ]
        return "\n".join(lines) + "\n"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _sheet_html(rows: Sequence[Mapping[str, Any]], texts: Mapping[str, str], title: str) -> str:
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:60em;margin:auto}}"
        "article{border-top:1px solid #999;padding:.5em 0}pre{white-space:pre-wrap;font-family:inherit}"
        ".meta{color:#555;font-size:90%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>Record each verdict (pass / fail, and a category for a failure) in the "
        "CSV sheet with the same doc_id; this page is for reading only.</p>",
    ]
    for i, r in enumerate(rows, 1):
        parts.append(
            f"<article id='{html.escape(r['doc_id'])}'><h2>{i}. {html.escape(r.get('title') or '(no title)')}</h2>"
            f"<p class='meta'>{html.escape(r['doc_id'])} · {html.escape(r.get('source_id') or '')} · "
            f"{html.escape(r.get('licence_class') or '')} · <a href='{html.escape(r.get('url') or '')}'>"
            f"{html.escape(r.get('url') or '')}</a></p><pre>{html.escape(texts.get(r['doc_id'], ''))}</pre></article>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def qa_sample_manual(
    snapshot: str | Path, out_dir: str | Path, *, n: int = MANUAL_MIN, seed: int = 0, tag: str | None = None
) -> QaSample:
    """``fincorpus qa sample TAG --manual N``: a seeded random sample of the snapshot as a review sheet.

    Writes ``qa-manual-<seed>.csv`` (one row a document, empty verdict/category/reviewer/note columns to fill in)
    and ``qa-manual-<seed>.html`` (the documents' text, to read) into ``out_dir``.
    """
    population = [d["doc_id"] for d in read_snapshot(snapshot, ["doc_id"])]
    picked = draw_sample(population, n, seed)
    cols = ["doc_id", "source_id", "licence_class", "canonical_url", "title", "text"]
    by_id = {d["doc_id"]: d for d in read_snapshot(snapshot, cols, picked)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / f"qa-manual-{seed}.csv", out / f"qa-manual-{seed}.html"
    rows = []
    for doc_id in picked:
        d = by_id[doc_id]
        text = (d.get("text") or "").strip()
        rows.append(
            {
                "doc_id": doc_id,
                "source_id": d.get("source_id"),
                "licence_class": d.get("licence_class"),
                "url": d.get("canonical_url"),
                "title": d.get("title") or "",
                "excerpt": re.sub(r"\s+", " ", text[:EXCERPT_CHARS]),
                "verdict": "",
                "category": "",
                "reviewer": "",
                "note": "",
            }
        )
    with open(
        csv_path, "w", newline="", encoding="utf-8-sig"
    ) as fh:  # the BOM lets spreadsheet tools read UTF-8
        writer = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    texts = {doc_id: (by_id[doc_id].get("text") or "") for doc_id in picked}
    html_path.write_text(
        _sheet_html(rows, texts, f"QA sample {tag or ''} seed {seed}".strip()), encoding="utf-8"
    )
    sample = QaSample(
        "manual", tag, seed, len(set(population)), len(picked), str(csv_path), str(html_path), _now(), picked
    )
    (out / f"qa-manual-{seed}.json").write_text(
        json.dumps(asdict(sample), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return sample


class SheetError(ValueError):
    """A review sheet cannot be read; the message names the file, the row and what to change."""


def _verdict(value: str, where: str) -> bool | None:
    v = (value or "").strip().lower()
    if not v:
        return None
    if v in _PASS:
        return True
    if v in _FAIL:
        return False
    raise SheetError(
        f"{where}: verdict {value!r} is neither pass nor fail (use pass/fail, 合格/不合格 or 1/0)"
    )


def qa_record(
    sheet: str | Path, *, threshold: float = MANUAL_PASS, minimum: int = MANUAL_MIN, tag: str | None = None
) -> QaReport:
    """``fincorpus qa record SHEET``: read the filled review sheet and report the pass rate against 96 %."""
    path = Path(sheet)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("doc_id", "verdict") if c not in (reader.fieldnames or [])]
        if missing:
            raise SheetError(
                f"{path}: missing column(s) {missing}; export the sheet with `fincorpus qa sample`"
            )
        rows = list(reader)
    seen: set[str] = set()
    passed = failed = 0
    cats: Counter[str] = Counter()
    failed_docs: list[dict[str, Any]] = []
    for i, r in enumerate(rows, start=2):
        doc_id = (r.get("doc_id") or "").strip()
        if doc_id in seen:
            raise SheetError(f"{path}, row {i}: doc_id {doc_id} appears twice; keep one verdict per document")
        seen.add(doc_id)
        v = _verdict(r.get("verdict", ""), f"{path}, row {i}")
        if v is True:
            passed += 1
        elif v is False:
            failed += 1
            cat = (r.get("category") or "").strip() or "unspecified"
            cats[cat] += 1
            failed_docs.append({"doc_id": doc_id, "category": cat, "note": (r.get("note") or "").strip()})
    reviewed = passed + failed
    return _report(
        "manual", tag, len(rows), len(rows), reviewed, passed, failed, threshold, minimum, cats, failed_docs
    )


def _report(
    kind: str,
    tag: str | None,
    population: int,
    size: int,
    reviewed: int,
    passed: int,
    failed: int,
    threshold: float,
    minimum: int,
    cats: Mapping[str, int],
    failed_docs: list[dict[str, Any]],
    **extra: Any,
) -> QaReport:
    rate = passed / reviewed if reviewed else 0.0
    wil = wilson_interval(passed, reviewed)
    meets_rate = reviewed > 0 and rate >= threshold
    meets_size = reviewed >= minimum
    if reviewed < size:
        verdict, reason = "incomplete", f"{size - reviewed} of {size} sampled documents have no verdict yet"
    elif not meets_size:
        verdict, reason = (
            "fail",
            f"only {reviewed} documents reviewed; TC260-003 9.2 asks for at least {minimum}",
        )
    elif meets_rate:
        verdict, reason = "pass", f"pass rate {rate:.2%} >= {threshold:.0%}"
    else:
        verdict, reason = "fail", f"pass rate {rate:.2%} < {threshold:.0%}"
    return QaReport(
        kind=kind,
        tag=tag,
        population=population,
        sample_size=size,
        reviewed=reviewed,
        passed=passed,
        failed=failed,
        pass_rate=round(rate, 6),
        wilson=(round(wil[0], 6), round(wil[1], 6)),
        threshold=threshold,
        meets_threshold=meets_rate,
        meets_sample_size=meets_size,
        minimum_sample=minimum,
        verdict=verdict,
        reason=reason,
        created_at=_now(),
        failures_by_category=dict(cats),
        failed_docs=failed_docs,
        **extra,
    )


def qa_technical(
    snapshot: str | Path,
    *,
    fraction: float = TECHNICAL_FRACTION,
    seed: int = 0,
    tag: str | None = None,
    threshold: float = TECHNICAL_PASS,
    library: KeywordLibrary | None = None,
    classifier: Classifier | None = None,
) -> QaReport:
    """``fincorpus qa sample TAG --technical 10%``: screen a seeded ``fraction`` of the snapshot; pass rate vs 98 %."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction}: give a share in (0, 1], e.g. 0.10 for 10%")
    lib = library or default_library()
    import math

    population = sorted({d["doc_id"] for d in read_snapshot(snapshot, ["doc_id"])})
    size = min(len(population), math.ceil(fraction * len(population)))
    picked = draw_sample(population, size, seed)
    by_id = {
        d["doc_id"]: d for d in read_snapshot(snapshot, ["doc_id", "title", "text", "canonical_url"], picked)
    }
    cats: Counter[str] = Counter()
    failed_docs: list[dict[str, Any]] = []
    for doc_id in picked:
        d = by_id[doc_id]
        r = screen_text(d.get("text") or "", d.get("title"), library=lib, classifier=classifier)
        if r.flagged:
            cat = (r.categories or (r.classifier_category or "classifier",))[0]
            cats[cat] += 1
            failed_docs.append(
                {"doc_id": doc_id, "category": cat, "score": r.score, "url": d.get("canonical_url")}
            )
    failed = len(failed_docs)
    return _report(
        "technical",
        tag,
        len(population),
        size,
        size,
        size - failed,
        failed,
        threshold,
        size,  # the minimum is the fraction itself
        cats,
        failed_docs,
        seed=seed,
        library_version=lib.version,
        classifier=f"{classifier.name}/{classifier.version}" if classifier else None,
    )


def write_qa_report(report: QaReport, folder: str | Path) -> tuple[Path, Path]:
    """``qa-<kind>-report.json`` and ``.md`` in ``folder`` (kept with the snapshot)."""
    return write_report(report, folder, f"qa-{report.kind}-report")


# -- classification and cross-border ---------------------------------------------------------------------------------

LEVEL_NAMES = {1: "1级 公开", 2: "2级", 3: "3级", 4: "4级", 5: "5级"}
TIERS = ("general", "important", "core")  # GB/T 43697-2024: 一般数据, 重要数据, 核心数据
# Markings of a non-public document: a 密级 line or ★ marking, or an internal-use note (not 商业秘密 in a statute).
_MARKED = re.compile(
    r"密级\s*[：:]|(?:秘密|机密|绝密)\s*★|^\s*(?:秘密|机密|绝密)\s*$|内部(?:资料|文件)\s*[，,、]?\s*(?:请勿|不得|严禁)外传|"
    r"仅供内部(?:使用|参考|传阅)|"
    r"不得外传|严禁外传|注意保密",
    re.M,
)
_PUBLIC_CATEGORY = {
    "cn-art5-official": "public-official-document",
    "exchange-asserted": "public-disclosure",
    "media-unknown": "public-news",
    "media-third-party-reprint": "public-news",
    "open-licence": "open-licensed",
    "contract-licensed": "contract-data",
    "unknown": "unclassified",
}
_SENSITIVE_KINDS = ("id_card", "bank_card", "passport")


@dataclass(frozen=True)
class Classification:
    level: int  # JR/T 0197-2020 金融数据安全 数据安全分级指南: 1 (public) .. 5
    tier: str  # GB/T 43697-2024: general | important | core
    categories: tuple[str, ...]
    reasons: tuple[str, ...]

    def row_fields(self) -> dict[str, Any]:
        return {
            "security_level": self.level,
            "security_tier": self.tier,
            "data_categories": list(self.categories),
        }


def classify_document(
    *,
    licence_class: str,
    pii: Mapping[str, Any] | None = None,
    pii_mode: str = "mask",
    safety_flagged: bool = False,
    title: str | None = None,
    text: str | None = None,
) -> Classification:
    """Level, tier and categories of one document (rules in docs/compliance.md).

    * level 1: published official documents, disclosures and news with no personal identifier;
    * level 2: identifiers were found and masked, or the TC260 screen flagged the text;
    * level 3: identifiers left in the text (source ``pii: flag``), or the document is marked non-public;
    * level 4: an identifier of JR/T 0171 class C3 (authentication data) in the text;
    * level 5 is never assigned by rule (a regulator's designation).
    Tier: ``important`` for documents marked non-public (candidate 重要数据, for review), else ``general``:
    one published document is not important data by itself.
    """
    level, reasons = 1, ["published document"]
    cats = [_PUBLIC_CATEGORY.get(licence_class, "unclassified")]
    counts = {k: int(v) for k, v in (pii or {}).items() if k != "max_class" and isinstance(v, int) and v}
    max_class = (pii or {}).get("max_class")
    if counts:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        if pii_mode == "mask":
            level = max(level, 2)
            cats.append("personal-information-masked")
            reasons.append(f"identifiers masked ({kinds})")
        else:
            level = max(level, 4 if max_class == "C3" else 3)
            cats.append("personal-information")
            if any(counts.get(k) for k in _SENSITIVE_KINDS) or max_class == "C3":
                cats.append("sensitive-personal-information")
            reasons.append(f"identifiers left in the text ({kinds}, highest {max_class})")
    if safety_flagged:
        level = max(level, 2)
        cats.append("flagged-content")
        reasons.append("flagged by the TC260 screen")
    tier = "general"
    head = f"{title or ''}\n{(text or '')[:600]}"
    marked = _MARKED.search(head)
    if marked:
        level = max(level, 3)
        tier = "important"
        cats.append("marked-non-public")
        reasons.append(f"marked non-public: {marked.group(0)}")
    return Classification(level, tier, tuple(dict.fromkeys(cats)), tuple(reasons))


def classify_row(row: Mapping[str, Any], pii_mode: str = "mask") -> Classification:
    safety = row.get("safety") or {}
    return classify_document(
        licence_class=row.get("licence_class") or "unknown",
        pii=row.get("pii"),
        pii_mode=pii_mode,
        safety_flagged=bool(safety.get("flagged")),
        title=row.get("title"),
        text=row.get("text"),
    )


class NegativeCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    basis: str
    exclude: bool = True


class NegativeList(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    name: str
    categories: dict[str, NegativeCategory]

    @property
    def excluded(self) -> frozenset[str]:
        return frozenset(c for c, spec in self.categories.items() if spec.exclude)


def load_negative_list(path: str | Path | None = None) -> NegativeList:
    """The packaged Shanghai FTZ 2024 categories, or an operator's file of the same form."""
    if path is None:
        return default_negative_list()
    return NegativeList.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def default_negative_list() -> NegativeList:
    text = (
        resources.files("fincorpus.data")
        .joinpath("negative_list_shanghai_ftz_2024.yaml")
        .read_text(encoding="utf-8")
    )
    return NegativeList.model_validate(yaml.safe_load(text))


@dataclass
class CrossBorderReport:
    """What ``pull --destination cross-border`` left out and why (written beside the pulled snapshot)."""

    negative_list: str
    documents: int
    kept: int
    excluded: int
    excluded_by_category: dict[str, int]
    excluded_doc_ids: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if not self.excluded:
            return f"cross-border: nothing excluded ({self.negative_list})"
        cats = ", ".join(
            f"{c} {n}" for c, n in sorted(self.excluded_by_category.items(), key=lambda kv: -kv[1])
        )
        return f"cross-border: excluded {self.excluded} of {self.documents} documents ({cats}; {self.negative_list})"


def _categories_of(row: Mapping[str, Any]) -> Sequence[str]:
    cats = row.get("data_categories")
    return cats if cats is not None else classify_row(row).categories


def cross_border_filter(
    rows: Iterable[Mapping[str, Any]], negative_list: NegativeList | None = None
) -> tuple[list[Mapping[str, Any]], CrossBorderReport]:
    """Split rows for a cross-border pull: those with a category the list excludes stay home.

    Rows carry ``data_categories`` (classified at ingest); older rows are classified here from their fields.
    """
    nl = negative_list or default_negative_list()
    kept: list[Mapping[str, Any]] = []
    excluded: list[str] = []
    by_cat: Counter[str] = Counter()
    total = 0
    for row in rows:
        total += 1
        hit = [c for c in _categories_of(row) if c in nl.excluded]
        if hit:
            excluded.append(row["doc_id"])
            by_cat.update(hit)
        else:
            kept.append(row)
    report = CrossBorderReport(
        f"{nl.name} [{nl.version}]", total, len(kept), len(excluded), dict(by_cat), excluded
    )
    return kept, report


def cross_border_mask(table: Any, negative_list: NegativeList | None = None) -> tuple[Any, CrossBorderReport]:
    """:func:`cross_border_filter` for a pyarrow Table (the pull path): the filtered table and the report."""
    import pyarrow as pa

    rows = table.to_pylist()
    _, report = cross_border_filter(rows, negative_list)
    drop = set(report.excluded_doc_ids)
    mask = pa.array([r["doc_id"] not in drop for r in rows], type=pa.bool_())
    return table.filter(mask), report


def snapshot_cross_border_flag(
    rows: Iterable[Mapping[str, Any]], negative_list: NegativeList | None = None
) -> dict[str, Any]:
    """The per-snapshot flag: may the snapshot go abroad whole, and which listed categories does it hold?"""
    nl = negative_list or default_negative_list()
    present: Counter[str] = Counter()
    for row in rows:
        present.update(c for c in _categories_of(row) if c in nl.categories)
    listed = {c: n for c, n in present.items() if c in nl.excluded}
    return {
        "cross_border_ok": not listed,
        "negative_list": f"{nl.name} [{nl.version}]",
        "listed_categories": dict(listed),
        "other_list_categories": {c: n for c, n in present.items() if c not in nl.excluded},
    }
