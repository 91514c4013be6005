"""Deduplication of a whole run as scalable stages over its staged parts.

Per shard (in the processing task, in parallel): :func:`sidecar` computes each kept document's MinHash signature,
shingle count, digit facts and LSH band keys and writes them beside the part, so signatures are computed once and
kept. Per run (one task): :func:`dedup_run` reads only small columns and the sidecars and decides:

1. **Same document twice** in one run (a URL reached by a link and by a redirect): the first capture is kept, the
   others are dropped from the run (they are the same document, not duplicates of another).
2. **Exact duplicates**: groups of equal ``text_sha256`` within the run and against the dedup index of published
   documents and the documents of staged, unpublished runs (hash lookups, no dict of the table). A published
   document keeps its place: consumers already have it.
3. **Near duplicates** within the run: candidates from equal band keys (one band column at a time, heavy buckets
   capped), verified on MinHash estimates and, near a threshold, on exact shingle sets read back for those pairs
   only; template pairs (conflicting digit facts) are never merged unless they are versions of one official text;
   clusters by union-find over the accepted pairs; keepers and relations from ``fincorpus.dedup.keeper``.
4. **Named originals**: a reprint whose 来源 link names a document of the run, and that shares enough text with it.
5. **Against published documents**: the survivors are looked up in the persistent index.

The output is a decisions table (part number, row, what to do and why); ``apply_decisions`` turns it into the
dedup columns of each part. Memory: a few small columns per document of the run plus one band column at a time,
never the texts (except those of borderline pairs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincorpus.dedup.index import DedupIndex
from fincorpus.dedup.keeper import Member, choose_keeper, relation, title_key
from fincorpus.dedup.near import (
    Facts,
    NearConfig,
    NearPair,
    UnionFind,
    band_key_matrix,
    candidate_pairs,
    normalise,
    prepare,
    shingle_hashes,
    verify_pairs,
)
from fincorpus.schema import TIMESTAMP
from fincorpus.storage import Storage

EXACT = "dedup.exact"
NEAR = "dedup.near"

SIDECAR_COLUMNS = ("row", "doc_id", "sig", "size", "facts")


def _band_names(cfg: NearConfig) -> list[str]:
    return [f"k{b}" for b in range(cfg.bands)]


def sidecar_schema(cfg: NearConfig) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.int32(), False),
            pa.field("doc_id", pa.string(), False),
            pa.field("sig", pa.binary(4 * cfg.num_perm), False),
            pa.field("size", pa.int32(), False),
            pa.field("facts", pa.binary()),
            *[pa.field(n, pa.int64(), False) for n in _band_names(cfg)],
        ]
    )


def sidecar(part: pa.Table, cfg: NearConfig) -> pa.Table:
    """Signatures of the part's kept documents with text (row = position in the part)."""
    status = part.column("status").to_pylist()
    texts = part.column("text").to_pylist()
    doc_ids = part.column("doc_id").to_pylist()
    rows, ids, sigs, sizes, facts = [], [], [], [], []
    for r, (st, text, d) in enumerate(zip(status, texts, doc_ids, strict=True)):
        if st != "kept" or not text:
            continue
        p = prepare(text, cfg)
        if p.size == 0:
            continue
        rows.append(r)
        ids.append(d)
        sigs.append(p.sig)
        sizes.append(p.size)
        facts.append(p.facts.to_bytes())
    schema = sidecar_schema(cfg)
    if not rows:
        return schema.empty_table()
    sig_matrix = np.stack(sigs)
    keys = band_key_matrix(sig_matrix, cfg)
    cols: dict[str, Any] = {
        "row": pa.array(rows, pa.int32()),
        "doc_id": pa.array(ids, pa.string()),
        "sig": pa.array([s.tobytes() for s in sig_matrix], pa.binary(4 * cfg.num_perm)),
        "size": pa.array(sizes, pa.int32()),
        "facts": pa.array(facts, pa.binary()),
    }
    for b, name in enumerate(_band_names(cfg)):
        cols[name] = pa.array(keys[:, b], pa.int64())
    return pa.table(cols, schema=schema)


