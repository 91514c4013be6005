"""TC260 keyword screen: false-positive rate on the real financial texts of shared/data and speed, next to a naive
baseline (any library term as a substring of the raw text, no folding, no warning contexts).

Sets: laws/regulations/judicial interpretations, cnews news, CFEE announcements. They are legitimate texts that
name illegal fund-raising, 配资 and gambling to warn against them or to regulate them, so every flag is a false
positive. Speed: documents per second on one core over the same texts (indicative on a shared machine).

Run: `make bench` (or .venv/bin/python bench/tc260_screen.py [--data ../shared/data]).
Writes bench/results/tc260_screen.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fincorpus.safety import default_library, screen_text

REPO = Path(__file__).resolve().parent.parent


def load(data: Path) -> dict[str, list[str]]:
    base = data / "texts"
    ann = [
        json.loads(x)["Doc"]
        for x in (base / "announcements_cfee" / "FREEZE_Data.json").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    return {
        "laws": [p.read_text(encoding="utf-8") for p in sorted((base / "laws").glob("**/*.md"))],
        "cnews": [
            json.loads(x)["text"]
            for x in (base / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
        ],
        "announcements": ann,
    }


def main() -> None:
    from licence_agreement import machine  # same folder

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    lib = default_library()
    terms = [t.term for t in lib.terms.values() if t.kind == "promotion"]
    results: dict = {"machine": machine(), "library": lib.version, "sets": {}}
    all_texts: list[str] = []
    for name, texts in load(args.data).items():
        all_texts += texts
        ours = sum(screen_text(t).flagged for t in texts)
        naive = sum(any(term in t for term in terms) for t in texts)
        results["sets"][name] = {
            "documents": len(texts),
            "flagged": ours,
            "false_positive_rate": round(ours / len(texts), 4),
            "baseline_any_promotion_term_flagged": naive,
            "baseline_false_positive_rate": round(naive / len(texts), 4),
        }
    t0 = time.perf_counter()
    for t in all_texts:
        screen_text(t)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in all_texts:
        any(term in t for term in terms)
    base = time.perf_counter() - t0
    chars = sum(len(t) for t in all_texts)
    results["speed"] = {
        "documents": len(all_texts),
        "mean_chars": round(chars / len(all_texts)),
        "fincorpus_docs_per_s": round(len(all_texts) / ours, 1),
        "baseline_substring_docs_per_s": round(len(all_texts) / base, 1),
    }
    out = REPO / "bench" / "results" / "tc260_screen.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
