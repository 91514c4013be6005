"""The corpus store at scale, on the `dataset` path: end-to-end builds, increments, publish, pull, Prefect overhead.

Documents are synthetic-from-real: each is about 1.5 KB of real sentences from shared/data (cnews, laws,
announcements) drawn with a fixed seed, so every size is reproducible and no text is stored in the repository.

Measured, each in fresh corpus homes under a temporary folder:

- build N (default 100,000): `fincorpus ingest` + `fincorpus publish` as the user runs them (Prefect, worker
  processes); docs/s, wall time per command, peak RSS of the whole process tree (sampled every 0.2 s: the
  command, its Prefect API server and its worker processes) and of the largest single process;
- increments: 1% and 5% new documents added to the source, ingest + publish again, as a share of the full build;
- publish time against the size of the staged batch;
- pull of the whole tag against a raw pyarrow read of the same data files (read, filter, write Parquet);
- Prefect overhead: the same build through `fincorpus.pipelines.ingest.run_in_process` with a process pool of the
  same size, no Prefect, in the same run.

Targets (issue 9): >= 1,000 docs/s end to end on 2 cores; 1M within 15% of 100k; peak RSS <= 2 GB; a 5% increment
<= 15% of the full build; pull <= 1.5x a raw pyarrow read; Prefect overhead <= 5%.

Run: .venv/bin/python bench/store.py [--n 100000] [--skip-prefect-overhead] [--out bench/results/store.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from provenance import provenance  # noqa: E402

BIN = Path(sys.executable).parent


# -- synthetic-from-real documents --------------------------------------------------------------------------------


def sentences(data: Path) -> list[str]:
    import re

    out: list[str] = []
    for line in (data / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines():
        out += re.findall(r"[^。！？]{8,120}[。！？]", json.loads(line)["text"])
    for f in sorted((data / "texts/laws").glob("*.md"))[:60]:
        out += re.findall(r"[^。！？\n]{8,120}[。！？]", f.read_text(encoding="utf-8"))
    ann = data / "texts/announcements_cfee/FREEZE_Data.json"
    for line in ann.read_text(encoding="utf-8").splitlines()[:400]:
        out += re.findall(r"[^。！？]{8,120}[。！？]", json.loads(line).get("Doc", ""))
    return sorted(set(out))


def write_dataset(path: Path, start: int, n: int, pool: list[str], seed: int = 20261201) -> None:
    """Rows start..start+n-1; row i is the same text whatever the batch it is written in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [("id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("date", pa.string())]
    )
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for lo in range(start, start + n, 10_000):
            rows = []
            for i in range(lo, min(lo + 10_000, start + n)):
                rng = random.Random(seed * 1_000_003 + i)
                parts, size = [], 0
                while size < 1500:
                    s = rng.choice(pool)
                    parts.append(s)
                    size += len(s.encode("utf-8"))
                text = "".join(parts) + f"（编号{i}）"
                rows.append(
                    {"id": f"doc-{i:08d}", "title": parts[0][:30], "text": text, "date": "2024-06-01"}
                )
            w.write_table(pa.Table.from_pylist(rows, schema=schema))


SOURCES_YAML = """
sources:
  - id: synth
    name: synthetic-from-real financial texts
    kind: dataset
    dataset: {{path: {path}, text: text, id: id, title: title, published: date}}
    max_pages: 10000000
    licence: media-unknown
    legal_basis: "benchmark data built from shared/data"
    doc_type: news
"""


# -- measuring a command --------------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        # children of every thread: a process pool started from a worker thread (Prefect's task runner) hangs its
        # processes under that thread, and /proc/P/task/P/children lists only the main thread's
        try:
            kids = [
                k for t in Path(f"/proc/{p}/task").iterdir() for k in (t / "children").read_text().split()
            ]
        except OSError:
            continue
        todo += [int(k) for k in kids]
    return out


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _what(pid: int) -> str:
    """A process's command line, shortened (the command, a worker, the Prefect server)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(a.decode(errors="replace") for a in argv if a)[-120:]


def run(cmd: list[str], env: dict[str, str]) -> dict:
    """Wall time, exit code, peak RSS of the process tree and of its largest process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_tree = peak_one = 0
    per_process: dict[int, list] = {}  # pid -> [peak RSS, what it is]
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_one
        while not stop.wait(0.2):
            pids = _tree(proc.pid)
            sizes = [_rss(p) for p in pids]
            peak_tree = max(peak_tree, sum(sizes))
            peak_one = max(peak_one, max(sizes, default=0))
            for p, size in zip(pids, sizes, strict=True):
                seen = per_process.setdefault(p, [0, _what(p)])
                seen[0] = max(seen[0], size)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, _ = proc.communicate()
    except BaseException:  # the benchmark is stopped: stop the command too (Ctrl-C path: it saves its state)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    stop.set()
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return {
        "seconds": round(wall, 2),
        "peak_rss_tree_mb": round(peak_tree / 1e6),
        "peak_rss_max_process_mb": round(peak_one / 1e6),
        "peak_rss_per_process_mb": [
            [round(size / 1e6), what] for size, what in sorted(per_process.values(), reverse=True)[:6]
        ],
    }


def fincorpus(home: Path, *args: str) -> dict:
    env = {**os.environ, "FINCORPUS_HOME": str(home)}
    return run([str(BIN / "fincorpus"), *args, "--home", str(home)], env)


# -- the benchmark --------------------------------------------------------------------------------------------------


def build(work: Path, n: int, pool: list[str], label: str) -> dict:
    home = work / f"home-{label}"
    data = work / f"data-{label}"
    write_dataset(data / "part-0.parquet", 0, n, pool)
    src = work / f"sources-{label}.yaml"
    src.write_text(SOURCES_YAML.format(path=str(data)), encoding="utf-8")
    ingest = fincorpus(home, "ingest", "--sources", str(src))
    publish = fincorpus(home, "publish", "--tag", "full")
    total = ingest["seconds"] + publish["seconds"]
    res = {
        "documents": n,
        "ingest": ingest,
        "publish": publish,
        "seconds": round(total, 2),
        "docs_per_s": round(n / total, 1),
        "peak_rss_tree_mb": max(ingest["peak_rss_tree_mb"], publish["peak_rss_tree_mb"]),
        "peak_rss_max_process_mb": max(ingest["peak_rss_max_process_mb"], publish["peak_rss_max_process_mb"]),
    }
    for share, tag in ((0.01, "inc1"), (0.05, "inc5")):
        k = max(1, int(n * share))
        start = n + (0 if tag == "inc1" else max(1, int(n * 0.01)))
        write_dataset(data / f"part-{tag}.parquet", start, k, pool)
        i = fincorpus(home, "ingest", "--sources", str(src))
        p = fincorpus(home, "publish", "--tag", tag)
        secs = i["seconds"] + p["seconds"]
        res[f"increment_{int(share * 100)}pct"] = {
            "documents": k,
            "seconds": round(secs, 2),
            "share_of_full_build": round(secs / total, 3),
            "ingest": i,
            "publish": p,
        }
    res["home"] = str(home)
    return res


def pull_vs_raw(home: Path, work: Path) -> dict:
    from fincorpus.catalog.store import CorpusCatalog

    out = work / "pulled"
    r = fincorpus(home, "pull", "inc5", "--out", str(out))
    cat = CorpusCatalog(home)
    files = [t.file.file_path for t in cat.table.scan(snapshot_id=cat.tag("inc5").snapshot_id).plan_files()]
    local = [cat.table.io.parse_location(f, cat.table.io.properties)[2] for f in files]
    t0 = time.perf_counter()
    rows = 0
    raw_out = work / "raw-pyarrow"
    raw_out.mkdir()
    from fincorpus.schema import DOCUMENT_SCHEMA

    with pq.ParquetWriter(
        raw_out / "all.parquet", DOCUMENT_SCHEMA, compression="zstd", compression_level=3
    ) as w:
        for f in local:
            for batch in pq.ParquetFile(f).iter_batches(columns=[*DOCUMENT_SCHEMA.names, "status"]):
                t = pa.Table.from_batches([batch])
                t = t.filter(pa.compute.equal(t.column("status"), "kept")).select(DOCUMENT_SCHEMA.names)
                w.write_table(t.cast(DOCUMENT_SCHEMA))
                rows += t.num_rows
    raw = time.perf_counter() - t0
    return {
        "pull": r,
        "raw_pyarrow_read_filter_write_seconds": round(raw, 2),
        "rows": rows,
        "ratio_pull_vs_raw": round(r["seconds"] / raw, 2),
        "note": "pull includes process start-up (~2 s); the raw read runs inside this process",
    }


def publish_batches(work: Path, pool: list[str]) -> list[dict]:
    """Publish time against the size of the staged batch, onto a table that already holds 20,000 documents."""
    out = []
    for k in (1000, 10_000, 50_000):
        home = work / f"home-batch-{k}"
        data = work / f"data-batch-{k}"
        write_dataset(data / "a.parquet", 0, 20_000, pool)
        src = work / f"sources-batch-{k}.yaml"
        src.write_text(SOURCES_YAML.format(path=str(data)), encoding="utf-8")
        fincorpus(home, "ingest", "--sources", str(src))
        fincorpus(home, "publish", "--tag", "base")
        write_dataset(data / "b.parquet", 20_000, k, pool)
        fincorpus(home, "ingest", "--sources", str(src))
        p = fincorpus(home, "publish", "--tag", "batch")
        out.append(
            {
                "batch": k,
                "publish_seconds": p["seconds"],
                "ms_per_document": round(1000 * p["seconds"] / k, 3),
            }
        )
        shutil.rmtree(home, ignore_errors=True)
    return out


def prefect_overhead(work: Path, n: int, pool: list[str]) -> dict:
    """The same ingest with and without Prefect (same worker count), each in a fresh home."""
    data = work / "data-overhead"
    write_dataset(data / "a.parquet", 0, n, pool)
    src = work / "sources-overhead.yaml"
    src.write_text(SOURCES_YAML.format(path=str(data)), encoding="utf-8")
    with_prefect = fincorpus(work / "home-prefect", "ingest", "--sources", str(src))
    code = f"""
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
sys.path.insert(0, {str(REPO)!r})
from fincorpus.pipelines import ingest as st
home = Path({str(work / "home-direct")!r})
src = {str(src)!r}
sources = st.load_sources_for(src)
res = st.crawl_source(sources, "synth", home)
run_id, _ = st.open_run(home, res.pass_ids)
workers = max(1, int(os.environ.get("FINCORPUS_WORKERS") or os.cpu_count() or 1))
shards = st.plan_pass_shards(home, res.pass_ids, workers=workers)
with ProcessPoolExecutor(workers) as ex:
    st.run_in_process(src, home, shards, run_id, {{}}, res.pass_ids, map_fn=ex.map)
"""
    direct = run([sys.executable, "-c", code], {**os.environ})
    return {
        "documents": n,
        "prefect_seconds": with_prefect["seconds"],
        "direct_seconds": direct["seconds"],
        "overhead": round(with_prefect["seconds"] / direct["seconds"] - 1, 3),
        "note": "both include process start-up; with Prefect also its private API server start (a few seconds)",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--skip-prefect-overhead", action="store_true")
    ap.add_argument("--skip-batches", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "store.json")
    ap.add_argument(
        "--pull-only",
        type=Path,
        default=None,
        metavar="HOME",
        help="only the pull-vs-raw comparison, on a home a full run left (tag inc5); to bench/results/store_pull.json",
    )
    args = ap.parse_args()
    # SIGTERM (and SIGINT, which a shell's background job ignores) stop the running command and still write what
    # was measured: run() forwards the stop, the finally below writes the results file
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.pull_only is not None:
        work = Path(tempfile.mkdtemp(prefix="fincorpus-store-pull-"))
        try:
            res = {"provenance": provenance(), "pull": pull_vs_raw(args.pull_only, work)}
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out = REPO / "bench" / "results" / "store_pull.json"
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
        print(json.dumps(res["pull"], indent=1))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="fincorpus-store-"))
    pool = sentences(args.data)
    results: dict = {
        "provenance": provenance(),
        "sentences": len(pool),
        "workers": os.cpu_count(),
        "builds": {},
    }
    try:
        for n in args.n:
            print(f"build {n} ...", flush=True)
            results["builds"][str(n)] = build(work, n, pool, str(n))
            print(json.dumps(results["builds"][str(n)], indent=1), flush=True)
        first = results["builds"][str(args.n[0])]
        results["pull"] = pull_vs_raw(Path(first["home"]), work)
        if not args.skip_batches:
            results["publish_batches"] = publish_batches(work, pool)
        if not args.skip_prefect_overhead:
            results["prefect_overhead"] = prefect_overhead(work, min(args.n[0], 50_000), pool)
        if len(args.n) > 1:
            a, b = results["builds"][str(args.n[0])], results["builds"][str(args.n[-1])]
            results["throughput_ratio_largest_vs_first"] = round(b["docs_per_s"] / a["docs_per_s"], 3)
    finally:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: v for k, v in results.items() if k != "builds"}, indent=1))


if __name__ == "__main__":
    main()
