"""Persistent near-duplicate index of published documents: LSH band keys -> doc ids, plus each signature.

New documents are checked against everything already published without loading it: the band keys of a batch are
looked up (indexed SQL, chunked), candidates are scored by the share of equal MinHash values (an unbiased Jaccard
estimate), and a match names the published doc id, its source and the tag it was first published under.
Memory stays bounded by the batch; the index lives on disk (``FINCORPUS_HOME/near-index.sqlite``).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fincorpus.dedup.near import NearConfig

_P = np.uint64(0x100000001B3)


class IndexConfigError(ValueError):
    """The index on disk was built with other MinHash parameters."""


@dataclass(frozen=True)
class IndexMatch:
    doc_id: str
    source_id: str
    tag: str
    estimate: float  # share of equal MinHash values
    facts_conflict: bool  # both sides state digit facts the other lacks: possibly the same template


def score_candidates(
    sigs: np.ndarray,
    facts: Sequence[Counter[str]],
    candidates: Sequence[Sequence[str]],
    stored: dict[str, tuple[str, str, np.ndarray, Counter[str]]],
    threshold: float,
) -> list[list[IndexMatch]]:
    """Estimated Jaccard (share of equal MinHash values) of each query against its candidates, best first."""
    out: list[list[IndexMatch]] = []
    for sig, f, cands in zip(sigs, facts, candidates, strict=True):
        matches = []
        for d in cands:
            if d not in stored:
                continue
            source, tag, other, other_facts = stored[d]
            est = float(np.mean(other == sig))
            if est >= threshold:
                conflict = bool(f and other_facts and (f - other_facts) and (other_facts - f))
                matches.append(IndexMatch(d, source, tag, est, conflict))
        out.append(sorted(matches, key=lambda m: (-m.estimate, m.doc_id)))
    return out


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


class NearIndex:
    def __init__(self, path: Path, cfg: NearConfig | None = None) -> None:
        self.cfg = cfg or NearConfig()
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS near_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS near_doc (
                doc_id TEXT PRIMARY KEY, source_id TEXT NOT NULL, tag TEXT NOT NULL, sig BLOB NOT NULL, facts TEXT);
            CREATE TABLE IF NOT EXISTS near_band (key INTEGER NOT NULL, doc_id TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS near_band_key ON near_band (key);
            CREATE INDEX IF NOT EXISTS near_band_doc ON near_band (doc_id);
            """
        )
        params = json.dumps(
            {k: v for k, v in asdict(self.cfg).items() if k in ("ngram", "bands", "rows", "seed")}
        )
        row = self.db.execute("SELECT v FROM near_meta WHERE k='config'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO near_meta VALUES ('config', ?)", (params,))
            self.db.commit()
        elif row[0] != params:
            raise IndexConfigError(
                f"{path} was built with {row[0]}, not {params}; rebuild it (`fincorpus dedup-index --rebuild`) "
                "or use the parameters it was built with"
            )

    def close(self) -> None:
        self.db.close()

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM near_doc").fetchone()[0])

    def add(
        self,
        doc_ids: Sequence[str],
        source_ids: Sequence[str],
        sigs: np.ndarray,
        facts: Sequence[Counter[str]],
        tag: str,
    ) -> None:
        """Insert (or replace) documents in one transaction."""
        if not doc_ids:
            return
        keys = band_key_matrix(sigs, self.cfg)
        with self.db:
            self._delete(doc_ids)
            self.db.executemany(
                "INSERT INTO near_doc VALUES (?, ?, ?, ?, ?)",
                (
                    (d, s, tag, np.asarray(sig, dtype=np.uint32).tobytes(), json.dumps(sorted(f.elements())))
                    for d, s, sig, f in zip(doc_ids, source_ids, sigs, facts, strict=True)
                ),
            )
            self.db.executemany(
                "INSERT INTO near_band VALUES (?, ?)",
                ((int(k), d) for d, row in zip(doc_ids, keys, strict=True) for k in row),
            )

    def remove(self, doc_ids: Sequence[str]) -> None:
        with self.db:
            self._delete(doc_ids)

    def _delete(self, doc_ids: Sequence[str]) -> None:
        for chunk in _chunks(list(doc_ids), 500):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM near_band WHERE doc_id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM near_doc WHERE doc_id IN ({marks})", chunk)

    def query(
        self, sigs: np.ndarray, facts: Sequence[Counter[str]], threshold: float | None = None
    ) -> list[list[IndexMatch]]:
        """For each query signature, the indexed documents whose estimated Jaccard reaches ``threshold``."""
        threshold = self.cfg.threshold if threshold is None else threshold
        sigs = np.atleast_2d(sigs)
        keys = band_key_matrix(sigs, self.cfg)
        by_key: dict[int, list[str]] = {}
        for chunk in _chunks(sorted({int(k) for k in keys.ravel()}), 900):
            marks = ",".join("?" * len(chunk))
            for key, doc_id in self.db.execute(
                f"SELECT key, doc_id FROM near_band WHERE key IN ({marks})", chunk
            ):
                by_key.setdefault(key, []).append(doc_id)
        candidates = [sorted({d for k in row for d in by_key.get(int(k), ())}) for row in keys]
        wanted = sorted({d for c in candidates for d in c})
        stored: dict[str, tuple[str, str, np.ndarray, Counter[str]]] = {}
        for chunk in _chunks(wanted, 900):
            marks = ",".join("?" * len(chunk))
            for d, s, tag, blob, f in self.db.execute(
                f"SELECT doc_id, source_id, tag, sig, facts FROM near_doc WHERE doc_id IN ({marks})", chunk
            ):
                stored[d] = (s, tag, np.frombuffer(blob, dtype=np.uint32), Counter(json.loads(f or "[]")))
        return score_candidates(sigs, facts, candidates, stored, threshold)


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class RedisNearIndex:
    """The same index in Redis, for several ingest workers on several machines (the scale-out variant).

    Keys under ``prefix``: ``cfg`` (MinHash parameters), ``docs`` (set of doc ids), ``doc:<id>`` (hash: source, tag,
    signature, facts, band keys) and ``band:<key>`` (set of doc ids). Memory lives in Redis, not in the workers.
    """

    def __init__(self, url: str, cfg: NearConfig | None = None, prefix: str = "fincorpus:near") -> None:
        import redis

        self.cfg = cfg or NearConfig()
        self.path = url
        self.prefix = prefix
        self.r = redis.Redis.from_url(url)
        params = json.dumps(
            {k: v for k, v in asdict(self.cfg).items() if k in ("ngram", "bands", "rows", "seed")}
        )
        try:
            self.r.set(f"{prefix}:cfg", params, nx=True)
            stored = self.r.get(f"{prefix}:cfg").decode()
        except redis.RedisError as exc:
            raise IndexConfigError(
                f"near-duplicate index at {url} is not reachable ({exc}); start Redis there or unset "
                "FINCORPUS_NEAR_INDEX to use the embedded index"
            ) from exc
        if stored != params:
            raise IndexConfigError(f"{url} ({prefix}) was built with {stored}, not {params}; rebuild it")

    def close(self) -> None:
        self.r.close()

    def __len__(self) -> int:
        return int(self.r.scard(f"{self.prefix}:docs"))

    def add(
        self,
        doc_ids: Sequence[str],
        source_ids: Sequence[str],
        sigs: np.ndarray,
        facts: Sequence[Counter[str]],
        tag: str,
    ) -> None:
        if not doc_ids:
            return
        self.remove(doc_ids)
        keys = band_key_matrix(sigs, self.cfg)
        pipe = self.r.pipeline(transaction=False)
        for d, s, sig, f, row in zip(doc_ids, source_ids, sigs, facts, keys, strict=True):
            pipe.hset(
                f"{self.prefix}:doc:{d}",
                mapping={
                    "source": s,
                    "tag": tag,
                    "sig": np.asarray(sig, dtype=np.uint32).tobytes(),
                    "facts": json.dumps(sorted(f.elements())),
                    "keys": ",".join(str(int(k)) for k in row),
                },
            )
            pipe.sadd(f"{self.prefix}:docs", d)
            for k in row:
                pipe.sadd(f"{self.prefix}:band:{int(k)}", d)
        pipe.execute()

    def remove(self, doc_ids: Sequence[str]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for d in doc_ids:
            pipe.hget(f"{self.prefix}:doc:{d}", "keys")
        old = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for d, keys in zip(doc_ids, old, strict=True):
            if keys is None:
                continue
            for k in keys.decode().split(","):
                pipe.srem(f"{self.prefix}:band:{k}", d)
            pipe.delete(f"{self.prefix}:doc:{d}")
            pipe.srem(f"{self.prefix}:docs", d)
        pipe.execute()

    def query(
        self, sigs: np.ndarray, facts: Sequence[Counter[str]], threshold: float | None = None
    ) -> list[list[IndexMatch]]:
        threshold = self.cfg.threshold if threshold is None else threshold
        sigs = np.atleast_2d(sigs)
        keys = band_key_matrix(sigs, self.cfg)
        unique = sorted({int(k) for k in keys.ravel()})
        pipe = self.r.pipeline(transaction=False)
        for k in unique:
            pipe.smembers(f"{self.prefix}:band:{k}")
        by_key = {k: {m.decode() for m in members} for k, members in zip(unique, pipe.execute(), strict=True)}
        candidates = [sorted({d for k in row for d in by_key.get(int(k), ())}) for row in keys]
        wanted = sorted({d for c in candidates for d in c})
        pipe = self.r.pipeline(transaction=False)
        for d in wanted:
            pipe.hmget(f"{self.prefix}:doc:{d}", "source", "tag", "sig", "facts")
        stored = {}
        for d, (s, tag, blob, f) in zip(wanted, pipe.execute(), strict=True):
            if blob is not None:
                stored[d] = (
                    s.decode(),
                    tag.decode(),
                    np.frombuffer(blob, dtype=np.uint32),
                    Counter(json.loads(f or b"[]")),
                )
        return score_candidates(sigs, facts, candidates, stored, threshold)


def open_near_index(
    home: Path, url: str | None = None, cfg: NearConfig | None = None
) -> NearIndex | RedisNearIndex:
    """The embedded SQLite index under ``home``, or Redis when ``url`` (or FINCORPUS_NEAR_INDEX) is redis://..."""
    import os

    url = url or os.environ.get("FINCORPUS_NEAR_INDEX")
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisNearIndex(url, cfg)
    if url:
        raise IndexConfigError(
            f"FINCORPUS_NEAR_INDEX={url!r} is not a redis:// URL; unset it for the embedded index"
        )
    return NearIndex(home / "near-index.sqlite", cfg)