# -- decisions ---------------------------------------------------------------------------------------------------

DECISION_SCHEMA = pa.schema(
    [
        pa.field("part", pa.int32(), False),
        pa.field("row", pa.int32(), False),
        pa.field("doc_id", pa.string(), False),
        pa.field("action", pa.string(), False),  # remove | keep | drop
        pa.field("removed_stage", pa.string()),
        pa.field("removed_reason", pa.string()),
        pa.field("dedup_cluster", pa.string()),
        pa.field("duplicate_of", pa.string()),
        pa.field("duplicate_relation", pa.string()),
        pa.field("duplicate_similarity", pa.float32()),
        pa.field("superseded_at", TIMESTAMP),
        pa.field("step", pa.string()),  # name of the step recorded in the document's steps
        pa.field("detail", pa.string()),
    ]
)


@dataclass
class _Decision:
    action: str
    step: str
    detail: str
    removed_stage: str | None = None
    removed_reason: str | None = None
    dedup_cluster: str | None = None
    duplicate_of: str | None = None
    duplicate_relation: str | None = None
    duplicate_similarity: float | None = None
    superseded_at: datetime | None = None


@dataclass
class DedupStats:
    documents: int = 0
    same_document_dropped: int = 0
    exact_in_run: int = 0
    exact_published: int = 0
    near_in_run: int = 0
    named_originals: int = 0
    near_published: int = 0
    candidate_pairs: int = 0
    verified_pairs: int = 0
    exact_verified_pairs: int = 0
    template_pairs: int = 0
    capped_buckets: int = 0
    largest_bucket: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartFiles:
    part: str  # record part, relative to the storage root
    sidecar: str


_COLUMNS = ["doc_id", "status", "source_id", "original_url", "text_sha256"]  # held for the whole run
_DICTIONARY = ["status", "source_id"]  # few distinct values: held as codes
# read only for the documents a decision is being made on (keepers of groups, pairs near a threshold)
_MEMBER_COLUMNS = [
    "doc_id",
    "source_id",
    "canonical_url",
    "licence_class",
    "published_at",
    "doc_type",
    "title",
    "original_url",
    "rel_canonical",
    "quality",
]
MEMBER_BATCH = 20_000  # members read at a time for exact groups


