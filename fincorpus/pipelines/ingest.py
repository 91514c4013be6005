"""The ingest stages as plain functions over typed batches: crawl -> process -> dedup -> licence -> stage.

A run is planned as shards of captures; each stage reads and writes files named by references, never rows:

- ``process_shard`` (one task per shard, in parallel): raw bytes read back through ``raw_ref``, decoded,
  extracted, cleaned and scored; the shard's records become one Arrow table (checked against the schema once, at
  this boundary) written as ``staging/<run>/parts/NNNNN.parquet``, with its dedup sidecar (signatures, band
  keys). A document that raises, or exceeds a limit, becomes a removed record with stage ``error`` and the
  reason; the shard carries on.
- ``dedup_stage`` (one task per run): the decisions of ``fincorpus.dedup.stage`` from small columns and sidecars,
  written as ``staging/<run>/dedup.parquet``.
- ``finalise_part`` (one task per part, in parallel): the dedup decisions and the licence stage applied to one
  part (each a declared ``schema.Stage``), written as ``staging/<run>/final/NNNNN.parquet``.
- ``stage_run``: ``run.json`` is written last, so a staged run is complete or absent.

Memory is bounded by a shard (process, finalise) or by the run's dedup index (a few small columns per document).
Prefect (flows.py) wraps these per source and per shard; tests and benchmarks call them directly. A run killed at
any point is resumed by the next ingest: shards whose part exists are not processed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pyarrow as pa
import pyarrow.compute as pc

from fincorpus.catalog import erasure
from fincorpus.cleaning import sitetemplate
from fincorpus.cleaning.boilerplate import notices_in_html
from fincorpus.cleaning.decode import MojibakeError, decode_bytes, ensure_clean
from fincorpus.cleaning.extract import (
    Extracted,
    ExtractionError,
    extract_html,
    extract_plain,
    parse_date,
)
from fincorpus.cleaning.normalize import without_surrogates
from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated
from fincorpus.cleaning.quality import QualityFilter
from fincorpus.cleaning.textpath import clean_text
from fincorpus.compliance import classify_row
from fincorpus.dedup.index import DedupIndex, open_near_index
from fincorpus.dedup.near import NearConfig
from fincorpus.dedup.stage import DECISION_SCHEMA, PartFiles, dedup_run, sidecar
from fincorpus.licensing import (
    LicenceDecision,
    decide_licence,
    derive_usage,
    evidence_from_row,
    optouts_of_row,
)
from fincorpus.pipelines.templates import learn_templates, load_template, run_templates
from fincorpus.safety import screen_text
from fincorpus.schema import RECORD_SCHEMA, Stage, doc_id_from_native, doc_id_from_url, records_table
from fincorpus.sources.archive import RawRefError, read_raw
from fincorpus.sources.base import Capture, CrawlEvent, CrawlReport
from fincorpus.sources.dataset import RECORD_TYPE
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.optout import detect_optout
from fincorpus.sources.passes import run_pass
from fincorpus.sources.registry import SourceConfig, SourcesFile, load_sources
from fincorpus.sources.web import JSON_TYPES, dotted, normalize_url
from fincorpus.storage import Storage, area

# Captures per processing task: large enough that task overhead (~0.1 s) is small against the work, small enough
# that every worker gets several tasks (see shard_size).
SHARD_SIZE = 2000
MIN_SHARD_SIZE = 100
# Longest extracted text handed to cleaning (characters); longer documents are removed at stage "error" with the
# length in the reason (a 300-page annual report is about 0.6 M characters).
MAX_TEXT_CHARS = int(os.environ.get("FINCORPUS_MAX_TEXT_CHARS", "5000000"))
# Limits of the PDF parser's worker process (its base is about 110 MB).
PDF_MAX_MEMORY = int(os.environ.get("FINCORPUS_PDF_MAX_MEMORY", str(1 << 30)))
PDF_TIMEOUT_S = float(os.environ.get("FINCORPUS_PDF_TIMEOUT_S", "120"))


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def staging(home: Path) -> Storage:
    """The staged runs: ``staging/`` under the home, or under FINCORPUS_WAREHOUSE on a cluster."""
    return area(home, "staging")


def staging_dir(home: Path, run_id: str) -> Path | str:
    """Where a run's files are: a local path, or an s3:// location."""
    store = staging(home)
    return store.location(run_id) if store.remote else store.path(run_id)


# -- crawl ---------------------------------------------------------------------------------------------------


@dataclass
class CrawlResult:
    source_id: str
    pass_ids: list[str]  # crawled, not yet staged passes: their captures go into the next staged run
    outcomes: dict[str, int]
    resumed: bool
    report: CrawlReport | None = None  # limit hit, stop, unreachable hosts, what was cut
    seconds: float = 0.0

    def facts(self) -> dict[str, Any]:
        """What the ingest summary and the exit code need from the crawl (JSON-able)."""
        r = self.report
        return {
            "limit_hit": r.limit_hit if r else None,
            "unreachable": bool(r and r.unreachable),
            "unreachable_hosts": list(r.unreachable_hosts) if r else [],
            "refused": r.refused if r else 0,
            "cut": list(r.cut) if r else [],
            "stored": r.stored if r else None,
            "unchanged": r.unchanged if r else None,
            "unchanged_files": r.unchanged_files if r else 0,
            # records of input files skipped whole (their rows are in "unchanged", with no per-row event)
            "unchanged_file_records": r.unchanged_file_records if r else 0,
            "seconds": round(self.seconds, 2),
        }


