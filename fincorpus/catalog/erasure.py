"""Takedown and erasure on the store: the catalog side of :mod:`fincorpus.takedown`.

A request (doc id, URL pattern, source, or the hash of a personal-information value) is resolved over every
place a document can be: each retained snapshot of the table (every tag, the current state, untagged history),
the staged runs, and captures crawled but not yet staged. What happens then:

- **Log.** The request and the doc ids it covers go to the append-only, hash-chained ``takedown.jsonl``.
- **Next snapshot.** :func:`publish_exclusions` (called by ``pipelines.publish``) turns every covered record, of
  the current state and of the staged runs, into a *tombstone*: a removed record with ``removed_stage``
  ``takedown`` and a reason naming the request id, without text, title, author, rights notice or licence
  evidence. The document leaves the corpus the way every dropped document does: as a removed record.
- **Older tags.** Pulls leave covered documents out (``fincorpus.catalog.pull_compliance``) unless the legal team
  passes ``--include-taken-down``, which is logged.
- **Re-crawls.** The crawlers skip covered URLs and records (``skipped-takedown``); processing turns a covered
  capture into a tombstone before its bytes are read (:func:`processing_hold`); a request by source or by PII
  hash keeps covering documents that appear later.
- **Purge** (:func:`purge`): the bytes leave the home. Iceberg files are immutable and tags point at snapshots,
  so each affected snapshot that a tag or ``main`` points at is *replaced*: a new snapshot with the same files,
  except that the files holding the document are rewritten with its tombstone, and the refs move to it in one
  commit. The new snapshot has no parent and one fresh manifest, so no manifest keeps an entry (with column
  bounds) of a file that held the text. The replaced snapshots are expired and their files removed. Staged
  parts are rewritten, dedup sidecars lose the document's rows, the dedup index forgets it, the crawl state loses
  listing titles, and the raw WARC records are overwritten in place (:mod:`fincorpus.sources.scrub`). The log
  gets a ``purge-done`` entry with old -> new snapshot ids.

The table properties set by a purge stop Iceberg from writing min/max bounds of the free-text columns into
manifests (``write.metadata.metrics.column.text = counts``): a 16-character prefix of a text is text.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fincorpus.schema import RECORD_SCHEMA, conform, doc_id_from_native, doc_id_from_url, records_table
from fincorpus.settings import catalog_is_sqlite, storage_is_remote, storage_uri
from fincorpus.storage import Storage, area, filesystem
from fincorpus.takedown import (
    LEGAL_BASES,
    LogEntry,
    TakedownError,
    TakedownLog,
    TakedownRequest,
    match_documents,
    pending_purges,
    pii_hashes_in,
)

LOG = "takedown.jsonl"
ACCESS_LOG = "takedown-access.jsonl"
STAGE = "takedown"
# Free-text fields a tombstone leaves empty; licence_decision.evidence is a quote of the page too.
BLANKED = ("text", "title", "author", "rights_notice")
TEXT_METRICS = {f"write.metadata.metrics.column.{c}": "counts" for c in BLANKED}
PROP_COMMITTED_AT, PROP_TAKEDOWN, PROP_REPLACES = (
    "fincorpus.committed_at",
    "fincorpus.takedown",
    "fincorpus.replaces",
)
NATIVE_VIAS = ("file", "dataset")  # captures identified by source + native id (see pipelines.ingest._doc_id)


def takedown_log(home: Path) -> TakedownLog:
    return TakedownLog(home / LOG)


def _has_catalog(home: Path) -> bool:
    """Whether the home has a catalog database (always, for a PostgreSQL catalog: it is not under the home)."""
    return not catalog_is_sqlite(home) or (home / "catalog.db").is_file()


def _staging(home: Path) -> Storage:
    """The staged runs, local or on the warehouse (``pipelines.ingest.staging``; imported here without a cycle)."""
    return area(home, "staging")


def check_purge_possible(home: Path) -> None:
    """Refuse a purge on an object-store warehouse before anything is logged or changed.

    A purge overwrites WARC records in place (same length, other offsets kept) and rewrites staged parts; S3
    objects cannot be overwritten in part, so that needs a rewrite-and-replace of whole segments that does not
    exist yet.
    """
    if storage_is_remote(home):
        raise TakedownError(
            f"--purge: erasing bytes on the object store {storage_uri(home)} (FINCORPUS_WAREHOUSE) is not "
            "supported yet; run the takedown without --purge (the documents leave the next snapshot and every "
            "pull), see docs/compliance.md"
        )


# -- the denylist: what the log covers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Why a document is held back: the request that covers it."""

    request_id: str
    legal_basis: str
    purge: bool

    @property
    def reason(self) -> str:
        return f"takedown {self.request_id} ({self.legal_basis}: {LEGAL_BASES.get(self.legal_basis, '')})"


@dataclass(frozen=True)
class Denylist:
    """Doc ids covered by a takedown, and the durable selectors (source, PII value) as the log's hashes."""

    docs: Mapping[str, Hold] = field(default_factory=dict)
    sources: Mapping[str, Hold] = field(default_factory=dict)  # sha256(source id) -> hold
    pii: Mapping[str, Hold] = field(default_factory=dict)  # sha256(pii value hash) -> hold

    def __bool__(self) -> bool:
        return bool(self.docs or self.sources or self.pii)

    def hold_for(self, doc_id: str | None, source_id: str | None = None) -> Hold | None:
        if doc_id is not None and doc_id in self.docs:
            return self.docs[doc_id]
        if source_id is not None and self.sources:
            return self.sources.get(_sha(source_id))
        return None

    def hold_for_text(self, *texts: str | None) -> Hold | None:
        """The PII request covering an identifier found in any of ``texts`` (raw, unmasked text)."""
        if not self.pii:
            return None
        for t in texts:
            if t:
                for h in pii_hashes_in(t):
                    hold = self.pii.get(_sha(h))
                    if hold is not None:
                        return hold
        return None


