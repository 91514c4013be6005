"""The scale-out stack (issue 10) on real services: PostgreSQL catalog and crawl state, an S3-compatible warehouse
(moto's server), Redis for the dedup index, a dask.distributed cluster with 2 worker processes.

The three settings FINCORPUS_CATALOG_URI, FINCORPUS_WAREHOUSE and FINCORPUS_DASK_ADDRESS are the whole switch: the
same `fincorpus demo` command builds the mirror sites, and the result must agree document for document with the
embedded build, also when one Dask worker is killed in the middle of the run.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fincorpus.catalog.store import CorpusCatalog
from fincorpus.pipelines.ingest import stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row

REPO = Path(__file__).resolve().parent.parent
COLUMNS = ("doc_id", "status", "text_sha256", "licence_class", "duplicate_of", "removed_stage", "usage")
SWITCHES = ("FINCORPUS_CATALOG_URI", "FINCORPUS_WAREHOUSE", "FINCORPUS_DASK_ADDRESS", "FINCORPUS_NEAR_INDEX")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FINCORPUS_", "AWS_", "PREFECT_API"))}


def _demo(home: Path, out: Path, env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "fincorpus.cli",
        "demo",
        "--home",
        str(home),
        "--out",
        str(out),
        "--data",
        str(data_dir),
    ]
    res = subprocess.run(
        cmd, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=1500
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _records(home: Path) -> dict[str, dict]:
    rows = CorpusCatalog(home, create=False).read("demo", "records", columns=COLUMNS).to_pylist()
    return {r["doc_id"]: r for r in rows}


@pytest.fixture(scope="module")
def embedded(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("embedded")
    _demo(root / "home", root / "out", _clean_env(), data_dir)
    return _records(root / "home")


@pytest.fixture
def stack(
    postgres, s3_server: dict[str, str], redis_url: str, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Environment of the distributed stack, with a fresh database, warehouse prefix and Redis database."""
    name = request.node.name.split("[")[0][-40:].lower().replace("-", "_")
    env = {
        **s3_server,
        "FINCORPUS_CATALOG_URI": postgres.create_db(f"fc_{name}_{os.getpid()}"),
        "FINCORPUS_WAREHOUSE": f"s3://fincorpus-test/{name}",
        "FINCORPUS_NEAR_INDEX": redis_url.rsplit("/", 1)[0] + "/3",
    }
    import redis

    redis.Redis.from_url(env["FINCORPUS_NEAR_INDEX"]).flushdb()
    yield env


def test_store_on_postgres_and_s3(stack: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish, read, find and pull with the catalog in PostgreSQL and every file in the object store."""
    for k, v in stack.items():
        monkeypatch.setenv(k, v)
    stage_records(
        home,
        "r1",
        [make_row(f"http://a.test/{i}.html", text=f"第{i}篇：央行公开市场操作。" * 5) for i in range(5)],
        {},
    )
    info = publish(home, "v1").tag
    assert info.documents == 5
    assert not (home / "catalog.db").exists() and not (home / "warehouse").exists()  # nothing local
    assert not (home / "staging").exists()
    cat = CorpusCatalog(home, create=False)
    assert cat.table.location().startswith("s3://fincorpus-test/")
    assert cat.find("http://a.test/3.html", tag="v1")[0] == "documents"
    from fincorpus.catalog.export import pull, verify

    out = home.parent / "pulled"
    assert pull(home, "v1", out).rows == 5 and verify(out) == []
    from fincorpus.dedup.index import open_near_index

    index = open_near_index(home)
    assert len(index) == 5 and index.synced() == str(info.snapshot_id)
    index.close()


def test_crawl_state_and_politeness_on_postgres(
    stack: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-host request slots hold across processes (and machines) sharing the PostgreSQL crawl state."""
    for k, v in stack.items():
        monkeypatch.setenv(k, v)
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom fincorpus.sources.frontier import CrawlState\n"
        "s = CrawlState(Path(sys.argv[1]))\nout = []\n"
        "while len(out) < 5:\n    w = s.reserve_host('slow.test', 0.3)\n"
        "    if w == 0: out.append(time.time())\n    else: time.sleep(w)\nprint(' '.join(map(str, out)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home / f"m{i}")], stdout=subprocess.PIPE, text=True, env=env
        )
        for i in range(2)
    ]
    times = sorted(float(t) for p in procs for t in p.communicate(timeout=60)[0].split())
    assert len(times) == 10
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # two "machines" (homes), one host slot: ten requests take nine delays. Times are taken after the claim
    # returns, so one gap can shrink by the scheduling jitter of a loaded machine; without shared slots the two
    # processes would claim together (gaps near 0, span about 1.2 s).
    assert min(gaps) >= 0.2 and times[-1] - times[0] >= 9 * 0.3 * 0.95, gaps


