"""How ``finance_score`` is judged (issue 13, item 4): a held-out split, leave one source out, length bands.

Measured on other sites, the v1 model had F1 0.73 (recall 0.60), its misses concentrated in short flash news
(100-300 characters) and forum posts, while its cross-validation on the training data said 0.95; v2 (same recipe on
a held-out split) left one source out scored 0.33-0.72. The reasons: n-gram weights learn each source's own notion
of finance (cnews 财经 is fund news), and the models had only seen whole documents.

- **Held-out split.** Every record's group (a cnews article, the versions of one law, an announcement, an html
  site, a PDF) is hashed (blake2b) into 10 buckets; buckets 0-2 are held out: never trained on, by the shipped
  model or by anything tuned for it. The model file lists the groups and records it was trained on
  (``training.trained_groups``, ``training.trained_refs``), so tests pick documents the model never saw.
- **Leave one source out.** For each source (cnews, laws, announcements, html, pdf) a model is trained with the
  full recipe (its search included) on all records of the other sources and scored on every record of the source
  left out: that source contributes nothing to the lexicon weights, the search or the boundary.
- **Length bands.** Scores are reported per band of non-space characters: 30-100, 100-300, 300-1000, 1000+. Every
  evaluated document longer than 320 characters also gives two leads, one of 30-99 and one of 100-299 characters
  (a lead, title and first sentences, is how a flash news item reads); the short bands hold those and the
  documents that are short themselves.
- **Baseline in the same run:** the hand-written lexicon alone, ``net_density`` (finance minus other-topic hit
  density) with one threshold chosen on the same training part (best mean per-source F1).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fincorpus.cleaning.domain import LexiconIndex, feature_names, nonspace
from fincorpus.cleaning.domain_train import (
    FINANCE,
    Example,
    Row,
    TrainConfig,
    build_model_file,
    default_index,
    doc_rows,
    featurize,
    law_group,
    objective,
    prf,
    train_model,
)

HOLDOUT_BUCKETS = 3  # of 10: 30 % of the groups of every source are never trained on
BANDS: tuple[tuple[str, int, int], ...] = (
    ("30-100", 30, 100),
    ("100-300", 100, 300),
    ("300-1000", 300, 1000),
    ("1000+", 1000, 10**9),
)
SPLIT_RULE = (
    f"blake2b(group, digest_size=8) as an integer, mod 10 < {HOLDOUT_BUCKETS}: held out (never trained on)"
)
EVAL_SEED = 7


def is_holdout(group: str) -> bool:
    h = int.from_bytes(hashlib.blake2b(group.encode("utf-8"), digest_size=8).digest(), "big")
    return h % 10 < HOLDOUT_BUCKETS


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held out) by group."""
    train = [e for e in examples if not is_holdout(e.group)]
    held = [e for e in examples if is_holdout(e.group)]
    return train, held


def band_of(text: str) -> str | None:
    n = nonspace(text)
    for name, lo, hi in BANDS:
        if lo <= n < hi:
            return name
    return None


def evaluation_rows(examples: Sequence[Example], seed: int = EVAL_SEED) -> list[Row]:
    """The documents as they are, plus two leads of each longer one (30-99 and 100-299 characters)."""
    rng = random.Random(seed)
    out = doc_rows(examples)
    for e in examples:
        if len(e.text) > 320:
            out.append(Row(e.text[: rng.randint(30, 99)], e, "lead"))
            out.append(Row(e.text[: rng.randint(100, 299)], e, "lead"))
    return out


def lexicon_baseline(train: Sequence[Row], test: Sequence[Row], index: LexiconIndex) -> np.ndarray:
    """Decisions of ``net_density`` alone, its threshold chosen on ``train`` (best mean per-source F1)."""
    col = feature_names(index.groups).index("net_density")
    tr = np.array([f.lex[col] for f in featurize(train, TrainConfig().spec, index)])
    te = np.array([f.lex[col] for f in featurize(test, TrainConfig().spec, index)])
    best, best_obj = 0.0, -1.0
    for t in np.unique(np.quantile(tr, np.linspace(0.0, 1.0, 201))):
        obj = objective(train, (tr >= t).astype(int))
        if obj > best_obj:
            best, best_obj = float(t), obj
    return (te >= best).astype(int)


