"""Erasing raw WARC records in place, without moving any other record.

Every document's ``raw_ref`` is ``<WARC file>#<byte offset>`` of its own gzip member, so a record cannot be cut
out of a segment: every later offset would move. A purged record is instead *overwritten* by a gzip member of
exactly the same length that holds a small WARC ``resource`` record saying "removed by takedown <request id>".
The length is matched with the gzip header's comment field (FCOMMENT, RFC 1952 2.3.1), which every gzip reader
skips. A response record and the request record written right after it (``WARC-Concurrent-To``) are replaced by
one member spanning both: the response's offset (the one a raw_ref names) stays a readable record; the request's
offset, which no raw_ref names, disappears. Afterwards the whole segment is walked again (same member boundaries,
every member inflating with a good CRC-32) and the records on both sides of each overwrite are read with
:func:`fincorpus.sources.archive.read_raw` (digests checked): a purge that would break another record is an error.

The old bytes are overwritten in the file itself (``r+b`` and fsync). On copy-on-write file systems (btrfs, ZFS)
and in backups or snapshots of the disk they may survive; that is outside what a program can erase.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fincorpus.sources.archive import RawRefError, read_raw, warc_safe_uri

CHUNK = 1 << 20
HEAD = 8192  # decompressed bytes kept per member: enough for the WARC header block
TOMBSTONE_FIELD = "Fincorpus-Takedown"


class ScrubError(RuntimeError):
    """A WARC record could not be erased in place, or erasing it would break the segment; nothing more was
    written to that file than what the message says."""


@dataclass(frozen=True)
class Member:
    """One gzip member of a WARC file and the WARC header fields that identify it."""

    offset: int
    length: int
    rec_type: str
    record_id: str
    target_uri: str
    concurrent_to: str
    takedown: str  # request id when the member is a tombstone this module wrote

    @property
    def end(self) -> int:
        return self.offset + self.length


def _fields(head: bytes) -> dict[str, str]:
    block = head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    out: dict[str, str] = {}
    for line in block.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            out.setdefault(name.strip().lower(), value.strip())
    return out


def members(path: Path) -> Iterator[Member]:
    """The gzip members of a WARC file in order, with offsets and lengths (decompressed once, not kept).

    A member cut short at the end of the file (a crawler still writing, or killed mid-write) ends the listing.
    """
    with open(path, "rb") as fh:
        offset = 0
        buf = b""
        while True:
            if not buf:
                buf = fh.read(CHUNK)
                if not buf:
                    return
            d = zlib.decompressobj(31)
            start = offset
            head = bytearray()
            while True:
                data = buf
                while data and not d.eof:
                    out = d.decompress(data, CHUNK)
                    if len(head) < HEAD:
                        head += out[: HEAD - len(head)]
                    data = d.unconsumed_tail
                if d.eof:
                    used = len(buf) - len(d.unused_data)
                    offset += used
                    buf = d.unused_data
                    break
                offset += len(buf)
                buf = fh.read(CHUNK)
                if not buf:
                    return  # truncated tail member
            f = _fields(bytes(head))
            yield Member(
                start,
                offset - start,
                f.get("warc-type", ""),
                f.get("warc-record-id", ""),
                f.get("warc-target-uri", ""),
                f.get("warc-concurrent-to", ""),
                f.get(TOMBSTONE_FIELD.lower(), ""),
            )


def _record(request_id: str, uri: str | None, refers_to: str | None, full: bool = True) -> bytes:
    """The tombstone record; the short form keeps only the fields WARC 1.1 requires and the takedown field."""
    body = f"removed by takedown {request_id}\r\n".encode()
    lines = [
        "WARC/1.1",
        "WARC-Type: resource",
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>",
        f"WARC-Date: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
    ]
    if full and uri:
        lines.append(f"WARC-Target-URI: {warc_safe_uri(uri)}")
    if full and refers_to:
        lines.append(f"WARC-Refers-To: {refers_to}")
    lines.append(f"{TOMBSTONE_FIELD}: {request_id}")
    if full:
        lines += [f"WARC-Block-Digest: sha256:{hashlib.sha256(body).hexdigest()}", "Content-Type: text/plain"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n\r\n"


def tombstone_member(length: int, request_id: str, uri: str | None, refers_to: str | None) -> bytes:
    """A gzip member of exactly ``length`` bytes holding a WARC resource record "removed by takedown ...".

    Tries the full record, then the short one; raises ScrubError when even that does not fit (a member shorter
    than about 200 bytes; the smallest record fincorpus writes, an HTTP request, is about 380).
    """
    for full in (True, False):
        rec = _record(request_id, uri, refers_to, full)
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        deflated = comp.compress(rec) + comp.flush()
        trailer = struct.pack("<II", zlib.crc32(rec) & 0xFFFFFFFF, len(rec) & 0xFFFFFFFF)
        pad = length - (10 + len(deflated) + len(trailer)) - 1  # the comment's terminating NUL
        if pad < 0:
            continue
        comment = (b"fincorpus takedown " + b"." * pad)[:pad]
        header = b"\x1f\x8b\x08\x10" + b"\x00\x00\x00\x00" + b"\x02\xff" + comment + b"\x00"
        member = header + deflated + trailer
        assert len(member) == length
        return member
    raise ScrubError(f"a {length}-byte WARC record is too short to hold a takedown record of the same length")


def plan_groups(found: list[Member], wanted: set[int]) -> list[list[Member]]:
    """Members to overwrite, grouped: a wanted response/resource plus the request written with it."""
    groups: list[list[Member]] = []
    taken: set[int] = set()
    for i, m in enumerate(found):
        if m.offset not in wanted or m.offset in taken or m.takedown:
            continue
        group = [m]
        nxt = found[i + 1] if i + 1 < len(found) else None
        if (
            nxt is not None
            and nxt.rec_type == "request"
            and nxt.concurrent_to
            and nxt.concurrent_to == m.record_id
            and not nxt.takedown
        ):
            group.append(nxt)
        taken.update(x.offset for x in group)
        groups.append(group)
    return groups


def scrub_file(
    home: Path, relpath: str, offsets: Iterable[int], urls: Iterable[str], request_id: str
) -> list[int]:
    """Overwrite the records of ``relpath`` at ``offsets`` or whose target URI is one of ``urls`` (with the
    request records written beside them); returns the offsets now holding tombstones. Idempotent: tombstones are
    left as they are. Every remaining record is read back afterwards; a failure raises ScrubError."""
    path = home / relpath
    found = list(members(path))
    want_urls = {warc_safe_uri(u) for u in urls} | set(urls)
    starts = {m.offset for m in found}
    missing = [o for o in offsets if o not in starts]
    if missing:
        raise ScrubError(
            f"WARC file {relpath}: no record starts at offset(s) {missing[:5]}; the raw_refs do not match the file"
        )
    wanted = set(offsets) | {m.offset for m in found if m.target_uri and m.target_uri in want_urls}
    # a request record is erased with its response; one whose response is wanted but not adjacent goes alone
    by_id = {m.record_id: m for m in found}
    for m in found:
        if m.rec_type == "request" and m.concurrent_to in by_id and by_id[m.concurrent_to].offset in wanted:
            wanted.add(m.offset)
    groups = plan_groups(found, wanted)
    if not groups:
        return []
    written: list[int] = []
    with open(path, "r+b") as fh:
        for group in groups:
            first, last = group[0], group[-1]
            member = tombstone_member(last.end - first.offset, request_id, first.target_uri, first.record_id)
            fh.seek(first.offset)
            fh.write(member)
            written.append(first.offset)
        fh.flush()
        os.fsync(fh.fileno())
    _check(home, relpath, found, groups)
    return written


def _check(home: Path, relpath: str, before: list[Member], groups: list[list[Member]]) -> None:
    """The segment after the overwrite: the same member boundaries (minus merged requests), every member
    inflating with a good CRC-32 (``members`` checks that while it walks the file), and the records around each
    overwrite read with :func:`read_raw` (WARC header and digests): tombstones where they were written, the other
    records intact."""
    merged = {m.offset for g in groups for m in g[1:]}
    heads = {g[0].offset for g in groups}
    try:
        after = list(members(home / relpath))
    except zlib.error as exc:
        raise ScrubError(f"WARC file {relpath}: a record no longer inflates after erasing ({exc})") from None
    expect = [m.offset for m in before if m.offset not in merged]
    if [m.offset for m in after] != expect:
        raise ScrubError(
            f"WARC file {relpath}: record boundaries changed while erasing; restore it from backup"
        )
    near: set[int] = set()
    for i, m in enumerate(after):
        if m.offset in heads:
            near.update(x.offset for x in after[max(0, i - 1) : i + 2])
    for m in after:
        if m.offset not in near:
            continue
        try:
            read_raw(home, f"{relpath}#{m.offset}")
        except RawRefError as exc:
            raise ScrubError(f"after erasing records of {relpath}: {exc}") from None
        if m.offset in heads and not m.takedown:
            raise ScrubError(f"WARC file {relpath}, offset {m.offset}: the takedown record did not land")


def is_tombstone(home: Path, raw_ref: str) -> bool:
    """Whether the record a raw_ref points at is a takedown tombstone (or is gone: then True as well)."""
    relpath, _, offset = raw_ref.rpartition("#")
    path = home / relpath
    if not path.is_file() or not offset.isdigit():
        return True
    for m in members(path):
        if m.offset == int(offset):
            return bool(m.takedown)
        if m.offset > int(offset):
            break
    return False
