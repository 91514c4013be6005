"""finance_score that generalises (issue 13, item 4): a held-out split, short-text training, and evaluation by
source left out and by length band.

Measured on other sites, the v1 model had F1 0.73 (recall 0.60), its misses concentrated in short flash news
(100-300 characters) and forum posts, while its cross-validation on the training data said 0.95. Two reasons:
its folds mixed every source (a source's style was always in training), and it had only seen whole documents.

- **Held-out split.** Every record's group (a cnews article, the versions of one law, an announcement, an html
  site) is hashed (blake2b) into 10 buckets; buckets 0-2 are held out: never trained on, by the shipped model or
  by anything tuned for it. The model file lists the records it was trained on (``training.trained_refs``), so
  tests pick documents the model never saw.
- **Short texts, explicitly.** Each training document also contributes crops: its lead (what a flash news item
  or a forum post's opening is) and one window from inside, 60-300 characters, same label, same group.
- **Leave one source out.** For each source (cnews, laws, announcements, html) a model is trained (with its
  nested search) on the other sources' training split and scored on the held-out source; and the shipped recipe
  is scored on the held-out split of all sources.
- **Length bands.** Scores are reported per band of non-space characters: 30-100, 100-300, 300-1000, 1000+;
  the short bands hold the held-out documents' own short texts plus their leads cut to 60-300 characters (a
  proxy for flash news: a lede is how such items read).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from fincorpus.cleaning.domain import FINANCE_LEXICON
from fincorpus.cleaning.domain_train import (
    BORDERLINE,
    FINANCE,
    Example,
    TrainConfig,
    doc_grams,
    fit,
    lexicon_keys,
    lexicon_threshold,
    prf,
    tuned,
)

# Measured on the held-out split (bench/domain.py): crops lowered overall F1 (0.939 -> 0.922 with lead and
# window crops, 0.924 with leads only) and did not lift the 100-300 band (0.92 -> 0.91-0.92); the shipped
# recipe therefore trains on whole documents, and the crops stay here as the measured alternative.
CROPS_IN_RECIPE = False
HOLDOUT_BUCKETS = 3  # of 10: 30 % of the groups of every source are never trained on
CROP_MIN, CROP_MAX = 60, 300
BANDS: tuple[tuple[str, int, int], ...] = (
    ("30-100", 30, 100),
    ("100-300", 100, 300),
    ("300-1000", 300, 1000),
    ("1000+", 1000, 10**9),
)
SPLIT_RULE = (
    f"blake2b(group, digest_size=8) as an integer, mod 10 < {HOLDOUT_BUCKETS}: held out (never trained on)"
)


def is_holdout(group: str) -> bool:
    h = int.from_bytes(hashlib.blake2b(group.encode("utf-8"), digest_size=8).digest(), "big")
    return h % 10 < HOLDOUT_BUCKETS


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(train, held out) by group."""
    train = [e for e in examples if not is_holdout(e.group)]
    held = [e for e in examples if is_holdout(e.group)]
    return train, held


def nonspace(text: str) -> int:
    return len(text) - sum(map(text.count, " \n\t\u3000"))


def crops(examples: Sequence[Example], seed: int, *, window: bool = True) -> list[Example]:
    """For every labelled document longer than a crop: its lead and (``window``) one inner window."""
    rng = random.Random(seed)
    out: list[Example] = []
    for e in examples:
        if e.label == BORDERLINE or len(e.text) <= CROP_MAX:
            continue
        n = rng.randint(CROP_MIN, CROP_MAX)
        out.append(replace(e, text=e.text[:n], category=f"{e.category}:lead"))
        if window:
            n = rng.randint(CROP_MIN, CROP_MAX)
            start = rng.randint(0, len(e.text) - n)
            out.append(replace(e, text=e.text[start : start + n], category=f"{e.category}:window"))
    return out


def with_crops(examples: Sequence[Example], seed: int) -> list[Example]:
    return [*examples, *crops(examples, seed)]


def band_of(text: str) -> str | None:
    n = nonspace(text)
    for name, lo, hi in BANDS:
        if lo <= n < hi:
            return name
    return None


def evaluation_set(held: Sequence[Example], seed: int) -> list[Example]:
    """The held-out documents as they are, plus their leads cut to flash-news length (no inner windows)."""
    return [*held, *crops(held, seed + 7, window=False)]


