"""Crawl state in the catalog database: passes, the frontier, the last stored version of every URL, captures.

A URL counts as stored when the transaction that marks it done commits, and that transaction also queues the links
it revealed and records its capture. A crawl killed at any moment (SIGKILL included) therefore resumes with every
queued URL still queued and never re-fetches a URL whose result was committed. A WARC record written just before a
kill is left unreferenced (harmless); the URL is fetched again into the next WARC segment.

A pass moves crawling -> crawled -> staged: ingest resumes a crawling pass, processes crawled passes, and marks them
staged with its run id. The tables live beside the Iceberg catalog tables (same SQLAlchemy URL), so a Postgres
catalog brings a Postgres frontier with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, text

from fincorpus import locks
from fincorpus.settings import catalog_uri
from fincorpus.sources.archive import StoredRecord, flush_spool
from fincorpus.sources.base import Capture, CrawlEvent, ItemMeta

_DDL = [
    """CREATE TABLE IF NOT EXISTS crawl_pass (
        pass_id TEXT PRIMARY KEY,
        source_id TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        segments INTEGER NOT NULL DEFAULT 0,
        run_id TEXT)""",
    """CREATE TABLE IF NOT EXISTS crawl_frontier (
        pass_id TEXT NOT NULL,
        url TEXT NOT NULL,
        seq INTEGER NOT NULL,
        depth INTEGER NOT NULL,
        via TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
        outcome TEXT,
        meta TEXT,
        PRIMARY KEY (pass_id, url))""",
    "CREATE INDEX IF NOT EXISTS crawl_frontier_queue ON crawl_frontier (pass_id, state, seq)",
    "CREATE INDEX IF NOT EXISTS crawl_frontier_seq ON crawl_frontier (pass_id, seq)",
    """CREATE TABLE IF NOT EXISTS crawl_page (
        source_id TEXT NOT NULL,
        url TEXT NOT NULL,
        version INTEGER NOT NULL,
        raw_sha256 TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        capture TEXT NOT NULL,
        checked_at TEXT NOT NULL,
        listing INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source_id, url))""",
    """CREATE TABLE IF NOT EXISTS crawl_capture (
        pass_id TEXT NOT NULL,
        url TEXT NOT NULL,
        capture TEXT NOT NULL,
        PRIMARY KEY (pass_id, url))""",
    """CREATE TABLE IF NOT EXISTS crawl_host (
        host TEXT PRIMARY KEY,
        next_at DOUBLE PRECISION NOT NULL)""",
    # Input files (dataset Parquet/JSONL) a pass read to the end with every record committed: one whose size,
    # content hash and column mapping are unchanged is skipped whole by the next pass (batch.InputFile).
    """CREATE TABLE IF NOT EXISTS crawl_input_file (
        source_id TEXT NOT NULL,
        path TEXT NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        records INTEGER NOT NULL,
        settings TEXT NOT NULL,
        pass_id TEXT NOT NULL,
        url_keys TEXT NOT NULL,
        read_at TEXT NOT NULL,
        PRIMARY KEY (source_id, path))""",
    """CREATE TABLE IF NOT EXISTS crawl_event (
        pass_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        url TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        status INTEGER,
        at TEXT NOT NULL,
        extra TEXT,
        PRIMARY KEY (pass_id, seq))""",
]


_ENGINES: dict[tuple[str, int], Engine] = {}
_DDL_LOCK = 0x66696E636F7270  # "fincorp": one PostgreSQL advisory lock for fincorpus's CREATE statements


def serialise_ddl(c: Any) -> None:
    """PostgreSQL: concurrent CREATE TABLE IF NOT EXISTS of one table can fail (pg_type unique violation);
    taking an advisory lock for the transaction makes workers that start together create tables one by one."""
    if c.dialect.name == "postgresql":
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DDL_LOCK})


def catalog_engine(home: Path) -> Engine:
    """The catalog database (shared with PyIceberg's SQL catalog): SQLite under the home with WAL and a busy
    timeout by default, PostgreSQL when FINCORPUS_CATALOG_URI says so. One engine (pool) per process and URI."""
    uri = catalog_uri(home)
    key = (uri, os.getpid())
    if key in _ENGINES:
        return _ENGINES[key]
    if not uri.startswith("sqlite"):
        engine = create_engine(uri, pool_pre_ping=True, pool_size=5, max_overflow=5)
        _ENGINES[key] = engine
        return engine
    engine = create_engine(uri, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL is a property of the file, set once. Switching to it needs an exclusive lock and SQLite may answer
        # "database is locked" at once instead of waiting (two workers opening a new catalog together), so
        # check first and retry the switch briefly.
        for attempt in range(50):
            try:
                if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cur.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05 * (attempt + 1))
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    _ENGINES[key] = engine
    return engine


def _many(c: Any, sql: str, params: list[dict[str, Any]]) -> None:
    """executemany handed straight to the driver: SQLAlchemy compiles bind parameters row by row (~40 us per
    row, as much as the rest of a dataset row's commit). ``:name`` placeholders, rewritten for pyformat drivers."""
    if c.dialect.paramstyle in ("pyformat", "format"):
        sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)
    c.exec_driver_sql(sql, params)


@dataclass(frozen=True)
class QueueItem:
    url: str
    depth: int
    via: str
    attempts: int
    meta: dict[str, Any]


@dataclass(frozen=True)
class PageMemory:
    """What the last pass stored for a URL: used for conditional GET, change detection and discovery."""

    version: int
    raw_sha256: str
    etag: str | None
    last_modified: str | None
    capture: Capture
    listing: bool = False  # an API page, sitemap or feed: remembered for conditional GET, not a document


@dataclass(frozen=True)
class KnownPage:
    """A URL's stored version as bulk change detection needs it; the capture is parsed only for a new version."""

    version: int
    raw_sha256: str
    capture_json: str
    listing: bool = False

    def memory(self) -> PageMemory:
        return PageMemory(
            self.version,
            self.raw_sha256,
            None,
            None,
            Capture.from_json(json.loads(self.capture_json)),
            self.listing,
        )


@dataclass
class BatchRow:
    """One input record (file, dataset row, foreign WARC record) of a batch committed in one transaction."""

    url: str
    seq: int  # the record's position in its input, so a resumed pass tells "committed" from "repeated"
    via: str
    outcome: str
    events: list[CrawlEvent]
    capture: Capture | None = None  # a new or changed document
    page: PageMemory | None = None  # its new memory (with capture)
    touched: bool = False  # unchanged: only the page's checked_at moves


@dataclass(frozen=True)
class InputFile:
    """An input file read to the end in a pass with every record committed: skipped whole by a later pass while
    its size, content hash and the source's mapping (``settings``) are the same. ``url_keys`` are the 64-bit keys
    (:func:`url_key`) of its records' URLs, sorted: a later file's record repeating one is a duplicate, as it
    was when this file was read first."""

    path: str  # relative to the source's dataset path
    size: int
    sha256: str
    records: int  # records the reader yielded for it (rows, bad lines): later records keep their positions
    settings: str
    pass_id: str
    url_keys: bytes


def url_key(url: str) -> int:
    """A URL's 64-bit key (BLAKE2b). Two of a million URLs share one with a probability of about 3e-8; a collision
    would make one new record of a later file count as a repeat of an unchanged file's record (logged as such)."""
    return int.from_bytes(
        hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


@dataclass
class Completion:
    """Everything one fetch changes, committed together."""

    outcome: str
    new_links: list[tuple[str, int, str, dict[str, Any]]]  # url, depth, via, meta
    events: list[CrawlEvent]
    capture: Capture | None = None  # a new or changed document body
    page: PageMemory | None = None  # the URL's new memory (also for 304/unchanged: refreshed validators)
    retry_at: float | None = None  # requeue instead of finishing


def stored_version(
    *,
    source_id: str,
    url: str,
    content_type: str,
    headers: dict[str, str],
    fetched_at: datetime,
    record: StoredRecord,
    via: str,
    memory: PageMemory | None,
    event: CrawlEvent,
    item: ItemMeta | None = None,
) -> Completion:
    """The completion for a new body read from a file, a foreign WARC or a dataset: the URL's next version."""
    capture = Capture(
        source_id=source_id,
        url=url,
        final_url=url,
        status=200,
        content_type=content_type,
        headers=headers,
        fetched_at=fetched_at,
        raw_ref=record.raw_ref,
        raw_sha256=record.raw_sha256,
        warc_record_id=record.record_id,
        discovered_via=via,
        version=memory.version + 1 if memory else 1,
        previous_raw_ref=memory.capture.raw_ref if memory else None,
        item=item,
    )
    page = PageMemory(capture.version, record.raw_sha256, None, None, capture)
    return Completion("document", [], [event], capture=capture, page=page)


_READY: set[tuple[str, int]] = set()


class CrawlState:
    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.engine = catalog_engine(home)
        key = (catalog_uri(home), os.getpid())
        if key not in _READY:  # the tables exist once per process and database
            with self.engine.begin() as c:
                serialise_ddl(c)
                for ddl in _DDL:
                    c.execute(text(ddl))
            _READY.add(key)

    # -- passes ----------------------------------------------------------------------------------------------
    def open_pass(self, source_id: str) -> tuple[str, bool]:
        """The source's unfinished pass (resumed=True) or a new one; bumps the WARC segment counter."""
        with self.engine.begin() as c:
            row = c.execute(
                text(
                    "SELECT pass_id FROM crawl_pass WHERE source_id=:s AND state='crawling' ORDER BY started_at"
                ),
                {"s": source_id},
            ).first()
            if row:
                c.execute(text("UPDATE crawl_pass SET segments=segments+1 WHERE pass_id=:p"), {"p": row[0]})
                return row[0], True
            pass_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{source_id}-{secrets.token_hex(2)}"
            c.execute(
                text("INSERT INTO crawl_pass VALUES (:p, :s, 'crawling', :t, NULL, 1, NULL)"),
                {"p": pass_id, "s": source_id, "t": datetime.now(UTC).isoformat()},
            )
            return pass_id, False

    def segment(self, pass_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT segments FROM crawl_pass WHERE pass_id=:p"), {"p": pass_id}
                ).scalar_one()
            )

    def finish_pass(self, pass_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                text(
                    "UPDATE crawl_pass SET state='crawled', finished_at=:t WHERE pass_id=:p AND state='crawling'"
                ),
                {"p": pass_id, "t": datetime.now(UTC).isoformat()},
            )

    def crawled_passes(self, source_id: str) -> list[str]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT pass_id FROM crawl_pass WHERE source_id=:s AND state='crawled' ORDER BY started_at"
                ),
                {"s": source_id},
            )
            return [r[0] for r in rows]

    def mark_staged(self, pass_ids: list[str], run_id: str) -> None:
        with self.engine.begin() as c:
            for p in pass_ids:
                c.execute(
                    text("UPDATE crawl_pass SET state='staged', run_id=:r WHERE pass_id=:p"),
                    {"p": p, "r": run_id},
                )

    # -- per-host politeness (shared by every crawler, thread and process using this catalog) --------------------
    def reserve_host(self, host: str, delay: float) -> float:
        """Claim the next request slot of ``host``; returns 0 when claimed, else seconds to wait before asking again."""
        now = time.time()
        with self.engine.begin() as c:
            c.execute(
                text("INSERT INTO crawl_host VALUES (:h, 0) ON CONFLICT (host) DO NOTHING"), {"h": host}
            )
            claimed = c.execute(
                text("UPDATE crawl_host SET next_at=:n WHERE host=:h AND next_at <= :now"),
                {"h": host, "n": now + delay, "now": now},
            ).rowcount
            if claimed:
                return 0.0
            next_at = c.execute(
                text("SELECT next_at FROM crawl_host WHERE host=:h"), {"h": host}
            ).scalar_one()
        return max(next_at - now, 0.001)

    # -- frontier --------------------------------------------------------------------------------------------
    def enqueue(
        self, pass_id: str, links: list[tuple[str, int, str, dict[str, Any]]], conn: Any = None
    ) -> int:
        """Queue URLs not yet seen in this pass (one batched statement); returns how many rows changed."""
        if not links:
            return 0

        def run(c: Any) -> int:
            seq = c.execute(
                text("SELECT COALESCE(MAX(seq), 0) FROM crawl_frontier WHERE pass_id=:p"), {"p": pass_id}
            ).scalar_one()
            params = [  # seq only orders the queue, so gaps left by ignored duplicates do not matter
                {
                    "p": pass_id,
                    "u": url,
                    "q": seq + i,
                    "d": depth,
                    "v": via,
                    "m": json.dumps(meta, ensure_ascii=False),
                }
                for i, (url, depth, via, meta) in enumerate(links, 1)
            ]
            res = c.execute(
                text(
                    "INSERT INTO crawl_frontier (pass_id, url, seq, depth, via, state, meta) "
                    "VALUES (:p, :u, :q, :d, :v, 'queued', :m) ON CONFLICT (pass_id, url) DO UPDATE "
                    # a listing's metadata (API item, sitemap lastmod) joins a URL a plain link queued first
                    "SET meta=excluded.meta WHERE crawl_frontier.state='queued' "
                    "AND crawl_frontier.meta='{}' AND excluded.meta!='{}'"
                ),
                params,
            )
            return max(res.rowcount, 0)

        if conn is not None:
            return run(conn)
        with self.engine.begin() as c:
            return run(c)

    def seen(self, pass_id: str, url: str) -> bool:
        with self.engine.connect() as c:
            return (
                c.execute(
                    text("SELECT 1 FROM crawl_frontier WHERE pass_id=:p AND url=:u"), {"p": pass_id, "u": url}
                ).first()
                is not None
            )

    def next_item(self, pass_id: str, stop: threading.Event | None = None) -> QueueItem | None:
        """The oldest queued URL whose retry time has come; sleeps if only delayed retries remain (a set ``stop``
        ends the wait: None is returned)."""
        while stop is None or not stop.is_set():
            with self.engine.connect() as c:
                row = c.execute(  # served by the (pass_id, state, seq) index
                    text(
                        "SELECT url, depth, via, attempts, meta FROM crawl_frontier "
                        "WHERE pass_id=:p AND state='queued' AND not_before <= :now ORDER BY seq LIMIT 1"
                    ),
                    {"p": pass_id, "now": time.time()},
                ).first()
                if row is not None:
                    return QueueItem(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"))
                later = c.execute(
                    text("SELECT MIN(not_before) FROM crawl_frontier WHERE pass_id=:p AND state='queued'"),
                    {"p": pass_id},
                ).scalar_one()
            if later is None:
                return None
            pause = min(max(later - time.time(), 0.0), 5.0)
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                return None
        return None

    def documents_done(self, pass_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_capture WHERE pass_id=:p"), {"p": pass_id}
                ).scalar_one()
            ) + int(
                c.execute(
                    text(
                        "SELECT COUNT(*) FROM crawl_frontier WHERE pass_id=:p AND outcome IN ('not-modified', 'unchanged')"
                    ),
                    {"p": pass_id},
                ).scalar_one()
            )

    def complete(self, pass_id: str, source_id: str, item: QueueItem, done: Completion) -> None:
        with self.engine.begin() as c:
            if done.retry_at is not None:
                c.execute(
                    text(
                        "UPDATE crawl_frontier SET attempts=attempts+1, not_before=:nb, outcome=:o "
                        "WHERE pass_id=:p AND url=:u"
                    ),
                    {"p": pass_id, "u": item.url, "nb": done.retry_at, "o": done.outcome},
                )
            else:
                c.execute(
                    text("UPDATE crawl_frontier SET state='done', outcome=:o WHERE pass_id=:p AND url=:u"),
                    {"p": pass_id, "u": item.url, "o": done.outcome},
                )
            self.enqueue(pass_id, done.new_links, conn=c)
            if done.capture is not None:
                c.execute(
                    text(
                        "INSERT INTO crawl_capture VALUES (:p, :u, :c) ON CONFLICT (pass_id, url) DO UPDATE SET capture=:c"
                    ),
                    {
                        "p": pass_id,
                        "u": item.url,
                        "c": json.dumps(done.capture.to_json(), ensure_ascii=False),
                    },
                )
            if done.page is not None:
                pg = done.page
                c.execute(
                    text(
                        "INSERT INTO crawl_page VALUES (:s, :u, :v, :h, :e, :l, :c, :t, :g) ON CONFLICT (source_id, url) "
                        "DO UPDATE SET version=:v, raw_sha256=:h, etag=:e, last_modified=:l, capture=:c, checked_at=:t, "
                        "listing=:g"
                    ),
                    {
                        "s": source_id,
                        "u": item.url,
                        "v": pg.version,
                        "h": pg.raw_sha256,
                        "e": pg.etag,
                        "l": pg.last_modified,
                        "c": json.dumps(pg.capture.to_json(), ensure_ascii=False),
                        "t": datetime.now(UTC).isoformat(),
                        "g": int(pg.listing),
                    },
                )
            self._log(c, pass_id, done.events)

    def record(self, pass_id: str, source_id: str, url: str, via: str, done: Completion) -> None:
        """Commit the result for a URL that was never queued (records read from files), in one transaction."""
        with self.engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO crawl_frontier (pass_id, url, seq, depth, via, state, meta) VALUES "
                    "(:p, :u, (SELECT COALESCE(MAX(seq), 0) + 1 FROM crawl_frontier WHERE pass_id=:p), 0, :v, 'queued', '{}') "
                    "ON CONFLICT (pass_id, url) DO NOTHING"
                ),
                {"p": pass_id, "u": url, "v": via},
            )
        self.complete(pass_id, source_id, QueueItem(url, 0, via, 0, {}), done)

    def done_urls(self, pass_id: str) -> set[str]:
        with self.engine.connect() as c:
            rows = c.execute(
                text("SELECT url FROM crawl_frontier WHERE pass_id=:p AND state='done'"), {"p": pass_id}
            )
            return {r[0] for r in rows}

    def log(self, pass_id: str, events: list[CrawlEvent]) -> None:
        with self.engine.begin() as c:
            self._log(c, pass_id, events)

    def _log(self, c: Any, pass_id: str, events: list[CrawlEvent]) -> None:
        if not events:
            return
        seq = c.execute(
            text("SELECT COALESCE(MAX(seq), 0) FROM crawl_event WHERE pass_id=:p"), {"p": pass_id}
        ).scalar_one()
        now = datetime.now(UTC).isoformat()
        _many(
            c,
            "INSERT INTO crawl_event VALUES (:p, :q, :u, :o, :d, :s, :a, :x)",
            [
                {
                    "p": pass_id,
                    "q": seq + i,
                    "u": ev.url,
                    "o": ev.outcome,
                    "d": ev.detail,
                    "s": ev.status,
                    "a": ev.at or now,
                    "x": json.dumps(ev.extra, ensure_ascii=False, default=str) if ev.extra else "{}",
                }
                for i, ev in enumerate(events, 1)
            ],
        )

    # -- batches (files, foreign WARC records, dataset rows) ----------------------------------------------------
    def committed(self, pass_id: str, urls: list[str]) -> dict[str, int]:
        """URL -> seq of the given URLs already committed in this pass (one indexed query per batch)."""
        if not urls:
            return {}
        # Filtered on state here, not in SQL: with state in the WHERE clause SQLite picks the (pass, state, seq)
        # index and scans every done row of the pass for each batch.
        q = text("SELECT url, seq, state FROM crawl_frontier WHERE pass_id=:p AND url IN :urls").bindparams(
            bindparam("urls", expanding=True)
        )
        with self.engine.connect() as c:
            rows = c.execute(q, {"p": pass_id, "urls": list(dict.fromkeys(urls))})
            return {r[0]: r[1] for r in rows if r[2] == "done"}

    def known_pages(self, source_id: str, urls: list[str]) -> dict[str, KnownPage]:
        """The stored version of each given URL that has one (one query per batch instead of one per row)."""
        if not urls:
            return {}
        q = text(
            "SELECT url, version, raw_sha256, capture, listing FROM crawl_page "
            "WHERE source_id=:s AND url IN :urls"
        ).bindparams(bindparam("urls", expanding=True))
        with self.engine.connect() as c:
            rows = c.execute(q, {"s": source_id, "urls": list(dict.fromkeys(urls))})
            return {r[0]: KnownPage(r[1], r[2], r[3], bool(r[4])) for r in rows}

    def stored_in_pass(self, pass_id: str) -> int:
        """New or changed documents committed in this pass: what ``max_pages`` counts."""
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_capture WHERE pass_id=:p"), {"p": pass_id}
                ).scalar_one()
            )

    def input_file(self, source_id: str, path: str) -> InputFile | None:
        """What the last complete read of this input file recorded, if any."""
        with self.engine.connect() as c:
            r = c.execute(
                text(
                    "SELECT size, sha256, records, settings, pass_id, url_keys FROM crawl_input_file "
                    "WHERE source_id=:s AND path=:p"
                ),
                {"s": source_id, "p": path},
            ).first()
        if r is None:
            return None
        return InputFile(path, int(r[0]), r[1], int(r[2]), r[3], r[4], base64.b64decode(r[5]))

    def remember_input_file(self, source_id: str, f: InputFile) -> None:
        """Record a file read to the end with every record committed (replaces what was recorded before)."""
        with self.engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO crawl_input_file VALUES (:s, :p, :n, :h, :r, :c, :pass, :k, :t) "
                    "ON CONFLICT (source_id, path) DO UPDATE SET size=:n, sha256=:h, records=:r, settings=:c, "
                    "pass_id=:pass, url_keys=:k, read_at=:t"
                ),
                {
                    "s": source_id,
                    "p": f.path,
                    "n": f.size,
                    "h": f.sha256,
                    "r": f.records,
                    "c": f.settings,
                    "pass": f.pass_id,
                    "k": base64.b64encode(f.url_keys).decode("ascii"),
                    "t": datetime.now(UTC).isoformat(),
                },
            )

    def commit_batch(self, pass_id: str, source_id: str, rows: list[BatchRow]) -> None:
        """Everything a batch changes, in one transaction: a SIGKILL loses at most the batch, never part of it.

        Rows are marked done in the frontier (with their seq), new versions go to captures and page memory,
        unchanged rows only refresh ``checked_at``, and every event is logged.
        """
        if not rows:
            return
        now = datetime.now(UTC).isoformat()
        with self.engine.begin() as c:
            _many(
                c,
                "INSERT INTO crawl_frontier (pass_id, url, seq, depth, via, state, outcome, meta) "
                "VALUES (:p, :u, :q, 0, :v, 'done', :o, '{}') ON CONFLICT (pass_id, url) DO NOTHING",
                [{"p": pass_id, "u": r.url, "q": r.seq, "v": r.via, "o": r.outcome} for r in rows],
            )
            encoded: dict[int, str] = {}  # a new version's capture and page memory share one encoding

            def enc(cap: Capture) -> str:
                if id(cap) not in encoded:
                    encoded[id(cap)] = json.dumps(cap.to_json(), ensure_ascii=False)
                return encoded[id(cap)]

            captures = [
                {"p": pass_id, "u": r.url, "c": enc(r.capture)} for r in rows if r.capture is not None
            ]
            if captures:
                _many(
                    c,
                    "INSERT INTO crawl_capture VALUES (:p, :u, :c) "
                    "ON CONFLICT (pass_id, url) DO UPDATE SET capture=excluded.capture",
                    captures,
                )
            pages = [
                {
                    "s": source_id,
                    "u": r.url,
                    "v": r.page.version,
                    "h": r.page.raw_sha256,
                    "c": enc(r.page.capture),
                    "t": now,
                }
                for r in rows
                if r.page is not None
            ]
            if pages:
                _many(
                    c,
                    "INSERT INTO crawl_page VALUES (:s, :u, :v, :h, NULL, NULL, :c, :t, 0) "
                    "ON CONFLICT (source_id, url) DO UPDATE SET version=excluded.version, "
                    "raw_sha256=excluded.raw_sha256, etag=NULL, last_modified=NULL, capture=excluded.capture, "
                    "checked_at=excluded.checked_at, listing=0",
                    pages,
                )
            touched = [{"s": source_id, "u": r.url, "t": now} for r in rows if r.touched]
            if touched:
                _many(c, "UPDATE crawl_page SET checked_at=:t WHERE source_id=:s AND url=:u", touched)
            self._log(c, pass_id, [ev for r in rows for ev in r.events])

    def close_queue(self, pass_id: str, outcome: str) -> int:
        """Finish every URL still queued in the pass with ``outcome`` in one statement (no event per URL)."""
        with self.engine.begin() as c:
            return max(
                c.execute(
                    text(
                        "UPDATE crawl_frontier SET state='done', outcome=:o WHERE pass_id=:p AND state='queued'"
                    ),
                    {"p": pass_id, "o": outcome},
                ).rowcount,
                0,
            )

    def queued_count(self, pass_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_frontier WHERE pass_id=:p AND state='queued'"),
                    {"p": pass_id},
                ).scalar_one()
            )

    def frontier_size(self, pass_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_frontier WHERE pass_id=:p"), {"p": pass_id}
                ).scalar_one()
            )

    def crawl_lock(self, source_id: str, command: str = "crawl") -> locks.Lock:
        """One crawler per source: two ingests of one source would share its open pass and fetch URLs twice.

        Raises :class:`fincorpus.locks.LockHeld` (one line naming the holder) when another live process crawls
        the source; the lock of a killed crawler is taken over.
        """
        lock = locks.acquire(
            self.engine, f"crawl:{source_id}", command, what=f"crawling source {source_id!r}"
        )
        flush_spool(self.home, source_id)  # segments a killed crawler of this source left unuploaded
        return lock

    # -- reading -----------------------------------------------------------------------------------------------
    def page(self, source_id: str, url: str) -> PageMemory | None:
        with self.engine.connect() as c:
            row = c.execute(
                text(
                    "SELECT version, raw_sha256, etag, last_modified, capture, listing FROM crawl_page "
                    "WHERE source_id=:s AND url=:u"
                ),
                {"s": source_id, "u": url},
            ).first()
        if row is None:
            return None
        return PageMemory(row[0], row[1], row[2], row[3], Capture.from_json(json.loads(row[4])), bool(row[5]))

    def captures(self, pass_ids: list[str]) -> Iterator[Capture]:
        with self.engine.connect() as c:
            for p in pass_ids:
                for row in c.execute(
                    text("SELECT capture FROM crawl_capture WHERE pass_id=:p ORDER BY url"), {"p": p}
                ):
                    yield Capture.from_json(json.loads(row[0]))

    def current_pages(self, source_id: str) -> Iterator[Capture]:
        """The latest stored version of every URL of a source (what `reprocess` re-reads from the archive)."""
        with self.engine.connect() as c:
            for row in c.execute(
                text("SELECT capture FROM crawl_page WHERE source_id=:s AND listing=0 ORDER BY url"),
                {"s": source_id},
            ):
                yield Capture.from_json(json.loads(row[0]))

    def events(self, pass_id: str) -> list[CrawlEvent]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT url, outcome, detail, status, at, extra FROM crawl_event WHERE pass_id=:p ORDER BY seq"
                ),
                {"p": pass_id},
            )
            return [CrawlEvent(r[0], r[1], r[2] or "", r[3], r[4], json.loads(r[5] or "{}")) for r in rows]

    def iter_events(self, pass_id: str) -> Iterator[CrawlEvent]:
        """The pass's crawl log in order, streamed (a pass over a large dataset logs one event per row)."""
        with self.engine.connect() as c:
            rows = c.execution_options(stream_results=True).execute(
                text(
                    "SELECT url, outcome, detail, status, at, extra FROM crawl_event WHERE pass_id=:p ORDER BY seq"
                ),
                {"p": pass_id},
            )
            for r in rows:
                yield CrawlEvent(r[0], r[1], r[2] or "", r[3], r[4], json.loads(r[5] or "{}"))

    def outcome_counts(self, pass_ids: list[str]) -> dict[str, int]:
        """Events per outcome over the given passes, counted in the database (nothing loaded into memory)."""
        counts: dict[str, int] = {}
        with self.engine.connect() as c:
            for p in pass_ids:
                for outcome, n in c.execute(
                    text("SELECT outcome, COUNT(*) FROM crawl_event WHERE pass_id=:p GROUP BY outcome"),
                    {"p": p},
                ):
                    counts[outcome] = counts.get(outcome, 0) + int(n)
        return counts

    def frontier_counts(self, pass_id: str) -> dict[str, int]:
        with self.engine.connect() as c:
            rows = c.execute(
                text("SELECT state, COUNT(*) FROM crawl_frontier WHERE pass_id=:p GROUP BY state"),
                {"p": pass_id},
            )
            return {r[0]: r[1] for r in rows}

    # -- shards: bounded slices of a pass's captures or a source's stored pages (what a processing task reads) --
    def capture_shards(self, pass_id: str, size: int) -> list[tuple[str, str]]:
        """(first url, last url) ranges of ``size`` captures each, in URL order (the primary key: portable)."""
        with self.engine.connect() as c:
            urls = [
                r[0]
                for r in c.execute(
                    text("SELECT url FROM crawl_capture WHERE pass_id=:p ORDER BY url"), {"p": pass_id}
                )
            ]
        return [(urls[i], urls[min(i + size, len(urls)) - 1]) for i in range(0, len(urls), size)]

    def captures_between(self, pass_id: str, lo: str, hi: str) -> list[Capture]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT capture FROM crawl_capture WHERE pass_id=:p AND url >= :lo AND url <= :hi ORDER BY url"
                ),
                {"p": pass_id, "lo": lo, "hi": hi},
            )
            return [Capture.from_json(json.loads(r[0])) for r in rows]

    def page_shards(self, source_id: str, size: int) -> list[tuple[str, str]]:
        """(first url, last url) ranges over the latest stored version of every document URL of a source."""
        with self.engine.connect() as c:
            urls = [
                r[0]
                for r in c.execute(
                    text("SELECT url FROM crawl_page WHERE source_id=:s AND listing=0 ORDER BY url"),
                    {"s": source_id},
                )
            ]
        return [(urls[i], urls[min(i + size, len(urls)) - 1]) for i in range(0, len(urls), size)]

    def pages_between(self, source_id: str, lo: str, hi: str) -> list[Capture]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    "SELECT capture FROM crawl_page WHERE source_id=:s AND listing=0 AND url >= :lo AND url <= :hi "
                    "ORDER BY url"
                ),
                {"s": source_id, "lo": lo, "hi": hi},
            )
            return [Capture.from_json(json.loads(r[0])) for r in rows]

    def capture_count(self, pass_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_capture WHERE pass_id=:p"), {"p": pass_id}
                ).scalar_one()
            )

    def page_count(self, source_id: str) -> int:
        with self.engine.connect() as c:
            return int(
                c.execute(
                    text("SELECT COUNT(*) FROM crawl_page WHERE source_id=:s AND listing=0"), {"s": source_id}
                ).scalar_one()
            )
