"""Train and cross-validate the ``finance_score`` model (see ``domain.py`` for the features).

Run: ``.venv/bin/python -m fincorpus.cleaning.domain_train --data ../shared/data --out
fincorpus/cleaning/models/finance_v2.json`` (``--cv-only`` prints the cross-validation and writes nothing).

Training data is read from the shared data at run time; the model file holds n-gram strings and weights only.
- cnews: 财经 (and 股票, if present) = finance, everything else other. 房产 (flagged borderline by the data) is
  trained as other, as the data labels it: property news talks mortgages and credit, but housing markets are
  outside the corpus's scope. Cross-validation also reports the metric without 房产 and 房产's mean score
  (trained as borderline-excluded instead, cnews F1 was 0.02-0.04 lower at equal settings).
- laws: the index's finance/other labels; the two versions of a ``version_group`` are one group (same fold).
- announcements: a fixed, evenly spaced sample of the equity-freeze announcements (finance; heavily templated,
  so a few dozen teach what a hundred would).
- html: article pages of html/index.jsonl, main text by our own decode + extract path; collector topic finance =
  finance, other = other, economy_business borderline: never trained on, counted as other in the metric and
  reported apart. One group per site (shared page furniture).

Honest evaluation: stratified grouped 5-fold cross-validation with fixed seeds; the vocabulary is selected inside
each fold from that fold's training part only. Each source is balanced by class weight, so features that merely
mark a genre (statute numbering, news datelines) cannot stand in for the topic.

Two hyper-parameters are searched, never fixed by looking at evaluation folds: how hard the lexicon-density
weight is penalised (a large one lifts political news that mentions budgets, GDP or exchange rates) and a shift
of the bias (the threshold, baked into the stored bias so 0.5 stays the boundary). ``tune`` picks them from fixed
grids by grouped inner CV on the data it is given (mean F1 of cnews and laws at 0.5); the reported CV is nested
(the search reruns inside every outer training part), and the shipped model reruns it on all data.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse

from fincorpus.cleaning.domain import (
    FINANCE_LEXICON,
    MIN_CHARS,
    MODEL_FORMAT,
    FeatureSpec,
    FinanceScorer,
    char_codes,
    gram_of,
    key_of,
    lexicon_feature,
    ngram_keys,
    order_of,
)

FINANCE, OTHER, BORDERLINE = 1, 0, -1
SEED = 20261122
FINANCE_CATEGORIES = {"财经", "股票"}


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # FINANCE, OTHER or BORDERLINE (never trained on)
    source: str  # cnews | laws | announcements | html
    group: str  # examples of one group always share a fold
    category: str
    borderline: bool = False  # flagged by the data as between finance and other (reported apart)


@dataclass(frozen=True)
class TrainConfig:
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    vocab_size: int = 3000
    min_df: int = 3
    l2: float = 0.3  # penalty on the summed (weighted) log-loss, bias not penalised
    finance_share: float = 0.3  # finance share of the training weight within every two-class source
    lexicon_penalty: float = 1.0  # the lexicon weight's L2 penalty is l2 * this (searched, see ``tune``)
    bias_shift: float = 0.0  # added to the fitted bias, moving the 0.5 boundary (searched, see ``tune``)
    search: bool = True  # choose lexicon_penalty and bias_shift by inner cross-validation before fitting
    lexicon_penalties: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    bias_shifts: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    objective_sources: tuple[str, ...] = ("cnews", "laws")  # their F1 at 0.5 picks the search winner
    objective: str = "mean"  # "mean" or "min" of those F1s
    folds: int = 5
    inner_folds: int = 4
    seed: int = SEED


# ---------------------------------------------------------------- data


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"training data file {path} not found; pass --data pointing at shared/data")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_cnews(data_dir: Path) -> list[Example]:
    out = []
    for row in _jsonl(data_dir / "texts" / "cnews" / "cnews_500.jsonl"):
        cat = row["category"]
        label = FINANCE if cat in FINANCE_CATEGORIES else OTHER
        out.append(
            Example(row["text"], label, "cnews", f"cnews:{row['id']}", cat, bool(row.get("borderline")))
        )
    return out


def load_laws(data_dir: Path) -> list[Example]:
    out = []
    for row in _jsonl(data_dir / "texts" / "laws" / "index.jsonl"):
        text = (data_dir / row["file"]).read_text(encoding="utf-8")
        group = f"laws:{row['version_group'] or row['file']}"
        out.append(
            Example(text, FINANCE if row["label"] == "finance" else OTHER, "laws", group, row["title"])
        )
    return out


def load_announcements(data_dir: Path, n: int) -> list[Example]:
    rows = _jsonl(data_dir / "texts" / "announcements_cfee" / "FREEZE_Data.json")
    step = max(len(rows) // max(n, 1), 1)
    picked = rows[::step][:n]
    return [
        Example(f"{r['Title']}\n{r['Doc']}", FINANCE, "announcements", f"ann:{i % 10}", "equity-freeze")
        for i, r in enumerate(picked)
    ]


def load_html(data_dir: Path) -> list[Example]:
    from fincorpus.cleaning.decode import decode_bytes
    from fincorpus.cleaning.extract import extract_html
    from fincorpus.cleaning.normalize import normalize_text

    labels = {"finance": FINANCE, "other": OTHER, "economy_business": BORDERLINE}
    out = []
    for row in _jsonl(data_dir / "html" / "index.jsonl"):
        if row.get("page_type") != "article" or row.get("topic_hint_by_collector") not in labels:
            continue
        html = decode_bytes((data_dir / row["file"]).read_bytes()).text
        got = extract_html(html, f"http://{row['site']}.example/{row['file']}")
        text = normalize_text(f"{got.title or ''}\n{got.text}")
        if len(text) >= 50:
            label = labels[row["topic_hint_by_collector"]]
            topic = row["topic_hint_by_collector"]
            out.append(Example(text, label, "html", f"html:{row['site']}", topic, label == BORDERLINE))
    return out


def load_examples(data_dir: Path, *, announcements: int = 60, html: bool = True) -> list[Example]:
    """All training/evaluation examples from shared data, in a fixed order."""
    data_dir = Path(data_dir)
    if not (data_dir / "texts").is_dir():
        raise FileNotFoundError(f"{data_dir} has no texts/ folder; pass --data pointing at shared/data")
    out = load_cnews(data_dir) + load_laws(data_dir) + load_announcements(data_dir, announcements)
    return out + (load_html(data_dir) if html else [])


# ---------------------------------------------------------------- features


@dataclass(frozen=True)
class DocGrams:
    keys: np.ndarray  # sorted unique n-gram keys of the spec's orders
    lex: float  # lexicon feature
    short: bool  # below MIN_CHARS: scores 0.0 whatever the model


def lexicon_keys(lexicon: Sequence[str]) -> np.ndarray:
    return np.array(sorted({key_of(t) for t in lexicon}), dtype=np.uint64)


def doc_grams(text: str, spec: FeatureSpec, lex_keys: np.ndarray) -> DocGrams:
    """Training-side features in key space; must agree with ``FinanceScorer.margin`` (a test checks it)."""
    head = text[: spec.max_chars]
    short = len(head) - sum(map(head.count, " \n\t\u3000")) < MIN_CHARS
    codes = char_codes(head, spec.max_chars)
    keys = np.unique(np.concatenate(ngram_keys(codes, spec.orders)))
    lex_orders = sorted({order_of(int(k)) for k in lex_keys})
    all_keys = np.concatenate(ngram_keys(codes, lex_orders)) if lex_orders else keys[:0]
    hits = int(np.isin(all_keys, lex_keys).sum())
    return DocGrams(keys, lexicon_feature(hits, len(head)), short)


def sample_weights(examples: Sequence[Example], finance_share: float) -> np.ndarray:
    """Row weights giving finance the same share of weight in every two-class source.

    With one share everywhere, nothing that marks a source's genre (statute numbering, news datelines) can stand
    in for the topic; the share itself sets the prior the model is calibrated for. A source's total weight is its
    row count; a one-class source keeps weight 1 a row.
    """
    counts = Counter((e.source, e.label) for e in examples)
    per_source = Counter(e.source for e in examples)
    out = []
    for e in examples:
        n_fin, n_other = counts[(e.source, FINANCE)], counts[(e.source, OTHER)]
        if not n_fin or not n_other:
            out.append(1.0)
        elif e.label == FINANCE:
            out.append(per_source[e.source] * finance_share / n_fin)
        else:
            out.append(per_source[e.source] * (1 - finance_share) / n_other)
    return np.array(out, dtype=np.float64)


def select_vocab(
    grams: Sequence[DocGrams], y: np.ndarray, w: np.ndarray, size: int, min_df: int
) -> np.ndarray:
    """The ``size`` keys with the highest weighted chi-square between presence and label (df >= min_df)."""
    doc_of = np.repeat(np.arange(len(grams)), [g.keys.size for g in grams])
    uniq, inv = np.unique(np.concatenate([g.keys for g in grams]), return_inverse=True)
    df = np.bincount(inv, minlength=uniq.size)
    a = np.bincount(inv, weights=(w * y)[doc_of], minlength=uniq.size)  # finance weight with the n-gram
    b = np.bincount(inv, weights=(w * (1 - y))[doc_of], minlength=uniq.size)
    pos, neg = float((w * y).sum()), float((w * (1 - y)).sum())
    c, d = pos - a, neg - b
    n = pos + neg
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * pos * neg)
    chi2 = np.where((df >= min_df) & np.isfinite(chi2), chi2, -1.0)
    order = np.lexsort((uniq, -chi2))[:size]  # ties broken by key: deterministic
    return np.sort(uniq[order[chi2[order] > 0]])


def design_matrix(grams: Sequence[DocGrams], vocab: np.ndarray) -> sparse.csr_matrix:
    """Rows: binary vocabulary presence / sqrt(hits), then the lexicon feature as the last column."""
    rows, cols, vals = [], [], []
    for i, g in enumerate(grams):
        pos = np.searchsorted(vocab, g.keys)
        inside = pos < vocab.size
        hit = pos[inside][vocab[pos[inside]] == g.keys[inside]]  # both sorted and unique: exact matches
        if hit.size:
            rows.append(np.full(hit.size, i))
            cols.append(hit)
            vals.append(np.full(hit.size, 1.0 / math.sqrt(hit.size)))
        rows.append(np.array([i]))
        cols.append(np.array([vocab.size]))
        vals.append(np.array([g.lex]))
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(grams), vocab.size + 1),
    )


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class Fitted:
    vocab: np.ndarray  # sorted keys
    coef: np.ndarray  # one weight per vocabulary key, then the lexicon weight
    bias: float

    def margins(self, grams: Sequence[DocGrams]) -> np.ndarray:
        return design_matrix(grams, self.vocab) @ self.coef + self.bias


def fit_logreg(
    x: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, l2: float, lexicon_penalty: float = 1.0
) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by L-BFGS (deterministic: zero start, no randomness).

    The last column (the lexicon density) is penalised ``lexicon_penalty`` times harder than the n-grams: one
    dense feature with a large weight lifts every text that merely mentions money (budgets, GDP, exchange
    rates in political news), so how much to trust it is a hyper-parameter of its own.
    """
    pen = np.full(x.shape[1], l2)
    pen[-1] = l2 * lexicon_penalty

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, bias = theta[:-1], theta[-1]
        z = x @ coef + bias
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        nll = np.logaddexp(0.0, z) - y * z
        g = w * (p - y)
        grad = np.concatenate((x.T @ g + pen * coef, [g.sum()]))
        return float((w * nll).sum() + 0.5 * (pen * coef) @ coef), grad

    res = optimize.minimize(
        loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000}
    )
    return res.x[:-1], float(res.x[-1])


