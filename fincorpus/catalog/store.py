"""Versioned corpus storage: one Iceberg table of records (kept and removed) in a PyIceberg SQL catalog.

Embedded default: SQLite catalog + local warehouse under FINCORPUS_HOME. Every record a run produced is a row of
``fincorpus.corpus`` with ``status`` kept or removed, so a publish is **one** Iceberg commit: the new records'
data files, the rewrite of the data files that held earlier versions of the same documents, the snapshot
properties naming the runs it contains, and the tag, all in one metadata update that the catalog swaps in
atomically. Readers see a publish entirely or not at all, and a crash at any moment leaves every existing tag
exactly as it was (its snapshot and the files it references are never rewritten).

Incremental cost: documents new to the table are appended without touching existing files; only the data files
that hold documents re-emitted by the publish (changed pages, changed dedup decisions) are rewritten. Finding
those files reads the ``doc_id`` column of the current files, a few bytes per document.

Reads: scans push filters into PyIceberg (file pruning by column statistics, Parquet row-group filtering; files
are written sorted by ``doc_id`` in small row groups, so a lookup by id reads one row group per file) and stream
record batches.
"""

from __future__ import annotations

import itertools
import re
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo, Or
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.snapshots import Snapshot

from fincorpus import faults
from fincorpus.catalog.fileio import catalog_properties
from fincorpus.schema import RECORD_SCHEMA, SCHEMA_VERSION, conform
from fincorpus.settings import catalog_is_sqlite, catalog_uri, storage_is_remote

NAMESPACE = "fincorpus"
TABLE = "corpus"
LEGACY_TABLES = ("documents", "removed")
TABLE_PROPERTIES = {
    # zstd level 3 measured 2.3x on Chinese text; Parquet files are what model teams download.
    "write.parquet.compression-codec": "zstd",
    "write.parquet.compression-level": "3",
    # Small row groups: a lookup by doc_id (files are sorted by it) reads one group of each file.
    "write.parquet.row-group-limit": "4096",
    "fincorpus.schema_version": SCHEMA_VERSION,
}
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RESERVED_TAGS = frozenset({"main", "HEAD", "current", "latest"})
PROP_TAG, PROP_RUNS, PROP_KEPT, PROP_REMOVED = (
    "fincorpus.tag",
    "fincorpus.runs",
    "fincorpus.kept",
    "fincorpus.removed",
)


class CatalogError(ValueError):
    """A catalog operation was refused; nothing was changed."""


@dataclass(frozen=True)
class TagInfo:
    tag: str
    snapshot_id: int
    documents: int
    removed: int
    committed_at: datetime
    runs: tuple[str, ...] = ()


def check_tag_name(tag: str) -> None:
    if not _TAG_RE.fullmatch(tag):
        raise CatalogError(
            f"tag {tag!r} is not valid: use letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(at most 100 characters)"
        )
    if tag in RESERVED_TAGS:
        raise CatalogError(f"tag {tag!r} is reserved (a branch or alias name); choose another tag")


def _props(snap: Snapshot | None) -> dict[str, str]:
    if snap is None or snap.summary is None:
        return {}
    return dict(snap.summary.additional_properties)


def _committed_at(snap: Snapshot | None, props: dict[str, str]) -> datetime:
    # takedown hook: a snapshot a purge replaced keeps its tag's original commit time (catalog/erasure.py)
    if "fincorpus.committed_at" in props:
        return datetime.fromisoformat(props["fincorpus.committed_at"])
    return datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC) if snap else datetime.now(UTC)


