"""`fincorpus migrate`: copy a catalog of the earlier two-table layout into the one-table layout, tag by tag.

Releases before schema 4 kept ``fincorpus.documents`` and ``fincorpus.removed`` with a tag on each. Each of their
tags is replayed, oldest first, as one publish of the new table (its kept and removed records, replacing
everything before), so every tag reads back the same documents it did. The old tables are left as they are
(nothing is deleted); commands use only the new table afterwards.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from fincorpus import locks
from fincorpus.catalog.store import NAMESPACE, TABLE, TABLE_PROPERTIES, CatalogError, CorpusCatalog
from fincorpus.schema import DOCUMENT_SCHEMA, RECORD_SCHEMA, conform
from fincorpus.sources.frontier import catalog_engine


def migrate(home: Path) -> list[str]:
    """Replay the legacy tags into ``fincorpus.corpus``; returns the tags copied."""
    with locks.hold(catalog_engine(home), "publish", "fincorpus migrate", what="the publish lock"):
        cat = CorpusCatalog.__new__(CorpusCatalog)
        CorpusCatalog.__init__(cat, home, create=False)
        sql = cat.catalog
        if sql.table_exists(f"{NAMESPACE}.{TABLE}"):
            raise CatalogError(
                f"{home} already uses the current layout (table {NAMESPACE}.{TABLE}); nothing to do"
            )
        if not sql.table_exists(f"{NAMESPACE}.documents"):
            raise CatalogError(f"{home} has no earlier catalog to migrate (no table {NAMESPACE}.documents)")
        docs = _evolved(sql, "documents", DOCUMENT_SCHEMA)
        removed = (
            _evolved(sql, "removed", RECORD_SCHEMA) if sql.table_exists(f"{NAMESPACE}.removed") else None
        )
        tags = sorted(
            (name for name, ref in docs.refs().items() if ref.snapshot_ref_type == "tag"),
            key=lambda n: docs.snapshot_by_name(n).timestamp_ms,
        )
        sql.create_table(f"{NAMESPACE}.{TABLE}", schema=RECORD_SCHEMA, properties=TABLE_PROPERTIES)
        done = []
        for tag in tags:
            kept = _records(docs.scan(snapshot_id=docs.snapshot_by_name(tag).snapshot_id).to_arrow(), "kept")
            parts = [kept]
            if removed is not None and removed.snapshot_by_name(tag) is not None:
                snap = removed.snapshot_by_name(tag).snapshot_id
                parts.append(_records(removed.scan(snapshot_id=snap).to_arrow(), "removed"))
            cat.refresh()
            arrays = [b.column(0) for b in cat.batches(None, status=None, columns=("doc_id",))]
            arrays += [p.column("doc_id").combine_chunks() for p in parts]
            ids = pa.concat_arrays([a.cast(pa.string()) for a in arrays]).unique()
            counts: Counter[str] = Counter()
            for p in parts:
                counts.update(p.column("status").to_pylist())
            cat.publish(tag, parts, ids, [], counts)
            done.append(tag)
        return done


def _evolved(sql, name: str, schema: pa.Schema):  # type: ignore[no-untyped-def]
    """A legacy table with its schema evolved to the current fields (metadata only; its data stays)."""
    table = sql.load_table(f"{NAMESPACE}.{name}")
    fields = [f for f in schema if f.name not in ("status",)]
    with table.update_schema() as update:
        update.union_by_name(pa.schema(fields))
    return sql.load_table(f"{NAMESPACE}.{name}")


def _records(table: pa.Table, status: str) -> pa.Table:
    t = conform(table)
    return t.set_column(
        t.schema.get_field_index("status"),
        RECORD_SCHEMA.field("status"),
        pa.array([status] * t.num_rows, pa.string()),
    ).filter(pc.invert(pc.is_null(t.column("doc_id"))))
