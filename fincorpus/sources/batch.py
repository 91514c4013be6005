"""The loop shared by the files, warc and dataset readers: records in batches, each batch one transaction.

Why batches: one transaction and one page lookup per record capped a dataset source at ~350 rows/s. A batch of
up to ``BATCH_ROWS`` records (or ``BATCH_BYTES`` of bodies) is checked against the pass (already committed?)
and against page memory (unchanged?) with one query each, archived with buffered writes and committed in one
transaction. A SIGKILL loses at most the uncommitted batch: its WARC records stay unreferenced (harmless) and
its records are read again on resume; a committed record is never stored twice, because every committed record
is in the pass's frontier with its position (``seq``) in the input.

Input files a pass read to the end, with every record committed, are remembered (size, content hash, the
source's mapping, their records' URL keys; :class:`~fincorpus.sources.frontier.InputFile`); the next pass skips an
unchanged file whole (one ``unchanged-file`` event instead of a hash and an event per record) and still treats a
later record repeating one of its URLs as the repeat it was. Files of fewer than ``REMEMBER_MIN_RECORDS`` records
are read again each time (cheap, and one commit per file would cost more than it saves).

``max_pages`` counts new or changed documents only. Unchanged records cost a hash and a shared query, so a pass
reads every record, and a pass stopped by the limit is continued by the next ingest: the records stored before
are unchanged then and do not count again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fincorpus.sources.archive import StoredRecord, WarcArchive
from fincorpus.sources.base import STOP, CrawlEvent, CrawlReport, CrawlStopped, ItemMeta
from fincorpus.sources.frontier import BatchRow, CrawlState, InputFile, KnownPage, stored_version, url_key
from fincorpus.sources.registry import SourceConfig

BATCH_ROWS = 500
REMEMBER_MIN_RECORDS = 1000
BATCH_BYTES = (
    64 * 1024 * 1024
)  # bodies held by one batch (records of foreign WARC files are read as they come)


class ReadFailed(Exception):
    """One record cannot be read (a file vanished, permissions): logged as an error, the pass goes on."""


@dataclass
class Candidate:
    """One input record: where it is, and either its bytes or how to read them once it is known to be needed."""

    url: str
    seq: int  # position in the input (1-based); stable while the input is unchanged
    via: str  # discovered_via of the capture, e.g. "dataset", "file", "warc:cc.warc.gz#1234"
    content_type: str
    size: int  # bytes, known before reading (file size, record length, serialised row)
    body: bytes | None = None  # already in memory (dataset row, foreign WARC record)
    load: Callable[[], bytes] | None = None  # read on demand, after the resume and duplicate checks (files)
    headers: dict[str, str] | None = None
    fetched_at: datetime | None = None
    item: ItemMeta | None = None
    detail: str = ""  # the "fetched" event's detail
    store: Callable[[bytes], StoredRecord] | None = None  # how to archive it (default: a resource record)
    early: CrawlEvent | None = None  # a decision made while reading (e.g. skipped-size): committed as is


@dataclass(frozen=True)
class FileRead:
    """Put by a reader after the last record of an input file: once they are committed, the file is remembered."""

    file: InputFile


@dataclass(frozen=True)
class FileUnchanged:
    """Put by a reader in place of the records of an input file it found remembered and unchanged."""

    file: InputFile


@dataclass
class _New:
    cand: Candidate
    body: bytes
    page: KnownPage | None


class RecordPass:
    """Feeds candidates through batches; ``add`` returns False once the reader must stop reading."""

    def __init__(
        self,
        source: SourceConfig,
        state: CrawlState,
        pass_id: str,
        archive: WarcArchive,
        report: CrawlReport,
        *,
        stop: threading.Event | None = None,
        resumed_label: str = "record",
    ) -> None:
        self.source = source
        self.state = state
        self.pass_id = pass_id
        self.archive = archive
        self.report = report
        self.stop = stop if stop is not None else STOP
        self.label = resumed_label
        self._batch: list[Candidate] = []
        self._bytes = 0
        self._pending = 0  # new versions decided in the current batch, not stored yet
        self._stored_before = state.stored_in_pass(pass_id)  # a resumed pass keeps counting where it was
        self._skipped_keys: np.ndarray | None = None  # sorted URL keys of the unchanged files skipped so far
        self.done = False

    @property
    def stored_total(self) -> int:
        return self._stored_before + self.report.stored

    def add(self, cand: Candidate) -> bool:
        """Queue one record; commit when the batch is full. False: stop reading (limit reached or stop asked)."""
        if self.done:
            return False
        self._batch.append(cand)
        self._bytes += len(cand.body) if cand.body is not None else 0
        if len(self._batch) >= BATCH_ROWS or self._bytes >= BATCH_BYTES:
            self.flush()
        if not self.done and self.stop.is_set():
            self.flush()
            self.report.stopped = True
            self.done = True
            raise CrawlStopped(self.report)
        return not self.done

    def finish(self) -> CrawlReport:
        self.flush()
        return self.report

    def file_read(self, f: InputFile) -> None:
        """The reader passed the last record of ``f``: commit the batch, then remember the file (unless the limit
        stopped the pass inside it, or it is too small to be worth a commit)."""
        if f.records < REMEMBER_MIN_RECORDS or self.done:
            return
        self.flush()
        if not self.done:
            self.state.remember_input_file(self.source.id, f)

    def file_unchanged(self, f: InputFile) -> None:
        """Skip a remembered, unchanged file: its URLs join the repeats, one event says so."""
        self.flush()  # records before the file are decided before its URLs count as seen
        keys = np.frombuffer(f.url_keys, dtype="<u8")
        self._skipped_keys = keys if self._skipped_keys is None else np.union1d(self._skipped_keys, keys)
        self.report.unchanged += f.records
        self.report.unchanged_files += 1
        self.report.unchanged_file_records += f.records
        url = f"dataset-file://{self.source.id}/{f.path}"
        detail = (
            f"{f.path}: {f.records:,} {self.label}s not read, unchanged since pass {f.pass_id} "
            f"({f.size:,} bytes, sha256 {f.sha256[:16]}…)"
        )
        ev = CrawlEvent(
            url, "unchanged-file", detail, at=datetime.now(UTC).isoformat(), extra={"records": f.records}
        )
        self.state.log(self.pass_id, [ev])

    def _repeats_skipped(self, urls: list[str]) -> set[str]:
        if self._skipped_keys is None or not urls:
            return set()
        keys = np.fromiter((url_key(u) for u in urls), dtype=np.uint64, count=len(urls))
        at = np.searchsorted(self._skipped_keys, keys).clip(max=len(self._skipped_keys) - 1)
        hit = self._skipped_keys[at] == keys
        return {u for u, h in zip(urls, hit.tolist(), strict=True) if h}

    def flush(self) -> None:
        batch, self._batch, self._bytes = self._batch, [], 0
        if not batch:
            return
        committed = self.state.committed(self.pass_id, [c.url for c in batch])
        in_skipped = self._repeats_skipped([c.url for c in batch])
        seen: set[str] = set()
        fresh: list[Candidate] = []
        rows: list[BatchRow] = []
        for c in batch:
            if c.url in committed or c.url in seen:
                if committed.get(c.url) != c.seq:  # not this record committed before a kill: a repeat
                    rows.append(
                        self._row(c, "duplicate", f"repeats {self.label} {c.url} seen earlier in the pass")
                    )
                continue
            if c.url in in_skipped:
                rows.append(
                    self._row(c, "duplicate", f"repeats {self.label} {c.url} of an unchanged input file")
                )
                continue
            seen.add(c.url)
            fresh.append(c)
        known = self.state.known_pages(self.source.id, [c.url for c in fresh if c.early is None])
        slots: list[BatchRow | _New] = []
        for c in fresh:
            if c.early is not None:
                slots.append(BatchRow(c.url, c.seq, c.via, c.early.outcome, [c.early]))
                continue
            decided = self._decide(c, known)
            if decided is None:  # max_pages reached at this record: commit what came before, stop the pass
                break
            slots.append(decided)
        rows += self._store_new(slots)
        self.archive.flush()
        # Duplicate rows add no frontier row (the URL is already there): only their event is logged.
        self.state.commit_batch(self.pass_id, self.source.id, rows)

    def _row(self, c: Candidate, outcome: str, detail: str) -> BatchRow:
        ev = CrawlEvent(c.url, outcome, detail, at=datetime.now(UTC).isoformat())
        return BatchRow(c.url, c.seq, c.via, outcome, [ev])

    def _decide(self, c: Candidate, known: dict[str, KnownPage]) -> BatchRow | _New | None:
        """Unchanged, skipped or failed (a row), new (stored later, with the batch), or None: the limit."""
        from fincorpus.catalog.erasure import crawl_blocked  # takedown hook

        native = c.item.native_id if c.item else None
        if (hold := crawl_blocked(self.archive.home, self.source.id, c.url, c.via, native)) is not None:
            return self._row(c, "skipped-takedown", f"covered by takedown {hold.request_id}; not stored")
        body = c.body
        if body is None:
            assert c.load is not None
            try:
                body = c.load()
            except ReadFailed as exc:
                return self._row(c, "error", str(exc))
        limit = self.source.max_document_bytes
        if len(body) > limit:  # the file grew after it was listed, or a record understated its length
            return self._row(c, "skipped-size", f"{len(body):,} bytes > max_document_bytes={limit:,}")
        sha = hashlib.sha256(body).hexdigest()
        page = known.get(c.url)
        if page is not None and page.raw_sha256 == sha:
            self.report.unchanged += 1
            row = self._row(c, "unchanged", f"{self.label} equals the stored version")
            row.touched = True
            return row
        if self.stored_total + self._pending >= self.source.max_pages:
            self._limit(c)
            return None
        self._pending += 1
        return _New(c, body, page)

    def _store_new(self, slots: list[BatchRow | _New]) -> list[BatchRow]:
        """Archive the batch's new versions (resource records compressed together) and build their rows."""
        self._pending = 0
        now = datetime.now(UTC)
        plain = [s for s in slots if isinstance(s, _New) and s.cand.store is None]
        records = iter(
            self.archive.write_resources(
                [(s.cand.url, s.cand.fetched_at or now, s.cand.content_type, s.body) for s in plain],
                flush=False,
            )
        )
        rows: list[BatchRow] = []
        for slot in slots:
            if isinstance(slot, BatchRow):
                rows.append(slot)
                continue
            c = slot.cand
            rec = c.store(slot.body) if c.store is not None else next(records)
            event = CrawlEvent(
                c.url, "fetched", c.detail or c.content_type, None, now.isoformat(), {"raw_ref": rec.raw_ref}
            )
            done = stored_version(
                source_id=self.source.id,
                url=c.url,
                content_type=c.content_type,
                headers=c.headers or {"content-type": c.content_type},
                fetched_at=c.fetched_at or now,
                record=rec,
                via=c.via,
                memory=slot.page.memory() if slot.page is not None else None,
                event=event,
                item=c.item,
            )
            self.report.stored += 1
            rows.append(
                BatchRow(c.url, c.seq, c.via, "document", done.events, capture=done.capture, page=done.page)
            )
        return rows

    def _limit(self, c: Candidate) -> None:
        n = self.source.max_pages
        self.report.limit_hit = (
            f"max_pages={n} new or changed documents stored; stopped before {self.label} {c.seq:,} ({c.url}); "
            "the next ingest continues from there"
        )
        self.state.log(
            self.pass_id,
            [CrawlEvent(c.url, "skipped-limit", self.report.limit_hit, at=datetime.now(UTC).isoformat())],
        )
        self.done = True