def _sha(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _build_denylist(entries: Iterable[LogEntry]) -> Denylist:
    docs: dict[str, Hold] = {}
    sources: dict[str, Hold] = {}
    pii: dict[str, Hold] = {}
    for e in entries:
        if e.action != "takedown":
            continue
        hold = Hold(e.request_id, e.legal_basis, e.purge)
        for d in e.doc_ids:
            docs.setdefault(d, hold)
        if e.kind == "source":
            sources.setdefault(e.selector_sha256, hold)
        elif e.kind == "pii_hash":
            pii.setdefault(e.selector_sha256, hold)
    return Denylist(docs, sources, pii)


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int, size: int) -> Denylist:
    return _build_denylist(TakedownLog(path).entries())


def denylist(home: Path) -> Denylist:
    """The takedown log as a denylist, re-read only when the file changed (processing calls this per record)."""
    p = home / LOG
    try:
        st = p.stat()
    except FileNotFoundError:
        return Denylist()
    return _cached(str(p), st.st_mtime_ns, st.st_size)


def doc_ids_of_capture(source_id: str, url: str, final_url: str, via: str, native_id: str | None) -> str:
    """The doc id processing gives a capture: source + native id for files and dataset rows, else the URL."""
    if native_id and via in NATIVE_VIAS:
        return doc_id_from_native(source_id, native_id)
    return doc_id_from_url(final_url)


# -- tombstones ----------------------------------------------------------------------------------------------------


def is_tombstone(row: Mapping[str, Any]) -> bool:
    return row.get("status") == "removed" and row.get("removed_stage") == STAGE


def tombstone(row: Mapping[str, Any], hold: Hold) -> dict[str, Any]:
    """The removed record a covered document becomes: ids, URLs, hashes and the reason; no text of the page."""
    out = dict(row)
    for c in BLANKED:
        out[c] = None
    if out.get("licence_decision"):
        out["licence_decision"] = {**out["licence_decision"], "evidence": None}
    fetch = [s for s in (row.get("steps") or []) if s.get("step") == "fetch"][:1]
    out["steps"] = [*fetch, {"step": STAGE, "detail": f"content removed: {hold.reason}"}]
    out.update(status="removed", removed_stage=STAGE, removed_reason=hold.reason, usage=[])
    return out


def tombstone_table(table: pa.Table, holds: Denylist) -> tuple[pa.Table, Counter[str]]:
    """``table`` (record schema) with covered records turned into tombstones, rows in place (sidecars and dedup
    decisions number rows); returns the table and the converted records' former statuses."""
    ids = pa.array(sorted(holds.docs), pa.string())
    hit = pc.fill_null(pc.is_in(table.column("doc_id"), value_set=ids), False)
    if holds.sources and "source_id" in table.column_names:
        wanted = pa.array(
            sorted({s for s in table.column("source_id").to_pylist() if holds.hold_for(None, s)})
        )
        if len(wanted):
            hit = pc.or_(hit, pc.fill_null(pc.is_in(table.column("source_id"), value_set=wanted), False))
    gone = Counter[str]()
    if not pc.any(hit).as_py():
        return table, gone
    rows = conform(table).to_pylist()
    mask = hit.to_pylist()
    for i, row in enumerate(rows):
        if not mask[i] or is_tombstone(row):
            continue
        hold = holds.hold_for(row["doc_id"], row.get("source_id"))
        assert hold is not None
        gone[row["status"]] += 1
        rows[i] = tombstone(row, hold)
    if not gone:
        return table, gone
    return records_table(rows, stage=STAGE), gone


# -- where documents are -------------------------------------------------------------------------------------------


def _table_files(catalog: Any) -> tuple[dict[int, list[Any]], dict[str, Any]]:
    """Live data files of every retained snapshot, and every data file by path (manifests read once each)."""
    table = catalog.table
    io = table.io
    by_manifest: dict[str, list[Any]] = {}
    per_snap: dict[int, list[Any]] = {}
    files: dict[str, Any] = {}
    for snap in table.metadata.snapshots:
        live = []
        for m in snap.manifests(io):
            if m.manifest_path not in by_manifest:
                by_manifest[m.manifest_path] = [
                    e.data_file for e in m.fetch_manifest_entry(io, discard_deleted=True)
                ]
            live.extend(by_manifest[m.manifest_path])
        per_snap[snap.snapshot_id] = live
        for df in live:
            files.setdefault(df.file_path, df)
    return per_snap, files