def test_unchanged_dataset_file_is_skipped_on_postgres(
    stack: dict[str, str], data_dir: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input-file memory (crawl_input_file) on the PostgreSQL crawl state: remembered, replaced, skipped."""
    from tests.test_connectors_hardening import dataset_sources, sentences
    from tests.test_dataset_files import _crawl, _part

    for k, v in stack.items():
        monkeypatch.setenv(k, v)
    texts = sentences(data_dir, 1300)
    _part(tmp_path / "ds", "part-0.parquet", list(range(1200)), texts[:1200])
    sources = dataset_sources(tmp_path, max_pages=1_000_000)
    got, stored = _crawl(tmp_path, home, sources)
    assert len(stored) == 1200 and got["unchanged_files"] == 0
    _part(tmp_path / "ds", "part-1.parquet", list(range(1200, 1300)), texts[1200:])
    got, stored = _crawl(tmp_path, home, sources)
    assert len(stored) == 100 and got["unchanged_files"] == 1 and got["unchanged_file_records"] == 1200
    _part(tmp_path / "ds", "part-0.parquet", list(range(1200)), [t + "。" for t in texts[:1200]])
    got, stored = _crawl(tmp_path, home, sources)  # every row changed: read again, remembered again
    assert len(stored) == 1200 and got["unchanged_files"] == 0
    got, stored = _crawl(tmp_path, home, sources)
    assert stored == [] and got["unchanged_files"] == 1
    assert not (home / "catalog.db").exists()  # the crawl state really was in PostgreSQL


def test_distributed_build_agrees_with_embedded_and_survives_a_killed_worker(
    embedded: dict[str, dict], stack: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    from distributed import Client, LocalCluster

    env = {**_clean_env(), **stack}
    saved = dict(os.environ)
    # the workers, and the nanny that restarts a killed one, run with the stack's settings, as a real cluster's are
    os.environ.update(stack)
    try:
        cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None)
        client = Client(cluster)
        env["FINCORPUS_DASK_ADDRESS"] = cluster.scheduler_address
        killed: dict[str, object] = {}

        def kill_a_busy_worker() -> None:
            """SIGKILL the first worker seen running a task; its nanny restarts it and the task runs again."""
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and "pid" not in killed:
                for addr, keys in client.processing().items():
                    if keys and any("process" in str(k) for k in keys):
                        pids = client.run(os.getpid, workers=[addr])
                        os.kill(pids[addr], signal.SIGKILL)
                        killed.update(pid=pids[addr], worker=addr, tasks=[str(k) for k in keys])
                        return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        try:
            _demo(tmp_path / "home", tmp_path / "out", env, data_dir)
        finally:
            killer.join(timeout=5)
            client.close()
            cluster.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert "pid" in killed, "no worker was ever busy: the kill did not happen"
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in stack.items() if k in SWITCHES or k.startswith("AWS_")})
    try:
        dist = _records(tmp_path / "home")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert set(dist) == set(embedded)
    differ = [k for k in dist if dist[k] != embedded[k]]
    assert differ == [], [(dist[k], embedded[k]) for k in differ[:3]]
    assert not (tmp_path / "home" / "catalog.db").exists()
    assert not any((tmp_path / "home" / "spool").rglob("*.warc.gz"))  # every segment reached the warehouse
