"""Publish: commit every staged run to the catalog under a tag, then mark the runs published."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fincorpus.catalog.store import CatalogError, CorpusCatalog, TagInfo
from fincorpus.pipelines.ingest import pending_runs
from fincorpus.schema import DOCUMENT_SCHEMA, REMOVED_SCHEMA


@dataclass(frozen=True)
class PublishResult:
    tag: TagInfo
    runs: list[str]
    documents_added: int
    removed_added: int


def _newest_rows(runs: list[Path]) -> tuple[pa.Table, pa.Table]:
    """Each doc_id's row from the newest run that mentions it, in whichever table that run put it.

    A newer fetch supersedes an older one; a document a later run removed (say, now a duplicate) leaves the
    documents table, and one a later run kept leaves the removed table.
    """
    tables = [(pq.read_table(r / "documents.parquet"), pq.read_table(r / "removed.parquet")) for r in runs]
    newest: dict[str, tuple[int, int]] = {}
    for i, pair in enumerate(tables):
        for which, t in enumerate(pair):
            for doc_id in t["doc_id"].to_pylist():
                newest[doc_id] = (i, which)
    out: list[list[pa.Table]] = [[], []]
    for i, pair in enumerate(tables):
        for which, t in enumerate(pair):
            keep = [newest[d] == (i, which) for d in t["doc_id"].to_pylist()]
            out[which].append(t.filter(pa.array(keep, type=pa.bool_())))
    docs = pa.concat_tables(out[0]) if out[0] else DOCUMENT_SCHEMA.empty_table()
    removed = pa.concat_tables(out[1]) if out[1] else REMOVED_SCHEMA.empty_table()
    return docs, removed


def update_near_index(home: Path, tag: str, docs: pa.Table, removed: pa.Table) -> None:
    """Published documents join the near-duplicate index; documents that left the corpus leave it.

    Runs after the catalog commit; if it fails, `fincorpus dedup-index --rebuild` rebuilds the index from the
    catalog, which stays the source of truth.
    """
    from fincorpus.dedup.near import prepare
    from fincorpus.pipelines.ingest import near_index

    index = near_index(home)
    try:
        index.remove(removed["doc_id"].to_pylist())
        rows = [r for r in docs.select(["doc_id", "source_id", "text"]).to_pylist() if r["text"]]
        for start in range(0, len(rows), 5000):
            part = rows[start : start + 5000]
            prepared = [prepare(r["text"], index.cfg) for r in part]
            sigs = np.stack([p.sig for p in prepared])
            index.add(
                [r["doc_id"] for r in part],
                [r["source_id"] for r in part],
                sigs,
                [p.facts for p in prepared],
                tag,
            )
    finally:
        index.close()


def rebuild_near_index(home: Path) -> int:
    """Rebuild the index from the catalog's current documents; returns how many documents it holds."""
    from fincorpus.dedup.index import RedisNearIndex
    from fincorpus.pipelines.ingest import near_index

    index = near_index(home)
    if isinstance(index, RedisNearIndex):
        for key in index.r.scan_iter(f"{index.prefix}:*"):
            index.r.delete(key)
        index.close()
    else:
        index.close()
        path = index.path
        for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            f.unlink(missing_ok=True)
    catalog = CorpusCatalog(home)
    table = catalog.documents
    if table.current_snapshot() is None:
        return 0
    docs = table.scan(selected_fields=("doc_id", "source_id", "text")).to_arrow()
    update_near_index(home, "rebuilt", docs, REMOVED_SCHEMA.empty_table())
    return docs.num_rows


def publish(home: Path, tag: str, force: bool = False, allow_empty: bool = False) -> PublishResult:
    catalog = CorpusCatalog(home)
    catalog.check_tag_free(tag, force)  # refuse before reading anything
    runs = pending_runs(home)
    if not runs and not allow_empty:
        raise CatalogError(
            "nothing staged to publish; run `fincorpus ingest` first (or pass --allow-empty to tag the current state)"
        )
    docs, removed = _newest_rows(runs)
    info = catalog.publish(tag, docs, removed, force=force)
    update_near_index(home, tag, docs, removed)
    for r in runs:
        meta_path = r / "run.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta.update(status="published", tag=tag, snapshot_id=info.snapshot_id)
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(meta_path)
    return PublishResult(info, [r.name for r in runs], docs.num_rows, removed.num_rows)