def crawl_source(
    sources: SourcesFile,
    source_id: str,
    home: Path,
    progress: Callable[[CrawlEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> CrawlResult:
    """Run (or resume) a crawl pass of one source; its captures and log are in the catalog database.

    Raises ``locks.LockHeld`` when another process crawls the source, ``CrawlStopped`` after a requested stop
    (state committed; the next ingest resumes).
    """
    started = time.perf_counter()
    out = run_pass(sources, source_id, home, progress=progress, stop=stop)
    return CrawlResult(
        source_id, out.crawled_passes, out.outcomes, out.resumed, out.report, time.perf_counter() - started
    )


def pass_captures(home: Path, pass_ids: list[str]) -> list[Capture]:
    """All captures of some passes in memory (tests and tools; the pipeline reads them shard by shard)."""
    return list(CrawlState(home).captures(pass_ids))


def write_crawl_logs(home: Path, run_id: str, pass_ids: list[str]) -> None:
    """Copy each pass's decisions next to the staged run as JSON lines (the operator's and auditor's log)."""
    state = CrawlState(home)
    store = staging(home)
    for p in pass_ids:
        source_id = p.split("-", 1)[1].rsplit("-", 1)[0]
        store.write_chunks(f"{run_id}/crawl-{source_id}.jsonl", _log_chunks(state.iter_events(p), p))


def _log_chunks(events: Iterable[CrawlEvent], pass_id: str, lines: int = 2000) -> Iterator[bytes]:
    """A pass's crawl log as JSON lines, ``lines`` at a time (a dataset pass logs an event per row: 1M rows
    made one 400 MB string)."""
    batch: list[str] = []
    for ev in events:
        batch.append(json.dumps({"pass_id": pass_id, **ev.__dict__}, ensure_ascii=False) + "\n")
        if len(batch) >= lines:
            yield "".join(batch).encode("utf-8")
            batch = []
    if batch:
        yield "".join(batch).encode("utf-8")


# -- planning ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardSpec:
    """A bounded slice of captures: of a crawl pass (``pass``) or of a source's stored pages (``pages``), the
    URLs from ``lo`` to ``hi`` in URL order.

    Its name is stable (kind, pass or source, position, a hash of the range), so a resumed run finds the parts it
    already wrote and parts sort in capture order.
    """

    kind: str  # pass | pages
    key: str  # pass id or source id
    lo: str
    hi: str
    position: int = 0

    @property
    def name(self) -> str:
        digest = hashlib.sha256(f"{self.lo}\n{self.hi}".encode()).hexdigest()[:10]
        return f"{self.kind}-{self.key}-{self.position:06d}-{digest}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ShardSpec:
        return cls(**d)


def shard_size(n: int, workers: int) -> int:
    """Captures per shard for ``n`` captures: about four shards per worker, between 100 and SHARD_SIZE."""
    return max(MIN_SHARD_SIZE, min(SHARD_SIZE, -(-n // max(1, 4 * workers))))


def plan_pass_shards(
    home: Path, pass_ids: Sequence[str], size: int | None = None, workers: int = 1
) -> list[ShardSpec]:
    state = CrawlState(home)
    out = []
    for p in pass_ids:
        n = state.capture_count(p)
        out += [
            ShardSpec("pass", p, lo, hi) for lo, hi in state.capture_shards(p, size or shard_size(n, workers))
        ]
    return out


def plan_page_shards(
    home: Path, source_ids: Sequence[str], size: int | None = None, workers: int = 1
) -> list[ShardSpec]:
    """Reprocess: every stored document version of the sources, in shards."""
    state = CrawlState(home)
    out = []
    for s in source_ids:
        n = state.page_count(s)
        ranges = state.page_shards(s, size or shard_size(n, workers))
        out += [ShardSpec("pages", s, lo, hi, k) for k, (lo, hi) in enumerate(ranges)]
    return out


def open_run(home: Path, pass_ids_crawled: Sequence[str] = ()) -> tuple[str, bool]:
    """A new run id, or the id of an interrupted run (plan.json, no run.json) whose passes are not staged yet."""
    store = staging(home)
    crawled = set(pass_ids_crawled)
    for run in reversed(store.list(dirs=True)):
        if store.is_file(f"{run}/plan.json") and not store.exists(f"{run}/run.json"):
            passes = set(store.read_json(f"{run}/plan.json").get("pass_ids", []))
            if passes and passes <= crawled:
                return run, True
    run_id = new_run_id()
    staging(home).write_json(f"{run_id}/plan.json", {"pass_ids": sorted(pass_ids_crawled), "kind": "ingest"})
    return run_id, False


def note_passes(home: Path, run_id: str, pass_ids: Sequence[str]) -> None:
    """Record the passes a run covers (a resumed ingest finds the run by them)."""
    store = staging(home)
    plan = store.read_json(f"{run_id}/plan.json") if store.exists(f"{run_id}/plan.json") else {}
    plan["pass_ids"] = sorted(set(plan.get("pass_ids", [])) | set(pass_ids))
    store.write_json(f"{run_id}/plan.json", plan)


def shard_captures(home: Path, shard: ShardSpec) -> list[Capture]:
    state = CrawlState(home)
    if shard.kind == "pass":
        return state.captures_between(shard.key, shard.lo, shard.hi)
    return state.pages_between(shard.key, shard.lo, shard.hi)


@lru_cache(maxsize=8)
def _sources_cached(path: str, mtime: float, proxy: str | None) -> SourcesFile:
    sources = load_sources(path)
    if proxy:
        crawler = sources.crawler.model_copy(update={"proxy": proxy})
        sources = sources.model_copy(update={"crawler": crawler})
    return sources


def load_sources_for(path: str, proxy: str | None = None) -> SourcesFile:
    """The sources file as validated once per process (workers load it themselves: only the path travels)."""
    return _sources_cached(str(Path(path).resolve()), Path(path).stat().st_mtime, proxy)


# -- process (cleaning) ----------------------------------------------------------------------------------------


def _extract(
    capture: Capture, body: bytes, sources: SourcesFile
) -> tuple[Extracted, dict[str, Any], str | None]:
    """Returns the extraction, the decode facts and the decoded HTML (for opt-out meta tags)."""
    ctype = capture.headers.get("content-type")
    if capture.content_type == "application/pdf":
        # a separate worker process with memory and time limits: a hostile PDF fails alone, with a reason
        pdf = extract_pdf_isolated(body, max_memory_bytes=PDF_MAX_MEMORY, timeout_s=PDF_TIMEOUT_S)
        return pdf, {"charset": None, "charset_source": "binary"}, None
    if capture.content_type in JSON_TYPES:
        return _extract_json_document(capture, body, sources)
    if capture.content_type == RECORD_TYPE:
        source = sources.get(capture.source_id)
        assert source.dataset is not None
        row = json.loads(body)
        text = row.get(source.dataset.text)
        if not isinstance(text, str):
            raise ExtractionError(f"column {source.dataset.text!r} is not text in this row")
        extracted = Extracted(
            text, capture.item.title if capture.item else None, None, "dataset-column", source.dataset.text
        )
        return extracted, {"charset": "utf-8", "charset_source": "dataset"}, None
    try:
        decoded = ensure_clean(decode_bytes(body, ctype))
    except MojibakeError as exc:  # never publish garbled text: the row goes to removed with the reason
        raise ExtractionError(f"mojibake: {exc}") from exc
    facts = {
        "charset": decoded.charset,
        "charset_source": decoded.source,
        "decode_replaced": decoded.replaced,
    }
    if capture.content_type == "text/plain":
        return extract_plain(decoded.text), facts, None
    selectors = sources.get(capture.source_id).content_selectors
    return extract_html(decoded.text, capture.final_url, selectors=selectors), facts, decoded.text


def _extract_json_document(
    capture: Capture, body: bytes, sources: SourcesFile
) -> tuple[Extracted, dict[str, Any], str | None]:
    """A JSON detail response: the body field is HTML (extracted like a page) or plain text."""
    spec = sources.get(capture.source_id).json_document
    if spec is None:
        raise ExtractionError("JSON response but the source declares no json_document mapping")
    decoded = decode_bytes(body, capture.headers.get("content-type"))
    try:
        data = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(f"invalid JSON document: {exc}") from exc
    value = dotted(data, spec.html or spec.text)
    if not isinstance(value, str) or not value.strip():
        raise ExtractionError(f"JSON document has no text at {spec.html or spec.text!r}")
    value = without_surrogates(
        value
    )  # JSON escapes can spell lone surrogates ("\ud800"); found by bench/fuzz
    selectors = sources.get(capture.source_id).content_selectors
    ex = extract_html(value, capture.final_url, selectors=selectors) if spec.html else extract_plain(value)
    title = dotted(data, spec.title)
    published = dotted(data, spec.published)
    ex = replace(
        ex,
        title=without_surrogates(str(title)) if title else ex.title,
        published_at=parse_date(without_surrogates(str(published))) if published else ex.published_at,
        extractor=ex.extractor + "+json",
    )
    return ex, {"charset": decoded.charset, "charset_source": decoded.source}, None


# Tag bodies stop at "<" and spaces are possessive: a page of unclosed "<link " or "来源" and spaces made these
# quadratic (seconds a page, issue 14); they differ from the plain patterns only for a raw "<" inside a tag.
_CANONICAL = re.compile(r"""<link\s[^<>]*rel\s*=\s*["']?canonical["'\s>][^>]*>""", re.I)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.I)


_SOURCE_LINK = re.compile(
    r"""(?:来源|稿件来源|文章来源|转载自|原文链接)\s*+[：:]?\s*+(?:<(?!a\s)[^<>]*>\s*+)*<a\s[^<>]*href\s*=\s*["']([^"']+)["']""",
    re.I,
)


def source_link(html: str, page_url: str) -> str | None:
    """The original a reprint names: the link right after 来源：/转载自： (a cleaning-time fact dedup relies on)."""
    m = _SOURCE_LINK.search(html)
    if not m:
        return None
    url = normalize_url(urljoin(page_url, m.group(1)))
    return url if url.startswith(("http://", "https://")) and url != normalize_url(page_url) else None


def rel_canonical(html: str, page_url: str) -> str | None:
    m = _CANONICAL.search(html[:50000])
    href = _HREF.search(m.group(0)) if m else None
    return normalize_url(urljoin(page_url, href.group(1))) if href else None


def _doc_id(source: SourceConfig, capture: Capture, native: str | None) -> str:
    # Files and dataset rows are identified by their own id; web documents (API items too) by their URL.
    if source.kind in ("files", "dataset") and native:
        return doc_id_from_native(source.id, native)
    return doc_id_from_url(capture.final_url)


def template_text(capture: Capture, sources: SourcesFile, home: Path) -> str | None:
    """The extracted text of a capture, before cleaning: what site templates are learned from."""
    raw = read_raw(home, capture.raw_ref)
    extracted, _, _ = _extract(capture, raw.body, sources)
    return extracted.text


def templates_stage(
    sources_path: str,
    proxy: str | None,
    home: Path,
    run_id: str,
    source_id: str,
    pass_ids: Sequence[str] = (),
) -> dict[str, str]:
    """Site templates for one source's captures in this run (of its passes, or all stored pages: reprocess)."""
    sources = load_sources_for(sources_path, proxy)
    state = CrawlState(home)
    captures = state.captures(list(pass_ids)) if pass_ids else state.current_pages(source_id)
    return learn_templates(home, run_id, source_id, captures, lambda c: template_text(c, sources, home))


def process_capture(
    capture: Capture,
    sources: SourcesFile,
    home: Path,
    run_id: str,
    templates: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One capture -> one record (status kept, or removed with the stage and reason that dropped it).

    ``templates`` maps template groups to the site template (sha256) the run uses for them.
    """
    source = sources.get(capture.source_id)
    native = capture.item.native_id if capture.item else None
    hold = erasure.processing_hold(home, capture, _doc_id(source, capture, native))  # takedown hook
    if hold is not None:  # a taken-down document: a tombstone, its bytes never read
        return erasure.takedown_row(
            home, _error_record(capture, sources, run_id, "takedown", ""), capture, hold
        )
    licence_class, legal_basis = source.licence_for(capture.final_url)
    raw = read_raw(home, capture.raw_ref)
    if hashlib.sha256(raw.body).hexdigest() != capture.raw_sha256:
        raise RawRefError(f"{capture.raw_ref}: stored bytes do not match raw_sha256; the archive is damaged")
    row: dict[str, Any] = {
        "doc_id": _doc_id(source, capture, native),
        "native_id": native,
        "version": capture.version,
        "previous_raw_ref": capture.previous_raw_ref,
        "redirect_chain": list(capture.redirect_chain),
        "discovered_via": capture.discovered_via,
        "source_id": source.id,
        "url": capture.url,
        "canonical_url": capture.final_url,
        "fetched_at": capture.fetched_at,
        "http_status": capture.status,
        "content_type": capture.content_type,
        "raw_sha256": capture.raw_sha256,
        "raw_ref": capture.raw_ref,
        "warc_record_id": capture.warc_record_id,
        "licence_class": licence_class,
        "legal_basis": legal_basis,
        "usage": [],
        "run_id": run_id,
        "config_sha256": sources.config_sha256(source),
        "status": "kept",
        "steps": [
            {
                "step": "fetch",
                "detail": f"HTTP {capture.status} via {capture.discovered_via}"
                + (f"; redirects {' -> '.join(capture.redirect_chain)}" if capture.redirect_chain else ""),
            }
        ],
    }
    try:
        extracted, facts, html = _extract(capture, raw.body, sources)
    except ExtractionError as exc:
        row.update(status="removed", removed_stage="extract", removed_reason=str(exc), text=None)
        row["steps"].append({"step": "extract", "detail": f"failed: {exc}"})
        return row
    if len(extracted.text) > MAX_TEXT_CHARS:
        reason = (
            f"extracted text of {len(extracted.text):,} characters exceeds the limit of {MAX_TEXT_CHARS:,} "
            "(FINCORPUS_MAX_TEXT_CHARS); split the document or raise the limit"
        )
        row.update(status="removed", removed_stage="error", removed_reason=reason, text=None)
        row["steps"].append({"step": "extract", "detail": f"skipped: {reason}"})
        return row
    optout = detect_optout(
        capture.access, html, ai_disallow_is_reservation=sources.crawler.ai_disallow_is_reservation
    )
    doc_type = source.doc_type_for(capture.final_url, capture.content_type)
    group = sitetemplate.template_group(capture.final_url) if html is not None else None
    tpl_sha = (templates or {}).get(group) if group else None
    cleaned = clean_text(
        extracted.text,
        page_notices=notices_in_html(html) if html else (),
        doc_type=doc_type,
        pii_mode=source.pii,
        site_template=load_template(str(home), tpl_sha) if tpl_sha else None,
    )
    if tpl_sha:
        row["site_template"] = f"{group}@{tpl_sha}"
    scores = cleaned.quality
    row.update(
        facts,
        title=extracted.title,
        author=extracted.author,
        issuing_body=extracted.issuing_body,
        doc_number=extracted.doc_number,
        doc_type=doc_type,
        page_type=extracted.page_type,
        pages=extracted.pages,
        no_text_layer=extracted.no_text_layer,
        text=cleaned.text,
        lang=cleaned.lang,
        published_at=extracted.published_at,
        extractor=extracted.extractor,
        extractor_version=extracted.extractor_version,
        text_sha256=hashlib.sha256(cleaned.text.encode("utf-8")).hexdigest(),
        quality=dict(scores),
        finance_score=cleaned.finance_score,
        pii=cleaned.pii,
        rights_notice=cleaned.rights_notice,
        original_source=cleaned.original_source,
        tdm_reserved=optout.tdm_reserved,
        noai=optout.noai,
        ai_reserved=optout.ai_reserved,
        optout_reason=optout.reason,
        access={
            **capture.access.to_json(),
            "meta_robots": optout.meta_robots,
            "tdm_source": optout.tdm_source,
        },
    )
    if html is not None:
        row["rel_canonical"] = rel_canonical(html, capture.final_url)
        row["original_url"] = source_link(html, capture.final_url)
    if capture.item is not None:  # the listing's title and date are the publisher's own metadata
        row["title"] = capture.item.title or row["title"]
        row["published_at"] = parse_date(capture.item.published) or row["published_at"]
    if facts["charset"]:
        replaced = facts.get("decode_replaced") or 0
        row["steps"].append(
            {
                "step": "decode",
                "detail": f"{facts['charset']} from {facts['charset_source']}"
                + (f"; {replaced} undecodable byte sequence(s) replaced" if replaced else ""),
            }
        )
    row["steps"].append(
        {
            "step": "extract",
            "detail": f"{extracted.extractor} {extracted.extractor_version}"
            + (f" ({extracted.path})" if extracted.path else ""),
        }
    )
    row["steps"].extend(cleaned.steps)
    if optout.reason:
        row["steps"].append({"step": "optout", "detail": optout.reason})
    licence = decide_licence(evidence_from_row(row, html, source), source, contracts=sources.contract_map)
    row.update(licence.row_fields())
    row["steps"].append(
        {
            "step": "licence:evidence",
            "detail": f"{licence.licence_class} by {licence.rule} (prior {licence.prior})",
        }
    )
    row["safety"] = screen_text(row["text"] or "", row.get("title")).to_struct()
    row.update(classify_row(row, pii_mode=source.pii).row_fields())
    decision = _decide(row, sources, source, doc_type)
    row["steps"].append(
        {"step": decision.step, "detail": "keep" if decision.keep else f"drop: {decision.reason}"}
    )
    if not decision.keep:
        row.update(status="removed", removed_stage=decision.step, removed_reason=decision.reason)
    # takedown hook: a PII erasure request covers documents crawled after it too
    hold = erasure.pii_hold(home, capture, row)
    return row if hold is None else erasure.takedown_row(home, row, capture, hold)


@dataclass(frozen=True)
class _Decision:
    step: str
    keep: bool
    reason: str = ""


def _decide(row: dict[str, Any], sources: SourcesFile, source: SourceConfig, doc_type: str) -> _Decision:
    """Decisions over the stored scores, in order: PDF text layer, quality thresholds, finance relevance."""
    if row.get("no_text_layer"):
        return _Decision(
            "extract.pdf", False, "PDF has no text layer (scanned or image-only); OCR it before ingesting"
        )
    qfilter = QualityFilter(sources.quality.thresholds(doc_type), doc_type)
    decision = qfilter.decide(row["quality"], row.get("page_type"))
    if not decision.keep:
        return _Decision(qfilter.name, False, decision.reason)
    limit = source.min_finance_score
    if limit is not None and (row.get("finance_score") or 0.0) < limit:
        return _Decision(
            "domain", False, f"finance_score={row.get('finance_score')} < min_finance_score={limit}"
        )
    return _Decision(qfilter.name, True)


# -- process a shard ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartRef:
    """What a processing task returns: where its part is, and counts (never the rows)."""

    name: str  # the shard's stable name
    part: str  # relative to the staging root
    sidecar: str
    rows: int
    kept: int
    removed_by_stage: dict[str, int]
    seconds: float = 0.0  # processing time of the shard (0 for a part a resumed run found)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PartRef:
        return cls(**d)


def _error_record(
    capture: Capture, sources: SourcesFile, run_id: str, stage: str, reason: str
) -> dict[str, Any]:
    """A removed record for a capture that could not be processed: enough to find and re-run it."""
    source = sources.get(capture.source_id)
    licence_class, legal_basis = source.licence_for(capture.final_url)
    native = capture.item.native_id if capture.item else None
    return {
        "doc_id": _doc_id(source, capture, native),
        "native_id": native,
        "source_id": source.id,
        "url": capture.url,
        "canonical_url": capture.final_url,
        "fetched_at": capture.fetched_at,
        "http_status": capture.status,
        "content_type": capture.content_type,
        "raw_sha256": capture.raw_sha256,
        "raw_ref": capture.raw_ref,
        "warc_record_id": capture.warc_record_id,
        "version": capture.version,
        "previous_raw_ref": capture.previous_raw_ref,
        "redirect_chain": list(capture.redirect_chain),
        "discovered_via": capture.discovered_via,
        "licence_class": licence_class,
        "legal_basis": legal_basis,
        "usage": [],
        "run_id": run_id,
        "config_sha256": sources.config_sha256(source),
        "steps": [
            {"step": "fetch", "detail": f"HTTP {capture.status} via {capture.discovered_via}"},
            {"step": stage, "detail": f"failed: {reason}"},
        ],
        "status": "removed",
        "removed_stage": stage,
        "removed_reason": reason,
    }


def _one_line(exc: BaseException, limit: int = 300) -> str:
    msg = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {msg[:limit]}"


def process_shard(
    sources_path: str,
    proxy: str | None,
    home: Path,
    run_id: str,
    shard: ShardSpec,
    cfg: NearConfig | None = None,
) -> PartRef:
    """Process one shard into a part and its dedup sidecar; each document's failure stays with that document."""
    sources = load_sources_for(sources_path, proxy)
    store = staging(home)
    part_rel, side_rel = _part_names(run_id, shard.name)
    started = time.perf_counter()
    templates = run_templates(home, run_id)
    captures = list(shard_captures(home, shard))  # in URL order, the order of the part
    rows: list[dict[str, Any]] = [{}] * len(captures)
    # read in archive order: a shard's URLs ("dataset://s/1", "/10", "/100", ...) are scattered over the WARC
    # segments, and on an object store each jump cost a ranged GET of a whole read window
    for i in sorted(range(len(captures)), key=lambda i: _archive_order(captures[i].raw_ref)):
        capture = captures[i]
        try:
            row = process_capture(capture, sources, home, run_id, templates)
        except RawRefError as exc:
            row = _error_record(capture, sources, run_id, "error", f"raw capture unreadable: {exc}")
        except MemoryError:
            row = _error_record(capture, sources, run_id, "error", "ran out of memory while processing")
        except Exception as exc:  # one bad document never sinks the shard
            row = _error_record(capture, sources, run_id, "error", _one_line(exc))
        rows[i] = row
    table = records_table(rows, stage="process")
    side = sidecar(table, cfg or NearConfig())
    store.write_parquet(side_rel, side)
    store.write_parquet(part_rel, table)  # written last: its existence marks the shard done
    removed = Counter(r["removed_stage"] for r in rows if r.get("removed_stage"))
    return PartRef(
        shard.name,
        part_rel,
        side_rel,
        table.num_rows,
        table.num_rows - sum(removed.values()),
        dict(removed),
        round(time.perf_counter() - started, 3),
    )


def _archive_order(raw_ref: str | None) -> tuple[str, int]:
    """(segment, byte offset) of a raw_ref; a malformed one sorts first and fails in read_raw as before."""
    path, _, offset = (raw_ref or "").rpartition("#")
    return (path, int(offset)) if offset.isdigit() else ("", -1)


def _part_names(run_id: str, name: str) -> tuple[str, str]:
    return f"{run_id}/parts/{name}.parquet", f"{run_id}/parts/{name}.dedup.parquet"


def existing_part(home: Path, run_id: str, shard: ShardSpec) -> PartRef | None:
    """The part a resumed run already wrote for this shard (None if it has to be processed)."""
    store = staging(home)
    part_rel, side_rel = _part_names(run_id, shard.name)
    if not (store.exists(part_rel) and store.exists(side_rel)):
        return None
    t = store.read_parquet(part_rel, columns=["status", "removed_stage"])
    removed = Counter(x for x in t.column("removed_stage").to_pylist() if x)
    return PartRef(
        shard.name, part_rel, side_rel, t.num_rows, t.num_rows - sum(removed.values()), dict(removed)
    )


# -- dedup, licence, stage --------------------------------------------------------------------------------------


def near_index(home: Path) -> DedupIndex:
    """The persistent dedup index of published documents: one SQLite file under the home by default,
    Redis when FINCORPUS_NEAR_INDEX=redis://... (workers on several machines share it)."""
    return open_near_index(home)


def run_meta(home: Path, run_id: str) -> dict[str, Any]:
    """A staged run's run.json."""
    return staging(home).read_json(f"{run_id}/run.json")


def pending_runs(home: Path) -> list[str]:
    """Ids of the staged, complete, not yet published runs, oldest first."""
    store = staging(home)
    return [
        run
        for run in store.list(dirs=True)
        if store.is_file(f"{run}/run.json") and store.read_json(f"{run}/run.json").get("status") == "staged"
    ]


def run_parts(home: Path, run_id: str) -> list[str]:
    """The final parts of a staged run, relative to the staging root, in order."""
    return list(run_meta(home, run_id)["parts"])


def pending_exact(home: Path, exclude_run: str | None = None) -> Callable[[Sequence[str]], dict[str, str]]:
    """A lookup text_sha256 -> doc_id over the kept documents of staged, unpublished runs (streamed per part)."""

    def lookup(hashes: Sequence[str]) -> dict[str, str]:
        wanted = pa.array(sorted({h for h in hashes if h}), pa.string())
        found: dict[str, str] = {}
        if len(wanted) == 0:
            return found
        store = staging(home)
        for run_id in pending_runs(home):
            if run_id == exclude_run:
                continue
            for rel in run_parts(home, run_id):
                t = store.read_parquet(rel, columns=["text_sha256", "doc_id", "status"])
                mask = pc.and_(
                    pc.equal(t.column("status"), "kept"), pc.is_in(t.column("text_sha256"), wanted)
                )
                hit = t.filter(pc.fill_null(mask, False))
                for h, d in zip(
                    hit.column("text_sha256").to_pylist(), hit.column("doc_id").to_pylist(), strict=True
                ):
                    found.setdefault(h, d)
        return found

    return lookup


@dataclass(frozen=True)
class DedupRef:
    decisions: str  # relative to the staging root
    stats: dict[str, Any]
    order: list[str]  # part names in the order the decisions number them


def dedup_stage(home: Path, run_id: str, parts: Sequence[PartRef], cfg: NearConfig | None = None) -> DedupRef:
    started = time.perf_counter()
    index = near_index(home)
    try:
        cfg = cfg or index.cfg
        decisions, stats = dedup_run(
            staging(home),
            [PartFiles(p.part, p.sidecar) for p in sorted(parts, key=lambda p: p.name)],
            cfg,
            index,
            pending_exact(home, exclude_run=run_id),
        )
    finally:
        index.close()
    rel = f"{run_id}/dedup.parquet"
    staging(home).write_parquet(rel, decisions)
    stats.extra["seconds"] = round(time.perf_counter() - started, 3)
    return DedupRef(rel, asdict(stats), sorted(p.name for p in parts))


DEDUP_APPLY = Stage(
    "dedup",
    reads=("status",),
    writes=(
        "status",
        "removed_stage",
        "removed_reason",
        "dedup_cluster",
        "duplicate_of",
        "duplicate_relation",
        "duplicate_similarity",
        "superseded_at",
    ),
)
LICENCE = Stage(
    "licence",
    reads=(
        "licence_class",
        "legal_basis",
        "licence_decision",
        "status",
        "tdm_reserved",
        "noai",
        "ai_reserved",
        "optout_reason",
    ),
    writes=("usage",),
)


def apply_dedup(part: pa.Table, decisions: pa.Table) -> pa.Table:
    """The dedup columns of one part from its decisions; captures of a document already in the run are dropped."""
    n = part.num_rows
    cols = {c: part.column(c).to_pylist() for c in DEDUP_APPLY.writes}
    steps: list[tuple[str, str] | None] = [None] * n
    drop = set()
    for d in decisions.to_pylist():
        r = d["row"]
        if d["action"] == "drop":
            drop.add(r)
            continue
        if d["action"] == "remove":
            cols["status"][r] = "removed"
            cols["removed_stage"][r] = d["removed_stage"]
            cols["removed_reason"][r] = d["removed_reason"]
        for c in (
            "dedup_cluster",
            "duplicate_of",
            "duplicate_relation",
            "duplicate_similarity",
            "superseded_at",
        ):
            if d[c] is not None:
                cols[c][r] = d[c]
        steps[r] = (d["step"], d["detail"])
    out = DEDUP_APPLY.apply(
        part, {c: pa.array(v, RECORD_SCHEMA.field(c).type) for c, v in cols.items()}, steps
    )
    if drop:
        out = out.filter(pa.array([r not in drop for r in range(n)], pa.bool_()))
    return out


def apply_licence(part: pa.Table) -> pa.Table:
    """Usage from each record's licence class and opt-outs (removed records are cleared for nothing)."""
    view = LICENCE.view(part).to_pylist()
    usage: list[list[str]] = []
    steps: list[str | None] = []
    for r in view:
        if r["status"] != "kept":
            usage.append([])
            steps.append(None)
            continue
        decision = LicenceDecision.from_row(r)
        u = derive_usage(decision, optouts_of_row(r))
        usage.append(u)
        detail = f"{r['licence_class']} ({decision.rule}) -> usage {','.join(u) or 'none'}"
        if r["optout_reason"]:
            detail += f" (training excluded: {r['optout_reason']})"
        steps.append(detail)
    return LICENCE.apply(part, {"usage": pa.array(usage, RECORD_SCHEMA.field("usage").type)}, steps)


@dataclass(frozen=True)
class FinalRef:
    name: str
    part: str
    sidecar: str
    rows: int
    kept: int
    removed_by_stage: dict[str, int]
    by_source: dict[str, int]
    by_licence: dict[str, int]
    exact_duplicates: int
    near_duplicates: int
    opted_out: int
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def finalise_part(home: Path, run_id: str, part: PartRef, dedup: DedupRef) -> FinalRef:
    started = time.perf_counter()
    store = staging(home)
    table = store.read_parquet(part.part)
    decisions = store.read_parquet(dedup.decisions)
    mine = decisions.filter(pc.equal(decisions.column("part"), dedup.order.index(part.name)))
    table = apply_licence(apply_dedup(table, mine))
    rel = f"{run_id}/final/{part.name}.parquet"
    store.write_parquet(rel, table)
    rows = table.select(
        ["status", "removed_stage", "source_id", "licence_class", "duplicate_relation", "optout_reason"]
    )
    recs = rows.to_pylist()
    kept = [r for r in recs if r["status"] == "kept"]
    removed = [r for r in recs if r["status"] == "removed"]
    return FinalRef(
        part.name,
        rel,
        part.sidecar,
        table.num_rows,
        len(kept),
        dict(Counter(r["removed_stage"] for r in removed)),
        dict(Counter(r["source_id"] for r in kept)),
        dict(Counter(r["licence_class"] for r in kept)),
        sum(1 for r in removed if r["duplicate_relation"] == "exact"),
        sum(1 for r in removed if r["removed_stage"] == "dedup.near"),
        sum(1 for r in kept if r["optout_reason"]),
        round(time.perf_counter() - started, 3),
    )


@dataclass
class StagedRun:
    run_id: str
    path: Path
    documents: int
    removed: int
    summary: dict[str, Any]


def stage_run(
    home: Path,
    run_id: str,
    finals: Sequence[FinalRef],
    meta: dict[str, Any],
    pass_ids: Sequence[str] = (),
    dedup: DedupRef | None = None,
    parts: Sequence[PartRef] = (),
) -> StagedRun:
    """Write run.json last (a staged run is complete or absent), then mark the crawl passes staged."""
    finals = sorted(finals, key=lambda f: f.name)
    write_crawl_logs(home, run_id, list(pass_ids))
    summary: dict[str, Any] = {
        "documents": sum(f.kept for f in finals),
        "removed": sum(f.rows - f.kept for f in finals),
        "by_source": dict(sum((Counter(f.by_source) for f in finals), Counter())),
        "by_licence": dict(sum((Counter(f.by_licence) for f in finals), Counter())),
        "removed_by_stage": dict(sum((Counter(f.removed_by_stage) for f in finals), Counter())),
        "exact_duplicates": sum(f.exact_duplicates for f in finals),
        "near_duplicates": sum(f.near_duplicates for f in finals),
        "opted_out": sum(f.opted_out for f in finals),
    }
    if dedup is not None:
        summary["dedup"] = {k: v for k, v in dedup.stats.items() if k != "extra"}
    summary["seconds"] = {
        "process_sum": round(sum(p.seconds for p in parts), 2),
        "dedup": (dedup.stats.get("extra") or {}).get("seconds") if dedup else None,
        "finalise_sum": round(sum(f.seconds for f in finals), 2),
    }
    run_json = {
        "run_id": run_id,
        "status": "staged",
        "created_at": datetime.now(UTC).isoformat(),
        **meta,
        "pass_ids": list(pass_ids),
        "parts": [f.part for f in finals],
        "sidecars": [f.sidecar for f in finals],
        "summary": summary,
    }
    store = staging(home)
    store.write_json(f"{run_id}/run.json", run_json)
    for f in finals:  # the processing parts are superseded by the final parts (the sidecars stay for publish)
        store.remove(_part_names(run_id, f.name)[0])
    if pass_ids:
        CrawlState(home).mark_staged(list(pass_ids), run_id)
    return StagedRun(run_id, staging_dir(home, run_id), summary["documents"], summary["removed"], summary)


def process_captures(
    captures: Sequence[Capture], sources: SourcesFile, home: Path, run_id: str
) -> Iterator[dict[str, Any]]:
    """Records for captures in memory (tests and tools); the pipeline goes through ``process_shard``."""
    for capture in captures:
        yield process_capture(capture, sources, home, run_id)


def run_in_process(
    sources_path: str,
    home: Path,
    shards: Sequence[ShardSpec],
    run_id: str,
    meta: dict[str, Any],
    pass_ids: Sequence[str] = (),
    proxy: str | None = None,
    map_fn: Callable[..., Any] = map,
) -> StagedRun:
    """Every stage of a run without Prefect (tests, benchmarks, tools); ``map_fn`` may be an executor's map."""
    by_source: dict[str, list[str]] = {}
    for p in pass_ids:
        by_source.setdefault(p.split("-", 1)[1].rsplit("-", 1)[0], []).append(p)
    for source_id, passes in by_source.items():
        templates_stage(sources_path, proxy, home, run_id, source_id, passes)
    done = {s.name: p for s in shards if (p := existing_part(home, run_id, s)) is not None}
    todo = [s for s in shards if s.name not in done]
    for ref in map_fn(partial(process_shard, sources_path, proxy, home, run_id), todo):
        done[ref.name] = ref
    parts = [done[s.name] for s in shards]
    dedup = dedup_stage(home, run_id, parts)
    finals = list(map_fn(partial(finalise_part, home, run_id, dedup=dedup), parts))
    return stage_run(home, run_id, finals, meta, pass_ids, dedup, parts)


def stage_records(
    home: Path,
    run_id: str,
    rows: Sequence[dict[str, Any]],
    meta: dict[str, Any] | None = None,
    *,
    dedup: bool = True,
    cfg: NearConfig | None = None,
) -> StagedRun:
    """Stage records built elsewhere (tools, tests, imports) as one part of a run.

    With ``dedup`` the records go through the same dedup and licence stages as an ingest's; without, they are
    staged exactly as given (the licence stage still derives ``usage`` of kept records).
    """
    table = records_table(rows, stage="stage_records")
    store = staging(home)
    name = "records-00000"
    part_rel, side_rel = _part_names(run_id, name)
    store.write_parquet(side_rel, sidecar(table, cfg or NearConfig()))
    store.write_parquet(part_rel, table)
    removed = Counter(x for x in table.column("removed_stage").to_pylist() if x)
    part = PartRef(
        name, part_rel, side_rel, table.num_rows, table.num_rows - sum(removed.values()), dict(removed)
    )
    if dedup:
        ref = dedup_stage(home, run_id, [part], cfg)
    else:
        rel = f"{run_id}/dedup.parquet"
        store.write_parquet(rel, DECISION_SCHEMA.empty_table())
        ref = DedupRef(rel, {}, [name])
    final = finalise_part(home, run_id, part, ref)
    return stage_run(home, run_id, [final], meta or {}, (), ref if dedup else None)
