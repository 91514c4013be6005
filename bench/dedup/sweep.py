"""Choose the shingle size and normalisation by measurement: pair F1 and template false merges on the benchmark.

Run: .venv/bin/python bench/dedup/sweep.py   (writes bench/results/dedup_sweep.json)
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dataset import build
from metrics import evaluate

from fincorpus.dedup import near

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    bench = build(REPO.parent / "shared" / "data")
    texts = [d.text for d in bench.docs]
    rows = []
    for ngram in (3, 4, 5, 6, 7):
        cfg = near.NearConfig(ngram=ngram)
        m = evaluate(near.cluster_texts(texts, cfg), bench)
        rows.append(
            {
                "ngram": ngram,
                "normalisation": "full",
                **{k: m[k] for k in ("pair_f1", "template_false_merge_rate")},
            }
        )
    # normalisation ablation at n=5: without script folding (OpenCC) and without dropping punctuation
    base = near.NearConfig()
    conv = near._t2s
    near._t2s = lambda: None  # type: ignore[assignment]
    m = evaluate(near.cluster_texts(texts, base), bench)
    near._t2s = conv
    rows.append(
        {
            "ngram": 5,
            "normalisation": "no t2s",
            "pair_f1": m["pair_f1"],
            "template_false_merge_rate": m["template_false_merge_rate"],
        }
    )
    drop = near._DROP
    near._DROP = near.regex.compile(r"\\s+")
    m = evaluate(near.cluster_texts(texts, replace(base)), bench)
    near._DROP = drop
    rows.append(
        {
            "ngram": 5,
            "normalisation": "punctuation kept",
            "pair_f1": m["pair_f1"],
            "template_false_merge_rate": m["template_false_merge_rate"],
        }
    )
    for r in rows:
        print(r)
    (REPO / "bench" / "results" / "dedup_sweep.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
