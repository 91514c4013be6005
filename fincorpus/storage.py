"""Where staged parts and other run files live: a folder of the corpus home, through pyarrow's filesystem layer.

Stages name files by paths relative to the staging root and read and write them only through this module, so the
same code works on a local folder (the embedded default) and on an object store later. A part becomes visible
complete or not at all: locally it is written beside its name and renamed into place (atomic on POSIX); on an
object store a single PUT has the same property.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "compression_level": 3}


@dataclass(frozen=True)
class Storage:
    """A root folder; every path given to it is relative to that root (POSIX style)."""

    root: Path

    def path(self, rel: str) -> Path:
        p = (self.root / rel).resolve()
        if self.root.resolve() not in (p, *p.parents):
            raise ValueError(f"{rel!r} is outside {self.root}")
        return p

    def exists(self, rel: str) -> bool:
        return self.path(rel).exists()

    def write_parquet(self, rel: str, table: pa.Table, **options: Any) -> int:
        """Write atomically; returns the size in bytes."""
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            pq.write_table(table, tmp, **{**PARQUET_OPTIONS, **options})
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target.stat().st_size

    def read_parquet(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.path(rel), columns=columns)

    def iter_batches(
        self, rel: str, columns: list[str] | None = None, batch_size: int = 4096
    ) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(self.path(rel)).iter_batches(batch_size=batch_size, columns=columns)

    def rows(self, rel: str) -> int:
        return pq.ParquetFile(self.path(rel)).metadata.num_rows

    def write_json(self, rel: str, data: Any) -> None:
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def read_json(self, rel: str) -> Any:
        return json.loads(self.path(rel).read_text(encoding="utf-8"))

    def remove(self, rel: str) -> None:
        """Remove a file this system wrote (callers only pass names of their own parts)."""
        self.path(rel).unlink(missing_ok=True)
