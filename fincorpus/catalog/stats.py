"""One streaming pass over a snapshot's Parquet data: the counts the report, cards, Croissant and PROV print.

Memory is bounded by one record batch plus the counters (per source, per run, per duplicate cluster); the text
column is never read. Inputs other than the snapshot's own data (removed records, the previous tag, source
declarations) are optional everywhere, and every consumer says in its output when one was not given.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 8192
PII_KINDS = ("id_card", "mobile", "landline", "bank_card", "email", "ip", "passport")
# Columns a consumer may need; absent ones (older schemas) read as null.
DOC_COLUMNS = (
    "doc_id",
    "source_id",
    "licence_class",
    "legal_basis",
    "usage",
    "fetched_at",
    "published_at",
    "tdm_reserved",
    "noai",
    "ai_reserved",
    "optout_reason",
    "access",
    "quality",
    "finance_score",
    "pii",
    "dedup_cluster",
    "run_id",
    "config_sha256",
    "extractor",
    "extractor_version",
    "lang",
    "doc_type",
)
REMOVED_COLUMNS = ("removed_stage", "removed_reason", "source_id", "duplicate_relation", "dedup_cluster")

Batches = Path | pa.Table | Iterable[pa.RecordBatch]


def data_files(folder: Path) -> list[Path]:
    files = sorted((folder / "data").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"{folder}/data has no Parquet files; pass a folder written by `fincorpus pull`"
        )
    return files


def iter_batches(src: Batches, columns: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of a snapshot folder, a Parquet file, an Arrow table or batches, limited to ``columns``."""
    cols = list(columns)
    if isinstance(src, Path):
        paths = [src] if src.is_file() else data_files(src)
        for p in paths:
            pf = pq.ParquetFile(p)
            have = [c for c in cols if c in pf.schema_arrow.names]
            yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=have)
        return
    if isinstance(src, pa.Table):
        src = src.select([c for c in cols if c in src.column_names]).to_batches(BATCH_ROWS)
    for b in src:
        yield b.select([c for c in cols if c in b.schema.names])


@dataclass
class Hist:
    lo: float
    hi: float
    counts: list[int]
    missing: int = 0
    log10: bool = False  # bins are over log10(value)

    def add_array(self, values: pa.Array | pa.ChunkedArray) -> None:
        """``add`` over an Arrow column, in numpy (the same bins: float64 arithmetic either way)."""
        v = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        nan = np.isnan(v)
        self.missing += int(nan.sum())
        v = v[~nan]
        if self.log10:
            v = np.log10(np.maximum(v, 1))
        bins = len(self.counts)
        i = ((np.minimum(np.maximum(v, self.lo), self.hi) - self.lo) / (self.hi - self.lo) * bins).astype(
            np.int64
        )
        add = np.bincount(np.minimum(i, bins - 1), minlength=bins)
        self.counts = [a + int(b) for a, b in zip(self.counts, add, strict=True)]


def _hists() -> dict[str, Hist]:
    return {
        "finance_score": Hist(0.0, 1.0, [0] * 10),
        "length_chars": Hist(0.0, 6.0, [0] * 12, log10=True),
        "cjk_share": Hist(0.0, 1.0, [0] * 10),
        "punct_end_share": Hist(0.0, 1.0, [0] * 10),
        "dup_line_frac": Hist(0.0, 1.0, [0] * 10),
    }


@dataclass
class Span:
    first: datetime | None = None
    last: datetime | None = None

    def add(self, v: datetime | None) -> None:
        if v is None:
            return
        self.first = v if self.first is None or v < self.first else self.first
        self.last = v if self.last is None or v > self.last else self.last