def _read_file(catalog: Any, data_file: Any, columns: Sequence[str] | None) -> pa.Table:
    """One data file in the current table schema (columns added by later schema versions are null)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.table import FileScanTask

    meta = catalog.table.metadata
    schema = meta.schema() if columns is None else meta.schema().select(*columns)
    return ArrowScan(meta, catalog.table.io, schema, AlwaysTrue()).to_table(tasks=[FileScanTask(data_file)])


MATCH_COLUMNS = {
    "doc_id": ("doc_id",),
    "source": ("doc_id", "source_id"),
    "url_pattern": ("doc_id", "url", "canonical_url"),
    "pii_hash": ("doc_id", "source_id", "text", "raw_ref", "content_type", "pii"),
}


@dataclass
class Match:
    """The doc ids a request covers, and where they were found (for the operator's summary)."""

    doc_ids: list[str]
    found_in: dict[str, int]


def raw_text_reader(home: Path) -> Callable[[Mapping[str, Any]], str | None]:
    """``raw_text(row)`` for :func:`fincorpus.takedown.match_documents`: the decoded raw bytes, before masking.

    PDFs are parsed again only when cleaning counted identifiers in their text (a PDF's raw bytes are compressed
    streams; decoding them as text finds nothing). Unreadable records give None.
    """
    from fincorpus.cleaning.decode import decode_bytes
    from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated
    from fincorpus.sources.archive import RawRefError, read_raw
    from fincorpus.sources.dataset import RECORD_TYPE

    cache: dict[str, str | None] = {}

    def read(row: Mapping[str, Any]) -> str | None:
        ref = row.get("raw_ref")
        if not ref:
            return None
        if ref in cache:
            return cache[ref]
        text: str | None = None
        try:
            raw = read_raw(home, ref)
            ctype = row.get("content_type") or ""
            if ctype == "application/pdf":
                pii = row.get("pii") or {}
                if any(v for k, v in pii.items() if k != "max_class"):
                    text = extract_pdf_isolated(raw.body).text
            elif ctype == RECORD_TYPE:
                text = raw.body.decode("utf-8", "replace")
            else:
                text = decode_bytes(raw.body, raw.headers.get("content-type") or ctype, check=False).text
        except (RawRefError, ValueError, OSError):
            text = None
        except Exception:
            text = None
        if len(cache) < 10_000:
            cache[ref] = text
        return text

    return read


def _staged_files(home: Path) -> list[str]:
    """Staged parts (``<run>/parts/*.parquet``, ``<run>/final/*.parquet``), relative to the staging store."""
    out = []
    for rel in _staging(home).list(recursive=True):
        bits = rel.split("/")
        if (
            len(bits) == 3
            and bits[1] in ("final", "parts")
            and bits[2].endswith(".parquet")
            and not bits[2].startswith(".")
        ):
            out.append(rel)
    return out


def _parquet_names(store: Storage, rel: str) -> list[str]:
    """Column names of a staged Parquet file (its footer only)."""
    with store.open_input(rel) as fh:
        return list(pq.ParquetFile(fh).schema_arrow.names)


def _unstaged_captures(home: Path) -> Iterator[dict[str, Any]]:
    """Captures of crawl passes not staged yet, as rows with the doc id processing will give them."""
    from sqlalchemy import inspect, text

    from fincorpus.sources.frontier import catalog_engine

    if not _has_catalog(home):
        return
    engine = catalog_engine(home)
    if not inspect(engine).has_table("crawl_capture"):
        return
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT cc.capture FROM crawl_capture cc JOIN crawl_pass p ON p.pass_id = cc.pass_id "
                "WHERE p.state != 'staged'"
            )
        )
        for (raw,) in rows:
            cap = json.loads(raw)
            item = cap.get("item") or {}
            yield {
                "doc_id": doc_ids_of_capture(
                    cap["source_id"],
                    cap["url"],
                    cap["final_url"],
                    cap.get("discovered_via", ""),
                    item.get("native_id"),
                ),
                "source_id": cap["source_id"],
                "url": cap["url"],
                "canonical_url": cap["final_url"],
                "raw_ref": cap["raw_ref"],
                "content_type": cap.get("content_type"),
                "text": None,
                "pii": None,
            }


def match(home: Path, request: TakedownRequest, catalog: Any | None = None) -> Match:
    """Every doc id ``request`` covers: in any retained snapshot, staged run, or unstaged capture."""
    cols = MATCH_COLUMNS[request.kind]
    raw_text = raw_text_reader(home) if request.kind == "pii_hash" else None
    found: dict[str, None] = {}
    where: Counter[str] = Counter()

    def take(label: str, rows: list[dict[str, Any]]) -> None:
        for d in match_documents(request, rows, raw_text):
            if d not in found:
                where[label] += 1
            found.setdefault(d, None)

    if catalog is not None and catalog.table.metadata.snapshots:
        _, files = _table_files(catalog)
        for df in files.values():
            t = _read_file(catalog, df, cols)
            t = _prefilter(request, t)
            if t.num_rows:
                take("catalog", t.to_pylist())
    store = _staging(home)
    for rel in _staged_files(home):
        names = _parquet_names(store, rel)
        if "status" not in names:
            continue  # dedup sidecars: no URLs, no text
        t = _prefilter(request, store.read_parquet(rel, columns=[c for c in cols if c in names]))
        if t.num_rows:
            take("staged", t.to_pylist())
    take("crawled, not yet processed", list(_unstaged_captures(home)))
    return Match(list(found), dict(where))


def _prefilter(request: TakedownRequest, t: pa.Table) -> pa.Table:
    """Cheap column filters before rows go to Python (doc id and source requests need no more)."""
    if request.kind == "doc_id":
        return t.filter(pc.equal(t.column("doc_id"), request.value))
    if request.kind == "source":
        return t.filter(pc.equal(t.column("source_id"), request.value))
    return t


