"""Near duplicates: MinHash over character n-grams with explicit bands x rows, verified, template-aware.

Why this shape:
- Chinese has no spaces, so shingles are character n-grams of a normalised text (full-width forms folded, OpenCC
  folds traditional to simplified, punctuation, symbols and spaces are dropped by Unicode category, digits kept).
- Signatures are datasketch's own scheme (``affine32``, datasketch >= 2.0): each 32-bit shingle hash is pre-mixed
  with the MurmurHash3 finalizer, then permuted by ``a * h + b mod 2**32`` with odd ``a`` (a bijection, so the
  permutation step adds no collisions), computed with numpy over all shingles at once. tests/test_dedup_near.py
  checks equality with ``datasketch.MinHash.update_batch`` on the same shingles.
- LSH bands and rows are explicit: datasketch's defaults for threshold 0.8 found only 40% of the pairs with
  Jaccard >= 0.8 on this corpus (measured when the issue was filed).
- Candidates come from equal band keys, found by sorting one band column at a time (memory: one int64 per
  document and band). A bucket larger than ``bucket_cap`` (thousands of same-template announcements share band
  keys) is not expanded into all its pairs: each member is paired with its ``bucket_cap`` nearest members in
  document order instead, so a heavy bucket costs O(size x cap), not O(size^2). What that costs in recall is
  measured by bench/dedup (pairs of one heavy bucket that are not neighbours are only found through other bands).
- Each candidate is verified on its MinHash estimate; pairs near the decision thresholds (within ``verify_margin``)
  are verified with the exact Jaccard and containment of their shingle sets, read back for those pairs only.
- Template awareness in linear time: disclosures built from one template (equity freezes, meeting notices) share
  most shingles but differ in their facts. Each digit run of the normalised text is keyed by the characters just
  before it (its context, digits masked); two texts are two documents on one template when some context appears in
  both with no value in common. This replaced a difflib alignment of the whole texts (quadratic in length): on the
  mirror sites every template pair has such a conflict, and true duplicates whose counters differ (captures of one
  page) are kept apart as before (precision first: a false merge loses a document, a missed merge keeps a copy).
- Containment: a reprint trimmed of its last paragraph, or an original whose page added extra text, can fall under
  the Jaccard threshold while one text lies almost wholly inside the other; such pairs are reported with their
  containment and the caller decides (a document is only ever dropped in favour of one that contains it).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import regex

# Full-width ASCII (U+FF01-FF5E) and the ideographic space fold to ASCII: the part of NFKC that matters here, at a
# fraction of its cost (NFKC was 40% of the signature time).
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# Punctuation, symbols, separators and controls of every script (Unicode categories, not an ASCII list).
_DROP = regex.compile(r"[\p{P}\p{S}\p{Z}\p{C}]+")
_DIGITS = re.compile(r"\d+")
_POLY = np.uint64(0x9E3779B97F4A7C15)
_MAX32 = np.uint32(0xFFFFFFFF)
SCHEME = "affine32"  # datasketch's permutation scheme; part of the index configuration
FACT_CONTEXT = 6  # characters before a digit run that key it (chosen by agreement with the difflib check)


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    try:
        import opencc

        return opencc.OpenCC("t2s")
    except ImportError:  # pragma: no cover - opencc is a dependency; degrade to no folding
        return None


def fold_width(text: str) -> str:
    return text.translate(_WIDTH)


def normalise(text: str, folded: bool = False) -> str:
    """The text shingles are taken from: folded widths and scripts, no punctuation, symbols or spaces."""
    text = (text if folded else fold_width(text)).lower()
    conv = _t2s()
    if conv is not None:
        text = conv.convert(text)
    return _DROP.sub("", text)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix for the affine32 scheme)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _hash_ngrams(codepoints: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit polynomial hash of every window of ``n`` code points, folded to 32 bits (not yet unique)."""
    m = max(len(codepoints) - n + 1, 1)
    width = min(n, len(codepoints))
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(width):
            h = h * _POLY + codepoints[k : k + m]
        return ((h >> np.uint64(32)) ^ h).astype(np.uint32)


