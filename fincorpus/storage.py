"""Where the shared files live: staged runs, WARC segments, site templates, through pyarrow's filesystem layer.

Stages name files by paths relative to an area root (``staging``, ``raw``, ``templates``) and read and write them
only through this module, so the same code runs on a local folder (the embedded default: the corpus home) and on
an S3-compatible object store (``FINCORPUS_WAREHOUSE=s3://bucket/prefix``). A file becomes visible complete or
not at all: locally it is written beside its name and renamed into place (atomic on POSIX); on an object store a
single PUT has the same property.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fincorpus.settings import REMOTE_SCHEMES, s3_options, storage_uri

PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3}


@lru_cache(maxsize=8)
def _s3(options: tuple[tuple[str, str], ...]) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(**dict(options))


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, base path inside it) for ``file://...`` (or a plain path) and ``s3://bucket/prefix``."""
    if uri.startswith(REMOTE_SCHEMES):
        rest = uri.split("://", 1)[1].rstrip("/")
        return _s3(tuple(sorted(s3_options().items()))), rest
    path = uri.removeprefix("file://") if uri.startswith("file://") else uri
    return pafs.LocalFileSystem(), str(Path(path).resolve())


@dataclass(frozen=True)
class Storage:
    """An area root; every name given to it is relative to that root (POSIX style, no '..')."""

    root: str | Path
    _fs: pafs.FileSystem = field(init=False, repr=False, compare=False)
    _base: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fs, base = filesystem(str(self.root) if isinstance(self.root, Path) else self.root)
        object.__setattr__(self, "_fs", fs)
        object.__setattr__(self, "_base", base)

    @property
    def remote(self) -> bool:
        return not isinstance(self._fs, pafs.LocalFileSystem)

    @property
    def uri(self) -> str:
        return f"s3://{self._base}" if self.remote else Path(self._base).as_uri()

    def _full(self, rel: str) -> str:
        parts = [p for p in rel.replace("\\", "/").split("/") if p]
        if any(p == ".." for p in parts):
            raise ValueError(f"{rel!r} is outside {self.uri}")
        return "/".join([self._base.rstrip("/"), *parts])

    def path(self, rel: str) -> Path:
        """The local path of a file (local storage only: tests and tools)."""
        if self.remote:
            raise ValueError(f"{self.uri} is an object store; open files through Storage, not by path")
        return Path(self._full(rel))

    def location(self, rel: str) -> str:
        """A printable location: a local path or an s3:// URI."""
        return f"s3://{self._full(rel)}" if self.remote else self._full(rel)

    def exists(self, rel: str) -> bool:
        return self._fs.get_file_info(self._full(rel)).type != pafs.FileType.NotFound

    def is_file(self, rel: str) -> bool:
        return self._fs.get_file_info(self._full(rel)).type == pafs.FileType.File

    def size(self, rel: str) -> int:
        return int(self._fs.get_file_info(self._full(rel)).size or 0)

    def list(self, rel: str = "", *, dirs: bool = False, recursive: bool = False) -> list[str]:
        """Names (relative to ``rel``) of the files, or the sub-folders, directly in ``rel``, sorted."""
        base = self._full(rel) if rel else self._base
        sel = pafs.FileSelector(base, allow_not_found=True, recursive=recursive)
        want = pafs.FileType.Directory if dirs else pafs.FileType.File
        out = []
        for info in self._fs.get_file_info(sel):
            if info.type == want:
                out.append(info.path[len(base) :].lstrip("/"))
        return sorted(out)

    # -- writing ---------------------------------------------------------------------------------------------
    def _atomic(self, rel: str, write: Any) -> None:
        target = self._full(rel)
        if self.remote:
            write(target)  # one PUT: the object appears complete or not at all
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = str(Path(target).with_name(f".{Path(target).name}.{uuid.uuid4().hex[:8]}.tmp"))
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def write_parquet(self, rel: str, table: pa.Table, **options: Any) -> int:
        """Write atomically; returns the size in bytes."""
        self._atomic(
            rel, lambda p: pq.write_table(table, p, filesystem=self._fs, **{**PARQUET_OPTIONS, **options})
        )
        return self.size(rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        def put(p: str) -> None:
            with self._fs.open_output_stream(p) as fh:
                fh.write(data)

        self._atomic(rel, put)

    def write_chunks(self, rel: str, chunks: Iterable[bytes]) -> None:
        """Write atomically what an iterator yields, chunk by chunk (memory: one chunk, not the file). On object
        storage the chunks go to a local temporary file first: an iterator failing half way must not leave a
        partial object (closing an upload stream publishes what it holds)."""
        if self.remote:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="fincorpus-chunks-") as tmp:
                local = Path(tmp) / "part"
                with local.open("wb") as fh:
                    for chunk in chunks:
                        fh.write(chunk)
                self.upload(local, rel)
            return

        def put(p: str) -> None:
            with self._fs.open_output_stream(p) as fh:
                for chunk in chunks:
                    fh.write(chunk)

        self._atomic(rel, put)

    def write_json(self, rel: str, data: Any) -> None:
        self.write_bytes(rel, json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8"))

    def upload(self, local: Path, rel: str) -> None:
        """Copy a local file into the area (a WARC segment from the spool)."""
        if not self.remote and Path(self._full(rel)).resolve() == local.resolve():
            return
        self._atomic(rel, lambda p: pafs.copy_files(str(local), p, destination_filesystem=self._fs))

    def remove(self, rel: str) -> None:
        """Remove a file this system wrote (callers only pass names of their own files)."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(self._full(rel))

    # -- reading ---------------------------------------------------------------------------------------------
    def read_parquet(
        self, rel: str, columns: list[str] | None = None, read_dictionary: list[str] | None = None
    ) -> pa.Table:
        return pq.read_table(
            self._full(rel), columns=columns, filesystem=self._fs, read_dictionary=read_dictionary
        )

    def iter_batches(
        self, rel: str, columns: list[str] | None = None, batch_size: int = 4096
    ) -> Iterator[pa.RecordBatch]:
        with self._fs.open_input_file(self._full(rel)) as fh:
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_size, columns=columns)

    def rows(self, rel: str) -> int:
        with self._fs.open_input_file(self._full(rel)) as fh:
            return pq.ParquetFile(fh).metadata.num_rows

    def read_bytes(self, rel: str) -> bytes:
        with self._fs.open_input_stream(self._full(rel)) as fh:
            return fh.read()

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel).decode("utf-8"))

    def open_input(self, rel: str) -> Any:
        """A seekable file (random access: a WARC record at an offset)."""
        return self._fs.open_input_file(self._full(rel))


def area(home: Path, name: str) -> Storage:
    """One shared area (``staging``, ``raw``, ``templates``) of this corpus: under the home or the warehouse."""
    return Storage(storage_uri(home).rstrip("/") + "/" + name)
