"""finance_score: held-out split and leave-one-source-out per length band, with baselines, and speed.

Quality (fincorpus/cleaning/domain_eval.py has the protocol):
- Held-out split: the shipped recipe (search by grouped inner CV on the training split only) trained on the
  training split of every source, scored on the held-out split (30 % of the groups of each source, never trained
  on): documents plus two leads of each longer document (30-99 and 100-299 characters), F1 at 0.5 per length band
  and per source. Baselines in the same run: the hand-written lexicon alone (net density, one threshold chosen on
  the training rows) and the previous shipped model finance_v2 (same split; its held-out cnews/laws/html groups
  were never trained on, the pdf source is new; announcements left out of its row because v2 grouped them
  differently).
- Leave one source out: for each source, the recipe (its search included) trained on every record of the other
  sources and scored on every record of the source left out, per length band, with the lexicon baseline.
Speed: docs/s on one core over the cnews texts trimmed to 1.5 KB of UTF-8 (finance_v3 and finance_v2), next to a
``str.count`` loop over the lexicon's terms on the same texts. Timings are indicative on a shared machine.

What saw tuning data: the recipe's parameters are chosen by inner CV on each training part only, never on the
scored part. The hand-written lexicon and the recipe's design (groups, generic group, sign constraints, weights)
were revised while looking at leave-one-source-out errors on this shared data (see docs/cleaning.md), so every
figure here saw that design choice; the held-out variant of the mirror has not been seen.

Run: .venv/bin/python bench/domain.py
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]  # bench.* from a plain checkout

from bench.provenance import provenance  # noqa: E402
from fincorpus.cleaning import domain_eval  # noqa: E402
from fincorpus.cleaning.domain import LEXICON, FinanceScorer  # noqa: E402
from fincorpus.cleaning.domain_train import FINANCE, TrainConfig, load_examples, prf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
V2 = REPO / "fincorpus" / "cleaning" / "models" / "finance_v2.json"
BAND_NAMES = [b for b, _, _ in domain_eval.BANDS]


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


_TERMS = [t for g in LEXICON for t in g.terms]


def lexicon_hits(text: str) -> int:
    low = text.lower()
    return sum(low.count(term) for term in _TERMS)


def v2_on_held_out(rows: list, scorer: FinanceScorer) -> dict:
    """finance_v2 on the held-out rows of the sources whose groups it shares (all but announcements)."""
    keep = [r for r in rows if r.source != "announcements"]
    y = np.array([1 if r.label == FINANCE else 0 for r in keep])
    pred = np.array([scorer.score(r.text) >= 0.5 for r in keep], dtype=int)
    bands = np.array([domain_eval.band_of(r.text) or "" for r in keep])
    out = {"all": {"n": len(keep), "finance": int(y.sum()), "model": prf(y, pred)}, "by_band": {}}
    for b in BAND_NAMES:
        m = bands == b
        if m.any():
            out["by_band"][b] = {"n": int(m.sum()), "finance": int(y[m].sum()), "model": prf(y[m], pred[m])}
    return out


def cell(block: dict | None, which: str = "model") -> str:
    if not block:
        return f"{'-':>19}"
    m = block[which]
    return f"{m['f1']:>6.3f} ({m['precision']:.2f}/{m['recall']:.2f})"


def table(held: dict, v2: dict, loso: dict, variants: dict) -> str:
    """F1 (P/R) at 0.5 per length band: held-out split, baselines, each source left out."""
    head = f"{'finance_score F1 (P/R)':<30}" + "".join(f"{b:>19}" for b in [*BAND_NAMES, "all"])
    lines = [head]

    def row(name: str, r: dict, which: str = "model") -> str:
        cells = [cell(r["by_band"].get(b), which) for b in BAND_NAMES] + [cell(r.get("all", r), which)]
        return f"{name:<30}" + "".join(cells)

    lines.append(row(f"held-out split, {held['selected']['features']}", held))
    lines.append(row("  lexicon-only baseline", held, "lexicon_baseline"))
    lines.append(row("  finance_v2 (no announcements)", v2))
    for name, r in variants.items():
        lines.append(row(f"  candidate {name}"[:30], r))
    for s, r in held["by_source"].items():
        lines.append(row(f"  held-out {s}", r))
    lines.append("leave one source out (trained on the other sources only):")
    for s, r in loso.items():
        lines.append(row(f"  left out: {s}", r))
        lines.append(row("    lexicon-only baseline", r, "lexicon_baseline"))
    counts = "  ".join(
        f"{b}: {held['by_band'][b]['finance']}/{held['by_band'][b]['n']}" for b in held["by_band"]
    )
    lines.append(f"held-out rows (finance/all) per band: {counts}")
    return "\n".join(lines)


def main() -> None:
    data = DATA.resolve()
    t0 = time.perf_counter()
    examples = load_examples(data)
    cfg = TrainConfig()
    held, rows, _ = domain_eval.held_out_evaluation(examples, cfg)
    v2_scorer = FinanceScorer.load(V2)
    v2 = v2_on_held_out(rows, v2_scorer)
    variants = {}
    for features, term_pen, ng_pen in cfg.candidates:  # each candidate alone (bias shift still searched)
        fixed = replace(cfg, candidates=((features, term_pen, ng_pen),))
        res, _, _ = domain_eval.held_out_evaluation(examples, fixed)
        variants[
            f"{features}"
            + (f" t{term_pen:g}" if features == "lexicon" else "")
            + (" +ngrams" if ng_pen else "")
        ] = {
            "all": res["all"],
            "by_band": res["by_band"],
        }
    loso = domain_eval.leave_one_source_out(examples, cfg)

    raw = (data / "texts" / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [trim_utf8(json.loads(x)["text"]) for x in raw]
    scorer = FinanceScorer.load()
    ours = docs_per_s(scorer.score, texts)
    old = docs_per_s(v2_scorer.score, texts)
    base = docs_per_s(lexicon_hits, texts)
    speed = {
        "documents": len(texts),
        "avg_utf8_bytes": round(sum(len(t.encode()) for t in texts) / len(texts)),
        "finance_v3_docs_per_s": round(ours),
        "finance_v3_us_per_doc": round(1e6 / ours, 1),
        "finance_v2_docs_per_s": round(old),
        "lexicon_str_count_docs_per_s": round(base),
        "budget_us_per_doc": 120,
    }
    speed_line = (
        f"\nspeed on {speed['documents']} texts of ~{speed['avg_utf8_bytes']} UTF-8 bytes, one core: finance_v3 "
        f"{speed['finance_v3_docs_per_s']} docs/s ({speed['finance_v3_us_per_doc']} µs/doc); finance_v2 "
        f"{speed['finance_v2_docs_per_s']} docs/s; str.count over the lexicon {speed['lexicon_str_count_docs_per_s']}"
        " docs/s"
    )
    out = {
        "protocol": {
            "held_out": f"{domain_eval.SPLIT_RULE}; recipe trained on the training split (search by grouped "
            f"{cfg.inner_folds}-fold inner CV on it), scored on held-out documents and their leads; F1 at 0.5",
            "leave_one_source_out": "recipe trained on every record of the other sources, scored on every "
            "record (and leads) of the source left out",
            "bands": "non-space characters of the scored text",
            "lexicon_baseline": "net_density (finance minus other-topic hit density) >= a threshold chosen on the "
            "training rows (best mean per-source F1)",
            "finance_v2": "the previous shipped model file, same held-out rows except announcements",
            "tuning": "hyper-parameters never saw the scored part; the lexicon and recipe design were revised while "
            "looking at leave-one-source-out errors on this shared data",
        },
        "model": scorer.version,
        "held_out": held,
        "finance_v2_held_out": v2,
        "held_out_by_candidate": variants,
        "leave_one_source_out": loso,
        "speed": speed,
        "seconds": round(time.perf_counter() - t0, 1),
        "provenance": provenance(),
        "note": "speed is the best of 5 rounds in one process on a shared 2-core machine: indicative",
    }
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "domain.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=2) + "\n"
    )
    print(table(held, v2, loso, variants))
    print(speed_line)


if __name__ == "__main__":
    main()
