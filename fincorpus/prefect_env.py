"""Prefect settings for the embedded default, applied before Prefect is imported.

Only defaults are set: an operator who points PREFECT_API_URL at a real server, or sets any of these, wins.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_HOME = "./fincorpus-home"


def fincorpus_home(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("FINCORPUS_HOME") or DEFAULT_HOME).resolve()


def configure_prefect(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Measured 10-22 s for the ephemeral server to start; the 20 s default failed on a fresh database.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    (home / "prefect").mkdir(parents=True, exist_ok=True)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the API server gets SIGKILL when the command that started it dies (even by SIGKILL)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _drain_prefect_clients(timeout: float = 10.0) -> None:
    """Send the logs and events Prefect still holds before its API goes away (else it retries for minutes)."""
    import sys

    if "prefect" not in sys.modules:
        return
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=timeout)
        EventsWorker.drain_all(timeout=timeout)
    except Exception:  # draining is best effort: the work itself is done and committed
        return


@contextmanager
def prefect_api(
    home: Path, timeout: float | None = None, warm: Callable[[], object] | None = None
) -> Iterator[str | None]:
    """A Prefect API for this command: the operator's (PREFECT_API_URL) if set, else a private server.

    ``warm`` runs while the private server starts (importing the flows takes as long as the server's start-up,
    and prefect may be imported then: PREFECT_API_URL is already set).

    Prefect's own ephemeral server is a subprocess that survives its parent when the parent is killed; this one is
    started with PR_SET_PDEATHSIG, so no API server outlives a killed command, and every worker process of the
    command talks to this one server instead of starting its own. Must run before ``prefect`` is imported.
    """
    if os.environ.get("PREFECT_API_URL"):
        if warm is not None:
            warm()
        yield os.environ["PREFECT_API_URL"]
        return
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    configure_prefect(home)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    app_dir = str(Path(spec.origin).parent.parent) if spec and spec.origin else "."
    env = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    log = open(home / "prefect" / "api-server.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            app_dir,
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env=env,
        stdout=log,
        stderr=log,
        preexec_fn=_die_with_parent,  # set before this process starts threads of its own
        start_new_session=True,  # a Ctrl-C in the terminal stops the command, which then stops the server
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + (
        timeout or float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
    )
    try:
        os.environ["PREFECT_API_URL"] = url  # before prefect is imported (by warm, or later)
        if warm is not None:
            warm()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the Prefect API server exited with code {proc.returncode}; see {home / 'prefect' / 'api-server.log'}"
                )
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Prefect API server did not answer within the start-up timeout; see {log.name}"
                )
            time.sleep(0.2)
        yield url
    finally:
        _drain_prefect_clients()
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
