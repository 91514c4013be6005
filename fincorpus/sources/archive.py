"""Raw capture: every response is written to a WARC file before anything else looks at it.

A document's ``raw_ref`` is ``<path relative to the storage root>#<byte offset>`` of its WARC response (or
resource) record; the storage root is FINCORPUS_HOME, or FINCORPUS_WAREHOUSE (``s3://bucket/prefix``) on a
cluster. Records are gzip members of their own, so a reader seeks straight to one record (a ranged read on an
object store), and a damaged record is reported (file, offset, what failed) without hiding the records around it.

On an object store a segment is written to a local spool (``$FINCORPUS_HOME/spool/raw/...``) and uploaded when the
archive closes; a segment a killed crawler left in the spool is uploaded when its source is crawled again
(:func:`flush_spool`, called under the source's crawl lock), and until then the same machine reads it from there.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, ClassVar

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from fincorpus.settings import storage_is_remote, storage_uri
from fincorpus.storage import Storage

try:  # ISA-L deflate: 3x faster than zlib for small records (see WarcArchive.write_resources)
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - a missing optional wheel only costs speed
    _isal_zlib = None

# Hop-by-hop framing the client has already undone: storing it would make readers decode twice.
_FRAMING_HEADERS = {"transfer-encoding"}
_UNSAFE_URI = re.compile(r"[\x00-\x20\x7f]")


class RawRefError(ValueError):
    """A raw_ref does not point at a readable WARC record; the message names file, offset and what failed."""


@dataclass(frozen=True)
class StoredRecord:
    raw_ref: str
    record_id: str
    raw_sha256: str


@lru_cache(maxsize=64)
def _warc_date(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def warc_safe_uri(url: str) -> str:
    """A URI that cannot break the record's header block: spaces and control characters percent-encoded."""
    return _UNSAFE_URI.sub(lambda m: f"%{ord(m.group(0)):02X}", url)


class WarcArchive:
    """Append-only WARC file for one (run, source); safe to reopen for appending after a crash.

    The file is created on the first write, so a crawler that gives up before storing anything (another process
    holds the source) leaves no empty segment behind.
    """

    def __init__(self, home: Path, relpath: str) -> None:
        self.home = home
        self.relpath = relpath
        self.remote = storage_is_remote(home)
        self.path = spool_path(home, relpath) if self.remote else home / relpath
        self._fh: BinaryIO | None = None
        self._offset = 0

    def _file(self) -> BinaryIO:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - held open for the archive's lifetime
            self._fh.seek(0, io.SEEK_END)
            self._offset = self._fh.tell()
        return self._fh

    def flush(self) -> None:
        """Hand buffered records to the OS; batch readers call this before committing the batch's raw_refs."""
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            if self.remote:
                upload_segment(self.home, self.relpath)

    def __enter__(self) -> WarcArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, member: bytes, flush: bool) -> int:
        fh = self._file()
        offset = self._offset
        fh.write(member)
        self._offset += len(member)
        if flush:
            fh.flush()
        return offset

    def _write(self, record) -> int:  # type: ignore[no-untyped-def]
        buf = io.BytesIO()
        WARCWriter(buf, gzip=True, warc_version="WARC/1.1").write_record(record)
        return self._append(buf.getvalue(), flush=True)

    def write_exchange(
        self,
        *,
        url: str,
        fetched_at: datetime,
        request_headers: list[tuple[str, str]],
        status: int,
        reason: str,
        response_headers: list[tuple[str, str]],
        wire_body: bytes,
        decoded_body: bytes,
        method: str = "GET",
    ) -> StoredRecord:
        """Store a request/response pair; ``wire_body`` is the body as sent (still content-encoded)."""
        writer = WARCWriter(io.BytesIO(), gzip=True, warc_version="WARC/1.1")
        date = _warc_date(fetched_at)
        url = warc_safe_uri(url)
        path = url.split("://", 1)[-1].partition("/")[2]
        req_headers = StatusAndHeaders(f"{method} /{path} HTTP/1.1", request_headers, is_http_request=True)
        resp_headers = StatusAndHeaders(
            f"{status} {reason or 'Unknown'}",
            [(k, v) for k, v in response_headers if k.lower() not in _FRAMING_HEADERS],
            protocol="HTTP/1.1",
        )
        resp_id = f"<urn:uuid:{uuid.uuid4()}>"
        response = writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(wire_body),
            length=len(wire_body),
            http_headers=resp_headers,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": resp_id},
        )
        request = writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=req_headers,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": resp_id},
        )
        offset = self._write(response)
        self._write(request)
        return StoredRecord(f"{self.relpath}#{offset}", resp_id, hashlib.sha256(decoded_body).hexdigest())

    def write_resource(
        self, *, url: str, fetched_at: datetime, content_type: str, body: bytes, flush: bool = True
    ) -> StoredRecord:
        """Store a file, a dataset row or a copied record as a WARC resource record (its own gzip member)."""
        return self.write_resources([(url, fetched_at, content_type, body)], flush=flush)[0]

    def write_resources(
        self, items: list[tuple[str, datetime, str, bytes]], *, flush: bool = True
    ) -> list[StoredRecord]:
        """Store (url, fetched_at, content_type, body) resource records, in order.

        Written directly rather than through warcio's record builder, which costs ~260 us per record (header
        objects, pure-Python base32 digests). The digests are sha256 in base16, which warcio verifies on reading.
        Deflate is then the main cost: zlib level 6 takes ~77 us for a 1.7 KB row on the 2-core test machine,
        ISA-L (``isal``) level 1 ~26 us for output 4% larger; any gzip reader reads either. ``flush=False``
        leaves the records in the file buffer until :meth:`flush` (batch readers commit hundreds at a time).
        """
        out = []
        for item in items:
            member, rec_id, sha = _resource_member(*item)
            offset = self._append(member, flush=False)
            out.append(StoredRecord(f"{self.relpath}#{offset}", rec_id, sha))
        if flush:
            self.flush()
        return out