def _labelled(grams: Sequence[DocGrams], examples: Sequence[Example]) -> tuple[list[DocGrams], list[Example]]:
    keep = [i for i, e in enumerate(examples) if e.label != BORDERLINE]
    return [grams[i] for i in keep], [examples[i] for i in keep]


def fit_penalties(
    grams: Sequence[DocGrams], examples: Sequence[Example], cfg: TrainConfig, penalties: Sequence[float]
) -> list[Fitted]:
    """One vocabulary, then one regression per lexicon penalty (bias shift not applied)."""
    gr, ex = _labelled(grams, examples)
    y = np.array([e.label for e in ex], dtype=np.float64)
    w = sample_weights(ex, cfg.finance_share)
    vocab = select_vocab(gr, y, w, cfg.vocab_size, cfg.min_df)
    x = design_matrix(gr, vocab)
    return [Fitted(vocab, *fit_logreg(x, y, w, cfg.l2, p)) for p in penalties]


def fit(grams: Sequence[DocGrams], examples: Sequence[Example], cfg: TrainConfig) -> Fitted:
    """Vocabulary selection and logistic regression on labelled examples only (borderline ones are skipped).

    Uses ``cfg.lexicon_penalty`` and ``cfg.bias_shift`` as given; ``tune`` chooses them.
    """
    fitted = fit_penalties(grams, examples, cfg, [cfg.lexicon_penalty])[0]
    return replace(fitted, bias=fitted.bias + cfg.bias_shift)


