"""Search every file of a corpus home for byte strings: Parquet decoded, WARC records decompressed and decoded,
SQLite databases dumped and read raw, Iceberg Avro manifests decoded, everything else read as bytes.

Used by the takedown tests to show that a purge leaves nothing: a finder that cannot read a file says so (the
test fails) rather than skipping it.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path


def _parquet_text(path: Path) -> bytes:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    return json.dumps(rows, ensure_ascii=False, default=str).encode("utf-8")


def _warc_text(path: Path) -> bytes:
    from warcio.archiveiterator import ArchiveIterator

    out = [gzip.decompress(path.read_bytes())]  # every member, raw
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            out.append(rec.content_stream().read())  # content-decoded bodies too
    return b"\n".join(out)


def _sqlite_text(path: Path) -> bytes:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    return dump.encode("utf-8") + path.read_bytes()


def _avro_text(path: Path) -> bytes:
    """An Avro container with deflate blocks: every block inflated (strings inside are plain UTF-8)."""
    data = path.read_bytes()
    out = [data]
    # blocks are raw deflate streams; inflate from every offset where one starts cleanly
    i = 0
    while i < len(data):
        d = zlib.decompressobj(-15)
        try:
            chunk = d.decompress(data[i : i + 1 << 22])
            if d.eof and len(chunk) > 16:
                out.append(chunk)
                i += len(data[i : i + (1 << 22)]) - len(d.unused_data)
                continue
        except zlib.error:
            pass
        i += 1
    return b"\n".join(out)


def readable(path: Path) -> bytes:
    name = path.name
    if name.endswith(".parquet"):
        return _parquet_text(path) + path.read_bytes()
    if name.endswith((".warc.gz", ".warc")):
        return _warc_text(path) + path.read_bytes()
    if name.endswith((".db", ".sqlite")):
        return _sqlite_text(path)
    if name.endswith(".avro"):
        return _avro_text(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data) + data
    return data


def files_holding(home: Path, needles: Iterable[bytes]) -> dict[str, list[bytes]]:
    """file (relative to the home) -> the needles found in it."""
    needles = [n for n in needles if n]
    hits: dict[str, list[bytes]] = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        body = path.read_bytes() if path.name.endswith(("-wal", "-shm", "-journal")) else readable(path)
        found = [n for n in needles if n in body]
        if found:
            hits[path.relative_to(home).as_posix()] = found
    return hits
