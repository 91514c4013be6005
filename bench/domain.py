"""finance_score: grouped 5-fold cross-validation per source and speed, next to a lexicon-only baseline.

Quality: the training recipe of ``fincorpus.cleaning.domain_train`` is cross-validated on cnews (财经 vs the rest,
房产 counted as other and also reported apart) and on the laws (financial vs non-financial), with precision, recall
and F1 at threshold 0.5. The CV is nested: in each outer fold the vocabulary, the lexicon penalty and the bias
shift are chosen on that fold's training part only (inner grouped CV), then the outer fold is scored once. The
previous recipe (lexicon penalised like any n-gram, no shift, same folds) is run alongside as "v1-before". The
baseline, in the same folds, is the hand-written lexicon alone: its hit density with a threshold tuned on each
fold's training part.
Speed: docs/s on one core over the cnews texts trimmed to 1.5 KB of UTF-8 (the shipped model), next to the
lexicon baseline's ``str.count`` loop on the same texts. Target (issue 4): >= 1,500 docs/s/core for the whole
text path, so <= 120 µs a document here. Timings are indicative on a shared machine; the ratio is measured in one
run.

Generalisation (issue 13): a held-out split of 30 % of the groups of every source (never trained on), scored per
length band (30-100, 100-300, 300-1000, 1000+ non-space characters; the short bands include the held-out
documents' leads cut to 60-300 characters) for the shipped recipe, and leave-one-source-out: for each source a
model trained on the other sources' training split only, scored on the left-out source's held-out split. See
fincorpus/cleaning/domain_eval.py. The grouped-CV figures above mix every source into every fold and are the
optimistic ones.

Run: .venv/bin/python bench/domain.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # bench.* from a plain checkout

from bench.provenance import provenance  # noqa: E402
from fincorpus.cleaning import domain_eval  # noqa: E402
from fincorpus.cleaning.domain import FINANCE_LEXICON, FeatureSpec, FinanceScorer  # noqa: E402
from fincorpus.cleaning.domain_train import (  # noqa: E402
    SEED,
    TrainConfig,
    cross_validate,
    cv_protocol,
    doc_grams,
    lexicon_keys,
    load_examples,
    print_report,
    print_selections,
    report,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"


def trim_utf8(text: str, nbytes: int = 1500) -> str:
    return text.encode("utf-8")[:nbytes].decode("utf-8", errors="ignore")


def docs_per_s(fn: Callable[[str], object], texts: Sequence[str], rounds: int = 5) -> float:
    """Best of a few rounds: other processes share the cores, the best round is the least disturbed."""
    fn(texts[0])
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def lexicon_hits(text: str) -> int:
    low = text.lower()
    return sum(low.count(term) for term in FINANCE_LEXICON)


def main() -> None:
    data = DATA.resolve()
    examples = load_examples(data)
    cfg = TrainConfig()
    grams = [doc_grams(e.text, FeatureSpec(), lexicon_keys(FINANCE_LEXICON)) for e in examples]
    before_cfg = replace(cfg, search=False)  # the recipe before the lexicon penalty / shift search
    before = report(examples, cross_validate(examples, before_cfg, grams))
    cv = cross_validate(examples, cfg, grams)
    quality = report(examples, cv)
    print("v1-before (lexicon weight penalised like the n-grams, no shift):")
    print_report(before)
    print("\nnow (nested search of lexicon penalty and bias shift):")
    print_report(quality)
    print_selections(cv)

    held = domain_eval.held_out_evaluation(examples, cfg, SEED) if domain_eval.CROPS_IN_RECIPE else None
    held = held or domain_eval.held_out_without_crops(examples, cfg, SEED)
    loso = domain_eval.leave_one_source_out(examples, cfg, SEED)
    print("\n" + generalisation_table(held, loso))

    raw = (data / "texts" / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [trim_utf8(json.loads(x)["text"]) for x in raw]
    scorer = FinanceScorer.load()
    ours = docs_per_s(scorer.score, texts)
    base = docs_per_s(lexicon_hits, texts)
    speed = {
        "documents": len(texts),
        "avg_utf8_bytes": round(sum(len(t.encode()) for t in texts) / len(texts)),
        "finance_score_docs_per_s": round(ours),
        "finance_score_us_per_doc": round(1e6 / ours, 1),
        "lexicon_str_count_docs_per_s": round(base),
        "ratio": round(ours / base, 2),
        "budget_us_per_doc": 120,
    }
    print(
        f"\nspeed on {speed['documents']} texts of ~{speed['avg_utf8_bytes']} UTF-8 bytes, one core: finance_score "
        f"{speed['finance_score_docs_per_s']} docs/s ({speed['finance_score_us_per_doc']} µs/doc); lexicon "
        f"str.count baseline {speed['lexicon_str_count_docs_per_s']} docs/s"
    )
    out = {
        "protocol": f"{cv_protocol(cfg)}; borderline rows (cnews 房产 trained as other, html economy_business "
        "untrained) count as other and are also reported apart",
        "config": {
            "vocab_size": cfg.vocab_size,
            "l2": cfg.l2,
            "finance_share": cfg.finance_share,
            "lexicon_penalty_grid": list(cfg.lexicon_penalties),
            "bias_shift_grid": list(cfg.bias_shifts),
            "search_objective": f"mean F1 at 0.5 over {'+'.join(cfg.objective_sources)} (inner CV)",
            **cfg.spec.to_json(),
        },
        "quality_by_source": quality,
        "selected_in_outer_folds": [asdict(s) for s in cv.selections if s is not None],
        "quality_by_source_v1_before": {"protocol": cv_protocol(before_cfg), **before},
        "held_out": {"protocol": domain_eval.SPLIT_RULE, "recipe_crops": domain_eval.CROPS_IN_RECIPE, **held},
        "leave_one_source_out": loso,
        "speed": speed,
        "model": scorer.version,
        "provenance": provenance(),
        "note": "speed is the best of 5 rounds in one process on a shared 2-core machine: indicative",
    }
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "domain.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=2) + "\n"
    )


def generalisation_table(held: dict, loso: dict) -> str:
    """F1 at 0.5 per length band: the held-out split (all sources), and each source left out of training."""
    bands = [b for b, _, _ in domain_eval.BANDS]
    head = f"{'finance_score F1 (P/R)':<34}" + "".join(f"{b:>16}" for b in bands) + f"{'all':>16}"
    lines = ["held-out split and leave-one-source-out, F1 at 0.5 per length band (n finance/n):", head]

    def row(name: str, r: dict) -> str:
        cells = []
        for b in [*bands, "all"]:
            v = r["all"] if b == "all" else r["by_band"].get(b)
            cells.append(f"{v['model']['f1']:>8.3f} {v['finance']:>3}/{v['n']:<3}" if v else f"{'-':>16}")
        return f"{name:<34}" + "".join(cells)

    lines.append(row("held-out split, all sources", held))
    lines.append(
        row("  lexicon-only baseline (F1 all)", held).split()[0]
        + f" {held['all']['lexicon_baseline']['f1']:.3f}"
    )
    for source, r in loso.items():
        lines.append(row(f"left out: {source}", r))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