class _Run:
    """The run's documents as a few small columns (ids, status, hashes); what the keeper policy needs of a
    document (:class:`Member`), its signature and its text are read from its part when a decision needs them."""

    def __init__(self, storage: Storage, parts: Sequence[PartFiles], cfg: NearConfig) -> None:
        self.storage, self.parts, self.cfg = storage, parts, cfg
        tables = [storage.read_parquet(p.part, columns=_COLUMNS, read_dictionary=_DICTIONARY) for p in parts]
        empty = pa.table({c: pa.array([], pa.string()) for c in _COLUMNS})
        # the parts' dictionaries differ: codes are unified per column, still never one Python list of the run
        self.t = pa.concat_tables(tables).unify_dictionaries() if tables else empty
        self.n = self.t.num_rows
        offsets = np.cumsum([0] + [tb.num_rows for tb in tables])
        self.offset = offsets  # global index of (part, row) = offset[part] + row
        self._cols: dict[str, _Column] = {}
        self._members: dict[int, Member] = {}

    def col(self, name: str) -> _Column:
        """One column, read value by value: the run's columns stay in Arrow, never Python lists of the run."""
        if name not in self._cols:
            self._cols[name] = _Column(self.t.column(name))
        return self._cols[name]

    def mask(self, values: pa.ChunkedArray | pa.Array) -> np.ndarray:
        return pc.fill_null(values, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)

    def prefetch(self, gs: Iterable[int]) -> None:
        """Read the members of these documents, part by part (one read per part)."""
        by_part: dict[int, list[int]] = defaultdict(list)
        for g in gs:
            if g not in self._members:
                by_part[self.where(g)[0]].append(g)
        for part, members in sorted(by_part.items()):
            t = self.storage.read_parquet(self.parts[part].part, columns=_MEMBER_COLUMNS)
            t = t.take(pa.array([int(g - self.offset[part]) for g in members]))
            length = pc.fill_null(pc.struct_field(t.column("quality"), "length_chars"), 0)
            rows = t.drop_columns(["quality"]).append_column("length", length).to_pylist()
            for g, r in zip(members, rows, strict=True):
                self._members[g] = Member(
                    doc_id=r["doc_id"],
                    source_id=r["source_id"],
                    canonical_url=r["canonical_url"],
                    licence_class=r["licence_class"],
                    published=r["published_at"],
                    length=int(r["length"] or 0),
                    doc_type=r["doc_type"],
                    title=r["title"],
                    original_url=r["original_url"],
                    rel_canonical=r["rel_canonical"],
                )

    def forget(self) -> None:
        self._members.clear()

    def member(self, g: int) -> Member:
        if g not in self._members:
            self.prefetch([g])
        return self._members[g]

    def where(self, g: int) -> tuple[int, int]:
        part = int(np.searchsorted(self.offset, g, side="right") - 1)
        return part, int(g - self.offset[part])

    def texts(self, gs: Sequence[int]) -> dict[int, str]:
        by_part: dict[int, list[int]] = defaultdict(list)
        for g in gs:
            by_part[self.where(g)[0]].append(g)
        out: dict[int, str] = {}
        for part, members in by_part.items():
            t = self.storage.read_parquet(self.parts[part].part, columns=["text"]).column("text")
            rows = [int(g - self.offset[part]) for g in members]
            for g, text in zip(members, t.take(pa.array(rows)).to_pylist(), strict=True):
                out[g] = text or ""
        return out


class _Column:
    """A column of the run, indexed by global row; values are converted one at a time (a run of 1M documents
    would hold ~100 bytes of Python objects per value and column as lists)."""

    def __init__(self, values: pa.ChunkedArray) -> None:
        self.values = values
        self.starts = np.cumsum([0] + [len(c) for c in values.chunks])

    def __getitem__(self, g: int) -> Any:
        k = int(np.searchsorted(self.starts, g, side="right") - 1)
        return self.values.chunk(k)[int(g - self.starts[k])].as_py()


def _codes(values: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes of the values (-1 for null; codes in order of first appearance) and the dictionary.
    The chunks share one dictionary, so no column is ever concatenated into one array."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, values.type)).chunks
    if not encoded:
        return np.zeros(0, np.int64), pa.array([], values.type)
    codes = np.concatenate(
        [c.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) for c in encoded]
    )
    return codes, encoded[0].dictionary


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions ordered by code (stable), where each code's run starts in that order, and the codes."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ordered.size else ordered
    return order, starts, ordered[starts]


def _first_occurrences(values: pa.ChunkedArray) -> np.ndarray:
    """Positions of values equal to an earlier value (nulls never repeat), ascending."""
    codes, _ = _codes(values)
    order, starts, _ = _groups(codes)
    repeat = np.ones(order.size, dtype=bool)
    repeat[starts] = False
    out = order[repeat]
    return np.sort(out[codes[out] >= 0])


EXACT_LOOKUP_CHUNK = 50_000  # hashes per lookup in the index and in staged runs (memory: one chunk's strings)


