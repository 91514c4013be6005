"""The ingest stages as plain functions: crawl -> process (clean) -> exact dedup -> licence tags -> stage.

Prefect (flows.py) wraps these per source and per shard; tests call them directly. Every stage takes and
returns plain data so it can run in a thread, a process or a Dask worker alike.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from fincorpus.cleaning.boilerplate import notices_in_html
from fincorpus.cleaning.decode import MojibakeError, decode_bytes, ensure_clean
from fincorpus.cleaning.extract import (
    Extracted,
    ExtractionError,
    extract_html,
    extract_pdf,
    extract_plain,
    parse_date,
)
from fincorpus.cleaning.quality import QualityFilter
from fincorpus.cleaning.textpath import clean_text
from fincorpus.dedup.cluster import mark_near_duplicates
from fincorpus.dedup.exact import mark_exact_duplicates
from fincorpus.dedup.index import NearIndex, RedisNearIndex, open_near_index
from fincorpus.licensing import tag_licence
from fincorpus.schema import doc_id_from_native, doc_id_from_url, documents_table, removed_table
from fincorpus.sources.archive import read_raw
from fincorpus.sources.base import Capture, CrawlEvent
from fincorpus.sources.dataset import RECORD_TYPE, DatasetReader
from fincorpus.sources.files import FilesReader
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.optout import detect_optout
from fincorpus.sources.registry import SourceConfig, SourcesFile
from fincorpus.sources.warcfiles import WarcFilesReader
from fincorpus.sources.web import JSON_TYPES, WebCrawler, dotted, normalize_url


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def staging_dir(home: Path, run_id: str) -> Path:
    return home / "staging" / run_id


# -- crawl ---------------------------------------------------------------------------------------------------


@dataclass
class CrawlResult:
    source_id: str
    pass_ids: list[str]  # crawled, not yet staged passes: their captures go into the next staged run
    outcomes: dict[str, int]
    resumed: bool


def crawl_source(
    sources: SourcesFile,
    source_id: str,
    home: Path,
    progress: Callable[[CrawlEvent], None] | None = None,
) -> CrawlResult:
    """Run (or resume) a crawl pass of one source; its captures and log are in the catalog database."""
    source = sources.get(source_id)
    state = CrawlState(home)
    pass_id, resumed = state.open_pass(source_id)
    base_dir = Path(sources.path).resolve().parent if sources.path else Path.cwd()
    if source.kind == "web":
        reader: WebCrawler | FilesReader | WarcFilesReader | DatasetReader = WebCrawler(
            source, sources.crawler, home, state, pass_id, resumed=resumed, progress=progress
        )
    elif source.kind == "files":
        reader = FilesReader(source, home, state, pass_id, base_dir, resumed=resumed)
    elif source.kind == "warc":
        reader = WarcFilesReader(source, home, state, pass_id, base_dir)
    else:
        reader = DatasetReader(source, home, state, pass_id, base_dir)
    try:
        reader.run()
    finally:
        reader.close()
    state.finish_pass(pass_id)
    passes = state.crawled_passes(source_id)
    outcomes = Counter(ev.outcome for p in passes for ev in state.events(p))
    return CrawlResult(source_id, passes, dict(outcomes), resumed)


def pass_captures(home: Path, pass_ids: list[str]) -> list[Capture]:
    return list(CrawlState(home).captures(pass_ids))


def write_crawl_logs(home: Path, run_id: str, pass_ids: list[str]) -> None:
    """Copy each pass's decisions next to the staged run as JSON lines (the operator's and auditor's log)."""
    state = CrawlState(home)
    out = staging_dir(home, run_id)
    out.mkdir(parents=True, exist_ok=True)
    for p in pass_ids:
        source_id = p.split("-", 1)[1].rsplit("-", 1)[0]
        with open(out / f"crawl-{source_id}.jsonl", "a", encoding="utf-8") as fh:
            for ev in state.events(p):
                fh.write(json.dumps({"pass_id": p, **ev.__dict__}, ensure_ascii=False) + "\n")


# -- process (cleaning) ----------------------------------------------------------------------------------------


def _extract(
    capture: Capture, body: bytes, sources: SourcesFile
) -> tuple[Extracted, dict[str, Any], str | None]:
    """Returns the extraction, the decode facts and the decoded HTML (for opt-out meta tags)."""
    ctype = capture.headers.get("content-type")
    if capture.content_type == "application/pdf":
        return extract_pdf(body), {"charset": None, "charset_source": "binary"}, None
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
    facts = {"charset": decoded.charset, "charset_source": decoded.source}
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
    selectors = sources.get(capture.source_id).content_selectors
    ex = extract_html(value, capture.final_url, selectors=selectors) if spec.html else extract_plain(value)
    title = dotted(data, spec.title)
    published = dotted(data, spec.published)
    ex = replace(
        ex,
        title=str(title) if title else ex.title,
        published_at=parse_date(str(published)) if published else ex.published_at,
        extractor=ex.extractor + "+json",
    )
    return ex, {"charset": decoded.charset, "charset_source": decoded.source}, None


_CANONICAL = re.compile(r"""<link\s[^>]*rel\s*=\s*["']?canonical["'\s>][^>]*>""", re.I)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.I)


