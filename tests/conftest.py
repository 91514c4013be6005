"""Shared fixtures: the real shared data, the real fixture server, one Prefect harness per session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fincorpus.devservices import PgServer, S3Server

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FINCORPUS_DATA", REPO.parent / "shared" / "data")).resolve()
SITES = DATA / "sites"


def pytest_report_header(config: pytest.Config) -> str:
    return f"fincorpus shared data: {DATA} ({'present' if SITES.is_dir() else 'MISSING'})"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not SITES.is_dir():
        pytest.fail(f"shared test data not found at {DATA}; clone it beside the repo as ../shared/data")
    return DATA


@pytest.fixture(scope="session")
def truth(data_dir: Path) -> dict[str, dict]:
    rows = [
        json.loads(line)
        for line in (data_dir / "sites" / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return {r["url"]: r for r in rows}


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One ephemeral Prefect API for the whole session (start-up takes 10-20 s)."""
    from fincorpus.prefect_env import configure_prefect

    configure_prefect(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port (make test installs Debian's redis-server)."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "redis-server not found: run `make test` (it installs Debian's redis-server) or apt-get install redis-server"
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


# -- the services of the scale-out path (issue 10): real servers, started here, stopped after the session ----------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    server = PgServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3-compatible server on a free loopback port; returns the AWS variables that point at it."""
    server = S3Server.start(bucket="fincorpus-test")
    yield server.env
    server.stop()