def train_and_score(
    train: Sequence[Example], test: Sequence[Row], cfg: TrainConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit the recipe (search on ``train`` only); test probabilities, the lexicon baseline's test decisions and
    what the search chose."""
    index = default_index()
    model, final_cfg, sel, rows = train_model(train, cfg, index)
    probs = model.probabilities(featurize(test, cfg.spec, index))
    chosen = {
        "features": final_cfg.features,
        "term_penalty": final_cfg.term_penalty,
        "ngram_penalty": final_cfg.ngram_penalty,
        "bias_shift": final_cfg.bias_shift,
        "inner_objective": sel.objective if sel else None,
    }
    return probs, lexicon_baseline(rows, test, index), chosen


def metrics(test: Sequence[Row], probs: np.ndarray, lex_pred: np.ndarray) -> dict[str, Any]:
    """P/R/F1 at 0.5 overall, per band, per source and per source and band, model and lexicon baseline."""
    y = np.array([1 if r.label == FINANCE else 0 for r in test])
    pred = (probs >= 0.5).astype(int)

    def block(mask: np.ndarray) -> dict[str, Any]:
        return {
            "n": int(mask.sum()),
            "finance": int(y[mask].sum()),
            "model": prf(y[mask], pred[mask]),
            "lexicon_baseline": prf(y[mask], lex_pred[mask]),
        }

    bands = np.array([band_of(r.text) or "" for r in test])
    sources = np.array([r.source for r in test])
    docs = np.array([r.kind == "doc" for r in test])
    out: dict[str, Any] = {"all": block(np.ones(len(test), dtype=bool)), "documents": block(docs)}
    out["by_band"] = {name: block(bands == name) for name, _, _ in BANDS if (bands == name).any()}
    out["by_source"] = {}
    for s in sorted(set(sources)):
        m = sources == s
        out["by_source"][s] = {
            **block(m),
            "by_band": {
                name: block(m & (bands == name)) for name, _, _ in BANDS if (m & (bands == name)).any()
            },
        }
    return out


def held_out_evaluation(
    examples: Sequence[Example], cfg: TrainConfig
) -> tuple[dict[str, Any], list[Row], np.ndarray]:
    """The shipped recipe: training split of all sources, scored on the held-out split (documents and leads).
    Returns the metrics, the scored rows and their probabilities."""
    train, held = split(examples)
    test = evaluation_rows(held)
    probs, lex_pred, chosen = train_and_score(train, test, cfg)
    return {**metrics(test, probs, lex_pred), "selected": chosen}, test, probs


def leave_one_source_out(examples: Sequence[Example], cfg: TrainConfig) -> dict[str, Any]:
    """For each source: the recipe on every record of the other sources, scored on every record of it."""
    out: dict[str, Any] = {}
    for source in sorted({e.source for e in examples}):
        train = [e for e in examples if e.source != source]
        test = evaluation_rows([e for e in examples if e.source == source])
        probs, lex_pred, chosen = train_and_score(train, test, cfg)
        out[source] = {**metrics(test, probs, lex_pred), "selected": chosen}
    return out


def train_shipped(examples: Sequence[Example], cfg: TrainConfig, version: str) -> dict[str, Any]:
    """The shipped model: the recipe on the training split only; the file records the split, and the groups and
    records it was trained on, so tests and benchmarks can pick documents it never saw."""
    train, held = split(examples)
    split_info = {
        "rule": SPLIT_RULE,
        "held_out_groups": sorted({e.group for e in held}),
        "note": "bench/domain.py scores the held-out split and leave-one-source-out",
    }
    return build_model_file(train, cfg, version, {"split": split_info})


def truth_groups(data_dir: Path) -> Callable[[str | None], str | None]:
    """Maps the mirror's truth.jsonl ``source`` (data file and record) to the training group of that record, so
    tests can score only pages whose underlying text a model never saw. None for builder pages."""
    laws = {
        row["file"]: law_group(row)
        for row in map(json.loads, (data_dir / "texts/laws/index.jsonl").read_text("utf-8").splitlines())
    }

    def group(source: str | None) -> str | None:
        if not source:
            return None
        path, _, record = source.partition("#")
        fields = dict(p.split("=", 1) for p in record.split("&") if "=" in p)
        if path.startswith("texts/cnews/") and "id" in fields:
            return f"cnews:{fields['id']}"
        if path.startswith("texts/announcements_cfee/") and "ID" in fields:
            return f"ann:{fields['ID']}"
        if path.startswith("texts/laws/"):
            return laws.get(path)
        if path.startswith("html/"):
            return f"html:{path.split('/')[1]}"
        if path.startswith("pdf/"):
            return f"pdf:{path}"
        return None

    return group