# -- the next publish ----------------------------------------------------------------------------------------------


@dataclass
class PublishExclusion:
    """What a publish must add so covered documents leave the new snapshot (see ``pipelines.publish``)."""

    holds: Denylist
    current: pa.Table  # tombstones for covered records of the current state that are not tombstones yet

    def __bool__(self) -> bool:
        return self.current.num_rows > 0

    def wrap(
        self,
        home: Path,
        plan: Sequence[tuple[str, pa.Array | None]],
        ids: pa.Array,
        counts: Counter[str],
        parts: Iterable[pa.Table],
    ) -> tuple[Iterator[pa.Table], pa.Array, Counter[str]]:
        """The staged parts with covered records as tombstones, followed by the current state's tombstones; the
        ids whose records the commit replaces; the added records' counts by status.

        ``plan`` is the publish plan (staged part, ids it leaves out). The counts must be exact before the parts
        are read (the store computes the snapshot totals first), so the covered records' staged statuses are read
        here from three small columns.
        """
        extra = self.current
        if len(ids) and extra.num_rows:
            extra = extra.filter(pc.invert(pc.is_in(extra.column("doc_id"), value_set=ids)))
        counts = Counter(counts)
        counts["removed"] += extra.num_rows
        for status, n in _staged_shift(home, plan, self.holds).items():
            counts[status] -= n
            counts["removed"] += n
        out_ids = pa.concat_arrays([ids.cast(pa.string()), extra.column("doc_id").combine_chunks()])
        holds = self.holds

        def stream() -> Iterator[pa.Table]:
            for part in parts:
                yield tombstone_table(part, holds)[0] if holds else part
            if extra.num_rows:
                yield extra

        return stream(), out_ids, counts


def _staged_shift(home: Path, plan: Sequence[tuple[str, pa.Array | None]], holds: Denylist) -> Counter[str]:
    """Former statuses of the staged records publish will turn into tombstones."""
    gone: Counter[str] = Counter()
    if not holds or not plan:
        return gone
    store = _staging(home)
    for rel, skip in plan:
        t = store.read_parquet(rel, columns=["doc_id", "source_id", "status", "removed_stage"])
        if skip is not None:
            t = t.filter(pc.invert(pc.is_in(t.column("doc_id"), value_set=skip)))
        for d, src, st, stage in zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True):
            if holds.hold_for(d, src) is not None and not (st == "removed" and stage == STAGE):
                gone[st] += 1
    return gone


def publish_exclusions(home: Path, catalog: Any) -> PublishExclusion:
    """Tombstones the next publish adds for covered documents still in the current state (publish hook).

    Doc ids come from the log; a request by source also covers that source's documents published later.
    """
    from pyiceberg.expressions import In

    holds = denylist(home)
    empty = RECORD_SCHEMA.empty_table()
    if not (holds.docs or holds.sources) or catalog.snapshot_id(None) is None:
        return PublishExclusion(holds, empty)
    small = None if holds.sources else In("doc_id", sorted(holds.docs))
    need: list[str] = []
    cols = ("doc_id", "source_id", "status", "removed_stage")
    for batch in catalog.batches(None, status=None, row_filter=small, columns=cols):
        for d, src, st, stage in zip(*(batch.column(i).to_pylist() for i in range(4)), strict=True):
            if holds.hold_for(d, src) is not None and not (st == "removed" and stage == STAGE):
                need.append(d)
    rows: dict[str, dict[str, Any]] = {}
    for chunk in (need[i : i + 5000] for i in range(0, len(need), 5000)):
        for batch in catalog.batches(None, status=None, row_filter=In("doc_id", chunk)):
            for row in conform(pa.Table.from_batches([batch])).to_pylist():
                hold = holds.hold_for(row["doc_id"], row.get("source_id"))
                if hold is not None and not is_tombstone(row):
                    rows[row["doc_id"]] = tombstone(row, hold)
    return PublishExclusion(holds, records_table(list(rows.values()), stage=STAGE) if rows else empty)


def after_publish(home: Path, doc_ids: Iterable[str] | None = None) -> None:
    """Covered documents leave the dedup index (it holds published, kept documents only)."""
    ids = sorted(doc_ids if doc_ids is not None else denylist(home).docs)
    if not ids:
        return
    from fincorpus.dedup.index import open_near_index

    index = open_near_index(home)
    try:
        index.remove(ids)
    finally:
        index.close()


def pending(home: Path) -> bool:
    """Whether a publish would change the corpus for takedowns alone (the CLI lets it run with nothing staged)."""
    if not denylist(home):
        return False
    from fincorpus.catalog.store import CorpusCatalog

    if not _has_catalog(home):
        return False
    return bool(publish_exclusions(home, CorpusCatalog(home, create=False)))


# -- processing and crawling hooks -----------------------------------------------------------------------------------


def processing_hold(home: Path, capture: Any, doc_id: str) -> Hold | None:
    """The request covering a capture before its bytes are read (doc id or source); see :func:`pii_hold`."""
    holds = denylist(home)
    return holds.hold_for(doc_id, capture.source_id) if holds else None


def pii_hold(home: Path, capture: Any, row: Mapping[str, Any]) -> Hold | None:
    """A PII request covering an identifier in a new document's raw bytes (only when such requests exist)."""
    holds = denylist(home)
    if not holds.pii or is_tombstone(row):
        return None
    raw = raw_text_reader(home)({**row, "raw_ref": capture.raw_ref, "content_type": capture.content_type})
    return holds.hold_for_text(row.get("text"), raw)


