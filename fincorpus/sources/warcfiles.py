"""WARC/WARC.gz files from elsewhere (e.g. Common Crawl extracts), filtered by the source's URL patterns.

Matching HTML/PDF/text responses are copied into our own archive (so every raw_ref stays under FINCORPUS_HOME)
and committed in batches (:mod:`fincorpus.sources.batch`); a resumed pass rescans the files and skips records it
already committed. A record larger than ``max_document_bytes`` is skipped (its body is never held in memory), and a
damaged record is logged as an integrity failure (file, offset, what failed) while reading goes on at the next
record. robots.txt cannot be re-checked for captures made by someone else: the source's legal_basis must cover it.
"""

from __future__ import annotations

import glob
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from fincorpus.sources.archive import StoredRecord, _what_failed
from fincorpus.sources.base import CrawlEvent, CrawlReport
from fincorpus.sources.batch import Candidate, RecordReader
from fincorpus.sources.web import DOCUMENT_TYPES, media_type, normalize_url

_DAMAGE = (ArchiveLoadFailed, zlib.error, EOFError, ValueError, KeyError, IndexError)
_SCAN = 1 << 20


def resolve_paths(patterns: list[str], base_dir: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True))
        if not matches:
            raise FileNotFoundError(f"no WARC file matches {pattern!r} (relative to {base_dir})")
        files += matches
    return files


@dataclass
class ForeignRecord:
    """A response record of a foreign file, read (body capped) or judged without reading."""

    offset: int
    url: str
    status: int
    mtype: str
    headers: list[tuple[str, str]]
    warc_date: str
    record_id: str
    body: bytes | None  # None: larger than the cap (skipped) or not wanted
    size: int


@dataclass
class Damage:
    offset: int
    what: str
    resumed_at: int | None  # where reading went on (None: nothing readable after it)


def _next_start(path: Path, after: int, gz: bool) -> int | None:
    """Offset of the next plausible record start after ``after``: a gzip member header or a WARC version line."""
    magic = b"\x1f\x8b\x08" if gz else b"WARC/1."
    with open(path, "rb") as fh:
        pos = after + 1
        tail = b""
        while True:
            fh.seek(pos)
            chunk = fh.read(_SCAN)
            if not chunk:
                return None
            buf = tail + chunk
            i = buf.find(magic) if gz else _line_start(buf, magic)
            if i >= 0:
                return pos - len(tail) + i
            tail = buf[-(len(magic) - 1) :]
            pos += len(chunk)


def _line_start(buf: bytes, magic: bytes) -> int:
    i = buf.find(b"\n" + magic)
    return i + 1 if i >= 0 else -1


def iter_foreign(path: Path, wanted: Any, max_bytes: int) -> Iterator[ForeignRecord | Damage]:
    """Response records of one WARC file; ``wanted(url, status, mtype)`` decides which bodies are read."""
    gz = path.suffix == ".gz" or path.name.endswith(".warc.gz")
    start = 0
    while start is not None:
        with open(path, "rb") as fh:
            fh.seek(start)
            it = ArchiveIterator(fh)
            try:
                for record in it:
                    rec = _read(it, record, wanted, max_bytes)
                    if rec is not None:
                        yield rec
                return
            except _DAMAGE as exc:
                bad = max(it.offset, start)
                what = _what_failed(exc)
        start = _next_start(path, bad, gz)
        yield Damage(bad, what, start)


def _read(it: ArchiveIterator, record: Any, wanted: Any, max_bytes: int) -> ForeignRecord | None:
    if record.rec_type != "response" or record.http_headers is None:
        return None
    url = normalize_url(record.rec_headers.get_header("WARC-Target-URI") or "")
    status = int(record.http_headers.get_statuscode() or 0)
    mtype = media_type(record.http_headers.get_header("Content-Type"))
    if not wanted(url, status, mtype):
        return None
    offset = it.offset
    declared = int(record.rec_headers.get_header("Content-Length") or 0)
    body: bytes | None = None
    size = declared
    if declared <= max_bytes + 65536:  # the block also holds the HTTP headers
        body = record.content_stream().read(max_bytes + 1)
        size = len(body)
        if size > max_bytes:
            body = None
    return ForeignRecord(
        offset,
        url,
        status,
        mtype,
        list(record.http_headers.headers),
        record.rec_headers.get_header("WARC-Date") or "",
        record.rec_headers.get_header("WARC-Record-ID") or "",
        body,
        size,
    )


class WarcFilesReader(RecordReader):
    def _prepare(self) -> None:
        self.files = resolve_paths(self.source.paths, self.base_dir)

    def _wanted(self, url: str, status: int, mtype: str) -> bool:
        return status == 200 and mtype in DOCUMENT_TYPES and self.source.allowed_url(url)

    def run(self) -> CrawlReport:
        return self._run(self._candidates())

    def _candidates(self) -> Iterator[Candidate]:
        seq = 0
        for path in self.files:
            for rec in iter_foreign(path, self._wanted, self.source.max_document_bytes):
                seq += 1
                yield self._candidate(path, seq, rec)

    def _candidate(self, path: Path, seq: int, rec: ForeignRecord | Damage) -> Candidate:
        if isinstance(rec, Damage):
            url = f"warcfile://{path.name}#{rec.offset}"
            after = (
                f"; reading went on at offset {rec.resumed_at}"
                if rec.resumed_at is not None
                else "; nothing after it"
            )
            detail = f"WARC file {path}, offset {rec.offset}: {rec.what}{after}"
            self.report.note_cut(detail)
            return Candidate(url, seq, "warc-file", "", 0, early=CrawlEvent(url, "integrity", detail))
        origin = f"warc:{path.name}#{rec.offset}"
        if rec.body is None:
            limit = self.source.max_document_bytes
            ev = CrawlEvent(
                rec.url, "skipped-size", f"{origin}: {rec.size:,} bytes > max_document_bytes={limit:,}"
            )
            return Candidate(rec.url, seq, origin, rec.mtype, rec.size, early=ev)
        try:
            fetched_at = datetime.fromisoformat(rec.warc_date.replace("Z", "+00:00"))
        except ValueError:
            fetched_at = datetime.now(UTC)
        # Stored decoded: the original framing and content coding are not part of the copy.
        headers = [
            (k, v)
            for k, v in rec.headers
            if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
        ]

        def store(body: bytes) -> StoredRecord:
            return self.archive.write_exchange(
                url=rec.url,
                fetched_at=fetched_at,
                request_headers=[("X-Fincorpus-Origin", f"{path.name} {rec.record_id}")],
                status=200,
                reason="OK",
                response_headers=headers,
                wire_body=body,
                decoded_body=body,
            )

        return Candidate(
            rec.url,
            seq,
            origin,
            rec.mtype,
            len(rec.body),
            body=rec.body,
            headers={k.lower(): v for k, v in headers},
            fetched_at=fetched_at,
            detail=f"{rec.mtype} from {origin}",
            store=store,
        )
