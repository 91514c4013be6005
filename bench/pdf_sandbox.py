"""Cost of isolating PDF parsing: extract_pdf in a worker process vs. in-process, on the 7 real PDFs.

fincorpus: ``extract_pdf_isolated`` (worker process, RLIMIT_AS 1 GiB, 60 s timeout; body and result pickled over
           a pipe), warm workers (the one-off start of a worker is reported separately).
baseline:  ``extract_pdf`` called directly in the same process, same run, interleaved, best of REPEAT.

Run: `.venv/bin/python bench/pdf_sandbox.py [--data ../shared/data] [--repeat 5]`. Writes bench/results/pdf_sandbox.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmeta import machine

from fincorpus.cleaning.extract import extract_pdf
from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated, shutdown_workers

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pdfs = sorted((args.data / "pdf").glob("*.pdf"))
    if not pdfs:
        raise SystemExit(f"no PDFs under {args.data / 'pdf'}")
    t0 = time.perf_counter()
    extract_pdf_isolated(pdfs[0].read_bytes(), max_memory_bytes=1 << 30, timeout_s=60)
    cold = time.perf_counter() - t0
    rows = []
    for p in pdfs:
        body = p.read_bytes()
        direct, isolated = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            a = extract_pdf(body)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = extract_pdf_isolated(body, max_memory_bytes=1 << 30, timeout_s=60)
            isolated.append(time.perf_counter() - t)
            assert a == b, p.name
        rows.append(
            {
                "file": p.name,
                "bytes": len(body),
                "pages": a.pages,
                "direct_ms": round(min(direct) * 1000, 1),
                "isolated_ms": round(min(isolated) * 1000, 1),
                "overhead_ms": round((min(isolated) - min(direct)) * 1000, 1),
            }
        )
    shutdown_workers()
    result = {
        "machine": machine(),
        "repeat": args.repeat,
        "first_call_with_worker_start_ms": round(cold * 1000),
        "mean_overhead_ms_per_pdf": round(sum(r["overhead_ms"] for r in rows) / len(rows), 1),
        "total_direct_ms": round(sum(r["direct_ms"] for r in rows), 1),
        "total_isolated_ms": round(sum(r["isolated_ms"] for r in rows), 1),
        "files": rows,
    }
    out = REPO / "bench" / "results" / "pdf_sandbox.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