def takedown_row(home: Path, row: Mapping[str, Any], capture: Any, hold: Hold) -> dict[str, Any]:
    """A processed (or barely started) record as a tombstone; a purge request also erases its raw record now, so
    bytes that a crawl stored again (a document that appeared after the request) do not stay in the archive."""
    out = tombstone(row, hold)
    if hold.purge and storage_is_remote(home):
        detail = f"raw record {capture.raw_ref} kept: erasing on an object store is not supported yet"
        out["steps"].append({"step": STAGE, "detail": detail})
    elif hold.purge:
        from fincorpus.sources.scrub import scrub_file

        rel, _, off = capture.raw_ref.rpartition("#")
        scrub_file(home, rel, [int(off)], [], hold.request_id)
        out["steps"].append({"step": STAGE, "detail": f"raw record {capture.raw_ref} erased"})
    return out


def crawl_blocked(
    home: Path, source_id: str, url: str, via: str = "", native_id: str | None = None
) -> Hold | None:
    """Crawler hook: a covered URL or record is not fetched or stored again."""
    holds = denylist(home)
    if not holds:
        return None
    from fincorpus.sources.web import normalize_url

    try:
        final = normalize_url(url)
    except ValueError:
        final = url
    return holds.hold_for(doc_ids_of_capture(source_id, url, final, via, native_id), source_id)


# -- purge -----------------------------------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    snapshots: dict[str, list[int]] = field(default_factory=dict)  # ref -> [old snapshot id, new]
    expired: list[int] = field(default_factory=list)
    data_files_rewritten: int = 0
    files_removed: list[str] = field(default_factory=list)
    staged_rewritten: list[str] = field(default_factory=list)
    warc_records: list[str] = field(default_factory=list)  # raw refs now holding tombstones
    crawl_rows_scrubbed: int = 0
    outside_home: list[str] = field(default_factory=list)  # inputs of files/warc sources that still hold it

    def replaced(self) -> dict[str, Any]:
        """What the purge-done log entry records: ids and counts only."""
        return {
            "snapshots": self.snapshots,
            "expired": self.expired,
            "data_files_rewritten": self.data_files_rewritten,
            "files_removed": len(self.files_removed),
            "staged_rewritten": len(self.staged_rewritten),
            "warc_records": len(self.warc_records),
            "crawl_rows_scrubbed": self.crawl_rows_scrubbed,
        }


@dataclass
class _Facts:
    """What the purge must find and erase, gathered from every record of the covered documents."""

    raw_refs: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    values: dict[str, set[str]] = field(default_factory=dict)  # blanked column -> its values (bounds check)

    def add(self, row: Mapping[str, Any]) -> None:
        for ref in (row.get("raw_ref"), row.get("previous_raw_ref")):
            if ref:
                self.raw_refs.add(ref)
        for u in (row.get("url"), row.get("canonical_url"), *(row.get("redirect_chain") or [])):
            if u:
                self.urls.add(u)
        if row.get("source_id"):
            self.sources.add(row["source_id"])
        for c in BLANKED:
            if row.get(c):
                self.values.setdefault(c, set()).add(row[c])


FACT_COLUMNS = ("doc_id", "source_id", "url", "canonical_url", "redirect_chain", "raw_ref", "previous_raw_ref",
                "status", "removed_stage", *BLANKED)  # fmt: skip


def _scan_holdings(catalog: Any, holds: Denylist) -> tuple[dict[str, Counter[str]], _Facts]:
    """Data files holding a covered record that is not a tombstone (path -> statuses), and the facts."""
    facts = _Facts()
    bad: dict[str, Counter[str]] = {}
    ids = pa.array(sorted(holds.docs), pa.string())
    _, files = _table_files(catalog)
    for path, df in files.items():
        small = _read_file(catalog, df, ("doc_id", "status", "removed_stage"))
        hit = pc.fill_null(pc.is_in(small.column("doc_id"), value_set=ids), False)
        if not pc.any(hit).as_py():
            continue
        rows = _read_file(catalog, df, FACT_COLUMNS).filter(hit).to_pylist()
        live = Counter(r["status"] for r in rows if not is_tombstone(r))
        for r in rows:
            facts.add(r)
        if live:
            bad[path] = live
    return bad, facts


def _bounds_hit(data_file: Any, field_ids: Mapping[int, str], facts: _Facts) -> bool:
    """Whether the file's manifest bounds of a free-text column quote a covered document's value."""
    for bounds, upper in ((data_file.lower_bounds or {}, False), (data_file.upper_bounds or {}, True)):
        for fid, blob in bounds.items():
            col = field_ids.get(fid)
            if col is None:
                continue
            s = bytes(blob).decode("utf-8", "replace")
            prefix = s[:-1] if upper and len(s) > 1 else s
            if prefix and any(v.startswith(prefix) for v in facts.values.get(col, ())):
                return True
    return False


