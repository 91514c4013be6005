"""Persistent dedup index of published documents: exact text hashes and near-duplicate LSH band keys.

New documents are checked against everything already published without loading it:

- exact: ``text_sha256 -> doc_id`` (a hash index, not a dict of the whole table);
- near: the band keys of a batch are looked up (indexed, chunked), candidates are scored by the share of equal
  MinHash values (an unbiased Jaccard estimate), and a match names the published doc id, its source and the tag it
  was first published under, plus whether the two texts' digit facts conflict (same template, two documents).

Memory stays bounded by the batch; the index lives on disk (``FINCORPUS_HOME/near-index.sqlite``) or in Redis when
several workers share one corpus (``FINCORPUS_NEAR_INDEX=redis://...``). The catalog stays the source of truth:
the index records the catalog snapshot it was last synchronised with, publish brings it up to date after each
commit (idempotently: adding a document again replaces it), and ``fincorpus dedup-index --rebuild`` rebuilds it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, create_engine, event, text
from sqlalchemy.pool import NullPool

from fincorpus.dedup.near import Facts, NearConfig, band_key_matrix, facts_conflict
from fincorpus.settings import catalog_is_sqlite, catalog_uri, redact


class IndexConfigError(ValueError):
    """The index cannot be used: built with other parameters, unreachable, or misconfigured."""


@dataclass(frozen=True)
class IndexMatch:
    doc_id: str
    source_id: str
    tag: str
    estimate: float  # share of equal MinHash values
    facts_conflict: bool  # digit facts conflict: possibly the same template, two documents


@dataclass(frozen=True)
class IndexedDocs:
    """What the index keeps per published document."""

    doc_ids: Sequence[str]
    source_ids: Sequence[str]
    sigs: np.ndarray  # (n x num_perm) uint32
    facts: Sequence[Facts]
    text_sha256: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.doc_ids)


def score_candidates(
    sigs: np.ndarray,
    facts: Sequence[Facts],
    candidates: Sequence[Sequence[str]],
    stored: dict[str, tuple[str, str, np.ndarray, Facts]],
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
                matches.append(IndexMatch(d, source, tag, est, facts_conflict(f, other_facts)))
        out.append(sorted(matches, key=lambda m: (-m.estimate, m.doc_id)))
    return out


def _chunks(items: list, n: int) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class SqlNearIndex:
    """The index in a SQL database through SQLAlchemy: a SQLite file (embedded) or the catalog's PostgreSQL
    database (a cluster without Redis). Band rows are (key, integer doc number), clustered by key."""

    def __init__(self, engine: Engine, cfg: NearConfig | None = None, where: str = "") -> None:
        self.cfg = cfg or NearConfig()
        self.engine = engine
        self.path = where
        sqlite = engine.dialect.name == "sqlite"
        self._sqlite = sqlite
        ddl = [
            "CREATE TABLE IF NOT EXISTS near_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
            (
                "CREATE TABLE IF NOT EXISTS idx_doc (n INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, "
                "source_id TEXT NOT NULL, tag TEXT NOT NULL, sig BLOB, facts BLOB, text_sha256 TEXT)"
                if sqlite
                else "CREATE TABLE IF NOT EXISTS idx_doc (n BIGSERIAL PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, "
                "source_id TEXT NOT NULL, tag TEXT NOT NULL, sig BYTEA, facts BYTEA, text_sha256 TEXT)"
            ),
            "CREATE TABLE IF NOT EXISTS idx_band (key BIGINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (key, n))"
            + (" WITHOUT ROWID" if sqlite else ""),
            "CREATE INDEX IF NOT EXISTS idx_doc_sha ON idx_doc (text_sha256)",
        ]
        from fincorpus.sources.frontier import serialise_ddl

        with engine.begin() as c:
            serialise_ddl(c)
            for stmt in ddl:
                c.exec_driver_sql(stmt)
            legacy = (
                sqlite
                and c.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='near_doc'"
                ).first()
            )
            params = json.dumps(self.cfg.index_params(), sort_keys=True)
            row = c.execute(text("SELECT v FROM near_meta WHERE k='config'")).first()
            if row is None and not legacy:
                c.execute(
                    text("INSERT INTO near_meta VALUES ('config', :v) ON CONFLICT (k) DO NOTHING"),
                    {"v": params},
                )
                row = c.execute(text("SELECT v FROM near_meta WHERE k='config'")).first()
        if legacy or row[0] != params:
            built = row[0] if row else "an earlier release's format"
            raise IndexConfigError(
                f"{where or 'the dedup index'} was built with {built}, not {params}; rebuild it "
                "(`fincorpus dedup-index --rebuild`) or use the parameters it was built with"
            )

    def close(self) -> None:
        """The engine is shared (the catalog's) or owned (a file's): an owned one is disposed by the subclass."""

    def __len__(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(text("SELECT COUNT(*) FROM idx_doc")).scalar_one())

    # -- sync marker ------------------------------------------------------------------------------------------
    def synced(self) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(text("SELECT v FROM near_meta WHERE k='synced'")).first()
        return row[0] if row else None

    def set_synced(self, marker: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                text("INSERT INTO near_meta VALUES ('synced', :v) ON CONFLICT (k) DO UPDATE SET v=:v"),
                {"v": marker},
            )

    def clear(self) -> None:
        with self.engine.begin() as c:
            c.execute(text("DELETE FROM idx_band"))
            c.execute(text("DELETE FROM idx_doc"))
            c.execute(text("DELETE FROM near_meta WHERE k='synced'"))

    # -- writing ----------------------------------------------------------------------------------------------
    def _many(self, c: Any, sql: str, params: list[dict[str, Any]]) -> None:
        if not params:
            return
        if c.dialect.paramstyle in ("pyformat", "format"):
            sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)
        c.exec_driver_sql(sql, params)

    def add(self, docs: IndexedDocs, tag: str) -> None:
        """Insert (or replace) documents in one transaction; documents without text keep only their hash."""
        if not len(docs):
            return
        with self.engine.begin() as c:
            self._delete(c, list(docs.doc_ids))
            has_sig = [f is not None for f in docs.facts]
            self._many(
                c,
                "INSERT INTO idx_doc (doc_id, source_id, tag, sig, facts, text_sha256) VALUES (:d, :s, :t, :g, :f, :h)",
                [
                    {
                        "d": d,
                        "s": src,
                        "t": tag,
                        "g": np.asarray(sig, dtype=np.uint32).tobytes() if ok else None,
                        "f": f.to_bytes() if ok else None,
                        "h": h,
                    }
                    for d, src, sig, f, h, ok in zip(
                        docs.doc_ids,
                        docs.source_ids,
                        docs.sigs,
                        docs.facts,
                        docs.text_sha256,
                        has_sig,
                        strict=True,
                    )
                ],
            )
            with_sig = [k for k, ok in enumerate(has_sig) if ok]
            if not with_sig:
                return
            numbers = self._numbers(c, [docs.doc_ids[k] for k in with_sig])
            keys = band_key_matrix(docs.sigs[with_sig], self.cfg)
            self._many(
                c,
                "INSERT INTO idx_band VALUES (:k, :n) ON CONFLICT DO NOTHING",
                [{"k": int(k), "n": n} for n, row in zip(numbers, keys, strict=True) for k in row.tolist()],
            )

    def _numbers(self, c: Any, doc_ids: list[str]) -> list[int]:
        found: dict[str, int] = {}
        q = text("SELECT doc_id, n FROM idx_doc WHERE doc_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        for chunk in _chunks(doc_ids, 900):
            for d, n in c.execute(q, {"ids": chunk}):
                found[d] = n
        return [found[d] for d in doc_ids]

    def remove(self, doc_ids: Sequence[str]) -> None:
        with self.engine.begin() as c:
            self._delete(c, list(doc_ids))

    def _delete(self, c: Any, doc_ids: list[str]) -> None:
        sel = text("SELECT n, sig FROM idx_doc WHERE doc_id IN :ids AND sig IS NOT NULL").bindparams(
            bindparam("ids", expanding=True)
        )
        dele = text("DELETE FROM idx_doc WHERE doc_id IN :ids").bindparams(bindparam("ids", expanding=True))
        for chunk in _chunks(doc_ids, 900):
            rows = c.execute(sel, {"ids": chunk}).fetchall()
            if rows:
                sigs = np.stack([np.frombuffer(bytes(blob), dtype=np.uint32) for _, blob in rows])
                keys = band_key_matrix(sigs, self.cfg)
                self._many(
                    c,
                    "DELETE FROM idx_band WHERE key=:k AND n=:n",
                    [
                        {"k": int(k), "n": n}
                        for (n, _), row in zip(rows, keys, strict=True)
                        for k in row.tolist()
                    ],
                )
            c.execute(dele, {"ids": chunk})

    # -- reading ----------------------------------------------------------------------------------------------
    def exact(self, hashes: Sequence[str]) -> dict[str, tuple[str, str]]:
        """text_sha256 -> (doc_id, tag) of published documents with that text (the lowest doc_id if several)."""
        out: dict[str, tuple[str, str]] = {}
        q = text(
            "SELECT text_sha256, doc_id, tag FROM idx_doc WHERE text_sha256 IN :h ORDER BY doc_id"
        ).bindparams(bindparam("h", expanding=True))
        with self.engine.connect() as c:
            for chunk in _chunks(sorted({h for h in hashes if h}), 900):
                for h, d, tag in c.execute(q, {"h": chunk}):
                    out.setdefault(h, (d, tag))
        return out

    def query(
        self, sigs: np.ndarray, facts: Sequence[Facts], threshold: float | None = None
    ) -> list[list[IndexMatch]]:
        """For each query signature, the indexed documents whose estimated Jaccard reaches ``threshold``."""
        threshold = self.cfg.threshold if threshold is None else threshold
        sigs = np.atleast_2d(sigs)
        if sigs.shape[0] == 0:
            return []
        keys = band_key_matrix(sigs, self.cfg)
        by_key: dict[int, list[int]] = {}
        qk = text("SELECT key, n FROM idx_band WHERE key IN :k").bindparams(bindparam("k", expanding=True))
        qd = text("SELECT n, doc_id, source_id, tag, sig, facts FROM idx_doc WHERE n IN :n").bindparams(
            bindparam("n", expanding=True)
        )
        stored: dict[int, tuple[str, str, str, np.ndarray, Facts]] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(sorted({int(k) for k in keys.ravel().tolist()}), 900):
                for key, n in c.execute(qk, {"k": chunk}):
                    by_key.setdefault(int(key), []).append(int(n))
            cand_numbers = [sorted({n for k in row.tolist() for n in by_key.get(k, ())}) for row in keys]
            wanted = sorted({n for cn in cand_numbers for n in cn})
            for chunk in _chunks(wanted, 900):
                for n, d, src, tag, blob, f in c.execute(qd, {"n": chunk}):
                    stored[int(n)] = (
                        d,
                        src,
                        tag,
                        np.frombuffer(bytes(blob), dtype=np.uint32),
                        Facts.from_bytes(bytes(f) if f is not None else None),
                    )
        candidates = [[stored[n][0] for n in cn if n in stored] for cn in cand_numbers]
        by_doc = {v[0]: (v[1], v[2], v[3], v[4]) for v in stored.values()}
        return score_candidates(sigs, facts, candidates, by_doc, threshold)


class NearIndex(SqlNearIndex):
    """The embedded index: one SQLite file of its own (``FINCORPUS_HOME/near-index.sqlite``)."""

    def __init__(self, path: Path, cfg: NearConfig | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            f"sqlite:///{path.resolve()}", connect_args={"timeout": 60}, poolclass=NullPool
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        super().__init__(engine, cfg, where=str(path))
        self.path = path  # type: ignore[assignment]

    def close(self) -> None:
        self.engine.dispose()


class RedisNearIndex:
    """The same index in Redis, for several ingest workers on several machines (the scale-out variant).

    Keys under ``prefix``: ``cfg`` (MinHash parameters), ``synced`` (catalog snapshot marker), ``docs`` (set of doc
    ids), ``doc:<id>`` (hash: source, tag, signature, facts, band keys, text hash), ``band:<key>`` (set of doc ids)
    and ``sha:<text_sha256>`` (set of doc ids). Memory lives in Redis, not in the workers.
    """

    def __init__(self, url: str, cfg: NearConfig | None = None, prefix: str = "fincorpus:near") -> None:
        import redis

        self.cfg = cfg or NearConfig()
        self.path = url
        self.prefix = prefix
        self.r = redis.Redis.from_url(url)
        params = json.dumps(self.cfg.index_params(), sort_keys=True)
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

    def synced(self) -> str | None:
        v = self.r.get(f"{self.prefix}:synced")
        return v.decode() if v else None

    def set_synced(self, marker: str) -> None:
        self.r.set(f"{self.prefix}:synced", marker)

    def clear(self) -> None:
        """Remove this index's keys (only keys under its own prefix, which fincorpus created)."""
        for key in self.r.scan_iter(f"{self.prefix}:*"):
            if key.decode() != f"{self.prefix}:cfg":
                self.r.delete(key)

    def add(self, docs: IndexedDocs, tag: str) -> None:
        if not len(docs):
            return
        self.remove(list(docs.doc_ids))
        with_sig = [k for k, f in enumerate(docs.facts) if f is not None]
        keys = (
            dict(zip(with_sig, band_key_matrix(docs.sigs[with_sig], self.cfg), strict=True))
            if with_sig
            else {}
        )
        pipe = self.r.pipeline(transaction=False)
        for k, (d, s, h) in enumerate(zip(docs.doc_ids, docs.source_ids, docs.text_sha256, strict=True)):
            mapping: dict[str, bytes | str] = {"source": s, "tag": tag, "sha": h or ""}
            if k in keys:
                mapping |= {
                    "sig": np.asarray(docs.sigs[k], dtype=np.uint32).tobytes(),
                    "facts": docs.facts[k].to_bytes(),
                    "keys": ",".join(str(int(x)) for x in keys[k]),
                }
                for x in keys[k]:
                    pipe.sadd(f"{self.prefix}:band:{int(x)}", d)
            pipe.hset(f"{self.prefix}:doc:{d}", mapping=mapping)
            pipe.sadd(f"{self.prefix}:docs", d)
            if h:
                pipe.sadd(f"{self.prefix}:sha:{h}", d)
        pipe.execute()

    def remove(self, doc_ids: Sequence[str]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for d in doc_ids:
            pipe.hmget(f"{self.prefix}:doc:{d}", "keys", "sha")
        old = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for d, (keys, sha) in zip(doc_ids, old, strict=True):
            if keys:
                for k in keys.decode().split(","):
                    pipe.srem(f"{self.prefix}:band:{k}", d)
            if sha:
                pipe.srem(f"{self.prefix}:sha:{sha.decode()}", d)
            pipe.delete(f"{self.prefix}:doc:{d}")
            pipe.srem(f"{self.prefix}:docs", d)
        pipe.execute()

    def exact(self, hashes: Sequence[str]) -> dict[str, tuple[str, str]]:
        wanted = sorted({h for h in hashes if h})
        pipe = self.r.pipeline(transaction=False)
        for h in wanted:
            pipe.smembers(f"{self.prefix}:sha:{h}")
        out: dict[str, str] = {}
        for h, members in zip(wanted, pipe.execute(), strict=True):
            if members:
                out[h] = min(m.decode() for m in members)
        pipe = self.r.pipeline(transaction=False)
        for d in out.values():
            pipe.hget(f"{self.prefix}:doc:{d}", "tag")
        tags = pipe.execute()
        return {h: (d, (t or b"").decode()) for (h, d), t in zip(out.items(), tags, strict=True)}

    def query(
        self, sigs: np.ndarray, facts: Sequence[Facts], threshold: float | None = None
    ) -> list[list[IndexMatch]]:
        threshold = self.cfg.threshold if threshold is None else threshold
        sigs = np.atleast_2d(sigs)
        if sigs.shape[0] == 0:
            return []
        keys = band_key_matrix(sigs, self.cfg)
        unique = sorted({int(k) for k in keys.ravel().tolist()})
        pipe = self.r.pipeline(transaction=False)
        for k in unique:
            pipe.smembers(f"{self.prefix}:band:{k}")
        by_key = {k: {m.decode() for m in members} for k, members in zip(unique, pipe.execute(), strict=True)}
        candidates = [sorted({d for k in row.tolist() for d in by_key.get(k, ())}) for row in keys]
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
                    Facts.from_bytes(f),
                )
        return score_candidates(sigs, facts, candidates, stored, threshold)


DedupIndex = SqlNearIndex | RedisNearIndex


def open_near_index(home: Path, url: str | None = None, cfg: NearConfig | None = None) -> DedupIndex:
    """The embedded SQLite index under ``home``, or Redis when ``url`` (or FINCORPUS_NEAR_INDEX) is redis://..."""
    url = url or os.environ.get("FINCORPUS_NEAR_INDEX")
    if url and url.startswith(("redis://", "rediss://", "unix://")):
        return RedisNearIndex(url, cfg)
    if url:
        raise IndexConfigError(
            f"FINCORPUS_NEAR_INDEX={url!r} is not a redis:// URL; unset it for the embedded index"
        )
    if not catalog_is_sqlite(home):  # several machines share the catalog database: the index lives there too
        from fincorpus.sources.frontier import catalog_engine

        return SqlNearIndex(catalog_engine(home), cfg, where=redact(catalog_uri(home)))
    return NearIndex(home / "near-index.sqlite", cfg)