def _sim(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def dedup_run(
    storage: Storage,
    parts: Sequence[PartFiles],
    cfg: NearConfig,
    index: DedupIndex | None = None,
    pending_exact: Callable[[Sequence[str]], dict[str, str]] | None = None,
) -> tuple[pa.Table, DedupStats]:
    """The dedup decisions of a run (see the module docstring) and what was counted on the way."""
    run = _Run(storage, parts, cfg)
    stats = DedupStats(documents=run.n)
    decisions: dict[int, _Decision] = {}
    doc_ids = run.col("doc_id")

    # 1. the same document twice in one run: keep the first capture
    repeats = _first_occurrences(run.t.column("doc_id"))
    for g in repeats.tolist():
        decisions[g] = _Decision(
            "drop", "dedup", f"same document as an earlier capture in this run ({doc_ids[g]})"
        )
    stats.same_document_dropped += int(repeats.size)
    hashes = run.t.column("text_sha256")
    live = run.mask(pc.equal(run.t.column("status"), "kept")) & run.mask(
        pc.greater(pc.utf8_length(hashes), 0)
    )
    live[repeats] = False

    # 2. exact duplicates: groups of equal hashes (codes of one dictionary), looked up chunk by chunk
    live_rows = np.flatnonzero(live)
    codes, digests = _codes(hashes.take(pa.array(live_rows)))
    wanted = np.bincount(codes, minlength=len(digests)) > 1
    published: dict[str, tuple[str, str]] = {}
    staged: dict[str, str] = {}
    for lo in range(0, len(digests), EXACT_LOOKUP_CHUNK):
        chunk = digests.slice(lo, EXACT_LOOKUP_CHUNK).to_pylist()
        hit_p = index.exact(chunk) if index is not None else {}
        hit_s = pending_exact(chunk) if pending_exact is not None else {}
        published.update(hit_p)
        staged.update(hit_s)
        for k, h in enumerate(chunk):
            if h in hit_p or h in hit_s:
                wanted[lo + k] = True
    order, starts, group_codes = _groups(codes)
    ends = np.r_[starts[1:], order.size] if starts.size else starts
    chosen = np.flatnonzero(wanted[group_codes]) if group_codes.size else group_codes
    batch_of = np.cumsum(ends[chosen] - starts[chosen]) // MEMBER_BATCH if chosen.size else chosen
    for k, i in enumerate(chosen.tolist()):
        lo, hi, code = int(starts[i]), int(ends[i]), int(group_codes[i])
        if k == 0 or batch_of[k] != batch_of[k - 1]:  # the members of the next groups, read together
            run.forget()
            upto = np.searchsorted(batch_of, batch_of[k], side="right")
            spans = [live_rows[order[starts[j] : ends[j]]] for j in chosen[k:upto].tolist()]
            run.prefetch(np.concatenate(spans).tolist())
        members = live_rows[order[lo:hi]].tolist()
        digest = digests[code].as_py()
        prior = published.get(digest)
        prior_where = f"published in snapshot {prior[1]!r}" if prior else None
        if prior is None and digest in staged:
            prior, prior_where = (staged[digest], ""), "in a staged, unpublished run"
        own = [g for g in members if prior is not None and doc_ids[g] == prior[0]]
        if prior is not None and not own:
            keeper_id, keeper_g, where = prior[0], None, prior_where
        elif own:
            keeper_g, keeper_id, where = own[0], prior[0], "in this run"  # the published document re-fetched
        else:
            if len(members) == 1:
                continue
            choice = choose_keeper([run.member(g) for g in members])
            keeper_g = members[choice.keeper]
            keeper_id, where = doc_ids[keeper_g], "in this run"
        if keeper_g is not None and len(members) == 1:
            continue
        for g in members:
            if g == keeper_g:
                decisions[g] = _Decision(
                    "keep",
                    EXACT,
                    f"kept for an exact-duplicate cluster of {len(members)}",
                    dedup_cluster=keeper_id,
                )
                continue
            decisions[g] = _Decision(
                "remove",
                EXACT,
                f"duplicate of {keeper_id}",
                removed_stage=EXACT,
                removed_reason=f"exact duplicate (text_sha256 {digest[:12]}) of {keeper_id} {where}",
                dedup_cluster=keeper_id,
                duplicate_of=keeper_id,
                duplicate_relation="exact",
                duplicate_similarity=1.0,
            )
            if keeper_g is None:
                stats.exact_published += 1
            else:
                stats.exact_in_run += 1
            live[g] = False

    # 3. near duplicates within the run
    _near_in_run(run, live, decisions, stats, cfg)
    # 4. reprints naming their original
    _named_originals(run, live, decisions, stats, cfg)
    # 5. against published documents
    if index is not None:
        _against_index(run, live, decisions, stats, index)

    rows = []
    for g, dec in sorted(decisions.items()):
        part, row = run.where(g)
        rows.append(
            {
                "part": part,
                "row": row,
                "doc_id": doc_ids[g],
                "action": dec.action,
                "removed_stage": dec.removed_stage,
                "removed_reason": dec.removed_reason,
                "dedup_cluster": dec.dedup_cluster,
                "duplicate_of": dec.duplicate_of,
                "duplicate_relation": dec.duplicate_relation,
                "duplicate_similarity": _sim(dec.duplicate_similarity),
                "superseded_at": dec.superseded_at,
                "step": dec.step,
                "detail": dec.detail,
            }
        )
    return pa.Table.from_pylist(rows, schema=DECISION_SCHEMA), stats


class _Sidecars:
    """Band keys, signatures and facts of the run's live documents, read part by part."""

    def __init__(self, run: _Run, cfg: NearConfig) -> None:
        self.run, self.cfg = run, cfg
        self.global_rows: list[np.ndarray] = []
        for p_no, p in enumerate(run.parts):
            rows = run.storage.read_parquet(p.sidecar, columns=["row"]).column("row").to_numpy()
            self.global_rows.append(rows.astype(np.int64) + int(run.offset[p_no]))
        self.g = np.concatenate(self.global_rows) if self.global_rows else np.zeros(0, np.int64)

    def band(self, b: int) -> np.ndarray:
        cols = [
            self.run.storage.read_parquet(p.sidecar, columns=[f"k{b}"]).column(0).to_numpy()
            for p in self.run.parts
        ]
        return np.concatenate(cols) if cols else np.zeros(0, np.int64)

    def load(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Facts]]:
        """Signatures, sizes and facts of the given sidecar positions (in that order)."""
        order = np.argsort(positions, kind="stable")
        sigs = np.zeros((positions.size, self.cfg.num_perm), dtype=np.uint32)
        sizes = np.zeros(positions.size, dtype=np.int64)
        facts: list[Facts] = [Facts.from_bytes(None)] * positions.size
        bounds = np.cumsum([0] + [r.size for r in self.global_rows])
        sorted_pos = positions[order]
        for p_no, p in enumerate(self.run.parts):
            lo, hi = np.searchsorted(sorted_pos, [bounds[p_no], bounds[p_no + 1]])
            if lo == hi:
                continue
            local = sorted_pos[lo:hi] - bounds[p_no]
            t = self.run.storage.read_parquet(p.sidecar, columns=["sig", "size", "facts"]).take(
                pa.array(local)
            )
            raw = np.frombuffer(b"".join(t.column("sig").to_pylist()), dtype=np.uint32)
            targets = order[lo:hi]
            sigs[targets] = raw.reshape(-1, self.cfg.num_perm)
            sizes[targets] = t.column("size").to_numpy()
            for k, f in zip(targets.tolist(), t.column("facts").to_pylist(), strict=True):
                facts[k] = Facts.from_bytes(f)
        return sigs, sizes, facts