def _gzip_member(data: bytes) -> bytes:
    if _isal_zlib is not None:
        return _isal_zlib.compress(data, 1, wbits=31)
    return zlib.compress(data, 6, wbits=31)


def _resource_member(
    url: str, fetched_at: datetime, content_type: str, body: bytes
) -> tuple[bytes, str, str]:
    """One gzip member holding one WARC resource record: (member bytes, record id, sha256 of the body)."""
    rec_id = f"<urn:uuid:{uuid.uuid4()}>"
    sha = hashlib.sha256(body).hexdigest()
    head = (
        "WARC/1.1\r\n"
        "WARC-Type: resource\r\n"
        f"WARC-Record-ID: {rec_id}\r\n"
        f"WARC-Target-URI: {warc_safe_uri(url)}\r\n"
        f"WARC-Date: {_warc_date(fetched_at)}\r\n"
        f"WARC-Block-Digest: sha256:{sha}\r\n"
        f"WARC-Payload-Digest: sha256:{sha}\r\n"
        f"Content-Type: {_UNSAFE_URI.sub(' ', content_type).strip()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return _gzip_member(head + body + b"\r\n\r\n"), rec_id, sha


@dataclass(frozen=True)
class RawRecord:
    url: str
    record_id: str
    record_type: str
    status: int | None
    headers: dict[str, str]
    body: bytes


def _printable(text: str, limit: int = 160) -> str:
    """An exception's text fit for one line of an error message: no binary, no newlines, bounded."""
    text = "".join(ch if ch.isprintable() and ord(ch) < 0x3000 else "?" for ch in text.replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _what_failed(exc: BaseException) -> str:
    if isinstance(exc, zlib.error):
        return f"gzip data is damaged (zlib: {_printable(str(exc))})"
    if isinstance(exc, EOFError):
        return "the file ends inside the record (truncated)"
    if isinstance(exc, ArchiveLoadFailed):
        msg = str(exc)
        if "digest" in msg:
            return f"the record's bytes do not match its digest ({_printable(msg.split(':')[0])})"
        if "Unknown archive format" in msg or "first line" in msg:
            return "no WARC record header at this offset (damaged header or wrong offset)"
        return f"not a readable WARC record ({_printable(msg)})"
    return f"not a readable WARC record ({type(exc).__name__}: {_printable(str(exc))})"


def spool_path(home: Path, relpath: str) -> Path:
    return home / "spool" / relpath


def upload_segment(home: Path, relpath: str) -> None:
    """Move a spooled segment to the warehouse (the upload is one PUT; the spool copy goes once it is there)."""
    local = spool_path(home, relpath)
    if not local.is_file():
        return
    Storage(storage_uri(home)).upload(local, relpath)
    local.unlink()


def flush_spool(home: Path, source_id: str | None = None) -> list[str]:
    """Upload segments a killed crawler left in the spool (of one source, or all); returns their paths.

    Call only while holding the source's crawl lock: a live crawler's open segment must not be moved.
    """
    root = home / "spool"
    if not storage_is_remote(home) or not root.is_dir():
        return []
    done = []
    for f in sorted(root.rglob("*.warc.gz")):
        rel = f.relative_to(root).as_posix()
        if source_id is not None and not f.name.startswith(f"{source_id}-"):
            continue
        upload_segment(home, rel)
        done.append(rel)
    return done


@lru_cache(maxsize=16)
def _home_root(home: str) -> str:
    return str(Path(home).resolve())


@lru_cache(maxsize=1024)
def _local_segment(home: str, relpath: str) -> Path:
    """The resolved path of a local segment, checked to be under the home (cached: two realpath() calls per
    document were a third of read_raw's time, and a shard reads a few segments many times)."""
    path = (Path(home) / relpath).resolve()
    if Path(_home_root(home)) not in path.parents:
        raise RawRefError(f"raw_ref {relpath!r} points outside FINCORPUS_HOME")
    return path


def _open_segment(home: Path, relpath: str):  # type: ignore[no-untyped-def]
    """A seekable binary file of a WARC segment: under the home, in the local spool, or in the warehouse."""
    if not storage_is_remote(home):
        path = _local_segment(str(home), relpath)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise RawRefError(f"raw_ref {relpath!r}: WARC file {path} is missing") from None
    spooled = spool_path(home, relpath)
    if spooled.is_file():  # written on this machine, not uploaded yet
        return open(spooled, "rb")
    return _RemoteSegment.get(Storage(storage_uri(home)), relpath).reader()


REMOTE_WINDOW = 4 << 20  # bytes fetched per ranged GET of a remote segment
REMOTE_SEGMENTS = 4  # remote segments a process keeps open
# windows kept per segment: a Dask worker runs two shards at once, each reading its own part
REMOTE_WINDOWS = 4


class _RemoteSegment:
    """One uploaded WARC segment read through a window: a ranged GET fetches REMOTE_WINDOW bytes, and the
    records inside it are served from memory. A shard reads its records in about the order they were written,
    so 1,000 documents of 1.5 KB cost one GET instead of a HEAD and a GET each (on moto's S3 server those round
    trips were 80 % of a distributed shard's time). Uploaded segments never change, so the HEAD that opens one
    is made once per process. Several windows per segment: with one, two shards read by the threads of one Dask
    worker took turns replacing it (3,300 GETs of 4 MB in 7 minutes). Memory: REMOTE_SEGMENTS x REMOTE_WINDOWS
    windows per process at most (64 MB).
    """

    _open: ClassVar[dict[tuple[str, str], _RemoteSegment]] = {}
    _lock = threading.Lock()

    def __init__(self, store: Storage, relpath: str) -> None:
        self.file = store.open_input(relpath)
        self.size = self.file.size()
        self.windows: list[tuple[int, bytes]] = []  # (start, bytes), most recently used last
        self.lock = threading.Lock()

    @classmethod
    def get(cls, store: Storage, relpath: str) -> _RemoteSegment:
        key = (store.uri, relpath)
        with cls._lock:
            seg = cls._open.pop(key, None)
            if seg is None:
                if not store.is_file(relpath):
                    raise RawRefError(f"raw_ref {relpath!r}: WARC file {store.location(relpath)} is missing")
                seg = cls(store, relpath)
            cls._open[key] = seg  # most recently used last
            while len(cls._open) > REMOTE_SEGMENTS:  # its file closes when the last reader lets go of it
                del cls._open[next(iter(cls._open))]
            return seg

    def read_at(self, pos: int, n: int) -> bytes:
        if pos >= self.size:
            return b""
        with self.lock:
            for k, (start, data) in enumerate(self.windows):
                if start <= pos < start + len(data):
                    self.windows.append(self.windows.pop(k))
                    break
            else:
                start, data = pos, self.file.read_at(min(max(REMOTE_WINDOW, n), self.size - pos), pos)
                self.windows.append((start, data))
                del self.windows[:-REMOTE_WINDOWS]
        return data[pos - start : pos - start + n]

    def reader(self) -> io.BufferedReader:
        return io.BufferedReader(_SegmentView(self), buffer_size=64 << 10)


class _SegmentView(io.RawIOBase):
    """A seekable file over a remote segment's window (one per read_raw call; the window is shared)."""

    def __init__(self, seg: _RemoteSegment) -> None:
        self.seg, self.pos = seg, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.seg.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        data = self.seg.read_at(self.pos, len(b))
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)


def read_raw(home: Path, raw_ref: str) -> RawRecord:
    """Open the record a raw_ref points at; the body is content-decoded, as hashed into raw_sha256.

    Digests are checked, so a flipped byte is an error here rather than different text later. Every failure is
    one :class:`RawRefError` naming the WARC file, the offset and what failed; the caller goes on with other
    records.
    """
    relpath, sep, offset = raw_ref.rpartition("#")
    if not sep or not offset.isdigit():
        raise RawRefError(f"raw_ref {raw_ref!r} is not of the form <warc path>#<offset>")
    try:
        with _open_segment(home, relpath) as fh:
            fh.seek(int(offset))
            try:
                record = next(iter(ArchiveIterator(fh, check_digests="raise")))
            except StopIteration:
                raise RawRefError(
                    f"WARC file {relpath}, offset {offset}: no WARC record at that offset (past the end of the file)"
                ) from None
            headers: dict[str, str] = {}
            status = None
            if record.http_headers is not None and record.rec_type == "response":
                headers = {k.lower(): v for k, v in record.http_headers.headers}
                status = int(record.http_headers.get_statuscode() or 0)
            return RawRecord(
                url=record.rec_headers.get_header("WARC-Target-URI"),
                record_id=record.rec_headers.get_header("WARC-Record-ID"),
                record_type=record.rec_type,
                status=status,
                headers=headers,
                body=record.content_stream().read(),
            )
    except RawRefError:
        raise
    except (ArchiveLoadFailed, zlib.error, EOFError, ValueError, KeyError, IndexError, OSError) as exc:
        raise RawRefError(f"WARC file {relpath}, offset {offset}: {_what_failed(exc)}") from None
