"""The TC260-003 5.1 source gate, wired to runs and snapshots.

- **Pre-assessment** (:func:`pre_assess_run`, after a run is staged): each source of the run that has no
  pre-assessment yet (its first crawl) is screened on a statistically sized random sample of the kept records of
  the run's final parts (``safety.sample_size``: ±2 % around 5 % at 95 %, finite-population corrected).
- **Post-verification** (:func:`post_verify`, after a publish): each source of the published runs is screened on
  a sample of its kept documents in the new tag.

A report is written twice: the latest per source and stage in ``<home>/compliance/gate-<source>-<stage>.json``
(and ``.md``, the safety module's writer), which is what pulls read, and a copy kept with its run
(``staging/<run>/``, through the staging store, so on the warehouse when staging is there) or tag
(``compliance/tags/<tag>/``). The latest report of a source, by time, decides:
above 5 % blocks the source for training (:func:`training_blocks`), and a later report that passes lifts it.

Seeds are derived from the source and the run or tag (SHA-256), so a re-run screens the same sample; the seed is
in the report. Texts are read for the sampled documents only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from fincorpus.safety import (
    Classifier,
    ScreenDoc,
    SourceGateReport,
    assess_sample,
    read_gate_report,
    write_gate_report,
)
from fincorpus.safety import training_blocks as _blocks
from fincorpus.storage import Storage, area

if TYPE_CHECKING:
    from fincorpus.catalog.erasure import Denylist

GATE_DIR = "compliance"
COLUMNS = ["doc_id", "source_id", "status", "title", "text", "canonical_url"]


def gate_dir(home: Path) -> Path:
    return home / GATE_DIR


def _seed(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode("utf-8")).hexdigest()[:8], 16)


def reports(home: Path, source_id: str | None = None) -> list[SourceGateReport]:
    """The latest report of each source and stage (oldest first)."""
    folder = gate_dir(home)
    if not folder.is_dir():
        return []
    pattern = f"gate-{source_id}-*.json" if source_id else "gate-*.json"
    found = [read_gate_report(p) for p in sorted(folder.glob(pattern))]
    return sorted((r for r in found if source_id is None or r.source_id == source_id), key=lambda r: r.at)


def training_blocks(home: Path) -> dict[str, str]:
    """source id -> reason, for sources whose latest gate report blocks training (read at pull time)."""
    return _blocks(reports(home))


def _staging(home: Path) -> Storage:
    return area(home, "staging")  # pipelines.ingest.staging (ingest imports the catalog, which imports this)


def _write(home: Path, report: SourceGateReport, copy_to: Path) -> None:
    write_gate_report(report, gate_dir(home))
    write_gate_report(report, copy_to)


def _write_with_run(home: Path, report: SourceGateReport, run_id: str) -> None:
    """The latest report under the home, and its copy beside the run's files in the staging store."""
    write_gate_report(report, gate_dir(home))
    stem = f"{run_id}/gate-{report.source_id}-{report.stage}"
    store = _staging(home)
    store.write_json(f"{stem}.json", report.to_json())
    store.write_bytes(f"{stem}.md", report.markdown().encode("utf-8"))


# -- pre-assessment over a staged run -----------------------------------------------------------------------------


def _run_parts(home: Path, run_id: str) -> list[str]:
    """The run's final parts, relative to the staging store."""
    return list(_staging(home).read_json(f"{run_id}/run.json")["parts"])


def _staged_ids(store: Storage, parts: Sequence[str]) -> dict[str, pa.ChunkedArray]:
    """source id -> doc ids of the run's kept records (small columns only, kept in Arrow: a run of 1M documents
    made ~100 MB of Python strings)."""
    found: dict[str, list[pa.Array]] = {}
    for rel in parts:
        t = store.read_parquet(rel, columns=["doc_id", "source_id", "status"])
        t = t.filter(pc.equal(t.column("status"), "kept"))
        for s in pc.unique(t.column("source_id")).to_pylist():
            ids = t.filter(pc.equal(t.column("source_id"), s)).column("doc_id")
            found.setdefault(s, []).extend(ids.chunks)
    return {s: pa.chunked_array(chunks, pa.string()) for s, chunks in found.items()}