def _rewrite_catalog(
    catalog: Any, holds: Denylist, bad: dict[str, Counter[str]], facts: _Facts, report: PurgeReport
) -> None:
    """Replace every ref'd snapshot that holds a covered record (or quotes one in its manifests), in one commit;
    then expire the replaced snapshots and remove the files only they referenced."""
    from pyiceberg.io.pyarrow import _dataframe_to_data_files
    from pyiceberg.table.refs import SnapshotRefType
    from pyiceberg.table.update import RemoveSnapshotRefUpdate

    from fincorpus.catalog.maintain import _local, referenced_files
    from fincorpus.catalog.store import PROP_KEPT, PROP_REMOVED, _props

    table = catalog.refresh()
    meta = table.metadata
    io = table.io
    per_snap, files = _table_files(catalog)
    schema = meta.schema()
    text_ids = {schema.find_field(c).field_id: c for c in BLANKED}
    affected: set[int] = set()
    for snap in meta.snapshots:
        if any(df.file_path in bad for df in per_snap[snap.snapshot_id]):
            affected.add(snap.snapshot_id)
            continue
        for m in snap.manifests(io):  # DELETED entries too: they carry the deleted file's bounds
            if any(
                e.data_file.file_path in bad or _bounds_hit(e.data_file, text_ids, facts)
                for e in m.fetch_manifest_entry(io, discard_deleted=False)
            ):
                affected.add(snap.snapshot_id)
                break
    if not affected:
        return
    old_files = {
        s.snapshot_id: _snapshot_files_on_disk(catalog, s)
        for s in meta.snapshots
        if s.snapshot_id in affected
    }
    refs_by_snap: dict[int, list[tuple[str, Any]]] = {}
    for name, ref in table.refs().items():
        refs_by_snap.setdefault(ref.snapshot_id, []).append((name, ref))
    tx = table.transaction()
    tx.set_properties(TEXT_METRICS)  # the rewritten files (and every later one) carry no text bounds
    tmeta = tx.table_metadata
    write_uuid, counter = uuid.uuid4(), itertools.count(0)
    rewritten: dict[str, list[Any]] = {}
    for path in bad:
        full = conform(_read_file(catalog, files[path], None))
        new, _ = tombstone_table(full, holds)
        new = new.cast(RECORD_SCHEMA).sort_by("doc_id")
        rewritten[path] = list(_dataframe_to_data_files(tmeta, new, io, write_uuid, counter))
    report.data_files_rewritten = len(rewritten)
    for snap in meta.snapshots:
        sid = snap.snapshot_id
        if sid not in affected or sid not in refs_by_snap:
            continue
        props = {k: v for k, v in _props(snap).items() if k.startswith("fincorpus.")}  # not Iceberg's totals
        moved = sum((bad[df.file_path] for df in per_snap[sid] if df.file_path in bad), Counter())
        if PROP_KEPT in props:
            props[PROP_KEPT] = str(int(props[PROP_KEPT]) - moved.get("kept", 0))
            props[PROP_REMOVED] = str(int(props.get(PROP_REMOVED, 0)) + moved.get("kept", 0))
        props.setdefault(PROP_COMMITTED_AT, datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC).isoformat())
        props[PROP_TAKEDOWN] = ",".join(sorted({h.request_id for h in holds.docs.values()}))
        props[PROP_REPLACES] = str(sid)
        tmp = f"fincorpus-takedown-{uuid.uuid4().hex[:12]}"
        # a fresh branch: the snapshot has no parent and one new manifest of ADDED entries, so no DELETED entry
        # (with the bounds of a file that held the text) carries over
        with tx.update_snapshot(snapshot_properties=props, branch=tmp).fast_append() as p:
            for df in per_snap[sid]:
                for new_df in rewritten.get(df.file_path, [df]):
                    p.append_data_file(new_df)
        new_id = tx.table_metadata.refs[tmp].snapshot_id
        for name, ref in refs_by_snap[sid]:
            kind = (
                SnapshotRefType.BRANCH
                if ref.snapshot_ref_type == SnapshotRefType.BRANCH
                else SnapshotRefType.TAG
            )
            tx._apply(*tx._set_ref_snapshot(snapshot_id=new_id, ref_name=name, type=kind))
            report.snapshots[name] = [sid, new_id]
        tx._apply((RemoveSnapshotRefUpdate(ref_name=tmp),), ())
    catalog._commit(tx, "takedown purge")
    table = catalog.refresh()
    protected = {r.snapshot_id for r in table.refs().values()}
    expire = sorted(affected - protected)
    if expire:
        table.maintenance.expire_snapshots().by_ids(expire).commit()
        catalog.refresh()
    report.expired = expire
    keep = referenced_files(catalog)
    home = Path(catalog.home).resolve()
    fs, _ = filesystem(catalog.table.location().replace("s3a://", "s3://"))
    candidates = {_local(catalog, p) for p in bad} | {p for paths in old_files.values() for p in paths}
    for p in sorted(candidates):  # paths inside the table's filesystem (maintain._local)
        if p in keep or fs.get_file_info(p).type != pafs.FileType.File:
            continue
        fs.delete_file(p)
        report.files_removed.append(
            Path(p).relative_to(home).as_posix() if home in Path(p).parents else str(p)
        )


def _snapshot_files_on_disk(catalog: Any, snap: Any) -> set[str]:
    from fincorpus.catalog.maintain import _local

    io = catalog.table.io
    out = {_local(catalog, snap.manifest_list)}
    for m in snap.manifests(io):
        out.add(_local(catalog, m.manifest_path))
    return out