def shingle_hashes(norm: str, n: int) -> np.ndarray:
    """Sorted unique 32-bit hashes of the character n-grams (the whole text if shorter than n)."""
    if not norm:
        return np.zeros(0, dtype=np.uint32)
    cp = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return np.unique(_hash_ngrams(cp, n))


@dataclass(frozen=True)
class NearConfig:
    ngram: int = 5
    bands: int = 20
    rows: int = 6
    threshold: float = 0.7  # Jaccard needed to call two documents near duplicates
    seed: int = 1
    containment: float = 0.8  # share of the smaller shingle set inside the larger for a containment match
    named_original_containment: float = 0.5  # enough shared text to trust a reprint's own 来源 link
    bucket_cap: int = (
        64  # members of one LSH bucket paired all-with-all; larger buckets: with nearest members
    )
    verify_margin: float = 0.12  # estimates this close to a threshold are verified on exact shingle sets

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def index_params(self) -> dict[str, object]:
        """What a persistent index must have been built with to be queried with this configuration."""
        return {
            "ngram": self.ngram,
            "bands": self.bands,
            "rows": self.rows,
            "seed": self.seed,
            "scheme": SCHEME,
            "facts": FACT_CONTEXT,
            "facts_hash": "crc32x2",
        }


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations (MinHash._init_permutations, datasketch >= 2.0), drawn the same way:
    importing datasketch costs seconds per worker process (it pulls in scipy), so the draw is repeated here and
    tests/test_dedup_near.py checks it against datasketch's own."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_BLOCK = 4096  # shingles per block: bounds the (shingles x permutations) temporary to 2 MB