class CorpusCatalog:
    def __init__(self, home: Path, *, create: bool = True) -> None:
        self.home = home
        db = home / "catalog.db"
        if not create and catalog_is_sqlite(home) and not db.is_file():
            raise CatalogError(
                f"no corpus catalog at {home} (no catalog.db); check --home / FINCORPUS_HOME, or run "
                "`fincorpus ingest` and `fincorpus publish` to create one"
            )
        home.mkdir(parents=True, exist_ok=True)
        if not storage_is_remote(home):
            (home / "warehouse").mkdir(parents=True, exist_ok=True)
        self.catalog = SqlCatalog("fincorpus", uri=catalog_uri(home), **catalog_properties(home))
        self.catalog.create_namespace_if_not_exists(NAMESPACE)
        self._cached: Table | None = None

    # -- the table ----------------------------------------------------------------------------------------
    @property
    def table(self) -> Table:
        if self._cached is None:
            self._cached = self._load()
        return self._cached

    def refresh(self) -> Table:
        self._cached = self._load()
        return self._cached

    def _load(self) -> Table:
        ident = f"{NAMESPACE}.{TABLE}"
        try:
            table = self.catalog.load_table(ident)
        except NoSuchTableError:
            legacy = [n for n in LEGACY_TABLES if self.catalog.table_exists(f"{NAMESPACE}.{n}")]
            if legacy:
                raise CatalogError(
                    f"{self.home} holds a catalog written by an earlier fincorpus (tables {legacy}); run "
                    "`fincorpus migrate` once to copy its tags into the current table layout"
                ) from None
            return self.catalog.create_table_if_not_exists(
                ident, schema=RECORD_SCHEMA, properties=TABLE_PROPERTIES
            )
        if table.properties.get("fincorpus.schema_version") != SCHEMA_VERSION:
            # Tables written by an older schema gain the new (nullable) columns; old snapshots stay readable.
            with table.transaction() as tx:
                with tx.update_schema() as update:
                    update.union_by_name(RECORD_SCHEMA)
                tx.set_properties(TABLE_PROPERTIES)
            table = self.catalog.load_table(ident)
        return table

    # -- tags ---------------------------------------------------------------------------------------------
    def tags(self) -> list[TagInfo]:
        table = self.table
        out = []
        for name, ref in table.refs().items():
            if ref.snapshot_ref_type != SnapshotRefType.TAG:
                continue
            snap = table.snapshot_by_id(ref.snapshot_id)
            props = _props(snap)
            out.append(
                TagInfo(
                    name,
                    ref.snapshot_id,
                    int(props.get(PROP_KEPT, 0)),
                    int(props.get(PROP_REMOVED, 0)),
                    _committed_at(snap, props),
                    tuple(r for r in props.get(PROP_RUNS, "").split(",") if r),
                )
            )
        return sorted(out, key=lambda t: (t.committed_at, t.tag))

    def tag(self, tag: str) -> TagInfo:
        for t in self.tags():
            if t.tag == tag:
                return t
        known = ", ".join(t.tag for t in self.tags()) or "none yet"
        raise CatalogError(f"unknown tag {tag!r} (known tags: {known}); list them with `fincorpus snapshots`")

    def snapshot_id(self, tag: str | None) -> int | None:
        """The snapshot of ``tag``, or of the current state when ``tag`` is None (None: nothing published)."""
        if tag is None:
            snap = self.table.current_snapshot()
            return snap.snapshot_id if snap else None
        return self.tag(tag).snapshot_id

    def check_tag_free(self, tag: str, force: bool) -> None:
        check_tag_name(tag)
        if tag in self.table.refs() and not force:
            raise CatalogError(f"tag {tag!r} already exists; choose a new tag or pass --force to move it")

    def committed_runs(self) -> dict[str, str]:
        """run id -> tag of every run committed by a publish (from the snapshot properties, oldest first)."""
        out: dict[str, str] = {}
        for snap in sorted(self.table.metadata.snapshots, key=lambda s: s.timestamp_ms):
            props = _props(snap)
            for r in props.get(PROP_RUNS, "").split(","):
                if r:
                    out[r] = props.get(PROP_TAG, "")
        return out

    # -- reading ------------------------------------------------------------------------------------------
    def _filter(self, status: str | None, row_filter: BooleanExpression | None) -> BooleanExpression:
        expr: BooleanExpression = row_filter if row_filter is not None else AlwaysTrue()
        if status is not None:
            expr = (
                EqualTo("status", status)
                if isinstance(expr, AlwaysTrue)
                else expr & EqualTo("status", status)
            )
        return expr

    def batches(
        self,
        tag: str | None,
        *,
        status: str | None = "kept",
        row_filter: BooleanExpression | None = None,
        columns: Iterable[str] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Stream the records of a snapshot (``tag`` None: the current state), filters pushed into the scan."""
        snap_id = self.snapshot_id(tag)
        if snap_id is None:
            return
        cols = tuple(columns) if columns is not None else ("*",)
        scan = self.table.scan(
            row_filter=self._filter(status, row_filter), snapshot_id=snap_id, selected_fields=cols
        )
        # One data file at a time: PyIceberg's reader maps every file of the scan onto its thread pool at once and
        # each task lists its file's batches, so a consumer slower than the reads (a pull writing Parquet) held
        # most of the snapshot (apache/iceberg-python#3036; 698 MB at 106k rows, 1,382 MB at 318k).
        try:  # PyIceberg 0.12's own per-task reader (private; older releases we allow lack it)
            from pyiceberg.table import _to_arrow_batch_reader_via_file_scan_tasks as per_tasks
        except ImportError:  # the whole-scan reader: same batches, memory not bounded by one file
            yield from scan.to_arrow_batch_reader()
            return
        projection = scan.projection()
        for task in scan.plan_files():
            yield from per_tasks(scan, projection, [task])

    def read(
        self,
        tag: str | None,
        table: str = "documents",
        *,
        row_filter: BooleanExpression | None = None,
        columns: Iterable[str] | None = None,
    ) -> pa.Table:
        """Records of ``tag`` as one table (small reads and tests; pull and audit stream with ``batches``).

        ``table`` selects kept records ("documents"), removed ones ("removed") or both ("records").
        """
        status = {"documents": "kept", "removed": "removed", "records": None}[table]
        batches = list(self.batches(tag, status=status, row_filter=row_filter, columns=columns))
        if columns is not None:
            names = list(columns)
            if not batches:
                return pa.schema([RECORD_SCHEMA.field(c) for c in names]).empty_table()
            return pa.Table.from_batches(batches).select(names)
        data = pa.Table.from_batches(batches) if batches else RECORD_SCHEMA.empty_table()
        return conform(data)

    def find(self, key: str, tag: str | None = None) -> tuple[str, pa.Table]:
        """Look a record up by doc_id or URL (predicate scans); returns (status, rows), ("", empty) if absent."""
        if self.snapshot_id(tag) is None:
            return "", pa.table({})
        hits = self.read(
            tag,
            "records",
            row_filter=Or(Or(EqualTo("doc_id", key), EqualTo("url", key)), EqualTo("canonical_url", key)),
            columns=("doc_id",),
        )
        ids = sorted(set(hits.column("doc_id").to_pylist()))
        if not ids:
            return "", pa.table({})
        rows = self.read(tag, "records", row_filter=EqualTo("doc_id", ids[0]))
        status = rows.column("status")[0].as_py() if rows.num_rows else ""
        return ("documents" if status == "kept" else "removed") if status else "", rows

    # -- writing ------------------------------------------------------------------------------------------
    def publish(
        self,
        tag: str,
        parts: Iterable[pa.Table],
        ids: pa.Array,
        runs: list[str],
        added: Counter[str],
        force: bool = False,
    ) -> TagInfo:
        """One commit: replace the records of ``ids`` with ``parts`` (all records of the runs), tag the result.

        ``added`` counts the new records by status; the snapshot carries the totals, the runs and the tag.
        """
        from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files

        self.check_tag_free(tag, force)
        table = self.refresh()
        tx = table.transaction()
        meta = tx.table_metadata
        current = meta.current_snapshot()
        prev = _props(current)
        kept, removed = int(prev.get(PROP_KEPT, 0)), int(prev.get(PROP_REMOVED, 0))
        if current is not None and PROP_KEPT not in prev:
            kept, removed = self._count_status(current.snapshot_id)
        rewrites = []
        if current is not None and len(ids):
            for task in table.scan(snapshot_id=current.snapshot_id).plan_files():
                with table.io.new_input(task.file.file_path).open() as fh:
                    small = pq.read_table(fh, columns=["doc_id", "status"])
                hit = pc.is_in(small.column("doc_id"), value_set=ids)
                if pc.any(hit).as_py():
                    gone = Counter(small.filter(hit).column("status").to_pylist())
                    kept -= gone.get("kept", 0)
                    removed -= gone.get("removed", 0)
                    rewrites.append(task)
        kept += added.get("kept", 0)
        removed += added.get("removed", 0)
        props = {
            PROP_TAG: tag,
            PROP_RUNS: ",".join(runs),
            PROP_KEPT: str(kept),
            PROP_REMOVED: str(removed),
            "fincorpus.schema_version": SCHEMA_VERSION,
        }
        write_uuid, counter = uuid.uuid4(), itertools.count(0)
        update = tx.update_snapshot(snapshot_properties=props)
        producer = update.overwrite() if rewrites else update.fast_append()
        with producer as p:
            p.commit_uuid = write_uuid
            for task in rewrites:
                full = ArrowScan(meta, table.io, meta.schema(), AlwaysTrue()).to_table(tasks=[task])
                keep = full.filter(pc.invert(pc.is_in(full.column("doc_id"), value_set=ids)))
                p.delete_data_file(task.file)
                if keep.num_rows:
                    for df in _dataframe_to_data_files(meta, keep, table.io, write_uuid, counter):
                        p.append_data_file(df)
            for part in parts:
                if part.num_rows == 0:
                    continue
                part = part.cast(RECORD_SCHEMA).sort_by("doc_id")
                for df in _dataframe_to_data_files(meta, part, table.io, write_uuid, counter):
                    p.append_data_file(df)
        snap = tx.table_metadata.current_snapshot()
        assert snap is not None
        self._tag_in(tx, tag, snap.snapshot_id)
        self._commit(tx, tag)
        return self.tag(tag)

    def tag_current(self, tag: str, force: bool = False) -> TagInfo:
        """Tag the current state without new records (an empty corpus gets an empty first snapshot)."""
        self.check_tag_free(tag, force)
        table = self.refresh()
        tx = table.transaction()
        snap = tx.table_metadata.current_snapshot()
        if snap is None:
            props = {PROP_TAG: tag, PROP_RUNS: "", PROP_KEPT: "0", PROP_REMOVED: "0"}
            with tx.update_snapshot(snapshot_properties=props).fast_append():
                pass
            snap = tx.table_metadata.current_snapshot()
        assert snap is not None
        self._tag_in(tx, tag, snap.snapshot_id)
        self._commit(tx, tag)
        return self.tag(tag)

    @staticmethod
    def _tag_in(tx, tag: str, snapshot_id: int) -> None:  # type: ignore[no-untyped-def]
        # The tag joins the data update in the same metadata commit (PyIceberg's transaction API for refs).
        tx._apply(*tx._set_ref_snapshot(snapshot_id=snapshot_id, ref_name=tag, type=SnapshotRefType.TAG))

    def _commit(self, tx, tag: str) -> None:  # type: ignore[no-untyped-def]
        faults.point("publish.before-commit")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tx.commit_transaction()
        except CommitFailedException as exc:
            raise CatalogError(
                f"publish of {tag!r} was not committed: the catalog changed meanwhile ({str(exc).splitlines()[0]}); "
                "nothing was published, run the publish again"
            ) from None
        finally:
            self._cached = None

    def _count_status(self, snapshot_id: int) -> tuple[int, int]:
        scan = self.table.scan(snapshot_id=snapshot_id, selected_fields=("status",))
        counts: Counter[str] = Counter()
        for batch in scan.to_arrow_batch_reader():
            counts.update(batch.column(0).to_pylist())
        return counts.get("kept", 0), counts.get("removed", 0)