def train_and_score(
    train: Sequence[Example], test: Sequence[Example], cfg: TrainConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fit the recipe (nested search on ``train`` only) and return test probabilities, the lexicon baseline's
    test decisions (threshold tuned on ``train``), and what the search chose."""
    lex_keys = lexicon_keys(FINANCE_LEXICON)
    tr_grams = [doc_grams(e.text, cfg.spec, lex_keys) for e in train]
    te_grams = [doc_grams(e.text, cfg.spec, lex_keys) for e in test]
    objective = tuple(s for s in cfg.objective_sources if any(e.source == s for e in train))
    run_cfg = replace(cfg, objective_sources=objective or tuple(sorted({e.source for e in train})))
    fold_cfg, _sel = tuned(tr_grams, list(train), run_cfg)
    fitted = fit(tr_grams, list(train), fold_cfg)
    probs = 1.0 / (1.0 + np.exp(-fitted.margins(te_grams)))
    probs[np.array([g.short for g in te_grams], dtype=bool)] = 0.0
    lab = [i for i, e in enumerate(train) if e.label != BORDERLINE]
    lex_tr = np.array([tr_grams[i].lex for i in lab])
    y_tr = np.array([train[i].label for i in lab])
    lex_pred = (np.array([g.lex for g in te_grams]) >= lexicon_threshold(lex_tr, y_tr)).astype(int)
    chosen = {"lexicon_penalty": fold_cfg.lexicon_penalty, "bias_shift": fold_cfg.bias_shift}
    return probs, lex_pred, chosen


def metrics(test: Sequence[Example], probs: np.ndarray, lex_pred: np.ndarray) -> dict[str, Any]:
    """P/R/F1 at 0.5 overall, per band and per source; borderline rows count as other."""
    y = np.array([1 if e.label == FINANCE else 0 for e in test])
    pred = (probs >= 0.5).astype(int)

    def block(mask: np.ndarray) -> dict[str, Any]:
        return {
            "n": int(mask.sum()),
            "finance": int(y[mask].sum()),
            "model": prf(y[mask], pred[mask]),
            "lexicon_baseline": prf(y[mask], lex_pred[mask]),
        }

    bands = np.array([band_of(e.text) or "" for e in test])
    sources = np.array([e.source for e in test])
    out: dict[str, Any] = {"all": block(np.ones(len(test), dtype=bool))}
    out["by_band"] = {name: block(bands == name) for name, _, _ in BANDS if (bands == name).any()}
    out["by_source"] = {s: block(sources == s) for s in sorted(set(sources))}
    return out


def leave_one_source_out(examples: Sequence[Example], cfg: TrainConfig, seed: int) -> dict[str, Any]:
    """Train on the other sources' training split (with crops), score the left-out source's held-out split
    (documents and leads). The left-out source contributes nothing to training, vocabulary or search."""
    train, held = split(examples)
    out: dict[str, Any] = {}
    for source in sorted({e.source for e in examples}):
        tr = with_crops([e for e in train if e.source != source], seed)
        te = evaluation_set([e for e in held if e.source == source], seed)
        if not te:
            continue
        probs, lex_pred, chosen = train_and_score(tr, te, cfg)
        out[source] = {**metrics(te, probs, lex_pred), "selected": chosen}
    return out


def held_out_evaluation(examples: Sequence[Example], cfg: TrainConfig, seed: int) -> dict[str, Any]:
    """The shipped recipe: train split of all sources (with crops), scored on the held-out split."""
    train, held = split(examples)
    te = evaluation_set(held, seed)
    probs, lex_pred, chosen = train_and_score(with_crops(train, seed), te, cfg)
    return {**metrics(te, probs, lex_pred), "selected": chosen}


def held_out_without_crops(examples: Sequence[Example], cfg: TrainConfig, seed: int) -> dict[str, Any]:
    """The v1 recipe (whole documents only) on the same split: what the crops add."""
    train, held = split(examples)
    te = evaluation_set(held, seed)
    probs, lex_pred, chosen = train_and_score(list(train), te, cfg)
    return {**metrics(te, probs, lex_pred), "selected": chosen}


def train_shipped(examples: Sequence[Example], cfg: TrainConfig, version: str) -> dict[str, Any]:
    """The shipped model: the recipe on the training split only; the file records the split and the groups it
    was trained on, so tests and benchmarks can pick documents it never saw."""
    from fincorpus.cleaning.domain_train import train as train_model

    tr, held = split(examples)
    tr = with_crops(tr, cfg.seed) if CROPS_IN_RECIPE else tr
    model = train_model(tr, cfg, version=version, cv=True)
    model["training"]["split"] = {
        "rule": SPLIT_RULE,
        "trained_groups": sorted({e.group for e in tr}),
        "held_out_groups": sorted({e.group for e in held}),
        "crops": CROPS_IN_RECIPE,
        "note": "cv figures are grouped CV inside the training split; bench/domain.py scores the held-out split",
    }
    return model