def _rewrite_staging(home: Path, holds: Denylist, facts: _Facts, report: PurgeReport) -> None:
    """Staged parts: covered records become tombstones in place; dedup sidecars lose their rows."""
    store = _staging(home)
    ids = pa.array(sorted(holds.docs), pa.string())
    for rel in store.list(recursive=True):
        if not rel.endswith(".parquet") or rel.rsplit("/", 1)[-1].startswith("."):
            continue
        names = _parquet_names(store, rel)
        if "doc_id" not in names:
            continue
        if "sig" in names:  # dedup sidecar: signatures of the part's kept rows
            t = store.read_parquet(rel)
            keep = pc.invert(pc.fill_null(pc.is_in(t.column("doc_id"), value_set=ids), False))
            if not pc.all(keep).as_py():
                store.write_parquet(rel, t.filter(keep))
                report.staged_rewritten.append(rel)
            continue
        if "status" not in names or "text" not in names:
            continue  # dedup decisions: ids and numbers only
        t = store.read_parquet(rel)
        hit = pc.fill_null(pc.is_in(t.column("doc_id"), value_set=ids), False)
        if not pc.any(hit).as_py():
            continue
        for r in t.filter(hit).select([c for c in FACT_COLUMNS if c in names]).to_pylist():
            facts.add(r)
        new, gone = tombstone_table(t, Denylist(holds.docs))
        if gone:
            store.write_parquet(rel, new)
            report.staged_rewritten.append(rel)


def _scrub_crawl_state(home: Path, holds: Denylist, facts: _Facts, report: PurgeReport) -> None:
    """Crawl state keeps URLs and hashes; listing titles (a capture's ``item.title``, a frontier row's metadata)
    of covered documents are removed. Raw refs and URLs of every stored version are gathered for the WARC step.

    On SQLite (the embedded catalog) ``secure_delete`` zeroes the freed bytes and the WAL is checkpointed into the
    database file; on PostgreSQL the old row versions are vacuumed afterwards (VACUUM frees them; it does not
    overwrite the pages, see docs/compliance.md).
    """
    from sqlalchemy import bindparam, inspect, text

    from fincorpus.sources.frontier import catalog_engine

    if not _has_catalog(home):
        return
    engine = catalog_engine(home)
    sqlite = catalog_is_sqlite(home)
    tables = set(inspect(engine).get_table_names())
    if "crawl_page" not in tables:
        return
    n = 0
    with engine.begin() as con:
        if sqlite:
            con.exec_driver_sql("PRAGMA secure_delete=ON")
        for tbl, key in (("crawl_page", "source_id"), ("crawl_capture", "pass_id")):
            rows = con.execute(text(f"SELECT {key}, url, capture FROM {tbl}")).fetchall()
            for k, url, raw in rows:
                cap = json.loads(raw)
                item = cap.get("item") or {}
                d = doc_ids_of_capture(
                    cap["source_id"],
                    cap["url"],
                    cap["final_url"],
                    cap.get("discovered_via", ""),
                    item.get("native_id"),
                )
                if d not in holds.docs:
                    continue
                facts.raw_refs.update(x for x in (cap.get("raw_ref"), cap.get("previous_raw_ref")) if x)
                facts.urls.update(
                    x for x in (cap["url"], cap["final_url"], *cap.get("redirect_chain", [])) if x
                )
                facts.sources.add(cap["source_id"])
                if item.get("title"):
                    cap["item"] = {**item, "title": None}
                    con.execute(
                        text(f"UPDATE {tbl} SET capture=:c WHERE {key}=:k AND url=:u"),
                        {"c": json.dumps(cap, ensure_ascii=False), "k": k, "u": url},
                    )
                    n += 1
        if "crawl_frontier" in tables and facts.urls:
            q = text("SELECT pass_id, url, meta FROM crawl_frontier WHERE url IN :urls").bindparams(
                bindparam("urls", expanding=True)
            )
            for pass_id, url, meta in con.execute(q, {"urls": sorted(facts.urls)}).fetchall():
                m = json.loads(meta or "{}")
                if m.get("title"):
                    m["title"] = None
                    con.execute(
                        text("UPDATE crawl_frontier SET meta=:m WHERE pass_id=:p AND url=:u"),
                        {"m": json.dumps(m), "p": pass_id, "u": url},
                    )
                    n += 1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        if sqlite:
            con.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif n:
            con.exec_driver_sql("VACUUM crawl_page, crawl_capture, crawl_frontier")
    report.crawl_rows_scrubbed = n


def _scrub_warc(home: Path, holds: Denylist, facts: _Facts, request_id: str, report: PurgeReport) -> None:
    """Overwrite the raw records of every stored version (and of re-fetches no capture points at: same URL) in
    the segments of the documents' sources and of their raw refs."""
    from fincorpus.sources.scrub import scrub_file

    by_file: dict[str, set[int]] = {}
    for ref in facts.raw_refs:
        rel, _, off = ref.rpartition("#")
        if off.isdigit():
            by_file.setdefault(rel, set()).add(int(off))
    raw = home / "raw"
    if raw.is_dir():
        for p in sorted(raw.rglob("*.warc.gz")):
            if p.name.rsplit("-", 1)[0] in facts.sources:
                by_file.setdefault(p.relative_to(home).as_posix(), set())
    for rel, offsets in sorted(by_file.items()):
        if not (home / rel).is_file():
            continue
        for off in scrub_file(home, rel, sorted(offsets), facts.urls, request_id):
            report.warc_records.append(f"{rel}#{off}")
    report.outside_home = sorted(u for u in facts.urls if u.startswith("file://"))


