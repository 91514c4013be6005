"""Rows of Parquet/JSONL files or `datasets` datasets, mapped to documents by a declared column mapping.

Each row is archived as a WARC resource record holding the row as JSON, so a dataset document has a raw_ref and
raw_sha256 like a fetched page. Rows are streamed (Parquet batch by batch, JSON lines line by line: memory holds a
batch and the 8-byte URL keys of the file being read, never the dataset) and committed in batches
(:mod:`fincorpus.sources.batch`). A Parquet/JSONL file read to the end is remembered; the next pass skips it whole
while its size, SHA-256 and the column mapping are unchanged (an appended ``part-N.parquet`` costs only its own
rows). Every row of every other file is read on every pass, ``max_pages`` counts new or changed rows, and a pass
the limit stopped is continued by the next ingest. Hub datasets and ``save_to_disk`` folders are read whole.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fincorpus.sources.base import CrawlEvent, CrawlReport, ItemMeta
from fincorpus.sources.batch import BATCH_ROWS, Candidate, FileRead, FileUnchanged, RecordReader
from fincorpus.sources.frontier import InputFile, url_key
from fincorpus.sources.registry import DatasetConfig

RECORD_TYPE = "application/x-fincorpus-record+json"
_READ_CHUNK = 1 << 20


@dataclass
class RawRow:
    """A row as read, or why a line could not be read (bad JSON, too long): the reader logs it and goes on."""

    where: str  # file name and line or row number, for the crawl log
    row: dict[str, Any] | None
    problem: str | None = None
    outcome: str = "error"


def _jsonl_rows(path: Path, max_line_bytes: int) -> Iterator[RawRow]:
    """JSON lines, one at a time; a line longer than ``max_line_bytes`` is skipped without being held in memory."""
    with open(path, "rb") as fh:
        lineno = 0
        while True:
            line = fh.readline(max_line_bytes + 1)
            if not line:
                return
            lineno += 1
            where = f"{path.name} line {lineno}"
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                size = len(line)
                while chunk := fh.readline(_READ_CHUNK):  # skip the rest of the line in bounded reads
                    size += len(chunk)
                    if chunk.endswith(b"\n"):
                        break
                yield RawRow(
                    where,
                    None,
                    f"line of {size:,} bytes > max_document_bytes={max_line_bytes:,}",
                    "skipped-size",
                )
                continue
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield RawRow(where, None, f"not a JSON line: {exc}")
                continue
            if not isinstance(value, dict):
                yield RawRow(where, None, f"a JSON {type(value).__name__}, not an object")
                continue
            yield RawRow(where, value)


def _parquet_rows(path: Path) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    n = 0
    # Buffered, unprefetched reads: a row group (the unit Parquet is written in, often the whole file) is decoded
    # page by page instead of being loaded at once (100k rows of 1.7 KB in one row group: 137 MB peak, not 213).
    pf = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            n += 1
            yield RawRow(f"{path.name} row {n}", row)


def _saved_dataset(path: Path) -> bool:
    return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()


def dataset_files(path: Path) -> list[Path]:
    """The Parquet and JSON-lines files of a file or folder path, in the order their rows are read."""
    files = (
        sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".jsonl", ".json") and p.is_file())
        if path.is_dir()
        else [path]
    )
    if not files:
        raise FileNotFoundError(f"no .parquet, .jsonl or .json files in {path}")
    return files


def rows_of_file(f: Path, max_bytes: int) -> Iterator[RawRow]:
    return _parquet_rows(f) if f.suffix == ".parquet" else _jsonl_rows(f, max_bytes)


def _rows_from_path(path: Path, split: str, max_bytes: int) -> Iterator[RawRow]:
    if _saved_dataset(path):
        import datasets

        ds = datasets.load_from_disk(str(path))  # memory-mapped Arrow: iterating does not load it
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
        for i, row in enumerate(ds, 1):
            yield RawRow(f"{path.name} row {i}", row)
        return
    for f in dataset_files(path):
        yield from rows_of_file(f, max_bytes)


def _file_sha256(f: Path) -> str:
    with open(f, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def iter_rows(cfg: DatasetConfig, base_dir: Path, max_bytes: int = 50_000_000) -> Iterator[RawRow]:
    if cfg.hub:
        import datasets

        for i, row in enumerate(datasets.load_dataset(cfg.hub, split=cfg.split, streaming=True), 1):
            yield RawRow(f"{cfg.hub} row {i}", row)
        return
    path = Path(cfg.path or "")
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise FileNotFoundError(f"dataset path {path} does not exist")
    yield from _rows_from_path(path, cfg.split, max_bytes)


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime | date) else v


class DatasetReader(RecordReader):
    label = "row"

    @property
    def cfg(self) -> DatasetConfig:
        assert self.source.dataset is not None
        return self.source.dataset

    def run(self) -> CrawlReport:
        cfg = self.cfg
        path = Path(cfg.path or "")
        path = path if path.is_absolute() else self.base_dir / path
        if cfg.hub or not path.exists() or _saved_dataset(path):  # one stream of rows, read every time
            rows = iter_rows(cfg, self.base_dir, self.source.max_document_bytes)
            return self._run(self._candidate(seq, raw) for seq, raw in enumerate(rows, 1))
        return self._run(self._by_file(path))

    def _settings(self) -> str:
        """What decides how a file's rows become documents: a change reads every file again."""
        return json.dumps(
            {
                "dataset": self.cfg.model_dump(),
                "max_document_bytes": self.source.max_document_bytes,
                "reader": 1,
            },
            sort_keys=True,
        )

    def _by_file(self, path: Path) -> Iterator[Candidate | FileRead | FileUnchanged]:
        """Each file's rows then a FileRead, or one FileUnchanged for a remembered file of the same size, content
        and mapping. Positions (seq) run on across files either way, so a resumed pass finds its records again."""
        settings = self._settings()
        seq = 0
        for f in dataset_files(path):
            rel = f.relative_to(path).as_posix() if path.is_dir() else f.name
            size = f.stat().st_size
            known = self.state.input_file(self.source.id, rel)
            sha = None
            if known is not None and known.size == size and known.settings == settings:
                sha = _file_sha256(f)
                if sha == known.sha256:
                    yield FileUnchanged(known)
                    seq += known.records
                    continue
            sha = sha or _file_sha256(f)
            keys = array("Q")
            n = 0
            for raw in rows_of_file(f, self.source.max_document_bytes):
                n += 1
                cand = self._candidate(seq + n, raw)
                keys.append(url_key(cand.url))
                yield cand
            seq += n
            if f.stat().st_size != size:  # written to while it was read: not remembered
                continue
            ordered = np.unique(np.frombuffer(keys, dtype=np.uint64)).astype("<u8")
            yield FileRead(InputFile(rel, size, sha, n, settings, self.pass_id, ordered.tobytes()))

    def _candidate(self, seq: int, raw: RawRow) -> Candidate:
        cfg = self.cfg
        row = raw.row
        if row is None:
            url = f"dataset://{self.source.id}/#{seq}"
            ev = CrawlEvent(url, raw.outcome, f"{raw.where}: {raw.problem}")
            return Candidate(url, seq, "dataset", RECORD_TYPE, 0, early=ev)
        if cfg.text not in row:
            raise ValueError(
                f"source {self.source.id!r}: column {cfg.text!r} (dataset.text) not in the data "
                f"({raw.where}); columns: {sorted(row)}"
            )
        native = str(row[cfg.id]) if cfg.id and row.get(cfg.id) is not None else str(seq - 1)
        url = str(row[cfg.url]) if cfg.url and row.get(cfg.url) else f"dataset://{self.source.id}/{native}"
        body = json.dumps(
            {k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True
        ).encode()
        limit = self.source.max_document_bytes
        if len(body) > limit:
            ev = CrawlEvent(
                url, "skipped-size", f"{raw.where}: {len(body):,} bytes > max_document_bytes={limit:,}"
            )
            return Candidate(url, seq, "dataset", RECORD_TYPE, len(body), early=ev)
        published = row.get(cfg.published) if cfg.published else None
        item = ItemMeta(
            title=str(row[cfg.title]) if cfg.title and row.get(cfg.title) else None,
            published=str(_jsonable(published)) if published else None,
            native_id=native,
        )
        return Candidate(
            url, seq, "dataset", RECORD_TYPE, len(body), body=body, item=item, detail="dataset row"
        )