_SOURCE_LINK = re.compile(
    r"""(?:来源|稿件来源|文章来源|转载自|原文链接)\s*[：:]?\s*(?:<(?!a\s)[^>]*>\s*)*<a\s[^>]*href\s*=\s*["']([^"']+)["']""",
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


def process_capture(capture: Capture, sources: SourcesFile, home: Path, run_id: str) -> dict[str, Any]:
    """One capture -> one row; a row the quality step drops carries removed_stage/removed_reason."""
    source = sources.get(capture.source_id)
    native = capture.item.native_id if capture.item else None
    licence_class, legal_basis = source.licence_for(capture.final_url)
    raw = read_raw(home, capture.raw_ref)
    if hashlib.sha256(raw.body).hexdigest() != capture.raw_sha256:
        raise RuntimeError(f"{capture.raw_ref}: stored bytes do not match raw_sha256; the archive is damaged")
    row: dict[str, Any] = {
        # Files and dataset rows are identified by their own id; web documents (API items too) by their URL.
        "doc_id": doc_id_from_native(source.id, native)
        if source.kind in ("files", "dataset") and native
        else doc_id_from_url(capture.final_url),
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
        row.update(removed_stage="extract", removed_reason=str(exc), text=None)
        row["steps"].append({"step": "extract", "detail": f"failed: {exc}"})
        return row
    optout = detect_optout(
        capture.access, html, ai_disallow_is_reservation=sources.crawler.ai_disallow_is_reservation
    )
    doc_type = source.doc_type_for(capture.final_url, capture.content_type)
    cleaned = clean_text(
        extracted.text,
        page_notices=notices_in_html(html) if html else (),
        doc_type=doc_type,
        pii_mode=source.pii,
    )
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
        row["steps"].append(
            {"step": "decode", "detail": f"{facts['charset']} from {facts['charset_source']}"}
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
    decision = _decide(row, sources, source, doc_type)
    row["steps"].append(
        {"step": decision.step, "detail": "keep" if decision.keep else f"drop: {decision.reason}"}
    )
    if not decision.keep:
        row.update(removed_stage=decision.step, removed_reason=decision.reason)
    return row


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


def process_captures(
    captures: Iterable[Capture], sources: SourcesFile, home: Path, run_id: str
) -> Iterator[dict[str, Any]]:
    for capture in captures:
        yield process_capture(capture, sources, home, run_id)


def shard(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or []


# -- dedup, licensing, staging ----------------------------------------------------------------------------------


def near_index(home: Path) -> NearIndex | RedisNearIndex:
    """The persistent near-duplicate index of published documents: one SQLite file under the home by default,
    Redis when FINCORPUS_NEAR_INDEX=redis://... (workers on several machines share it)."""
    return open_near_index(home)


def finish_rows(
    rows: list[dict[str, Any]],
    published_hashes: dict[str, str],
    index: NearIndex | RedisNearIndex | None = None,
) -> list[dict[str, Any]]:
    """Exact dedup against the run and the catalog, then licence tags: the order of docs/architecture.md."""
    # The same URL can be captured twice in one run (e.g. a sitemap and a redirect target): keep the first.
    seen: dict[str, dict[str, Any]] = {}
    unique: list[dict[str, Any]] = []
    for row in rows:
        if row["doc_id"] in seen:
            continue
        seen[row["doc_id"]] = row
        unique.append(row)
    mark_exact_duplicates(unique, published_hashes)
    mark_near_duplicates(unique, index=index)
    for row in unique:
        tag_licence(row, row["legal_basis"])
    return unique


@dataclass
class StagedRun:
    run_id: str
    path: Path
    documents: int
    removed: int
    summary: dict[str, Any]


def stage_rows(home: Path, run_id: str, rows: list[dict[str, Any]], meta: dict[str, Any]) -> StagedRun:
    """Write the run's documents and removed tables; run.json is written last, so a staged run is complete."""
    import pyarrow.parquet as pq

    out = staging_dir(home, run_id)
    out.mkdir(parents=True, exist_ok=True)
    docs = [
        {k: v for k, v in r.items() if k not in ("removed_stage", "removed_reason")}
        for r in rows
        if not r.get("removed_stage")
    ]
    removed = [r for r in rows if r.get("removed_stage")]
    pq.write_table(documents_table(docs), out / "documents.parquet", compression="zstd", compression_level=3)
    pq.write_table(removed_table(removed), out / "removed.parquet", compression="zstd", compression_level=3)
    summary = {
        "documents": len(docs),
        "removed": len(removed),
        "by_source": dict(Counter(r["source_id"] for r in docs)),
        "by_licence": dict(Counter(r["licence_class"] for r in docs)),
        "removed_by_stage": dict(Counter(r["removed_stage"] for r in removed)),
        "exact_duplicates": sum(1 for r in removed if r.get("duplicate_relation") == "exact"),
        "near_duplicates": sum(1 for r in removed if r.get("removed_stage") == "dedup.near"),
        "opted_out": sum(1 for r in docs if r.get("optout_reason")),
    }
    run_json = {
        "run_id": run_id,
        "status": "staged",
        "created_at": datetime.now(UTC).isoformat(),
        **meta,
        "summary": summary,
    }
    tmp = out / "run.json.tmp"
    tmp.write_text(json.dumps(run_json, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(out / "run.json")
    return StagedRun(run_id, out, len(docs), len(removed), summary)


def pending_runs(home: Path) -> list[Path]:
    """Staged, complete, not yet published runs, oldest first."""
    root = home / "staging"
    if not root.is_dir():
        return []
    runs = []
    for d in sorted(root.iterdir()):
        f = d / "run.json"
        if f.is_file() and json.loads(f.read_text(encoding="utf-8")).get("status") == "staged":
            runs.append(d)
    return runs


def pending_hashes(home: Path) -> dict[str, str]:
    """text_sha256 -> doc_id of documents staged but not yet published (they count as known)."""
    import pyarrow.parquet as pq

    known: dict[str, str] = {}
    for d in pending_runs(home):
        t = pq.read_table(d / "documents.parquet", columns=["text_sha256", "doc_id"])
        for h, i in zip(t.column("text_sha256").to_pylist(), t.column("doc_id").to_pylist(), strict=True):
            if h:
                known.setdefault(h, i)
    return known