class RecordReader:
    """What the files, warc and dataset readers share: the pass's WARC segment, the report, and ``_run``."""

    label = "record"

    def __init__(
        self,
        source: SourceConfig,
        home: Path,
        state: CrawlState,
        pass_id: str,
        base_dir: Path,
        *,
        resumed: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.state = state
        self.pass_id = pass_id
        self.base_dir = base_dir
        self.resumed = resumed
        self.stop = stop
        self._prepare()  # input checks come before the segment is counted
        self.archive = WarcArchive(home, f"raw/{pass_id}/{source.id}-{state.segment(pass_id):03d}.warc.gz")
        self.report = CrawlReport(source.id, pass_id)

    def _prepare(self) -> None:
        """Locate the input; a reader whose input is missing fails here, with a clear error."""

    def _run(self, candidates: Iterable[Candidate | FileRead | FileUnchanged]) -> CrawlReport:
        """The source's crawl lock, then every candidate through batches until the input ends, the limit is
        reached or a stop is asked (:class:`CrawlStopped`). ``candidates`` is consumed under the lock."""
        lock = self.state.crawl_lock(self.source.id)
        try:
            records = RecordPass(
                self.source,
                self.state,
                self.pass_id,
                self.archive,
                self.report,
                stop=self.stop,
                resumed_label=self.label,
            )
            for cand in candidates:
                if isinstance(cand, FileRead):
                    records.file_read(cand.file)
                elif isinstance(cand, FileUnchanged):
                    records.file_unchanged(cand.file)
                elif not records.add(cand):
                    break
            return records.finish()
        finally:
            lock.release()

    def close(self) -> None:
        self.archive.close()
