"""Dataset connector throughput: rows/s of a crawl pass over 100k synthetic rows, next to plain pyarrow iteration.

Rows are built from real sentences of shared/data (THUCNews texts and the law texts), shuffled into ~1.5 KB
documents with an id, a title and a date, and written once to a Parquet file and a JSON-lines file in a temporary
folder (deleted afterwards).

fincorpus: ``crawl_source`` of a ``kind: dataset`` source (row -> JSON record, sha256, page memory looked up in
           bulk, WARC resource record, catalog-database commit per batch), on a fresh corpus home (every row new),
           then again on the same home (every row unchanged), for Parquet and JSON lines; each pass in a fresh
           process (its peak RSS is reported; crawl_source's own outcome count loads every event, see the report).
baseline:  ``pyarrow.parquet.ParquetFile.iter_batches`` + ``to_pylist`` over the same file in the same run (what
           reading the rows costs before fincorpus does anything with them).

Run: `.venv/bin/python bench/connectors.py [--data ../shared/data] [--rows 100000]`.
Writes bench/results/connectors.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmeta import machine

REPO = Path(__file__).resolve().parent.parent
ROW_BYTES = 1500


def sentences(data: Path) -> list[str]:
    texts = [
        json.loads(line)["text"]
        for line in (data / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    texts += [p.read_text(encoding="utf-8") for p in sorted((data / "texts/laws").rglob("*.md"))]
    out: list[str] = []
    for t in texts:
        out += [s.strip() + "。" for s in re.split(r"[。！？\n]", t) if len(s.strip()) >= 8]
    return out


def build_rows(data: Path, n: int, seed: int = 2026) -> list[dict[str, str]]:
    rng = random.Random(seed)
    pool = sentences(data)
    rows = []
    for i in range(n):
        parts: list[str] = []
        size = 0
        while size < ROW_BYTES:
            s = rng.choice(pool)
            parts.append(s)
            size += len(s.encode("utf-8"))
        text = "".join(parts)
        rows.append(
            {"uid": f"r{i:07d}", "content": text, "headline": text[:20], "day": f"2024-{i % 12 + 1:02d}-01"}
        )
    return rows


def write_inputs(rows: list[dict[str, str]], folder: Path) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "pq").mkdir(parents=True)
    (folder / "jl").mkdir()
    parquet = folder / "pq" / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, compression="zstd")
    jsonl = folder / "jl" / "rows.jsonl"
    with open(jsonl, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return parquet, jsonl


def baseline_pyarrow(parquet: Path) -> tuple[int, float]:
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    n = 0
    for batch in pq.ParquetFile(parquet).iter_batches(batch_size=1000):
        n += len(batch.to_pylist())
    return n, time.perf_counter() - t0


def sources_file(folder: Path, sub: str, rows: int) -> Path:
    path = folder / f"sources-{sub}.yaml"
    path.write_text(
        f"""sources:
  - id: bench-{sub}
    name: bench
    kind: dataset
    dataset: {{path: {sub}, text: content, id: uid, title: headline, published: day}}
    max_pages: {rows}
    licence: unknown
    legal_basis: benchmark
""",
        encoding="utf-8",
    )
    return path


_PASS = """
import json, sys, time
from pathlib import Path
from fincorpus.pipelines.ingest import crawl_source
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import load_sources
sf = load_sources(sys.argv[1])
t0 = time.perf_counter()
res = crawl_source(sf, sys.argv[2], Path(sys.argv[3]))
seconds = time.perf_counter() - t0
CrawlState(Path(sys.argv[3])).mark_staged(res.pass_ids, "bench")
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child started by a big parent reports the parent's
rss = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) // 1024
print(json.dumps({"outcomes": res.outcomes, "seconds": seconds, "peak_rss_mb": rss}))
"""


def crawl_pass(sources_path: Path, source_id: str, home: Path) -> dict:
    """One crawl pass in a fresh process, so its peak RSS is the reader's, not this script's."""
    out = subprocess.run(
        [sys.executable, "-c", _PASS, str(sources_path), source_id, str(home)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "connectors.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fincorpus-bench-connectors-"))
    try:
        rows = build_rows(args.data, args.rows)
        mean_bytes = sum(len(json.dumps(r, ensure_ascii=False).encode()) for r in rows) / len(rows)
        parquet, _ = write_inputs(rows, tmp)
        del rows
        n, base_s = baseline_pyarrow(parquet)
        result: dict = {
            "machine": machine(),
            "rows": n,
            "mean_row_bytes": round(mean_bytes),
            "baseline_pyarrow_rows_per_s": round(n / base_s),
        }
        for sub in ("pq", "jl"):
            home = tmp / f"home-{sub}"
            src = sources_file(tmp, sub, args.rows)
            first = crawl_pass(src, f"bench-{sub}", home)
            second = crawl_pass(src, f"bench-{sub}", home)
            result[sub] = {
                "input": "parquet" if sub == "pq" else "jsonl",
                "new_rows_per_s": round(n / first["seconds"]),
                "new_outcomes": first["outcomes"],
                "new_pass_peak_rss_mb": first["peak_rss_mb"],
                "unchanged_rows_per_s": round(n / second["seconds"]),
                "unchanged_outcomes": second["outcomes"],
                "unchanged_pass_peak_rss_mb": second["peak_rss_mb"],
                "catalog_db_mb_after_both": round((home / "catalog.db").stat().st_size / 1e6, 1),
            }
        result["ratio_new_parquet_vs_pyarrow"] = round(
            result["pq"]["new_rows_per_s"] / result["baseline_pyarrow_rows_per_s"], 4
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
