"""Publish: commit every staged run to the catalog as one tagged snapshot, exactly once.

Order of a publish, under the publish lock (one publisher at a time; a second gets one line naming the holder):

1. **Recover.** Runs that an earlier, interrupted publish already committed (their ids are in the snapshot
   properties) are finished: the dedup index learns their documents and their run.json says published.
2. **Commit.** The records of the staged runs, each doc_id's newest record winning, replace earlier versions of
   the same documents, in one Iceberg commit that also creates the tag (``CorpusCatalog.publish``).
3. **After the commit** (idempotent, redone by step 1 if a crash interrupts it): the dedup index is updated and
   the runs are marked published.

A crash before the commit leaves the catalog as it was (at most unreferenced data files, removed by
``fincorpus maintain``); a crash after it leaves a complete snapshot whose follow-up work the next publish does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincorpus import faults, locks
from fincorpus.catalog import erasure
from fincorpus.catalog.store import CatalogError, CorpusCatalog, TagInfo, check_tag_name
from fincorpus.dedup.index import DedupIndex, IndexedDocs
from fincorpus.dedup.near import Facts, NearConfig, prepare
from fincorpus.pipelines.ingest import near_index, pending_runs, run_meta, staging
from fincorpus.sources.frontier import catalog_engine


@dataclass(frozen=True)
class PublishResult:
    tag: TagInfo
    runs: list[str]
    documents_added: int
    removed_added: int
    recovered: list[str]  # runs an interrupted publish had committed, finished now
    already_done: bool = False  # the tag was committed by an interrupted publish of the same runs


def _mark_published(home: Path, run_id: str, tag: str, snapshot_id: int) -> None:
    meta = run_meta(home, run_id)
    meta.update(status="published", tag=tag, snapshot_id=snapshot_id)
    staging(home).write_json(f"{run_id}/run.json", meta)


def _newest(home: Path, runs: list[str]) -> tuple[pa.Array, Counter[str], list[tuple[str, pa.Array | None]]]:
    """doc ids of all records, counts by status, and per part the ids it must leave out (a newer run has them).

    Runs are read newest first: a newer fetch or decision supersedes an older one.
    """
    store = staging(home)
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    plan: list[tuple[str, pa.Array | None]] = []
    for run_id in reversed(runs):
        for rel in run_meta(home, run_id)["parts"]:
            t = store.read_parquet(rel, columns=["doc_id", "status"])
            ids = t.column("doc_id").to_pylist()
            skip = [d for d in ids if d in seen]
            keep_status = [
                s for d, s in zip(ids, t.column("status").to_pylist(), strict=True) if d not in seen
            ]
            counts.update(keep_status)
            seen.update(ids)
            plan.append((rel, pa.array(skip, pa.string()) if skip else None))
    plan.reverse()
    return pa.array(sorted(seen), pa.string()), counts, plan


def _parts(home: Path, plan: list[tuple[str, pa.Array | None]]) -> Iterator[pa.Table]:
    store = staging(home)
    for rel, skip in plan:
        t = store.read_parquet(rel)
        if skip is not None:
            t = t.filter(pc.invert(pc.is_in(t.column("doc_id"), value_set=skip)))
        yield t


def _sync_index(home: Path, index: DedupIndex, run_id: str, tag: str) -> None:
    """Kept documents of a committed run join the index (signatures from its sidecars); removed ones leave it."""
    store = staging(home)
    meta = run_meta(home, run_id)
    for rel, side_rel in zip(meta["parts"], meta.get("sidecars") or [None] * len(meta["parts"]), strict=True):
        t = store.read_parquet(rel, columns=["doc_id", "source_id", "status", "text_sha256"])
        status = t.column("status")
        gone = t.filter(pc.equal(status, "removed")).column("doc_id").to_pylist()
        if gone:
            index.remove(gone)
        kept = t.filter(pc.equal(status, "kept"))
        if kept.num_rows == 0:
            continue
        ids = kept.column("doc_id").to_pylist()
        sigs = np.full((len(ids), index.cfg.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        facts: list[Facts | None] = [None] * len(ids)
        if side_rel and store.exists(side_rel):
            side = store.read_parquet(side_rel, columns=["doc_id", "sig", "facts"])
            first: dict[str, int] = {}
            for k, d in enumerate(side.column("doc_id").to_pylist()):
                first.setdefault(d, k)
            blobs, fblobs = side.column("sig").to_pylist(), side.column("facts").to_pylist()
            for k, d in enumerate(ids):
                j = first.get(d)
                if j is not None:
                    sigs[k] = np.frombuffer(blobs[j], dtype=np.uint32)
                    facts[k] = Facts.from_bytes(fblobs[j])
        index.add(
            IndexedDocs(
                ids, kept.column("source_id").to_pylist(), sigs, facts, kept.column("text_sha256").to_pylist()
            ),
            tag,
        )


def _finish(home: Path, catalog: CorpusCatalog, runs: list[str], committed: dict[str, str]) -> None:
    """After-commit work for committed runs, idempotent: index update, then run.json marked published."""
    if not runs:
        return
    tags = {t.tag: t for t in catalog.tags()}
    index = near_index(home)
    try:
        for run_id in runs:
            _sync_index(home, index, run_id, committed[run_id])
        current = catalog.snapshot_id(None)
        if current is not None:
            index.set_synced(str(current))
    finally:
        index.close()
    faults.point("publish.after-index")
    for run_id in runs:
        tag = committed[run_id]
        info = tags.get(tag)
        _mark_published(home, run_id, tag, info.snapshot_id if info else -1)


def recover(home: Path, catalog: CorpusCatalog) -> list[str]:
    """Finish publishes that committed but did not get to their follow-up work; returns the runs finished."""
    committed = catalog.committed_runs()
    todo = [r for r in pending_runs(home) if r in committed]
    _finish(home, catalog, todo, committed)
    return todo


def publish(home: Path, tag: str, force: bool = False, allow_empty: bool = False) -> PublishResult:
    check_tag_name(tag)  # refuse before touching anything
    engine = catalog_engine(home)
    with locks.hold(engine, "publish", f"fincorpus publish --tag {tag}", what="the publish lock"):
        catalog = CorpusCatalog(home)
        recovered = recover(home, catalog)
        tags = {t.tag: t for t in catalog.tags()}
        runs = pending_runs(home)
        if tag in tags and not force:
            done = [r for r in recovered if catalog.committed_runs().get(r) == tag]
            if done and not runs:
                return PublishResult(tags[tag], done, 0, 0, recovered, already_done=True)
            raise CatalogError(f"tag {tag!r} already exists; choose a new tag or pass --force to move it")
        held = erasure.publish_exclusions(home, catalog)  # takedown hook: covered documents become tombstones
        if not runs and not held:
            if not allow_empty:
                raise CatalogError(
                    "nothing staged to publish; run `fincorpus ingest` first "
                    "(or pass --allow-empty to tag the current state)"
                )
            info = catalog.tag_current(tag, force=force)
            return PublishResult(info, [], 0, 0, recovered)
        ids, counts, plan = _newest(home, runs)
        parts, ids, counts = held.wrap(home, plan, ids, counts, _parts(home, plan))  # takedown hook
        info = catalog.publish(tag, parts, ids, runs, counts, force=force)
        faults.point("publish.after-commit")
        _finish(home, catalog, runs, {r: tag for r in runs})
        erasure.after_publish(home)  # takedown hook: covered documents leave the dedup index
        return PublishResult(info, runs, counts.get("kept", 0), counts.get("removed", 0), recovered)


def rebuild_near_index(home: Path, cfg: NearConfig | None = None) -> int:
    """Rebuild the dedup index from the catalog's current documents; returns how many documents it holds."""
    catalog = CorpusCatalog(home, create=False)
    index = near_index(home)
    try:
        index.clear()
        snap = catalog.snapshot_id(None)
        n = 0
        for batch in catalog.batches(None, columns=("doc_id", "source_id", "text", "text_sha256")):
            t = pa.Table.from_batches([batch])
            texts = t.column("text").to_pylist()
            prepared = [prepare(x, index.cfg) if x else None for x in texts]
            sigs = (
                np.stack(
                    [
                        p.sig
                        if p is not None
                        else np.full(index.cfg.num_perm, np.iinfo(np.uint32).max, np.uint32)
                        for p in prepared
                    ]
                )
                if prepared
                else np.zeros((0, index.cfg.num_perm), np.uint32)
            )
            index.add(
                IndexedDocs(
                    t.column("doc_id").to_pylist(),
                    t.column("source_id").to_pylist(),
                    sigs,
                    [p.facts if p is not None and p.size else None for p in prepared],
                    t.column("text_sha256").to_pylist(),
                ),
                "rebuilt",
            )
            n += t.num_rows
        if snap is not None:
            index.set_synced(str(snap))
        return n
    finally:
        index.close()
