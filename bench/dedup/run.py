"""Near-duplicate detection benchmark: fincorpus next to two MinHash baselines on the same generated data.

Run: .venv/bin/python bench/dedup/run.py [--data ../shared/data] [--only baselines]
Builds the benchmark from the shared data (nothing is stored in the repo), times each method's
`cluster(texts) -> labels` call, prints a table and writes bench/results/dedup.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(HERE), str(REPO)]  # sibling modules, and fincorpus when run from a plain checkout

from baselines import BASELINES  # noqa: E402
from dataset import build  # noqa: E402
from metrics import evaluate  # noqa: E402

Method = Callable[[list[str]], list[int]]


def methods(only: str | None) -> dict[str, Method]:
    out: dict[str, Method] = dict(BASELINES)
    if only == "baselines":
        return out
    try:
        from fincorpus.dedup.near import cluster_texts
    except ImportError as e:
        print(f"note: fincorpus.dedup.near.cluster_texts not importable ({e}); skipped")
    else:
        out["fincorpus"] = cluster_texts
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--only", choices=["baselines"], help="run only the baselines")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "dedup.json")
    args = ap.parse_args()

    t0 = time.perf_counter()
    bench = build(args.data)
    build_s = time.perf_counter() - t0
    summary = bench.summary()
    print(
        f"benchmark: {summary['docs']} docs, {summary['true_multi_doc_clusters']} true multi-doc clusters, "
        f"{summary['template_pairs']} template pairs (built in {build_s:.1f}s)"
    )
    texts = [d.text for d in bench.docs]

    results: dict[str, dict] = {}
    for name, fn in methods(args.only).items():
        fn(texts[:3])  # warm-up: one-off loads (jieba's dictionary, models) are not throughput
        t0 = time.perf_counter()
        labels = fn(texts)
        secs = time.perf_counter() - t0
        results[name] = {"seconds": secs, "docs_per_s": len(texts) / secs, **evaluate(list(labels), bench)}

    cols = [
        "pair_precision",
        "pair_recall",
        "pair_f1",
        "cluster_f1",
        "template_false_merge_rate",
        "docs_per_s",
    ]
    heads = ["pair P", "pair R", "pair F1", "clus F1", "tmpl FM", "docs/s"]
    print(f"\n{'method':<18}" + "".join(f"{h:>9}" for h in heads))
    for name, r in results.items():
        print(
            f"{name:<18}" + "".join(f"{r[c]:>9.3f}" if c != "docs_per_s" else f"{r[c]:>9.0f}" for c in cols)
        )
    kinds = sorted({k for r in results.values() for k in r["recall_by_kind"]})
    print("\nrecall by kind    " + "".join(f"{n[:16]:>18}" for n in results))
    for k in kinds:
        print(
            f"{k:<18}"
            + "".join(f"{r['recall_by_kind'].get(k, float('nan')):>18.3f}" for r in results.values())
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}",
        "build_seconds": build_s,
        "benchmark": summary,
        "methods": results,
    }
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