def _near_in_run(
    run: _Run, live: np.ndarray, decisions: dict[int, _Decision], stats: DedupStats, cfg: NearConfig
) -> None:
    cars = _Sidecars(run, cfg)
    if cars.g.size == 0:
        return
    cands = candidate_pairs(cars.band, int(cars.g.size), cfg, active=live[cars.g])
    stats.candidate_pairs = int(cands.pairs.shape[0])
    stats.capped_buckets, stats.largest_bucket = cands.capped_buckets, cands.largest_bucket
    if cands.pairs.size == 0:
        return
    used = np.unique(cands.pairs.ravel())
    sigs_u, sizes_u, facts_u = cars.load(used)
    pairs_local = np.searchsorted(used, cands.pairs)

    def hashes(idx: Sequence[int]) -> dict[int, np.ndarray]:
        texts = run.texts([int(cars.g[used[k]]) for k in idx])
        return {k: shingle_hashes(normalise(texts[int(cars.g[used[k]])]), cfg.ngram) for k in idx}

    verified = verify_pairs(pairs_local, sigs_u, sizes_u, facts_u.__getitem__, hashes, cfg)
    stats.verified_pairs = len(verified)
    stats.exact_verified_pairs = sum(p.exact for p in verified)
    members_of = {k: int(cars.g[used[k]]) for k in range(used.size)}
    run.forget()
    run.prefetch(sorted({members_of[k] for p in verified for k in (p.i, p.j)}))

    def accept(p: NearPair) -> bool:
        if p.jaccard >= cfg.threshold:
            return True
        # containment only: drop the contained text, never the one containing it, and only if the policy agrees
        small, large = (p.i, p.j) if sizes_u[p.i] <= sizes_u[p.j] else (p.j, p.i)
        choice = choose_keeper([run.member(members_of[small]), run.member(members_of[large])])
        return choice.keeper == 1

    def is_template(p: NearPair) -> bool:
        if not p.template:
            return False
        a, b = run.member(members_of[p.i]), run.member(members_of[p.j])
        versions = a.doc_type == b.doc_type == "official" and title_key(a.title) == title_key(b.title) != ""
        return not versions  # new versions of one law change its numbers: not a template

    uf = UnionFind(used.size)
    best: dict[tuple[int, int], float] = {}
    for p in verified:
        if is_template(p):
            stats.template_pairs += 1
            for k in (p.i, p.j):
                g = members_of[k]
                if g not in decisions:
                    decisions[g] = _Decision("keep", NEAR, "template near-duplicate kept: facts differ")
            continue
        if accept(p):
            uf.union(p.i, p.j)
            best[(p.i, p.j)] = p.jaccard
    clusters: dict[int, list[int]] = defaultdict(list)
    for k in range(used.size):
        clusters[uf.find(k)].append(k)
    for ks in clusters.values():
        if len(ks) < 2:
            continue
        gs = [members_of[k] for k in ks]
        members = [run.member(g) for g in gs]
        choice = choose_keeper(members)
        keeper_k, keeper_g, keeper = ks[choice.keeper], gs[choice.keeper], members[choice.keeper]
        decisions[keeper_g] = _Decision(
            "keep",
            NEAR,
            f"kept for a near-duplicate cluster of {len(ks)} ({choice.reason})",
            dedup_cluster=keeper.doc_id,
        )
        for k, g, m in zip(ks, gs, members, strict=True):
            if g == keeper_g:
                continue
            rel = relation(m, keeper, choice.versions)
            sim = best.get((min(k, keeper_k), max(k, keeper_k)))
            reason = f"{rel} of {keeper.doc_id} ({keeper.canonical_url})" + (
                f", Jaccard {sim:.3f}" if sim is not None else ", same cluster"
            )
            superseded = keeper.published if rel == "version" else None
            if superseded is not None:
                reason += f"; superseded by the version published {superseded.date().isoformat()}"
            decisions[g] = _Decision(
                "remove",
                NEAR,
                f"{rel} of {keeper.doc_id}",
                removed_stage=NEAR,
                removed_reason=reason,
                dedup_cluster=keeper.doc_id,
                duplicate_of=keeper.doc_id,
                duplicate_relation=rel,
                duplicate_similarity=sim,
                superseded_at=superseded,
            )
            live[g] = False
            stats.near_in_run += 1


