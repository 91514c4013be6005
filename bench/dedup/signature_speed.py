"""MinHash signature throughput on ~1.5 KB Chinese documents, per core, next to datasketch's own update path.

Both compute 120-permutation signatures over the same character 5-grams of the same normalised texts; the baseline
feeds the shingles to datasketch.MinHash.update_batch (its documented fast path, sha1 per shingle). fincorpus
hashes all shingles at once in numpy and applies datasketch's permutations. Target (issue 5): >= 5,000 docs/s.

Run: .venv/bin/python bench/dedup/signature_speed.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import datasketch

from fincorpus.dedup.near import NearConfig, normalise, prepare

REPO = Path(__file__).resolve().parents[2]


def trim_utf8(text: str, nbytes: int = 1500) -> str:
    return text.encode("utf-8")[:nbytes].decode("utf-8", errors="ignore")


def main() -> None:
    data = REPO.parent / "shared" / "data" / "texts" / "cnews" / "cnews_500.jsonl"
    texts = [trim_utf8(json.loads(x)["text"]) for x in data.read_text(encoding="utf-8").splitlines()]
    cfg = NearConfig()
    prepare(texts[0], cfg)  # warm caches (permutations, OpenCC)
    t0 = time.perf_counter()
    for _ in range(3):
        for t in texts:
            prepare(t, cfg)
    ours = 3 * len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for t in texts:
        norm = normalise(t)
        m = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update_batch(
            [norm[i : i + cfg.ngram].encode("utf-8") for i in range(max(len(norm) - cfg.ngram + 1, 1))]
        )
    base = len(texts) / (time.perf_counter() - t0)
    out = {
        "documents": len(texts),
        "avg_utf8_bytes": round(sum(len(t.encode()) for t in texts) / len(texts)),
        "fincorpus_docs_per_s": round(ours),
        "datasketch_update_batch_docs_per_s": round(base),
        "ratio": round(ours / base, 2),
        "note": "fincorpus figure includes normalisation, OpenCC folding and digit facts; single process",
    }
    print(json.dumps(out, indent=2))
    (REPO / "bench" / "results" / "dedup_signatures.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