@dataclass
class SourceStats:
    documents: int = 0
    licences: Counter[str] = field(default_factory=Counter)
    legal_bases: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    fetched: Span = field(default_factory=Span)
    published: Span = field(default_factory=Span)
    robots_checked: int = 0  # a robots.txt was read and allowed the fetch
    robots_unreachable: int = 0  # no robots.txt could be read ('-'): fetched as allowed (RFC 9309 2.3.1.3)
    ai_disallowed: int = 0  # robots.txt disallows an AI crawler token for the URL
    tdm_reserved: int = 0
    noai: int = 0
    ai_reserved: int = 0
    opted_out: int = 0
    pii_documents: int = 0
    chars: int = 0


@dataclass
class RunStats:
    documents: int = 0
    fetched: Span = field(default_factory=Span)
    sources: set[str] = field(default_factory=set)
    configs: set[str] = field(default_factory=set)
    extractors: Counter[str] = field(default_factory=Counter)


@dataclass
class RemovedStats:
    records: int = 0
    by_stage: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, reason with values masked)
    by_source: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)  # duplicate_relation -> records


@dataclass
class Diff:
    previous_tag: str
    previous_documents: int
    added: int
    removed: int
    changed: int
    unchanged: int
    added_examples: list[str]
    removed_examples: list[str]
    changed_examples: list[str]


@dataclass
class SnapshotStats:
    documents: int = 0
    sources: dict[str, SourceStats] = field(default_factory=dict)
    licences: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    doc_types: Counter[str] = field(default_factory=Counter)
    hists: dict[str, Hist] = field(default_factory=_hists)
    pii_found: Counter[str] = field(default_factory=Counter)  # findings per kind (masked in the text)
    pii_documents: Counter[str] = field(default_factory=Counter)  # documents with at least one, per kind
    pii_max_class: Counter[str] = field(default_factory=Counter)
    optout_reasons: Counter[str] = field(default_factory=Counter)
    clusters: Counter[str] = field(default_factory=Counter)  # dedup_cluster -> members (kept + removed given)
    runs: dict[str, RunStats] = field(default_factory=dict)
    extractors: Counter[str] = field(default_factory=Counter)
    configs: set[str] = field(default_factory=set)
    fetched: Span = field(default_factory=Span)
    published: Span = field(default_factory=Span)
    removed: RemovedStats | None = None  # None: removed records were not given
    diff: Diff | None = None  # None: no previous tag was given

    def cluster_sizes(self) -> Counter[int]:
        """How many duplicate clusters have each size (a cluster counts its kept document and its removed ones)."""
        return Counter(self.clusters.values())

    def source(self, sid: str) -> SourceStats:
        return self.sources.setdefault(sid, SourceStats())


def _col(t: pa.Table, name: str, type_: pa.DataType) -> pa.ChunkedArray:
    """A column of the batch, or nulls of ``type_`` when an older schema lacks it."""
    return t.column(name) if name in t.column_names else pa.chunked_array([pa.nulls(t.num_rows, type_)])


def _field(t: pa.Table, struct: str, member: str, type_: pa.DataType) -> pa.ChunkedArray:
    if struct not in t.column_names or t.schema.field(struct).type.get_field_index(member) < 0:
        return pa.chunked_array([pa.nulls(t.num_rows, type_)])
    return pc.struct_field(t.column(struct), member)


def _or(values: pa.ChunkedArray, default: str) -> pa.ChunkedArray:
    """``value or default`` of the row code: null and empty strings become ``default``."""
    return pc.if_else(pc.fill_null(pc.not_equal(values, ""), False), values, default)


