"""Named locks in the catalog database: one publisher at a time, one crawler per source at a time.

A lock is a row (name, holder pid, host, since, heartbeat, command) in ``fincorpus_lock``, taken with an INSERT
that the primary key lets only one process win, in the same database as the catalog (SQLite embedded, PostgreSQL
when several machines share a corpus). A holder refreshes its heartbeat from a background thread; a lock whose
holder is gone is taken over:

- on the same host, when the holder's pid no longer runs (a killed command leaves its row behind);
- on any host, when the heartbeat is older than ``stale_after`` seconds.

The loser gets :class:`LockHeld`, whose message names the holder (pid, host, since, command) in one line.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

_DDL = """CREATE TABLE IF NOT EXISTS fincorpus_lock (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since TEXT NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    command TEXT NOT NULL)"""

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 120.0


@dataclass(frozen=True)
class Holder:
    name: str
    pid: int
    host: str
    since: str
    heartbeat: float
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} since {self.since} ({self.command})"


class LockHeld(RuntimeError):
    """Another live process holds the lock."""

    def __init__(self, holder: Holder, what: str) -> None:
        self.holder = holder
        super().__init__(
            f"{what} is held by {holder.describe()}; wait for it to finish "
            f"(a lock whose holder died is taken over automatically)"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _now() -> float:
    return datetime.now(UTC).timestamp()


class Lock:
    """A held lock; release() (or leaving ``hold``) deletes the row if it is still ours."""

    def __init__(self, engine: Engine, name: str, command: str, *, heartbeat: float = HEARTBEAT_SECONDS):
        self.engine = engine
        self.name = name
        self.command = command
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._interval = heartbeat
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self.engine.begin() as c:
                    c.execute(
                        text("UPDATE fincorpus_lock SET heartbeat=:t WHERE name=:n AND pid=:p AND host=:h"),
                        {"t": _now(), "n": self.name, "p": self.pid, "h": self.host},
                    )
            except Exception:  # a missed beat only shortens the time until others may take over
                continue

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"lock-{self.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.engine.begin() as c:
            c.execute(
                text("DELETE FROM fincorpus_lock WHERE name=:n AND pid=:p AND host=:h"),
                {"n": self.name, "p": self.pid, "h": self.host},
            )


def holder(engine: Engine, name: str) -> Holder | None:
    ensure_table(engine)
    with engine.connect() as c:
        row = c.execute(
            text("SELECT name, pid, host, since, heartbeat, command FROM fincorpus_lock WHERE name=:n"),
            {"n": name},
        ).first()
    return Holder(*row) if row else None


def ensure_table(engine: Engine) -> None:
    with engine.begin() as c:
        if c.dialect.name == "postgresql":  # see fincorpus.sources.frontier.serialise_ddl
            c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x66696E636F7270})
        c.execute(text(_DDL))


def _stale(h: Holder, stale_after: float) -> bool:
    if h.host == socket.gethostname() and not _pid_alive(h.pid):
        return True
    return _now() - h.heartbeat > stale_after


def acquire(
    engine: Engine,
    name: str,
    command: str,
    *,
    what: str | None = None,
    stale_after: float = STALE_AFTER_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> Lock:
    """Take lock ``name`` or raise :class:`LockHeld`; a stale holder's row is replaced (compare-and-delete)."""
    ensure_table(engine)
    lock = Lock(engine, name, command, heartbeat=heartbeat)
    for _ in range(3):
        try:
            with engine.begin() as c:
                c.execute(
                    text("INSERT INTO fincorpus_lock VALUES (:n, :p, :h, :s, :t, :c)"),
                    {
                        "n": name,
                        "p": lock.pid,
                        "h": lock.host,
                        "s": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "t": _now(),
                        "c": command,
                    },
                )
        except IntegrityError:
            current = holder(engine, name)
            if current is None:
                continue  # released between our insert and our read: try again
            if current.pid == lock.pid and current.host == lock.host:
                raise LockHeld(current, what or f"lock {name!r}") from None  # re-entry is a bug
            if not _stale(current, stale_after):
                raise LockHeld(current, what or f"lock {name!r}") from None
            with engine.begin() as c:  # only the row we judged stale, never a newer holder's
                c.execute(
                    text("DELETE FROM fincorpus_lock WHERE name=:n AND pid=:p AND host=:h AND since=:s"),
                    {"n": name, "p": current.pid, "h": current.host, "s": current.since},
                )
            continue
        lock.start_heartbeat()
        return lock
    current = holder(engine, name)
    if current is None:  # pragma: no cover - three lost races in a row
        raise RuntimeError(f"could not take lock {name!r}; try again")
    raise LockHeld(current, what or f"lock {name!r}")


@contextmanager
def hold(engine: Engine, name: str, command: str, *, what: str | None = None) -> Iterator[Lock]:
    lock = acquire(engine, name, command, what=what)
    try:
        yield lock
    finally:
        lock.release()
