"""Rows of Parquet/JSONL files or `datasets` datasets, mapped to documents by a declared column mapping.

Each row is archived as a WARC resource record holding the row as JSON, so a dataset document has a raw_ref and
raw_sha256 like a fetched page. Rows are committed one at a time; a resumed pass skips committed rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fincorpus.sources.archive import WarcArchive
from fincorpus.sources.base import CrawlEvent, ItemMeta
from fincorpus.sources.frontier import Completion, CrawlState, stored_version
from fincorpus.sources.registry import DatasetConfig, SourceConfig

RECORD_TYPE = "application/x-fincorpus-record+json"


def _rows_from_path(path: Path, split: str) -> Iterator[dict[str, Any]]:
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split]
        yield from ds
        return
    files = (
        sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".jsonl", ".json"))
        if path.is_dir()
        else [path]
    )
    if not files:
        raise FileNotFoundError(f"no .parquet, .jsonl or .json files in {path}")
    for f in files:
        if f.suffix == ".parquet":
            for batch in pq.ParquetFile(f).iter_batches(batch_size=1000):
                yield from batch.to_pylist()
        else:
            yield from pajson.read_json(f).to_pylist()


def iter_rows(cfg: DatasetConfig, base_dir: Path) -> Iterator[dict[str, Any]]:
    if cfg.hub:
        import datasets

        yield from datasets.load_dataset(cfg.hub, split=cfg.split, streaming=True)
        return
    path = Path(cfg.path or "")
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        raise FileNotFoundError(f"dataset path {path} does not exist")
    yield from _rows_from_path(path, cfg.split)


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime | date) else v


class DatasetReader:
    def __init__(
        self, source: SourceConfig, home: Path, state: CrawlState, pass_id: str, base_dir: Path
    ) -> None:
        assert source.dataset is not None
        self.source = source
        self.cfg = source.dataset
        self.state = state
        self.pass_id = pass_id
        self.base_dir = base_dir
        self.archive = WarcArchive(home, f"raw/{pass_id}/{source.id}-{state.segment(pass_id):03d}.warc.gz")

    def run(self) -> None:
        done = self.state.done_urls(self.pass_id)
        cfg = self.cfg
        for i, row in enumerate(iter_rows(cfg, self.base_dir)):
            if cfg.text not in row:
                raise ValueError(
                    f"source {self.source.id!r}: column {cfg.text!r} (dataset.text) not in the data; columns: {sorted(row)}"
                )
            native = str(row[cfg.id]) if cfg.id and row.get(cfg.id) is not None else str(i)
            url = (
                str(row[cfg.url]) if cfg.url and row.get(cfg.url) else f"dataset://{self.source.id}/{native}"
            )
            if url in done:
                continue
            if len(done) >= self.source.max_pages:
                return
            body = json.dumps(
                {k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False, sort_keys=True
            ).encode()
            self.state.record(
                self.pass_id, self.source.id, url, "dataset", self._completion(url, native, row, body)
            )
            done.add(url)

    def _completion(self, url: str, native: str, row: dict[str, Any], body: bytes) -> Completion:
        now = datetime.now(UTC)
        memory = self.state.page(self.source.id, url)
        sha = hashlib.sha256(body).hexdigest()
        if memory is not None and memory.raw_sha256 == sha:
            return Completion(
                "unchanged",
                [],
                [CrawlEvent(url, "unchanged", "row equals the stored version", at=now.isoformat())],
                page=memory,
            )
        rec = self.archive.write_resource(url=url, fetched_at=now, content_type=RECORD_TYPE, body=body)
        cfg = self.cfg
        published = row.get(cfg.published) if cfg.published else None
        event = CrawlEvent(url, "fetched", "dataset row", None, now.isoformat(), {"raw_ref": rec.raw_ref})
        item = ItemMeta(
            title=str(row[cfg.title]) if cfg.title and row.get(cfg.title) else None,
            published=str(_jsonable(published)) if published else None,
            native_id=native,
        )
        return stored_version(
            source_id=self.source.id,
            url=url,
            content_type=RECORD_TYPE,
            headers={"content-type": RECORD_TYPE},
            fetched_at=now,
            record=rec,
            via="dataset",
            memory=memory,
            event=event,
            item=item,
        )

    def close(self) -> None:
        self.archive.close()
