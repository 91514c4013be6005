"""`fincorpus audit` throughput on the demo snapshot, next to the bare work it cannot avoid, in the same process.

Builds the demo snapshot (the mirror sites through the fixture proxy, every stage in process, no Prefect), then:

audit:    ``audit_snapshot`` over every kept document, with 1 worker and with one worker per core (process pool):
          raw bytes re-read and hashed, capture found in the crawl state, decode/extract/clean re-run, licence and
          opt-out checks.
baseline: ``process_capture`` alone on the same captures in one process (the re-run is most of an audit), and the
          raw check alone (``read_raw`` + sha256).

The demo's pages were used to tune extraction and cleaning (selectors, thresholds), which does not matter here:
this measures speed, and the audit only repeats what ingest did. Run: `make bench` (or
.venv/bin/python bench/audit.py [--data ../shared/data]). Writes bench/results/audit.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # bench.* from a plain checkout

from bench.provenance import provenance  # noqa: E402
from fincorpus.catalog.audit import audit_snapshot  # noqa: E402
from fincorpus.catalog.store import CorpusCatalog  # noqa: E402
from fincorpus.fixture_server import FixtureServer  # noqa: E402
from fincorpus.pipelines import ingest  # noqa: E402
from fincorpus.pipelines.publish import publish  # noqa: E402
from fincorpus.pipelines.templates import run_templates  # noqa: E402
from fincorpus.sources.archive import read_raw  # noqa: E402
from fincorpus.sources.frontier import CrawlState  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"
TAG = "bench"


def build(home: Path, sites: Path) -> tuple[str, list[str]]:
    """The demo snapshot, every stage in this process; returns the run id and its crawl passes."""
    with FixtureServer(sites) as server:
        sources = ingest.load_sources_for(str(SOURCES), server.proxy_url)
        ids = [s.id for s in sources.sources if s.enabled]
        pass_ids: list[str] = []
        for sid in ids:
            pass_ids += ingest.crawl_source(sources, sid, home).pass_ids
    run_id, _ = ingest.open_run(home, pass_ids)
    shards = ingest.plan_pass_shards(home, pass_ids)
    meta = {"sources_path": str(SOURCES.resolve()), "source_ids": ids}
    ingest.run_in_process(str(SOURCES), home, shards, run_id, meta, pass_ids)
    publish(home, TAG)
    return run_id, pass_ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fincorpus-bench-audit-"))
    try:
        t0 = time.perf_counter()
        run_id, pass_ids = build(home, args.data / "sites")
        build_s = time.perf_counter() - t0
        cores = len(os.sched_getaffinity(0))
        audits = {}
        for workers in sorted({1, cores}):
            rep = audit_snapshot(home, TAG, workers=workers)
            assert rep.ok, rep.tally.failures[:3]
            audits[f"workers_{workers}"] = {
                "documents": rep.documents,
                "verified_percent": rep.percent,
                "seconds": round(rep.seconds, 2),
                "docs_per_s": round(rep.docs_per_second, 1),
            }
        kept = {
            r["raw_ref"]
            for r in CorpusCatalog(home, create=False).read(TAG, columns=("raw_ref",)).to_pylist()
        }
        captures = [c for c in CrawlState(home).captures(pass_ids) if c.raw_ref in kept]
        sources = ingest.load_sources_for(str(SOURCES))
        templates = run_templates(home, run_id)
        t0 = time.perf_counter()
        for c in captures:
            ingest.process_capture(c, sources, home, run_id, templates)
        rerun_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for c in captures:
            assert hashlib.sha256(read_raw(home, c.raw_ref).body).hexdigest() == c.raw_sha256
        raw_s = time.perf_counter() - t0
        one = audits["workers_1"]
        results = {
            "provenance": provenance(),
            "note": "shared 2-core machine unless stated otherwise: provisional",
            "build_seconds": round(build_s, 1),
            "audit": audits,
            "baseline": {
                "documents": len(captures),
                "process_capture_docs_per_s": round(len(captures) / rerun_s, 1),
                "raw_check_docs_per_s": round(len(captures) / raw_s, 1),
            },
            "audit_1_worker_vs_process_capture": round(one["docs_per_s"] / (len(captures) / rerun_s), 3),
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)  # our own temporary home
    out = REPO / "bench" / "results" / "audit.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key}: {value}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