def _staged_loader(store: Storage, parts: Sequence[str]):  # type: ignore[no-untyped-def]
    def load(ids: Sequence[str]) -> Mapping[str, ScreenDoc]:
        wanted = pa.array(sorted(ids), pa.string())
        docs: dict[str, ScreenDoc] = {}
        for rel in parts:
            for b in store.iter_batches(rel, columns=COLUMNS):  # batch by batch; sampled rows become Python
                t = pa.Table.from_batches([b])
                t = t.filter(pc.fill_null(pc.is_in(t.column("doc_id"), value_set=wanted), False))
                for r in t.to_pylist():
                    if r["status"] == "kept":
                        docs[r["doc_id"]] = ScreenDoc(
                            r["doc_id"], r["text"] or "", r["title"], r["canonical_url"]
                        )
        return docs

    return load


def pre_assess_run(
    home: Path, run_id: str, *, classifier: Classifier | None = None, again: bool = False
) -> list[SourceGateReport]:
    """Screen each source of a staged run that has no pre-assessment yet (``again``: every source)."""
    store = _staging(home)
    parts = _run_parts(home, run_id)
    done = {r.source_id for r in reports(home) if r.stage == "pre-assessment"}
    out = []
    for source_id, ids in sorted(_staged_ids(store, parts).items()):
        if source_id in done and not again:
            continue
        report = assess_sample(
            source_id,
            ids,
            _staged_loader(store, parts),
            stage="pre-assessment",
            seed=_seed(source_id, run_id),
            classifier=classifier,
        )
        _write_with_run(home, report, run_id)
        out.append(report)
    return out


# -- post-verification over a tag -----------------------------------------------------------------------------------


def _tag_sources(home: Path, tag: str) -> list[str]:
    """Sources of the runs the tag's publish committed (from their run.json), else every source in the tag."""
    from fincorpus.catalog.store import CorpusCatalog

    catalog = CorpusCatalog(home, create=False)
    info = catalog.tag(tag)
    store = _staging(home)
    found: set[str] = set()
    for run_id in info.runs:
        if store.is_file(f"{run_id}/run.json"):
            found |= set(store.read_json(f"{run_id}/run.json").get("summary", {}).get("by_source", {}))
    if found:
        return sorted(found)
    for b in catalog.batches(tag, columns=("source_id",)):
        found |= set(b.column(0).to_pylist())
    return sorted(found)


def _not_held(ids: pa.Array, holds: Denylist, source_id: str) -> pa.Array:
    """The ids no takedown covers (checked one by one only when there are holds)."""
    if not holds:
        return ids
    keep = [holds.hold_for(d, source_id) is None for d in ids.to_pylist()]
    return ids.filter(pa.array(keep, pa.bool_()))


def post_verify(
    home: Path, tag: str, sources: Sequence[str] | None = None, *, classifier: Classifier | None = None
) -> list[SourceGateReport]:
    """Screen each source's published documents in ``tag`` (default: the sources of the tag's runs).

    Documents a takedown covers are not part of the corpus any more and are left out of the population.
    """
    from pyiceberg.expressions import EqualTo, In

    from fincorpus.catalog.erasure import denylist
    from fincorpus.catalog.store import CorpusCatalog

    catalog = CorpusCatalog(home, create=False)
    holds = denylist(home)
    out = []
    for source_id in sources or _tag_sources(home, tag):
        ids = pa.chunked_array(
            [
                _not_held(b.column(0).cast(pa.string()), holds, source_id)
                for b in catalog.batches(tag, row_filter=EqualTo("source_id", source_id), columns=("doc_id",))
            ],
            pa.string(),
        )
        if len(ids) == 0:
            continue

        def load(picked: Sequence[str], source_id: str = source_id) -> Mapping[str, ScreenDoc]:
            docs: dict[str, ScreenDoc] = {}
            for chunk in (list(picked)[i : i + 2000] for i in range(0, len(picked), 2000)):
                for b in catalog.batches(tag, row_filter=In("doc_id", chunk), columns=COLUMNS):
                    for r in b.to_pylist():
                        docs[r["doc_id"]] = ScreenDoc(
                            r["doc_id"], r["text"] or "", r["title"], r["canonical_url"]
                        )
            return docs

        report = assess_sample(
            source_id, ids, load, stage="post-verification", seed=_seed(source_id, tag), classifier=classifier
        )
        _write(home, report, gate_dir(home) / "tags" / tag)
        out.append(report)
    return out
