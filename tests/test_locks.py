"""Named locks in the catalog database: one holder, a clear message for the loser, dead holders taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fincorpus import locks
from fincorpus.sources.frontier import catalog_engine


def test_second_acquire_is_refused_with_the_holder_named(home: Path) -> None:
    engine = catalog_engine(home)
    first = locks.acquire(engine, "publish", "fincorpus publish --tag a", what="the publish lock")
    try:
        with pytest.raises(locks.LockHeld) as exc:
            # another process would have another pid: pretend by checking a different holder row
            engine2 = catalog_engine(home)
            with engine2.begin() as c:
                from sqlalchemy import text

                c.execute(text("UPDATE fincorpus_lock SET pid=1 WHERE name='publish'"))  # pid 1 is alive
            locks.acquire(engine2, "publish", "fincorpus publish --tag b", what="the publish lock")
        msg = str(exc.value)
        assert "pid 1 on host" in msg and "fincorpus publish --tag a" in msg and "since" in msg
        assert "\n" not in msg
    finally:
        first._stop.set()


def test_lock_of_a_killed_process_is_taken_over(home: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from fincorpus import locks
        from fincorpus.sources.frontier import catalog_engine
        locks.acquire(catalog_engine(Path({str(home)!r})), "publish", "child")
        print("held", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    engine = catalog_engine(home)
    with pytest.raises(locks.LockHeld):
        locks.acquire(engine, "publish", "parent")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    lock = locks.acquire(engine, "publish", "parent")  # the dead holder's row is replaced
    assert locks.holder(engine, "publish").pid == os.getpid()
    lock.release()
    assert locks.holder(engine, "publish") is None


def test_stale_heartbeat_from_another_host_is_taken_over(home: Path) -> None:
    engine = catalog_engine(home)
    locks.ensure_table(engine)
    from sqlalchemy import text

    with engine.begin() as c:
        c.execute(
            text("INSERT INTO fincorpus_lock VALUES ('crawl:x', 4242, 'other-host', 's', :t, 'remote')"),
            {"t": time.time() - 10},
        )
    with pytest.raises(locks.LockHeld):  # fresh heartbeat on another host: cannot tell, so refuse
        locks.acquire(engine, "crawl:x", "here", stale_after=60)
    lock = locks.acquire(engine, "crawl:x", "here", stale_after=5)  # 10 s old beat counts as stale at 5 s
    assert locks.holder(engine, "crawl:x").command == "here"
    lock.release()


def test_release_only_removes_its_own_row(home: Path) -> None:
    engine = catalog_engine(home)
    lock = locks.acquire(engine, "publish", "one")
    from sqlalchemy import text

    with engine.begin() as c:  # somebody took it over meanwhile (e.g. after a long stall)
        c.execute(text("UPDATE fincorpus_lock SET pid=1, command='other' WHERE name='publish'"))
    lock.release()
    assert locks.holder(engine, "publish").command == "other"
