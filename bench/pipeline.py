"""Crawl and processing throughput on the mirror sites, each next to a plain baseline run in the same process.

crawl:   fincorpus WebCrawler (robots.txt, tdmrep.json, allow/deny, WARC writing, discovery, one catalog-database
         transaction per URL for the resumable frontier), delays off
         vs. baseline: a bare httpx GET loop over the same final URLs (no robots, no archive, no parsing).
process: fincorpus process_capture (WARC read-back + sha256 check, decode, trafilatura, normalise, scores, opt-outs)
         vs. baseline: trafilatura.extract() on the same raw bytes (its own decoding).

Run: `make bench` (or .venv/bin/python bench/pipeline.py [--data ../shared/data]). Writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import httpx
import trafilatura

from fincorpus.fixture_server import FixtureServer
from fincorpus.pipelines.ingest import process_capture
from fincorpus.sources.archive import read_raw
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import load_sources
from fincorpus.sources.web import WebCrawler

REPO = Path(__file__).resolve().parent.parent
SOURCES = ["regulator", "finnews", "reprint", "exchange", "lifestyle"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    sources = load_sources(REPO / "fincorpus" / "demo" / "sources.yaml")
    home = Path(tempfile.mkdtemp(prefix="fincorpus-bench-"))
    results: dict = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    }
    with FixtureServer(args.data / "sites") as server:
        cfg = sources.crawler.model_copy(update={"proxy": server.proxy_url, "delay_seconds": 0.0})
        state = CrawlState(home)
        passes = []
        t0 = time.perf_counter()
        for sid in SOURCES:
            pass_id, _ = state.open_pass(sid)
            crawler = WebCrawler(sources.get(sid), cfg, home, state, pass_id)
            crawler.run()
            crawler.close()
            passes.append(pass_id)
        ours = time.perf_counter() - t0
        captures = list(state.captures(passes))
        requests = len(server.requests)
        urls = [c.final_url for c in captures]
        t0 = time.perf_counter()
        with httpx.Client(proxy=server.proxy_url, trust_env=False) as client:
            for url in urls:
                client.get(url).read()
        base = time.perf_counter() - t0
    results["crawl"] = {
        "documents": len(captures),
        "requests": requests,
        "fincorpus_pages_per_s": round(len(captures) / ours, 1),
        "fincorpus_requests_per_s": round(requests / ours, 1),
        "baseline_httpx_pages_per_s": round(len(urls) / base, 1),
        "per_page_overhead_ms": round((ours / len(captures) - base / len(urls)) * 1000, 2),
        "ratio_fincorpus_vs_baseline": round((len(captures) / ours) / (len(urls) / base), 3),
    }
    bodies = [read_raw(home, c.raw_ref).body for c in captures if c.content_type == "text/html"]
    html_caps = [c for c in captures if c.content_type == "text/html"]
    t0 = time.perf_counter()
    for c in html_caps:
        process_capture(c, sources, home, "bench")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in bodies:
        trafilatura.extract(b)
    base = time.perf_counter() - t0
    results["process_html"] = {
        "documents": len(html_caps),
        "fincorpus_docs_per_s": round(len(html_caps) / ours, 1),
        "baseline_trafilatura_docs_per_s": round(len(bodies) / base, 1),
        "ratio_fincorpus_vs_baseline": round(base / ours, 3),
    }
    out = REPO / "bench" / "results" / "pipeline.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    for section, vals in results.items():
        print(f"{section}: {vals}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