def _truthy(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``bool(value)`` per row for strings, numbers, booleans and lists (null is False)."""
    t = values.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pc.greater(pc.fill_null(pc.list_value_length(values), 0), 0)
    if pa.types.is_boolean(t):
        return pc.fill_null(values, False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.fill_null(pc.not_equal(values, ""), False)
    return pc.fill_null(pc.not_equal(values, 0), False)


def _groups(t: pa.Table, keys: list[str], aggs: list[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """Group rows in order of first appearance (single-threaded group_by keeps it), so every Counter and dict
    is filled in the order a row-by-row pass would fill it."""
    return t.group_by(keys, use_threads=False).aggregate([*aggs, (keys[0], "count")]).to_pylist()


def _count_into(counter: Counter[Any], values: pa.ChunkedArray, mask: pa.ChunkedArray | None = None) -> None:
    t = pa.table({"k": values})
    if mask is not None:
        t = t.filter(mask)
    for g in _groups(t, ["k"]):
        counter[g["k"]] += g["k_count"]


def _span(span: Span, lo: datetime | None, hi: datetime | None) -> None:
    span.add(lo)
    span.add(hi)


def _add_batch(st: SnapshotStats, batch: pa.RecordBatch) -> None:
    """Every counter of one batch through Arrow group-bys (a Python loop over rows was 2/3 of a 100k pull)."""
    t = pa.Table.from_batches([batch])
    ts = pa.timestamp("us", tz="UTC")
    sid = _or(_col(t, "source_id", pa.string()), "?")
    lic = _or(_col(t, "licence_class", pa.string()), "?")
    basis = _col(t, "legal_basis", pa.string())
    fetched, published = _col(t, "fetched_at", ts), _col(t, "published_at", ts)
    robots = _field(t, "access", "robots_sha256", pa.string())
    optout = _col(t, "optout_reason", pa.string())
    pii = {k: pc.fill_null(_field(t, "pii", k, pa.int32()), 0) for k in PII_KINDS}
    any_pii = pc.fill_null(pc.greater(pc.max_element_wise(*pii.values()), 0), False)
    ext_name = _or(_col(t, "extractor", pa.string()), "?")
    ext_ver = pc.fill_null(_col(t, "extractor_version", pa.string()), "")
    ext = pc.utf8_trim_whitespace(pc.binary_join_element_wise(ext_name, ext_ver, " "))
    config = _col(t, "config_sha256", pa.string())
    run = _or(_col(t, "run_id", pa.string()), "?")
    rows = pa.table(
        {
            "sid": sid,
            "lic": lic,
            "fetched": fetched,
            "published": published,
            "robots_unreachable": pc.fill_null(pc.equal(robots, "-"), False).cast(pa.int64()),
            "robots_checked": pc.and_(_truthy(robots), pc.fill_null(pc.not_equal(robots, "-"), False)).cast(
                pa.int64()
            ),
            "ai_disallowed": _truthy(_field(t, "access", "ai_disallowed", pa.list_(pa.string()))).cast(
                pa.int64()
            ),
            **{
                f: _truthy(_col(t, f, pa.bool_())).cast(pa.int64())
                for f in ("tdm_reserved", "noai", "ai_reserved")
            },
            "opted_out": _truthy(optout).cast(pa.int64()),
            "pii_documents": any_pii.cast(pa.int64()),
            "chars": pc.fill_null(_field(t, "quality", "length_chars", pa.int64()), 0).cast(pa.int64()),
        }
    )
    sums = ("robots_unreachable", "robots_checked", "ai_disallowed", "tdm_reserved", "noai", "ai_reserved")
    sums += ("opted_out", "pii_documents", "chars")
    aggs = [(c, "sum") for c in sums] + [(c, agg) for c in ("fetched", "published") for agg in ("min", "max")]
    for g in _groups(rows, ["sid"], aggs):
        s = st.source(g["sid"])
        s.documents += g["sid_count"]
        for c in sums:
            setattr(s, c, getattr(s, c) + int(g[f"{c}_sum"] or 0))
        _span(s.fetched, g["fetched_min"], g["fetched_max"])
        _span(s.published, g["published_min"], g["published_max"])
    for g in _groups(pa.table({"sid": sid, "lic": lic}), ["sid", "lic"]):
        st.sources[g["sid"]].licences[g["lic"]] += g["sid_count"]
    _count_into(st.licences, lic)
    for g in _groups(pa.table({"sid": sid, "basis": basis}).filter(_truthy(basis)), ["sid", "basis"]):
        st.sources[g["sid"]].legal_bases[g["basis"]] += g["sid_count"]
    usage = _col(t, "usage", pa.list_(pa.string()))
    flat = pc.list_flatten(usage)
    if len(flat):
        owners = pc.take(sid, pc.list_parent_indices(usage))
        for g in _groups(pa.table({"sid": owners, "u": flat}), ["sid", "u"]):
            st.sources[g["sid"]].usage[g["u"]] += g["sid_count"]
        _count_into(st.usage, flat)
    for span, values in ((st.fetched, fetched), (st.published, published)):
        mm = pc.min_max(values)
        _span(span, mm["min"].as_py(), mm["max"].as_py())
    _count_into(st.optout_reasons, optout, _truthy(optout))
    for k, v in pii.items():
        found = int(pc.sum(v).as_py() or 0)
        if found:
            st.pii_found[k] += found
            st.pii_documents[k] += int(pc.sum(pc.greater(v, 0).cast(pa.int64())).as_py() or 0)
    max_class = _field(t, "pii", "max_class", pa.string())
    _count_into(st.pii_max_class, max_class, _truthy(max_class))
    _count_into(st.languages, _or(_col(t, "lang", pa.string()), "und"))
    _count_into(st.doc_types, _or(_col(t, "doc_type", pa.string()), "?"))
    cluster = _col(t, "dedup_cluster", pa.string())
    _count_into(st.clusters, cluster, _truthy(cluster))
    _count_into(st.extractors, ext)
    st.configs.update(pc.unique(config.filter(_truthy(config))).to_pylist())
    by_run = pa.table({"run": run, "fetched": fetched})
    for g in _groups(by_run, ["run"], [("fetched", "min"), ("fetched", "max")]):
        r = st.runs.setdefault(g["run"], RunStats())
        r.documents += g["run_count"]
        _span(r.fetched, g["fetched_min"], g["fetched_max"])
    for g in _groups(pa.table({"run": run, "sid": sid}), ["run", "sid"]):
        st.runs[g["run"]].sources.add(g["sid"])
    for g in _groups(pa.table({"run": run, "c": config}).filter(_truthy(config)), ["run", "c"]):
        st.runs[g["run"]].configs.add(g["c"])
    for g in _groups(pa.table({"run": run, "e": ext}), ["run", "e"]):
        st.runs[g["run"]].extractors[g["e"]] += g["run_count"]


def collect(
    data: Batches,
    *,
    removed: Batches | None = None,
    previous: tuple[str, Batches] | None = None,
) -> SnapshotStats:
    """Statistics of a snapshot (``data``: its folder, a Parquet file, a table or batches).

    ``removed``: removed records (columns removed_stage, removed_reason, source_id, duplicate_relation,
    dedup_cluster). ``previous``: (tag, doc_id + text_sha256 of the previous tag) for the diff.
    """
    c = Collector()
    for batch in iter_batches(data, (*DOC_COLUMNS, "text_sha256")):
        c.add(batch)
    return c.finish(removed=removed, previous=previous)


class Collector:
    """:func:`collect` one batch at a time, so a writer can gather the statistics of what it writes as it writes
    it (``fincorpus pull``) instead of reading its files back. Holds the statistics and, for the diff against the
    previous tag, the doc_id and text_sha256 columns (about 100 bytes a document), never the documents."""

    def __init__(self) -> None:
        self.stats = SnapshotStats()
        self._ids: list[pa.RecordBatch] = []

    def add(self, batch: pa.RecordBatch) -> None:
        st = self.stats
        self._ids.append(batch.select([c for c in ("doc_id", "text_sha256") if c in batch.schema.names]))
        batch = batch.select([c for c in DOC_COLUMNS if c in batch.schema.names])
        st.documents += batch.num_rows
        names = batch.schema.names
        for name, h in st.hists.items():
            if name in names:
                h.add_array(batch.column(name))
            elif "quality" in names:
                h.add_array(pc.struct_field(batch.column("quality"), name))
        _add_batch(st, batch)

    def finish(
        self, *, removed: Batches | None = None, previous: tuple[str, Batches] | None = None
    ) -> SnapshotStats:
        st = self.stats
        if removed is not None:
            st.removed = _collect_removed(removed, st)
        if previous is not None:
            st.diff = diff_with_previous(self._ids, previous[0], previous[1])
        self._ids = []
        return st


_HEX = re.compile(r"\b[0-9a-f]{8,}\b")
_URL = re.compile(r"https?://\S+?(?=[)\s,]|$)")
_NUM = re.compile(r"(?<![A-Za-z_\d])\d+(?:\.\d+)?")


def reason_kind(reason: str) -> str:
    """A removal reason with its deciding values masked, so reasons group: 'length_chars=# < min_chars=#'."""
    return _NUM.sub("#", _URL.sub("URL", _HEX.sub("…", reason or "")))


def _collect_removed(removed: Batches, st: SnapshotStats) -> RemovedStats:
    rs = RemovedStats()
    for batch in iter_batches(removed, REMOVED_COLUMNS):
        for r in batch.to_pylist():
            rs.records += 1
            stage = r.get("removed_stage") or "?"
            rs.by_stage[stage] += 1
            rs.by_reason[(stage, reason_kind(r.get("removed_reason") or ""))] += 1
            rs.by_source[r.get("source_id") or "?"] += 1
            if r.get("duplicate_relation"):
                rs.duplicates[r["duplicate_relation"]] += 1
            if r.get("dedup_cluster"):
                st.clusters[r["dedup_cluster"]] += 1
    return rs


def _ids(src: Batches) -> pa.Table:
    batches = list(iter_batches(src, ("doc_id", "text_sha256")))
    if not batches:
        return pa.table({"doc_id": pa.array([], pa.string()), "text_sha256": pa.array([], pa.string())})
    t = pa.Table.from_batches(batches)
    if "text_sha256" not in t.column_names:
        t = t.append_column("text_sha256", pa.nulls(t.num_rows, pa.string()))
    # catalog scans may give large_string: both sides of the join in one type
    return t.select(["doc_id", "text_sha256"]).cast(
        pa.schema([("doc_id", pa.string()), ("text_sha256", pa.string())])
    )


def diff_with_previous(data: Batches, previous_tag: str, previous: Batches, examples: int = 10) -> Diff:
    """Added, removed, changed (same doc_id, other text_sha256) and unchanged documents against the previous tag.

    Holds the two id columns of both tags in Arrow memory (about 100 bytes a document), not the documents.
    """
    cur, prev = _ids(data), _ids(previous)
    prev = prev.rename_columns(["doc_id", "prev_sha"])
    joined = cur.join(prev, "doc_id", join_type="full outer")
    in_cur = pc.is_in(joined["doc_id"], value_set=cur["doc_id"])
    in_prev = pc.is_in(joined["doc_id"], value_set=prev["doc_id"])
    both = pc.and_(in_cur, in_prev)
    same = pc.fill_null(pc.equal(joined["text_sha256"], joined["prev_sha"]), False)
    added = joined.filter(pc.and_(in_cur, pc.invert(in_prev)))["doc_id"]
    gone = joined.filter(pc.and_(in_prev, pc.invert(in_cur)))["doc_id"]
    changed = joined.filter(pc.and_(both, pc.invert(same)))["doc_id"]
    return Diff(
        previous_tag=previous_tag,
        previous_documents=prev.num_rows,
        added=len(added),
        removed=len(gone),
        changed=len(changed),
        unchanged=int(pc.sum(pc.and_(both, same)).as_py() or 0),
        added_examples=sorted(added.to_pylist())[:examples],
        removed_examples=sorted(gone.to_pylist())[:examples],
        changed_examples=sorted(changed.to_pylist())[:examples],
    )
