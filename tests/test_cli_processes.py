"""Processes a command leaves behind: none. A killed command's Prefect API server dies with it; Ctrl-C stops an
ingest within seconds with its state saved (exit 130, one line on how to resume) and the next ingest resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fincorpus.fixture_server import FixtureServer

REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINCORPUS_", "PREFECT_"))}
    return {**env, "FINCORPUS_HOME": str(home), "PYTHONPATH": str(REPO)}


def _servers_of(home: Path) -> list[int]:
    """Pids of Prefect API servers started for this home (their PREFECT_HOME is under it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"prefect.server.api.server:create_app" in cmd and f"PREFECT_HOME={home}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def _wait(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def test_no_prefect_server_outlives_a_killed_command(tmp_path: Path, data_dir: Path) -> None:
    home = tmp_path / "home"
    with FixtureServer(data_dir / "sites", 0, tmp_path / "requests.jsonl") as server:
        cmd = [sys.executable, "-m", "fincorpus.cli", "ingest", "--sources", str(DEMO_SOURCES), "--proxy",
               server.proxy_url, "--home", str(home), "lifestyle"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _wait(lambda: _servers_of(home), 120), "the command never started its API server"
        pids = _servers_of(home)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _wait(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 15), pids


@pytest.mark.timeout(600)
def test_ctrl_c_stops_an_ingest_with_state_saved_and_the_next_one_resumes(
    tmp_path: Path, data_dir: Path
) -> None:
    home = tmp_path / "home"
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        DEMO_SOURCES.read_text(encoding="utf-8").replace("delay_seconds: 0.0", "delay_seconds: 0.3"),
        encoding="utf-8",
    )
    with FixtureServer(data_dir / "sites", 0, tmp_path / "requests.jsonl") as server:
        cmd = [sys.executable, "-m", "fincorpus.cli", "ingest", "--sources", str(slow), "--proxy",
               server.proxy_url, "--home", str(home), "lifestyle"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert _wait(lambda: len(server.requests) > 20, 180), "the crawl never started"
        proc.send_signal(signal.SIGINT)
        at_interrupt = len(server.requests)
        t0 = time.monotonic()
        out, errout = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - t0
        served = len(server.requests)
        assert proc.returncode == 130, (out[-2000:], errout[-2000:])
        assert stopped_in < 30, stopped_in
        assert "run the same command again to resume" in errout
        assert "Traceback" not in errout
        assert not _servers_of(home)
        assert served - at_interrupt <= 20, (at_interrupt, served)  # crawlers stopped between requests
        again = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, timeout=540)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "staged:" in again.stdout
    from fincorpus.sources.frontier import CrawlState

    state = CrawlState(home)
    with state.engine.connect() as c:
        from sqlalchemy import text

        passes = c.execute(text("SELECT state FROM crawl_pass WHERE source_id='lifestyle'")).fetchall()
    assert [p[0] for p in passes] == ["staged"]  # one pass, resumed and finished, not a second one