@dataclass(frozen=True)
class Selection:
    lexicon_penalty: float
    bias_shift: float
    objective: float  # mean F1 over cfg.objective_sources in the inner cross-validation


def tune(grams: Sequence[DocGrams], examples: Sequence[Example], cfg: TrainConfig) -> Selection:
    """Choose lexicon_penalty and bias_shift by grouped inner cross-validation on ``examples`` alone.

    Called on an outer fold's training part, it never sees that fold's test part. Every (penalty, shift) pair of
    the config's grids is scored by the mean F1 at 0.5 over ``objective_sources`` on the inner out-of-fold
    margins; ties go to the smallest |shift|, then the smallest penalty.
    """
    folds = grouped_folds(examples, cfg.inner_folds, cfg.seed + 1)
    margins = np.zeros((len(cfg.lexicon_penalties), len(examples)))
    for f in range(cfg.inner_folds):
        train = np.flatnonzero(folds != f)
        test = np.flatnonzero(folds == f)
        fits = fit_penalties(
            [grams[i] for i in train], [examples[i] for i in train], cfg, cfg.lexicon_penalties
        )
        for j, fitted in enumerate(fits):
            margins[j, test] = fitted.margins([grams[i] for i in test])
    labels = np.array([e.label for e in examples])
    masks = [
        np.array([e.source == s for e in examples]) & (labels != BORDERLINE) for s in cfg.objective_sources
    ]
    masks = [m for m in masks if m.any()]
    short = np.array([g.short for g in grams])
    best: tuple[tuple[float, float, float], Selection] | None = None
    for j, pen in enumerate(cfg.lexicon_penalties):
        for shift in cfg.bias_shifts:
            pred = ((margins[j] + shift >= 0) & ~short).astype(int)
            f1s = [prf(labels[m], pred[m])["f1"] for m in masks] or [0.0]
            obj = float(min(f1s) if cfg.objective == "min" else np.mean(f1s))
            rank = (-round(obj, 6), abs(shift), pen)
            if best is None or rank < best[0]:
                best = (rank, Selection(pen, shift, round(obj, 4)))
    assert best is not None
    return best[1]


