"""One streaming pass over a snapshot's Parquet data: the counts the report, cards, Croissant and PROV print.

Memory is bounded by one record batch plus the counters (per source, per run, per duplicate cluster); the text
column is never read. Inputs other than the snapshot's own data (removed records, the previous tag, source
declarations) are optional everywhere, and every consumer says in its output when one was not given.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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


def histogram(values: Iterable[float | None], lo: float, hi: float, bins: int) -> tuple[list[int], int]:
    """Counts in ``bins`` equal bins over [lo, hi] (the last bin includes hi) and the number of nulls."""
    counts, missing = [0] * bins, 0
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            missing += 1
            continue
        i = int((min(max(v, lo), hi) - lo) / (hi - lo) * bins)
        counts[min(i, bins - 1)] += 1
    return counts, missing


@dataclass
class Hist:
    lo: float
    hi: float
    counts: list[int]
    missing: int = 0
    log10: bool = False  # bins are over log10(value)

    def add(self, values: Iterable[float | None]) -> None:
        vals = [None if v is None else (math.log10(max(v, 1)) if self.log10 else v) for v in values]
        c, m = histogram(vals, self.lo, self.hi, len(self.counts))
        self.counts = [a + b for a, b in zip(self.counts, c, strict=True)]
        self.missing += m


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


def _add_row(st: SnapshotStats, r: dict[str, Any]) -> None:
    sid = r.get("source_id") or "?"
    s = st.source(sid)
    s.documents += 1
    lic = r.get("licence_class") or "?"
    s.licences[lic] += 1
    st.licences[lic] += 1
    if r.get("legal_basis"):
        s.legal_bases[r["legal_basis"]] += 1
    for u in r.get("usage") or []:
        s.usage[u] += 1
        st.usage[u] += 1
    s.fetched.add(r.get("fetched_at"))
    s.published.add(r.get("published_at"))
    st.fetched.add(r.get("fetched_at"))
    st.published.add(r.get("published_at"))
    access = r.get("access") or {}
    robots = access.get("robots_sha256")
    s.robots_unreachable += robots == "-"
    s.robots_checked += bool(robots) and robots != "-"
    s.ai_disallowed += bool(access.get("ai_disallowed"))
    for flag in ("tdm_reserved", "noai", "ai_reserved"):
        setattr(s, flag, getattr(s, flag) + bool(r.get(flag)))
    if r.get("optout_reason"):
        s.opted_out += 1
        st.optout_reasons[r["optout_reason"]] += 1
    pii = r.get("pii") or {}
    if any(pii.get(k) for k in PII_KINDS):
        s.pii_documents += 1
    for k in PII_KINDS:
        if pii.get(k):
            st.pii_found[k] += int(pii[k])
            st.pii_documents[k] += 1
    if pii.get("max_class"):
        st.pii_max_class[pii["max_class"]] += 1
    s.chars += int((r.get("quality") or {}).get("length_chars") or 0)
    st.languages[r.get("lang") or "und"] += 1
    st.doc_types[r.get("doc_type") or "?"] += 1
    if r.get("dedup_cluster"):
        st.clusters[r["dedup_cluster"]] += 1
    ext = f"{r.get('extractor') or '?'} {r.get('extractor_version') or ''}".strip()
    st.extractors[ext] += 1
    if r.get("config_sha256"):
        st.configs.add(r["config_sha256"])
    run = st.runs.setdefault(r.get("run_id") or "?", RunStats())
    run.documents += 1
    run.fetched.add(r.get("fetched_at"))
    run.sources.add(sid)
    if r.get("config_sha256"):
        run.configs.add(r["config_sha256"])
    run.extractors[ext] += 1


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
    st = SnapshotStats()
    for batch in iter_batches(data, DOC_COLUMNS):
        st.documents += batch.num_rows
        names = batch.schema.names
        for name, h in st.hists.items():
            if name in names:
                h.add(batch.column(name).to_pylist())
            elif "quality" in names:
                h.add(pc.struct_field(batch.column("quality"), name).to_pylist())
        for r in batch.to_pylist():
            _add_row(st, r)
    if removed is not None:
        st.removed = _collect_removed(removed, st)
    if previous is not None:
        st.diff = diff_with_previous(data, previous[0], previous[1])
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