def _named_originals(
    run: _Run, live: np.ndarray, decisions: dict[int, _Decision], stats: DedupStats, cfg: NearConfig
) -> None:
    """A reprint that names its original (来源 link) and shares enough text with it is a reprint of it.

    This catches what shingles alone miss: an original whose page carries much extra text, or a reprint cut short,
    both fall below the Jaccard threshold while the reprint still says where it came from.
    """
    originals = run.col("original_url")
    naming = run.mask(pc.greater(pc.utf8_length(run.t.column("original_url")), 0))
    asking = np.flatnonzero(live & naming).tolist()
    if not asking:
        return
    wanted = pa.array(sorted({originals[g] for g in asking}), pa.string())
    by_url: dict[str, int] = {}
    for p_no, p in enumerate(run.parts):  # the run's URLs are read part by part, never held for the run
        t = run.storage.read_parquet(p.part, columns=["canonical_url", "status"])
        hit = pc.and_(
            pc.is_in(t.column("canonical_url"), value_set=wanted), pc.equal(t.column("status"), "kept")
        )
        rows = np.flatnonzero(run.mask(hit))
        for r, url in zip(
            rows.tolist(), t.column("canonical_url").take(pa.array(rows)).to_pylist(), strict=True
        ):
            by_url.setdefault(url, int(run.offset[p_no]) + r)
    doc_ids = run.col("doc_id")
    by_doc = {doc_ids[g]: g for g in by_url.values()}
    texts_needed: set[int] = set()
    links: list[tuple[int, int]] = []
    for g in asking:
        target = by_url.get(originals[g])
        if target is None or target == g:
            continue
        seen = {g}
        # the original was itself merged: point at its keeper
        while target in decisions and decisions[target].duplicate_of and target not in seen:
            seen.add(target)
            nxt = decisions[target].duplicate_of
            if nxt not in by_doc:
                break
            target = by_doc[nxt]
        if run.col("status")[target] != "kept" or (
            target in decisions and decisions[target].action == "remove"
        ):
            continue
        links.append((g, target))
        texts_needed |= {g, target}
    if not links:
        return
    texts = run.texts(sorted(texts_needed))
    sets = {g: shingle_hashes(normalise(t), cfg.ngram) for g, t in texts.items()}
    for g, target in links:
        a, b = sets[g], sets[target]
        inter = np.intersect1d(a, b, assume_unique=True).size
        cont = inter / min(a.size, b.size) if min(a.size, b.size) else 0.0
        # No template veto here: documents built on one template do not cite each other as their source.
        if cont < cfg.named_original_containment:
            continue
        keeper_id = doc_ids[target]
        decisions[g] = _Decision(
            "remove",
            NEAR,
            f"reprint of {keeper_id} (named original)",
            removed_stage=NEAR,
            removed_reason=f"reprint naming its original {originals[g]} (来源 link), containment {cont:.3f}",
            dedup_cluster=keeper_id,
            duplicate_of=keeper_id,
            duplicate_relation="reprint",
            duplicate_similarity=inter / (a.size + b.size - inter),
        )
        if target not in decisions:
            decisions[target] = _Decision(
                "keep", NEAR, "kept: named as the original by a reprint", dedup_cluster=keeper_id
            )
        live[g] = False
        stats.named_originals += 1