def tuned(
    grams: Sequence[DocGrams], examples: Sequence[Example], cfg: TrainConfig
) -> tuple[TrainConfig, Selection | None]:
    """``cfg`` with the searched hyper-parameters filled in (``cfg`` itself when search is off)."""
    if not cfg.search:
        return cfg, None
    sel = tune(grams, examples, cfg)
    return replace(cfg, lexicon_penalty=sel.lexicon_penalty, bias_shift=sel.bias_shift), sel


def to_model_json(fitted: Fitted, cfg: TrainConfig, version: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The model file: n-gram strings and weights, feature spec, lexicon, provenance; never any text."""
    weights = {
        gram_of(int(k)): round(float(c), 6) for k, c in zip(fitted.vocab, fitted.coef[:-1], strict=True)
    }
    vocab = dict(sorted(weights.items(), key=lambda kv: (-abs(kv[1]), kv[0])))
    return {
        "format": MODEL_FORMAT,
        "version": version,
        "feature_spec": cfg.spec.to_json(),
        "bias": round(fitted.bias, 6),
        "lexicon_weight": round(float(fitted.coef[-1]), 6),
        "lexicon": list(FINANCE_LEXICON),
        "training": {
            "vocab_size": cfg.vocab_size,
            "min_df": cfg.min_df,
            "l2": cfg.l2,
            "finance_share": cfg.finance_share,
            "lexicon_penalty": cfg.lexicon_penalty,
            "bias_shift": cfg.bias_shift,
            "seed": cfg.seed,
            "vocabulary_selection": "weighted chi-square of presence vs label, df >= min_df",
            "loss": "weighted logistic loss, class-balanced within each source, lexicon weight penalised "
            "l2 * lexicon_penalty, L-BFGS; bias_shift is included in bias (0.5 is the decision boundary)",
            **extra,
        },
        "vocab": vocab,
    }


# ---------------------------------------------------------------- cross-validation


def grouped_folds(examples: Sequence[Example], k: int, seed: int) -> np.ndarray:
    """Fold of each example: groups shuffled within each (source, label) stratum, dealt round-robin."""
    strata: dict[tuple[str, int], list[str]] = defaultdict(list)
    for e in examples:
        bucket = strata[(e.source, e.label)]
        if e.group not in bucket:
            bucket.append(e.group)
    rng = random.Random(seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for key in sorted(strata):
        groups = sorted(strata[key])
        rng.shuffle(groups)
        for j, g in enumerate(groups):
            fold_of.setdefault(g, (offset + j) % k)
        offset += len(groups)
    return np.array([fold_of[e.group] for e in examples])


@dataclass(frozen=True)
class CVResult:
    scores: np.ndarray  # out-of-fold probability per example (0.0 for texts too short to score)
    lexicon_pred: np.ndarray  # out-of-fold lexicon-only baseline decision per example (0/1)
    folds: np.ndarray
    seconds: float
    selections: tuple[Selection | None, ...] = ()  # what the inner search chose in each outer fold


def lexicon_threshold(lex: np.ndarray, y: np.ndarray) -> float:
    """Lexicon-density threshold with the best F1 on labelled data (the baseline's only parameter)."""
    best, best_f1 = float("inf"), -1.0
    for t in np.unique(lex):
        f1 = prf(y, (lex >= t).astype(int))["f1"]
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def cross_validate(
    examples: Sequence[Example], cfg: TrainConfig, grams: Sequence[DocGrams] | None = None
) -> CVResult:
    t0 = time.perf_counter()
    lex_keys = lexicon_keys(FINANCE_LEXICON)
    grams = grams if grams is not None else [doc_grams(e.text, cfg.spec, lex_keys) for e in examples]
    folds = grouped_folds(examples, cfg.folds, cfg.seed)
    scores = np.zeros(len(examples))
    lex_pred = np.zeros(len(examples), dtype=int)
    lex = np.array([g.lex for g in grams])
    labels = np.array([e.label for e in examples])
    selections = []
    for f in range(cfg.folds):
        train = np.flatnonzero(folds != f)
        test = np.flatnonzero(folds == f)
        tr_grams, tr_examples = [grams[i] for i in train], [examples[i] for i in train]
        fold_cfg, sel = tuned(
            tr_grams, tr_examples, cfg
        )  # nested: the search sees this fold's training part only
        selections.append(sel)
        fitted = fit(tr_grams, tr_examples, fold_cfg)
        m = fitted.margins([grams[i] for i in test])
        scores[test] = 1.0 / (1.0 + np.exp(-m))
        lab = train[labels[train] != BORDERLINE]
        lex_pred[test] = lex[test] >= lexicon_threshold(lex[lab], labels[lab])
    short = np.array([g.short for g in grams])
    scores[short] = 0.0
    lex_pred[short] = 0
    return CVResult(np.round(scores, 4), lex_pred, folds, time.perf_counter() - t0, tuple(selections))


def prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
    }


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Probability that a random finance example outscores a random other one (ties count half)."""
    pos, neg = s[y == 1], s[y == 0]
    if not pos.size or not neg.size:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(greater / (pos.size * neg.size)), 4)


def report(examples: Sequence[Example], cv: CVResult, threshold: float = 0.5) -> dict[str, Any]:
    """Per-source metrics of the model and of the lexicon baseline; untrained borderline examples count as other."""
    out: dict[str, Any] = {}
    for source in sorted({e.source for e in examples}):
        idx = np.array([i for i, e in enumerate(examples) if e.source == source])
        y = np.array([1 if examples[i].label == FINANCE else 0 for i in idx])
        s = cv.scores[idx]
        row: dict[str, Any] = {
            "n": int(idx.size),
            "finance": int(y.sum()),
            "model": {**prf(y, (s >= threshold).astype(int)), "auc": auc(y, s)},
            "lexicon_baseline": prf(y, cv.lexicon_pred[idx]),
        }
        border = [i for i in idx if examples[i].borderline]
        if border:
            bs = cv.scores[border]
            strict = np.array([not examples[i].borderline for i in idx])
            row["borderline"] = {
                "categories": sorted({examples[i].category for i in border}),
                "n": len(border),
                "mean_score": round(float(bs.mean()), 4),
                "share_at_or_above_threshold": round(float((bs >= threshold).mean()), 4),
            }
            row["model_without_borderline"] = prf(y[strict], (s[strict] >= threshold).astype(int))
        out[source] = row
    return out


def print_report(rep: dict[str, Any], file: Any = sys.stdout) -> None:
    print(
        f"{'source':<14}{'n':>5}{'fin':>5}   model P / R / F1 (AUC)           lexicon-only P / R / F1",
        file=file,
    )
    for source, r in rep.items():
        m, b = r["model"], r["lexicon_baseline"]
        print(
            f"{source:<14}{r['n']:>5}{r['finance']:>5}   {m['precision']:.3f} / {m['recall']:.3f} / {m['f1']:.3f}"
            f" ({m['auc']:.3f})        {b['precision']:.3f} / {b['recall']:.3f} / {b['f1']:.3f}",
            file=file,
        )
        if "borderline" in r:
            bl = r["borderline"]
            print(
                f"{'':<14}borderline {','.join(bl['categories'])}: n={bl['n']} mean score {bl['mean_score']:.3f},"
                f" {bl['share_at_or_above_threshold']:.0%} >= 0.5; F1 without them {r['model_without_borderline']['f1']:.3f}",
                file=file,
            )


def print_selections(cv: CVResult, file: Any = sys.stdout) -> None:
    for f, sel in enumerate(cv.selections):
        if sel is not None:
            print(
                f"outer fold {f}: inner search chose lexicon_penalty {sel.lexicon_penalty:g}, bias_shift "
                f"{sel.bias_shift:+g} (inner mean F1 {sel.objective:.3f})",
                file=file,
            )


# ---------------------------------------------------------------- command line


def data_description(examples: Sequence[Example]) -> dict[str, Any]:
    counts = Counter(
        f"{e.source}:{'finance' if e.label == 1 else 'other' if e.label == 0 else 'borderline'}"
        for e in examples
    )
    return {
        "source": "fincorpus shared data (read at training time, not shipped): texts/cnews/cnews_500.jsonl, "
        "texts/laws (+index.jsonl), a sample of texts/announcements_cfee/FREEZE_Data.json, html/ article pages",
        "labels": "cnews 财经/股票 = finance, all other categories (房产 included) = other; laws per index.jsonl; "
        "announcements finance; html topic_hint_by_collector finance/other, economy_business borderline (not trained)",
        "counts": dict(sorted(counts.items())),
    }


def train(
    examples: Sequence[Example], cfg: TrainConfig, version: str = "finance_v1", cv: bool = True
) -> dict[str, Any]:
    """Cross-validate (optional), then fit on all labelled examples and return the model JSON."""
    lex_keys = lexicon_keys(FINANCE_LEXICON)
    grams = [doc_grams(e.text, cfg.spec, lex_keys) for e in examples]
    extra: dict[str, Any] = {"data": data_description(examples)}
    if cv:
        res = cross_validate(examples, cfg, grams)
        extra["cv"] = {"protocol": cv_protocol(cfg), "by_source": report(examples, res)}
        if cfg.search:
            extra["cv"]["selected_in_outer_folds"] = [asdict(s) for s in res.selections if s is not None]
    final_cfg, sel = tuned(grams, examples, cfg)
    if sel is not None:
        extra["search"] = {
            "grid": {"lexicon_penalty": list(cfg.lexicon_penalties), "bias_shift": list(cfg.bias_shifts)},
            "protocol": f"grouped {cfg.inner_folds}-fold CV on all training data (seed {cfg.seed + 1}), mean F1 "
            f"at 0.5 over {'+'.join(cfg.objective_sources)}; ties to smallest |shift|, then smallest penalty",
            "selected": asdict(sel),
        }
    fitted = fit(grams, examples, final_cfg)
    return to_model_json(fitted, final_cfg, version, extra)


def cv_protocol(cfg: TrainConfig) -> str:
    base = f"stratified grouped {cfg.folds}-fold CV (seed {cfg.seed}), vocabulary selected in-fold, threshold 0.5"
    if not cfg.search:
        return f"{base}; fixed lexicon_penalty {cfg.lexicon_penalty}, bias_shift {cfg.bias_shift}"
    return (
        f"{base}; nested: lexicon_penalty and bias_shift chosen in each outer fold by grouped {cfg.inner_folds}-fold "
        f"CV on that fold's training part only (mean F1 over {'+'.join(cfg.objective_sources)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fincorpus.cleaning.domain_train", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder (../shared/data)")
    ap.add_argument("--out", type=Path, help="model file to write (required unless --cv-only)")
    ap.add_argument("--cv-only", action="store_true", help="print cross-validation metrics, write nothing")
    ap.add_argument(
        "--version", default="finance_v2", help="model version written into the file (default finance_v2)"
    )
    ap.add_argument(
        "--all-data",
        action="store_true",
        help="train on all data (the v1 way) instead of the training split of fincorpus.cleaning.domain_eval",
    )
    ap.add_argument("--vocab-size", type=int, default=TrainConfig.vocab_size)
    ap.add_argument("--l2", type=float, default=TrainConfig.l2)
    ap.add_argument(
        "--no-search",
        action="store_true",
        help="skip the nested search; use --lexicon-penalty and a zero bias shift",
    )
    ap.add_argument("--lexicon-penalty", type=float, default=TrainConfig.lexicon_penalty)
    ap.add_argument("--max-chars", type=int, default=FeatureSpec.max_chars)
    ap.add_argument(
        "--orders", default=",".join(map(str, FeatureSpec.orders)), help="n-gram orders, e.g. 1,2,3"
    )
    args = ap.parse_args(argv)
    if not args.cv_only and args.out is None:
        ap.error("--out is required unless --cv-only")
    spec = replace(
        FeatureSpec(), max_chars=args.max_chars, orders=tuple(int(o) for o in args.orders.split(","))
    )
    cfg = TrainConfig(
        spec=spec,
        vocab_size=args.vocab_size,
        l2=args.l2,
        search=not args.no_search,
        lexicon_penalty=args.lexicon_penalty,
    )
    examples = load_examples(args.data)
    if args.cv_only:
        res = cross_validate(examples, cfg)
        print_report(report(examples, res))
        print_selections(res)
        print(f"cross-validation took {res.seconds:.1f} s")
        return 0
    if args.all_data:
        model = train(examples, cfg, version=args.version)
    else:
        from fincorpus.cleaning.domain_eval import train_shipped

        model = train_shipped(examples, cfg, args.version)
    print_report(model["training"]["cv"]["by_source"])
    if "search" in model["training"]:
        print(f"shipped model: {model['training']['search']['selected']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    FinanceScorer.load(args.out)  # the file must load with the scorer it was written for
    print(f"wrote {args.out} ({len(model['vocab'])} n-grams)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
