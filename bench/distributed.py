"""The store benchmark's build on the distributed stack, next to the embedded default in the same run.

Services are real and local (issue 10): a throwaway PostgreSQL cluster (catalog, crawl state, locks, dedup index
unless Redis), moto's S3 server (warehouse, WARC segments, staging), redis-server (dedup index), and a Dask
LocalCluster of 1 and then 2 worker processes. The same synthetic-from-real `dataset` source as bench/store.py is
ingested and published with the same `fincorpus` commands; only the three settings differ.

Reported per configuration: wall time of ingest and publish, docs/s, and the per-stage costs the pipeline records in
run.json (crawl, processing shards, dedup, finalising); from those a projection for N machines (in the results file
and docs/deploy.md): which stage limits and where the shared services saturate.

Run: .venv/bin/python bench/distributed.py [--n 100000] [--workers 2,1] [--out bench/results/distributed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from provenance import provenance  # noqa: E402
from store import SOURCES_YAML, run, sentences, write_dataset  # noqa: E402

from fincorpus.devservices import PgServer, S3Server, free_port  # noqa: E402

BIN = Path(sys.executable).parent


def _build(work: Path, label: str, data: Path, env: dict[str, str]) -> dict:
    home = work / f"home-{label}"
    src = work / f"sources-{label}.yaml"
    src.write_text(SOURCES_YAML.format(path=str(data)), encoding="utf-8")
    cmd = [str(BIN / "fincorpus")]
    ingest = run([*cmd, "ingest", "--sources", str(src), "--home", str(home)], env)
    publish = run([*cmd, "publish", "--tag", "full", "--home", str(home)], env)
    summary = _run_summary(home, env)
    total = ingest["seconds"] + publish["seconds"]
    return {"ingest": ingest, "publish": publish, "seconds": round(total, 2), "stage_seconds": summary}


def _run_summary(home: Path, env: dict[str, str]) -> dict:
    code = (
        "import json, os, sys\nfrom pathlib import Path\nfrom fincorpus.pipelines.ingest import staging, run_meta\n"
        "home = Path(sys.argv[1]); runs = staging(home).list(dirs=True)\n"
        "m = run_meta(home, runs[-1]); print(json.dumps({'seconds': m['summary'].get('seconds'), "
        "'crawl': {k: v.get('seconds') for k, v in m.get('crawl', {}).items()}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "distributed.json")
    ap.add_argument(
        "--workers",
        default="2,1",
        help="Dask worker counts to run after the embedded build, in this order (the file is rewritten after each)",
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its services
    worker_counts = [int(x) for x in args.workers.split(",") if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="fincorpus-dist-"))
    pool = sentences(args.data)
    data = work / "data"
    write_dataset(data / "part-0.parquet", 0, args.n, pool)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FINCORPUS_", "AWS_", "PREFECT_API"))}
    results: dict = {"provenance": provenance(), "documents": args.n, "configs": {}}
    pg = PgServer.start()
    s3 = S3Server.start(bucket="fincorpus-bench")
    redis_port = free_port()
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)

    def save(label: str, cfg: dict) -> None:
        cfg["docs_per_s"] = round(args.n / cfg["seconds"], 1)
        results["configs"][label] = cfg
        c = results["configs"]
        ratios = {}
        for n_workers in worker_counts:
            d = c.get(f"dask-{n_workers}-workers")
            if d and "embedded" in c:
                ratios[f"dask_{n_workers}_vs_embedded"] = round(
                    d["docs_per_s"] / c["embedded"]["docs_per_s"], 3
                )
        if "dask-2-workers" in c and "dask-1-workers" in c:
            ratios["dask_2_vs_dask_1"] = round(
                c["dask-2-workers"]["docs_per_s"] / c["dask-1-workers"]["docs_per_s"], 3
            )
        results["ratios"] = ratios
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")  # a later config may not finish
        print(json.dumps({label: cfg}, indent=1), flush=True)

    try:
        save("embedded", _build(work, "embedded", data, {**base, "FINCORPUS_WORKERS": "2"}))
        for n_workers in worker_counts:
            env = {
                **base,
                **s3.env,
                "FINCORPUS_CATALOG_URI": pg.create_db(f"bench{n_workers}"),
                "FINCORPUS_WAREHOUSE": f"s3://fincorpus-bench/w{n_workers}",
                "FINCORPUS_NEAR_INDEX": f"redis://127.0.0.1:{redis_port}/{n_workers}",
                "FINCORPUS_DASK_ADDRESS": f"local:{n_workers}",
            }
            save(f"dask-{n_workers}-workers", _build(work, f"dask{n_workers}", data, env))
    finally:
        redis.terminate()
        s3.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results.get("ratios"), indent=1))


if __name__ == "__main__":
    main()