def _against_index(
    run: _Run, live: np.ndarray, decisions: dict[int, _Decision], stats: DedupStats, index: DedupIndex
) -> None:
    cars = _Sidecars(run, index.cfg)
    positions = np.flatnonzero(live[cars.g]) if cars.g.size else np.zeros(0, np.int64)
    doc_ids, sources = run.col("doc_id"), run.col("source_id")
    for start in range(0, positions.size, 2000):
        chunk = positions[start : start + 2000]
        sigs, _, facts = cars.load(chunk)
        results = index.query(sigs, facts)
        for pos, matches in zip(chunk.tolist(), results, strict=True):
            g = int(cars.g[pos])
            match = next((m for m in matches if m.doc_id != doc_ids[g] and not m.facts_conflict), None)
            if match is None:
                continue
            rel = "reprint" if match.source_id != sources[g] else "near"
            decisions[g] = _Decision(
                "remove",
                NEAR,
                f"{rel} of {match.doc_id} in snapshot {match.tag}",
                removed_stage=NEAR,
                removed_reason=f"{rel} of {match.doc_id} published in snapshot {match.tag!r} "
                f"(estimated Jaccard {match.estimate:.3f})",
                dedup_cluster=match.doc_id,
                duplicate_of=match.doc_id,
                duplicate_relation=rel,
                duplicate_similarity=match.estimate,
            )
            live[g] = False
            stats.near_published += 1