def signature(hashes: np.ndarray, cfg: NearConfig) -> np.ndarray:
    """datasketch affine32 MinHash of a set of 32-bit shingle hashes."""
    a, b = _permutations(cfg.num_perm, cfg.seed)
    sig = np.full(cfg.num_perm, _MAX32, dtype=np.uint32)
    if hashes.size == 0:
        return sig
    mixed = _fmix32(hashes.astype(np.uint32, copy=False))
    with np.errstate(over="ignore"):
        for start in range(0, mixed.size, _BLOCK):
            block = mixed[start : start + _BLOCK]
            np.minimum(sig, (block[:, None] * a[None, :] + b[None, :]).min(axis=0), out=sig)
    return sig


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(Jaccard, containment of the smaller set in the larger) of two sorted unique hash sets."""
    if a.size == 0 or b.size == 0:
        return (1.0 if a.size == b.size else 0.0), 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter), inter / min(a.size, b.size)


# -- digit facts: what distinguishes two documents written on one template ------------------------------------


@dataclass(frozen=True)
class Facts:
    """Digit runs of a normalised text keyed by their context: ``ctx[i]`` (hash of the preceding characters, digits
    masked) stated the value ``val[i]`` (hash of the digits). Sorted by (ctx, val), unique."""

    ctx: np.ndarray
    val: np.ndarray

    @property
    def empty(self) -> bool:
        return self.ctx.size == 0

    def to_bytes(self) -> bytes:
        return np.stack([self.ctx, self.val]).astype(np.uint64).tobytes() if self.ctx.size else b""

    @classmethod
    def from_bytes(cls, blob: bytes | None) -> Facts:
        if not blob:
            return NO_FACTS
        arr = np.frombuffer(blob, dtype=np.uint64).reshape(2, -1)
        return cls(arr[0].copy(), arr[1].copy())


NO_FACTS = Facts(np.zeros(0, np.uint64), np.zeros(0, np.uint64))
_MASK = str.maketrans("0123456789", "##########")


def _h64(s: str) -> int:
    """A stable 64-bit hash of a short string (two CRC-32s: fast, and the same in every process)."""
    b = s.encode("utf-8")
    return (zlib.crc32(b) << 32) | zlib.crc32(b, 0x9E3779B9)


def facts_of(norm: str) -> Facts:
    """The digit facts of a normalised text, in one pass over its digit runs."""
    pairs = set()
    for m in _DIGITS.finditer(norm):
        start = m.start()
        ctx = norm[max(0, start - FACT_CONTEXT) : start].translate(_MASK)
        pairs.add((_h64(ctx), _h64(m.group())))
    if not pairs:
        return NO_FACTS
    arr = np.array(sorted(pairs), dtype=np.uint64)
    return Facts(arr[:, 0], arr[:, 1])


def facts_conflict(a: Facts, b: Facts) -> bool:
    """True when some context states values in both texts and no value in common: one template, two documents."""
    if a.empty or b.empty:
        return False
    shared = np.intersect1d(a.ctx, b.ctx)
    if shared.size == 0:
        return False
    pairs_a = set(zip(a.ctx.tolist(), a.val.tolist(), strict=True))
    pairs_b = set(zip(b.ctx.tolist(), b.val.tolist(), strict=True))
    agreeing = {c for c, _ in pairs_a & pairs_b}
    return any(c not in agreeing for c in shared.tolist())


@dataclass
class Prepared:
    norm: str
    hashes: np.ndarray
    sig: np.ndarray
    facts: Facts

    @property
    def size(self) -> int:
        return int(self.hashes.size)


def prepare(text: str, cfg: NearConfig) -> Prepared:
    norm = normalise(fold_width(text), folded=True)
    hashes = shingle_hashes(norm, cfg.ngram)
    return Prepared(norm, hashes, signature(hashes, cfg), facts_of(norm))


# -- candidates and verification -------------------------------------------------------------------------------

_P = np.uint64(0x100000001B3)


def band_key_matrix(sigs: np.ndarray, cfg: NearConfig) -> np.ndarray:
    """(docs x bands) signed 64-bit keys: each band's rows folded with the band number, vectorised."""
    sigs = np.atleast_2d(sigs).astype(np.uint64)
    n = sigs.shape[0]
    keys = np.empty((n, cfg.bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(cfg.bands):
            h = np.full(n, np.uint64(band + 1) * np.uint64(0x9E3779B97F4A7C15), dtype=np.uint64)
            for r in range(cfg.rows):
                h = (h ^ sigs[:, band * cfg.rows + r]) * _P
            keys[:, band] = h
    return keys.view(np.int64)


@dataclass(frozen=True)
class Candidates:
    pairs: np.ndarray  # (m x 2) int64, i < j, unique, sorted
    capped_buckets: int  # buckets larger than bucket_cap (paired with nearest members only)
    largest_bucket: int


def _bucket_pairs(members: np.ndarray, cap: int) -> np.ndarray:
    """All pairs of a small bucket; each member with its ``cap`` next members in a large one."""
    n = members.size
    if n <= cap:
        i, j = np.triu_indices(n, k=1)
    else:
        offs = np.arange(1, cap + 1)
        i = np.repeat(np.arange(n), cap)
        j = i + np.tile(offs, n)
        keep = j < n
        i, j = i[keep], j[keep]
    return np.stack([members[i], members[j]], axis=1)


def candidate_pairs(
    band: Callable[[int], np.ndarray], n: int, cfg: NearConfig, active: np.ndarray | None = None
) -> Candidates:
    """Pairs of documents sharing a band key, one band column at a time.

    ``band(b)`` returns the keys of band ``b`` for all ``n`` documents; ``active`` masks the documents that take
    part (default all). Memory: one band column, plus the pairs found.
    """
    rows_idx = np.arange(n) if active is None else np.flatnonzero(active)
    found: list[np.ndarray] = []
    capped = 0
    largest = 1 if rows_idx.size else 0
    for b in range(cfg.bands):
        if rows_idx.size < 2:
            break
        col = np.asarray(band(b))[rows_idx]
        order = np.argsort(col, kind="stable")
        sorted_keys = col[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        lengths = np.diff(np.r_[starts, sorted_keys.size])
        multi = lengths > 1
        for s, length in zip(starts[multi].tolist(), lengths[multi].tolist(), strict=True):
            members = np.sort(rows_idx[order[s : s + length]])
            largest = max(largest, length)
            if length > cfg.bucket_cap:
                capped += 1
            found.append(_bucket_pairs(members, cfg.bucket_cap))
    if not found:
        return Candidates(np.zeros((0, 2), dtype=np.int64), capped, largest)
    pairs = np.concatenate(found).astype(np.int64)
    pairs = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return Candidates(np.stack([pairs // n, pairs % n], axis=1), capped, largest)


@dataclass(frozen=True)
class NearPair:
    i: int
    j: int
    jaccard: float
    containment: float  # |A & B| / min(|A|, |B|)
    template: bool  # near in wording, different in facts: two documents, not a duplicate
    exact: bool  # verified on the shingle sets (else a MinHash estimate)


def verify_pairs(
    pairs: np.ndarray,
    sigs: np.ndarray,
    sizes: np.ndarray,
    facts: Callable[[int], Facts],
    hashes: Callable[[Sequence[int]], dict[int, np.ndarray]],
    cfg: NearConfig,
) -> list[NearPair]:
    """Pairs that reach the Jaccard or containment threshold; estimates near a threshold are checked exactly.

    ``hashes(indices)`` returns the shingle sets of the given documents (called once, for the borderline pairs).
    """
    if pairs.size == 0:
        return []
    i, j = pairs[:, 0], pairs[:, 1]
    est = (sigs[i] == sigs[j]).mean(axis=1)
    si, sj = sizes[i].astype(np.float64), sizes[j].astype(np.float64)
    inter = est * (si + sj) / (1.0 + est)
    cont = np.where(np.minimum(si, sj) > 0, inter / np.maximum(np.minimum(si, sj), 1.0), 0.0)
    m = cfg.verify_margin
    candidate = (est >= cfg.threshold - m) | (cont >= cfg.containment - m)
    # decided by the estimate alone: clearly above the Jaccard threshold, or clear of both thresholds
    j_yes = est >= cfg.threshold + m
    border = candidate & ~j_yes & ((np.abs(est - cfg.threshold) < m) | (np.abs(cont - cfg.containment) < m))
    need = sorted({int(x) for x in np.concatenate([i[border], j[border]]).tolist()})
    exact_sets = hashes(need) if need else {}
    out: list[NearPair] = []
    for k in np.flatnonzero(candidate).tolist():
        a, b = int(i[k]), int(j[k])
        jac, con, exact = float(est[k]), float(min(cont[k], 1.0)), False
        if border[k]:
            jac, con = overlap(exact_sets[a], exact_sets[b])
            exact = True
        if jac >= cfg.threshold or con >= cfg.containment:
            out.append(NearPair(a, b, jac, con, facts_conflict(facts(a), facts(b)), exact))
    return out


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:  # path compression
            parent[x], x = root, int(parent[x])
        return root

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)  # smallest index is the root: deterministic


def clusters(n: int, pairs: Sequence[NearPair], accept: Callable[[NearPair], bool]) -> list[int]:
    uf = UnionFind(n)
    for p in pairs:
        if not p.template and accept(p):
            uf.union(p.i, p.j)
    return [uf.find(i) for i in range(n)]


def near_pairs(prepared: Sequence[Prepared], cfg: NearConfig) -> tuple[list[NearPair], Candidates]:
    """Verified pairs among in-memory prepared texts (the same path the run-level stage takes over parts)."""
    live = np.array([p.size > 0 for p in prepared], dtype=bool)
    if not prepared:
        return [], Candidates(np.zeros((0, 2), dtype=np.int64), 0, 0)
    sigs = np.stack([p.sig for p in prepared])
    sizes = np.array([p.size for p in prepared], dtype=np.int64)
    keys = band_key_matrix(sigs, cfg)
    cands = candidate_pairs(lambda b: keys[:, b], len(prepared), cfg, active=live)
    pairs = verify_pairs(
        cands.pairs,
        sigs,
        sizes,
        lambda k: prepared[k].facts,
        lambda idx: {k: prepared[k].hashes for k in idx},
        cfg,
    )
    return pairs, cands


def cluster_texts(texts: Sequence[str], cfg: NearConfig | None = None) -> list[int]:
    """Cluster label per text (the smallest index of its cluster); the benchmark's entry point.

    Without row metadata there is no keeper policy, so containment matches count when the texts' lengths are within
    a factor of two (a trimmed reprint), and Jaccard matches always.
    """
    cfg = cfg or NearConfig()
    prepared = [prepare(t, cfg) for t in texts]

    def accept(p: NearPair) -> bool:
        if p.jaccard >= cfg.threshold:
            return True
        la, lb = len(prepared[p.i].norm), len(prepared[p.j].norm)
        return min(la, lb) >= 0.5 * max(la, lb)

    pairs, _ = near_pairs(prepared, cfg)
    return clusters(len(texts), pairs, accept)
