"""The persistent near-duplicate index at scale: N indexed documents, then a 10k batch checked against them.

Bulk documents are random MinHash signatures (distinct documents: what most of a corpus is); real texts from
shared/data (cnews) are indexed too, and the query batch holds edited copies of them, so matches are checked.
Reports build rate, index size on disk, query time for the batch, matches found and the process's peak RSS.
Targets (issue 5): 10k checked against 1M in <= 30 s; index over 1M documents in about 1.5 GB of memory.

Run: .venv/bin/python bench/dedup/index_scale.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from fincorpus.dedup.index import NearIndex
from fincorpus.dedup.near import NearConfig, prepare

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    cfg = NearConfig()
    rng = np.random.default_rng(20261122)
    texts = [
        json.loads(x)["text"]
        for x in (args.data / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    real = [prepare(t, cfg) for t in texts]
    path = Path(tempfile.mkdtemp(prefix="near-index-")) / "near-index.sqlite"
    index = NearIndex(path, cfg)
    t0 = time.perf_counter()
    index.add(
        [f"real-{i}" for i in range(len(real))],
        ["cnews"] * len(real),
        np.stack([p.sig for p in real]),
        [p.facts for p in real],
        "v1",
    )
    step = 50_000
    for start in range(0, args.n - len(real), step):
        m = min(step, args.n - len(real) - start)
        sigs = rng.integers(0, 2**32, size=(m, cfg.num_perm), dtype=np.uint64).astype(np.uint32)
        index.add([f"bulk-{start + i}" for i in range(m)], ["bulk"] * m, sigs, [Counter()] * m, "v1")
    build = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in path.parent.iterdir())
    edited = [
        prepare("来源：某财经网\n" + t[: len(t) * 9 // 10] + "\n（责任编辑：某某）", cfg) for t in texts
    ]
    noise = rng.integers(0, 2**32, size=(args.batch - len(edited), cfg.num_perm), dtype=np.uint64).astype(
        np.uint32
    )
    qsigs = np.vstack([np.stack([p.sig for p in edited]), noise])
    qfacts = [p.facts for p in edited] + [Counter()] * len(noise)
    t0 = time.perf_counter()
    results = index.query(qsigs, qfacts)
    query = time.perf_counter() - t0
    found = sum(1 for i, r in enumerate(results[: len(edited)]) if any(m.doc_id == f"real-{i}" for m in r))
    false = sum(len(r) for r in results[len(edited) :])
    out = {
        "indexed": len(index),
        "build_seconds": round(build, 1),
        "build_docs_per_s": round(len(index) / build),
        "index_bytes_on_disk": size,
        "query_batch": args.batch,
        "query_seconds": round(query, 2),
        "edited_copies_found": f"{found}/{len(edited)}",
        "matches_for_random_docs": false,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(out, indent=2))
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "dedup_index.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
