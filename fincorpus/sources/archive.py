"""Raw capture: every response is written to a WARC file before anything else looks at it.

A document's ``raw_ref`` is ``<path relative to FINCORPUS_HOME>#<byte offset>`` of its WARC response (or
resource) record. Records are gzip members of their own, so a reader seeks straight to one record.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Hop-by-hop framing the client has already undone: storing it would make readers decode twice.
_FRAMING_HEADERS = {"transfer-encoding"}


class RawRefError(ValueError):
    """A raw_ref does not point at a readable WARC record."""


@dataclass(frozen=True)
class StoredRecord:
    raw_ref: str
    record_id: str
    raw_sha256: str


def _warc_date(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WarcArchive:
    """Append-only WARC file for one (run, source); safe to reopen for appending after a crash."""

    def __init__(self, home: Path, relpath: str) -> None:
        self.home = home
        self.relpath = relpath
        path = home / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = open(path, "ab")  # noqa: SIM115 - held open for the archive's lifetime
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="WARC/1.1")

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> WarcArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, record) -> int:  # type: ignore[no-untyped-def]
        self._fh.seek(0, io.SEEK_END)
        offset = self._fh.tell()
        self._writer.write_record(record)
        self._fh.flush()
        return offset

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
        date = _warc_date(fetched_at)
        path = url.split("://", 1)[-1].partition("/")[2]
        req_headers = StatusAndHeaders(f"{method} /{path} HTTP/1.1", request_headers, is_http_request=True)
        resp_headers = StatusAndHeaders(
            f"{status} {reason or 'Unknown'}",
            [(k, v) for k, v in response_headers if k.lower() not in _FRAMING_HEADERS],
            protocol="HTTP/1.1",
        )
        resp_id = f"<urn:uuid:{uuid.uuid4()}>"
        response = self._writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(wire_body),
            length=len(wire_body),
            http_headers=resp_headers,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": resp_id},
        )
        request = self._writer.create_warc_record(
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
        self, *, url: str, fetched_at: datetime, content_type: str, body: bytes
    ) -> StoredRecord:
        """Store a file read from disk (files connector) as a WARC resource record."""
        rec_id = f"<urn:uuid:{uuid.uuid4()}>"
        record = self._writer.create_warc_record(
            url,
            "resource",
            payload=io.BytesIO(body),
            length=len(body),
            warc_content_type=content_type,
            warc_headers_dict={"WARC-Date": _warc_date(fetched_at), "WARC-Record-ID": rec_id},
        )
        offset = self._write(record)
        return StoredRecord(f"{self.relpath}#{offset}", rec_id, hashlib.sha256(body).hexdigest())


@dataclass(frozen=True)
class RawRecord:
    url: str
    record_id: str
    record_type: str
    status: int | None
    headers: dict[str, str]
    body: bytes


def read_raw(home: Path, raw_ref: str) -> RawRecord:
    """Open the record a raw_ref points at; the body is content-decoded, as hashed into raw_sha256."""
    relpath, sep, offset = raw_ref.rpartition("#")
    if not sep or not offset.isdigit():
        raise RawRefError(f"raw_ref {raw_ref!r} is not of the form <warc path>#<offset>")
    path = (home / relpath).resolve()
    if home.resolve() not in path.parents:
        raise RawRefError(f"raw_ref {raw_ref!r} points outside FINCORPUS_HOME")
    if not path.is_file():
        raise RawRefError(f"raw_ref {raw_ref!r}: WARC file {path} is missing")
    with open(path, "rb") as fh:
        fh.seek(int(offset))
        try:
            record = next(iter(ArchiveIterator(fh)))
        except StopIteration:
            raise RawRefError(f"raw_ref {raw_ref!r}: no WARC record at that offset") from None
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