def purge(home: Path, holds: Denylist, request_id: str, catalog: Any | None = None) -> PurgeReport:
    """Erase the covered documents' bytes from the home (the caller holds the publish lock)."""
    from fincorpus.catalog.store import CorpusCatalog

    check_purge_possible(home)
    report = PurgeReport()
    target = Denylist({d: h for d, h in holds.docs.items()})
    if not target.docs:
        return report
    facts = _Facts()
    if _has_catalog(home):
        catalog = catalog or CorpusCatalog(home, create=False)
        if catalog.table.metadata.snapshots:
            bad, facts = _scan_holdings(catalog, target)
            _rewrite_catalog(catalog, target, bad, facts, report)
    _rewrite_staging(home, target, facts, report)
    _scrub_crawl_state(home, target, facts, report)
    after_publish(home, target.docs)
    _scrub_warc(home, target, facts, request_id, report)
    return report


def verify_purged(home: Path, doc_ids: Iterable[str]) -> list[str]:
    """Problems left after a purge (empty: none): a record with text in a retained snapshot or staged part, or
    a raw record that is not a tombstone."""
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.sources.scrub import is_tombstone as raw_gone

    ids = set(doc_ids)
    problems: list[str] = []
    holds = Denylist(dict.fromkeys(ids, Hold("", "", True)))
    refs: set[str] = set()
    if _has_catalog(home):
        catalog = CorpusCatalog(home, create=False)
        if catalog.table.metadata.snapshots:
            bad, facts = _scan_holdings(catalog, holds)
            problems += [f"data file {p} still holds a covered record" for p in bad]
            refs |= facts.raw_refs
    store = _staging(home)
    for rel in _staged_files(home):
        names = _parquet_names(store, rel)
        if "status" not in names:
            continue
        t = store.read_parquet(rel, columns=[c for c in FACT_COLUMNS if c in names])
        for r in t.filter(pc.is_in(t.column("doc_id"), value_set=pa.array(sorted(ids)))).to_pylist():
            refs.update(x for x in (r.get("raw_ref"), r.get("previous_raw_ref")) if x)
            if not is_tombstone(r):
                problems.append(f"staged part staging/{rel} still holds {r['doc_id']}")
    for ref in sorted(refs):
        if not raw_gone(home, ref):
            problems.append(f"raw record {ref} still holds the bytes")
    return problems


# -- the command ---------------------------------------------------------------------------------------------------


@dataclass
class TakedownResult:
    request: TakedownRequest
    doc_ids: list[str]
    found_in: dict[str, int]
    entry: LogEntry | None  # None for a dry run
    purge: PurgeReport | None = None
    problems: list[str] = field(default_factory=list)


def take_down(home: Path, request: TakedownRequest, *, dry_run: bool = False) -> TakedownResult:
    """Resolve, log and (with ``request.purge``) erase; under the publish lock, so no publish interleaves."""
    from fincorpus import locks
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.sources.frontier import catalog_engine

    if request.purge and not dry_run:
        check_purge_possible(home)  # one line before anything is logged
    with locks.hold(catalog_engine(home), "publish", "fincorpus takedown", what="the publish lock"):
        catalog = CorpusCatalog(home, create=False) if _has_catalog(home) else None
        found = match(home, request, catalog)
        if not found.doc_ids and request.kind in ("doc_id", "url_pattern"):
            raise TakedownError(
                f"no document in {home} matches the {request.kind.replace('_', ' ')} given; nothing was logged "
                "(check the value, or list documents with `fincorpus show`)"
            )
        if dry_run:
            return TakedownResult(request, found.doc_ids, found.found_in, None)
        log = takedown_log(home)
        log.verify()
        entry = log.append(request, found.doc_ids)
        after_publish(home, found.doc_ids)
        result = TakedownResult(request, found.doc_ids, found.found_in, entry)
        if request.purge:
            result.purge, result.problems = _purge_and_log(home, log, entry, catalog)
        return result


def _purge_and_log(
    home: Path, log: TakedownLog, entry: LogEntry, catalog: Any | None
) -> tuple[PurgeReport, list[str]]:
    hold = Hold(entry.request_id, entry.legal_basis, True)
    report = purge(home, Denylist(dict.fromkeys(entry.doc_ids, hold)), entry.request_id, catalog)
    problems = verify_purged(home, entry.doc_ids)
    if not problems:
        log.append_done(entry, replaced=report.replaced())
    return report, problems


def resume_purges(home: Path) -> list[tuple[str, PurgeReport, list[str]]]:
    """Finish purges whose ``purge-done`` entry is missing (a purge interrupted, or one that found problems)."""
    from fincorpus import locks
    from fincorpus.sources.frontier import catalog_engine

    log = takedown_log(home)
    out = []
    if pending_purges(log):
        check_purge_possible(home)
    with locks.hold(catalog_engine(home), "publish", "fincorpus takedown resume", what="the publish lock"):
        entries = {e.request_id: e for e in log.entries() if e.action == "takedown"}
        for request_id in pending_purges(log):
            report, problems = _purge_and_log(home, log, entries[request_id], None)
            out.append((request_id, report, problems))
    return out


def log_included(home: Path, tag: str, out: Path | str, documents: int) -> None:
    """``pull --include-taken-down``: who pulled covered documents, when and where, appended to its own log."""
    import getpass

    line = {
        "at": datetime.now(UTC).isoformat(),
        "action": "pull-include-taken-down",
        "tag": tag,
        "out": str(out),
        "documents": documents,
        "user": getpass.getuser(),
    }
    fd = os.open(home / ACCESS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
