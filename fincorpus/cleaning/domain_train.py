"""Train the ``finance_score`` model (see ``domain.py`` for the features; ``domain_eval`` for how it is judged).

Run: ``.venv/bin/python -m fincorpus.cleaning.domain_train --data ../shared/data --out
fincorpus/cleaning/models/finance_v3.json`` (trains on the training split of ``domain_eval``; ``--all-data`` on
everything).

Training data is read from the shared data at run time; the model file holds weights, the lexicon and the list of
records it was trained on, never any text.
- cnews: 财经 (and 股票, if present) = finance, everything else other (房产, flagged borderline by the data, too:
  housing markets are outside the corpus's scope, as the data and the mirror label it).
- laws: the index's finance/other labels; the versions of one ``version_group`` are one group.
- announcements: an evenly spaced sample of the equity-freeze announcements (finance; heavily templated, so a few
  dozen teach what a thousand would). One group per announcement.
- html: article pages of html/index.jsonl, main text by our own decode + extract path. Collector topic finance and
  economy_business = finance (the mirror's truth labels them so), other = other. One group per site (shared page
  furniture).
- pdf: the real company reports and research note of pdf/ (finance): the opening pages as one document, and some
  inner pages as documents of their own (one group per file).

Short texts, explicitly: every document longer than a crop also gives its lead (the title and first sentences: how
a flash news item or a post reads) and one inner window, 30-300 characters, same label and group. Rows are
weighted so that each class has a fixed share (``finance_share``) of the weight, every source the same share
within a class, and within a source and class whole documents and crops half each: no source's style can stand in
for the label by sheer size, and short texts weigh as much as long ones.

The model: logistic regression over the lexicon features (standardised), per-term presence of the specific lexicon
terms (finance terms constrained >= 0, other-topic terms <= 0) and, optionally, a learned vocabulary of character
n-grams. ``tune`` chooses the class share, the term penalty, whether and how strongly to use n-grams, and the bias
shift (the decision boundary, baked into the bias so 0.5 stays the boundary) by grouped cross-validation on the
data it is given only.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, sparse

from fincorpus.cleaning.domain import (
    LEXICON,
    MIN_CHARS,
    MODEL_FORMAT,
    FeatureSpec,
    FinanceScorer,
    LexiconIndex,
    char_codes,
    feature_names,
    gram_of,
    lexicon_features,
    ngram_keys,
    nonspace,
)

FINANCE, OTHER = 1, 0
SEED = 20261122
FINANCE_CATEGORIES = {"财经", "股票"}
CROP_MIN, CROP_MAX = 30, 300


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # FINANCE or OTHER
    source: str  # cnews | laws | announcements | html | pdf
    group: str  # examples of one group are always on the same side of a split
    category: str
    ref: str  # data file (and record) the text comes from, as the mirror's truth.jsonl ``source`` names it
    borderline: bool = False  # flagged as between finance and other (cnews 房产, html economy_business)


Candidate = tuple[str, float, "float | None"]  # (features, term_penalty, ngram_penalty)


@dataclass(frozen=True)
class TrainConfig:
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    features: str = "net"  # "lexicon": all lexicon features and term weights; "net": net_density alone;
    # or lexicon feature names joined by "+" (no term weights)
    finance_share: float = 0.3  # finance share of the training weight
    term_penalty: float = 30.0  # L2 penalty of the per-term weights
    feature_penalty: float = 1.0  # L2 penalty of the (standardised) lexicon features
    ngram_penalty: float | None = None  # L2 penalty of the n-gram weights; None = no n-gram block
    vocab_size: int = 3000
    min_df: int = 3
    bias_shift: float = 0.0  # added to the fitted bias (searched, see ``tune``)
    search: bool = True  # choose the searched parameters by cross-validation before fitting
    # simplest first: ties go to the earlier candidate
    candidates: tuple[Candidate, ...] = (
        ("net", 30.0, None),
        ("net_specific", 30.0, None),
        ("lexicon", 30.0, None),
        ("lexicon", 30.0, 1.0),
    )
    bias_shifts: tuple[float, ...] = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
    inner: str = "source"  # "source": leave one training source out; "groups": grouped k-fold
    inner_folds: int = 4  # for inner == "groups" (and when fewer than three sources)
    crops: bool = True  # add the lead and an inner window of every document to the training rows
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
        ref = f"texts/cnews/cnews_500.jsonl#id={row['id']}"
        out.append(
            Example(row["text"], label, "cnews", f"cnews:{row['id']}", cat, ref, bool(row.get("borderline")))
        )
    return out


def law_group(row: Mapping[str, Any]) -> str:
    return f"laws:{row['version_group'] or row['file']}"


def load_laws(data_dir: Path) -> list[Example]:
    out = []
    for row in _jsonl(data_dir / "texts" / "laws" / "index.jsonl"):
        text = (data_dir / row["file"]).read_text(encoding="utf-8")
        label = FINANCE if row["label"] == "finance" else OTHER
        out.append(Example(text, label, "laws", law_group(row), row["title"], row["file"]))
    return out


def load_announcements(data_dir: Path, n: int) -> list[Example]:
    rel = "texts/announcements_cfee/FREEZE_Data.json"
    rows = _jsonl(data_dir / rel)
    step = max(len(rows) // max(n, 1), 1)
    return [
        Example(f"{r['Title']}\n{r['Doc']}", FINANCE, "announcements", f"ann:{r['ID']}", "equity-freeze",
                f"{rel}#ID={r['ID']}")
        for r in rows[::step][:n]
    ]  # fmt: skip


def load_html(data_dir: Path) -> list[Example]:
    from fincorpus.cleaning.decode import decode_bytes
    from fincorpus.cleaning.extract import extract_html
    from fincorpus.cleaning.normalize import normalize_text

    labels = {"finance": FINANCE, "economy_business": FINANCE, "other": OTHER}
    out = []
    for row in _jsonl(data_dir / "html" / "index.jsonl"):
        topic = row.get("topic_hint_by_collector")
        if row.get("page_type") != "article" or topic not in labels:
            continue
        html = decode_bytes((data_dir / row["file"]).read_bytes()).text
        got = extract_html(html, f"http://{row['site']}.example/{row['file']}")
        text = normalize_text(f"{got.title or ''}\n{got.text}")
        if len(text) >= 50:
            out.append(
                Example(text, labels[topic], "html", f"html:{row['site']}", topic, row["file"],
                        topic == "economy_business")
            )  # fmt: skip
    return out


def load_pdf(data_dir: Path, pages: int = 6) -> list[Example]:
    """Each PDF's opening pages as one document, and up to ``pages`` inner pages as documents of their own."""
    from fincorpus.cleaning.normalize import normalize_text
    from fincorpus.cleaning.pdf import extract_pdf_text

    out = []
    for row in _jsonl(data_dir / "pdf" / "index.jsonl"):
        texts = [
            normalize_text(p) for p in extract_pdf_text((data_dir / row["file"]).read_bytes()).pages[:40]
        ]
        texts = [t for t in texts if len(t) >= 200]
        if not texts:
            continue
        group = f"pdf:{row['file']}"
        out.append(Example("\n".join(texts), FINANCE, "pdf", group, row["kind"], row["file"]))
        out += [Example(t, FINANCE, "pdf", group, "page", row["file"]) for t in texts[1 : 2 * pages : 2]]
    return out


def load_examples(
    data_dir: Path, *, announcements: int = 60, html: bool = True, pdf: bool = True
) -> list[Example]:
    """All training/evaluation examples from shared data, in a fixed order."""
    data_dir = Path(data_dir)
    if not (data_dir / "texts").is_dir():
        raise FileNotFoundError(f"{data_dir} has no texts/ folder; pass --data pointing at shared/data")
    out = load_cnews(data_dir) + load_laws(data_dir) + load_announcements(data_dir, announcements)
    return out + (load_html(data_dir) if html else []) + (load_pdf(data_dir) if pdf else [])


# ---------------------------------------------------------------- rows (documents and short crops)


@dataclass(frozen=True)
class Row:
    text: str
    example: Example
    kind: str  # doc | lead | window

    @property
    def label(self) -> int:
        return self.example.label

    @property
    def source(self) -> str:
        return self.example.source

    @property
    def group(self) -> str:
        return self.example.group


def doc_rows(examples: Sequence[Example]) -> list[Row]:
    return [Row(e.text, e, "doc") for e in examples]


def crop_rows(examples: Sequence[Example], seed: int) -> list[Row]:
    """Per document longer than a crop: its lead and one inner window of CROP_MIN-CROP_MAX characters."""
    rng = random.Random(seed)
    out = []
    for e in examples:
        if len(e.text) <= CROP_MAX + 20:
            continue
        out.append(Row(e.text[: rng.randint(CROP_MIN, CROP_MAX)], e, "lead"))
        n = rng.randint(CROP_MIN, CROP_MAX)
        start = rng.randint(0, len(e.text) - n)
        out.append(Row(e.text[start : start + n], e, "window"))
    return out


def training_rows(examples: Sequence[Example], cfg: TrainConfig) -> list[Row]:
    return doc_rows(examples) + (crop_rows(examples, cfg.seed) if cfg.crops else [])


# ---------------------------------------------------------------- features


@dataclass(frozen=True)
class Features:
    """Training-side features of one text; must agree with ``FinanceScorer.margin`` (a test checks it)."""

    grams: np.ndarray  # sorted unique n-gram keys of the spec's orders
    lex: np.ndarray  # lexicon features, order of ``feature_names``
    terms: np.ndarray  # sorted distinct lexicon term indices (into LexiconIndex.keys)
    short: bool  # below MIN_CHARS: scores 0.0 whatever the model


def text_features(text: str, spec: FeatureSpec, index: LexiconIndex) -> Features:
    head = text[: spec.max_chars]
    n = nonspace(head)
    codes = char_codes(head, spec.max_chars)
    grams = np.unique(np.concatenate(ngram_keys(codes, spec.orders)))
    found = index.find(np.concatenate(ngram_keys(codes, index.orders)))
    hits, distinct, uniq = index.counts(found)
    lex = lexicon_features(hits, distinct, index.is_finance, index.is_specific, n, len(head))
    return Features(grams, lex, uniq, n < MIN_CHARS)


@lru_cache(maxsize=1)
def default_index() -> LexiconIndex:
    return LexiconIndex.build(LEXICON)


_FEATURE_CACHE: dict[tuple[str, FeatureSpec], Features] = {}


def featurize(rows: Sequence[Row], spec: FeatureSpec, index: LexiconIndex) -> list[Features]:
    """Features of every row; memoised per process for the default lexicon (evaluation refits on the same texts
    many times)."""
    if index is not default_index():
        return [text_features(r.text, spec, index) for r in rows]
    out = []
    for r in rows:
        key = (r.text, spec)
        if key not in _FEATURE_CACHE:
            _FEATURE_CACHE[key] = text_features(r.text, spec, index)
        out.append(_FEATURE_CACHE[key])
    return out


def sample_weights(rows: Sequence[Row], finance_share: float, crop_share: float = 0.5) -> np.ndarray:
    """Row weights: each class its share, every source the same mass within a class, documents and crops half
    each within a source and class. Mean weight 1."""
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    crop = np.array([r.kind != "doc" for r in rows])
    w = np.zeros(len(rows))
    for label, mass in ((FINANCE, finance_share), (OTHER, 1.0 - finance_share)):
        sources = sorted(set(src[y == label]))
        for s in sources:
            cell = (y == label) & (src == s)
            parts = [(cell & crop, crop_share), (cell & ~crop, 1.0 - crop_share)]
            if not all(m.any() for m, _ in parts):
                parts = [(cell, 1.0)]
            for m, share in parts:
                w[m] = mass / len(sources) * share / m.sum()
    return w * len(rows) / w.sum()


def select_vocab(
    feats: Sequence[Features], y: np.ndarray, w: np.ndarray, size: int, min_df: int
) -> np.ndarray:
    """The ``size`` keys with the highest weighted chi-square between presence and label (df >= min_df)."""
    doc_of = np.repeat(np.arange(len(feats)), [f.grams.size for f in feats])
    uniq, inv = np.unique(np.concatenate([f.grams for f in feats]), return_inverse=True)
    df = np.bincount(inv, minlength=uniq.size)
    a = np.bincount(inv, weights=(w * y)[doc_of], minlength=uniq.size)  # finance weight with the n-gram
    b = np.bincount(inv, weights=(w * (1 - y))[doc_of], minlength=uniq.size)
    pos, neg = float((w * y).sum()), float((w * (1 - y)).sum())
    c, d = pos - a, neg - b
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = (pos + neg) * (a * d - b * c) ** 2 / ((a + b) * (c + d) * pos * neg)
    chi2 = np.where((df >= min_df) & np.isfinite(chi2), chi2, -1.0)
    order = np.lexsort((uniq, -chi2))[:size]  # ties broken by key: deterministic
    return np.sort(uniq[order[chi2[order] > 0]])


def _presence(rows_of: Sequence[np.ndarray], cols: int, scale: str) -> sparse.csr_matrix:
    r, c, v = [], [], []
    for i, idx in enumerate(rows_of):
        if idx.size:
            r.append(np.full(idx.size, i))
            c.append(idx)
            v.append(np.full(idx.size, 1.0 / math.sqrt(idx.size) if scale == "sqrt" else 1.0))
    if not r:
        return sparse.csr_matrix((len(rows_of), cols))
    return sparse.csr_matrix(
        (np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(len(rows_of), cols)
    )


def vocab_hits(feats: Sequence[Features], vocab: np.ndarray) -> list[np.ndarray]:
    out = []
    for f in feats:
        if not vocab.size:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        pos = np.minimum(np.searchsorted(vocab, f.grams), vocab.size - 1)
        out.append(pos[vocab[pos] == f.grams])
    return out


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class Model:
    """A fitted model in training form: standardised feature weights, term weights, n-gram vocabulary."""

    feature_coef: np.ndarray  # per lexicon feature, on the raw (unstandardised) scale
    term_coef: np.ndarray  # per lexicon term (index into LexiconIndex.keys), 0 for generic-group terms
    vocab: np.ndarray  # sorted n-gram keys
    vocab_coef: np.ndarray
    bias: float

    def margins(self, feats: Sequence[Features]) -> np.ndarray:
        lex = np.array([f.lex for f in feats]) @ self.feature_coef
        terms = np.array([self.term_coef[f.terms].sum() for f in feats])
        ngrams = np.zeros(len(feats))
        if self.vocab.size:
            ngrams = _presence(vocab_hits(feats, self.vocab), self.vocab.size, "sqrt") @ self.vocab_coef
        return lex + terms + ngrams + self.bias

    def probabilities(self, feats: Sequence[Features]) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-np.clip(self.margins(feats), -700, 700)))
        p[np.array([f.short for f in feats], dtype=bool)] = 0.0
        return p


def fit_logreg(
    x: sparse.csr_matrix, y: np.ndarray, w: np.ndarray, penalty: np.ndarray, bounds: Sequence[tuple]
) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by L-BFGS-B with per-column penalties and bounds (deterministic)."""

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, bias = theta[:-1], theta[-1]
        z = x @ coef + bias
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        g = w * (p - y)
        value = float((w * (np.logaddexp(0.0, z) - y * z)).sum() + 0.5 * (penalty * coef) @ coef)
        return value, np.concatenate((x.T @ g + penalty * coef, [g.sum()]))

    res = optimize.minimize(
        loss,
        np.zeros(x.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        bounds=[*bounds, (None, None)],
        options={"maxiter": 3000},
    )
    return res.x[:-1], float(res.x[-1])


def _term_bounds(index: LexiconIndex) -> tuple[list[tuple], np.ndarray]:
    """Bounds per term (finance >= 0, other <= 0; generic-group terms fixed at 0) and the specific-term mask."""
    kinds = [index.groups[g] for g in index.group.tolist()]
    specific = np.array([not g.generic for g in kinds], dtype=bool)
    bounds = [(0.0, 0.0) if g.generic else (0.0, None) if g.kind == "finance" else (None, 0.0) for g in kinds]
    return bounds, specific


def feature_set(features: str, index: LexiconIndex) -> set[int]:
    """Columns of a named feature set: "net" is net_density alone, else feature names joined by "+"."""
    names = feature_names(index.groups)
    wanted = {"net": ["net_density"]}.get(features) or features.split("+")
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise ValueError(f"unknown features {unknown} (lexicon, net, or names from {names} joined by +)")
    return {names.index(w) for w in wanted}


def fit(rows: Sequence[Row], feats: Sequence[Features], cfg: TrainConfig, index: LexiconIndex) -> Model:
    """One logistic regression with ``cfg``'s penalties and share; ``cfg.bias_shift`` added to the bias."""
    y = np.array([r.label for r in rows], dtype=np.float64)
    w = sample_weights(rows, cfg.finance_share)
    lex = np.array([f.lex for f in feats])
    sd = lex.std(axis=0)
    sd[sd < 1e-9] = 1.0
    n_terms = index.keys.size
    term_bounds, _ = _term_bounds(index)
    blocks = [sparse.csr_matrix(lex / sd), _presence([f.terms for f in feats], n_terms, "binary")]
    penalty = [np.full(lex.shape[1], cfg.feature_penalty), np.full(n_terms, cfg.term_penalty)]
    bounds = [(None, None)] * lex.shape[1] + term_bounds
    if cfg.features != "lexicon":  # a few named features: every other weight is held at 0
        keep = feature_set(cfg.features, index)
        bounds = [(None, None) if j in keep else (0.0, 0.0) for j in range(lex.shape[1])] + [
            (0.0, 0.0)
        ] * n_terms
    vocab = np.zeros(0, dtype=np.uint64)
    if cfg.ngram_penalty is not None:
        vocab = select_vocab(feats, y, w, cfg.vocab_size, cfg.min_df)
        blocks.append(_presence(vocab_hits(feats, vocab), vocab.size, "sqrt"))
        penalty.append(np.full(vocab.size, cfg.ngram_penalty))
        bounds += [(None, None)] * vocab.size
    coef, bias = fit_logreg(sparse.hstack(blocks).tocsr(), y, w, np.concatenate(penalty), bounds)
    n_lex = lex.shape[1]
    return Model(
        coef[:n_lex] / sd,
        coef[n_lex : n_lex + n_terms],
        vocab,
        coef[n_lex + n_terms :],
        bias + cfg.bias_shift,
    )


# ---------------------------------------------------------------- search (grouped cross-validation)


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


def grouped_folds(rows: Sequence[Row], k: int, seed: int) -> np.ndarray:
    """Fold of each row: groups shuffled within each (source, label) stratum, dealt round-robin."""
    strata: dict[tuple[str, int], list[str]] = defaultdict(list)
    for r in rows:
        bucket = strata[(r.source, r.label)]
        if r.group not in bucket:
            bucket.append(r.group)
    rng = random.Random(seed)
    fold_of: dict[str, int] = {}
    offset = 0
    for key in sorted(strata):
        groups = sorted(strata[key])
        rng.shuffle(groups)
        for j, g in enumerate(groups):
            fold_of.setdefault(g, (offset + j) % k)
        offset += len(groups)
    return np.array([fold_of[r.group] for r in rows])


def objective(rows: Sequence[Row], pred: np.ndarray) -> float:
    """Mean over sources of F1 (documents and crops): every source counts the same, whatever its size."""
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    return float(np.mean([prf(y[src == s], pred[src == s])["f1"] for s in sorted(set(src))]))


def inner_folds(rows: Sequence[Row], cfg: TrainConfig) -> np.ndarray:
    """Fold of each row for the search: its source (leave one source out: the choice must carry over to texts
    of a kind not trained on), or grouped folds when asked or when fewer than three sources are given."""
    sources = sorted({r.source for r in rows})
    if cfg.inner == "source" and len(sources) >= 3:
        return np.array([sources.index(r.source) for r in rows])
    if cfg.inner not in ("source", "groups"):
        raise ValueError(f"unknown inner cross-validation {cfg.inner!r} (source or groups)")
    return grouped_folds(rows, cfg.inner_folds, cfg.seed + 1)


@dataclass(frozen=True)
class Selection:
    features: str
    term_penalty: float
    ngram_penalty: float | None
    bias_shift: float
    objective: float  # mean per-source F1 at 0.5 on the inner out-of-fold rows


def tune(rows: Sequence[Row], feats: Sequence[Features], cfg: TrainConfig, index: LexiconIndex) -> Selection:
    """Choose the candidate (feature set, term penalty, n-gram penalty) and the bias shift by inner
    cross-validation on ``rows`` alone (called on an outer training part, it never sees the part being
    evaluated). Ties go to the earlier (simpler) candidate, then the smaller |shift|."""
    folds = inner_folds(rows, cfg)
    short = np.array([f.short for f in feats], dtype=bool)
    best: tuple[tuple, Selection] | None = None
    for rank_c, (features, term_pen, ng_pen) in enumerate(cfg.candidates):
        trial = replace(cfg, features=features, term_penalty=term_pen, ngram_penalty=ng_pen, bias_shift=0.0)
        margins = np.zeros(len(rows))
        for f in np.unique(folds):
            tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            model = fit([rows[i] for i in tr], [feats[i] for i in tr], trial, index)
            margins[te] = model.margins([feats[i] for i in te])
        for shift in cfg.bias_shifts:
            obj = objective(rows, ((margins + shift >= 0) & ~short).astype(int))
            rank = (-round(obj, 6), rank_c, abs(shift), shift)
            if best is None or rank < best[0]:
                best = (rank, Selection(features, term_pen, ng_pen, shift, round(obj, 4)))
    assert best is not None
    return best[1]


def tuned(
    rows: Sequence[Row], feats: Sequence[Features], cfg: TrainConfig, index: LexiconIndex
) -> tuple[TrainConfig, Selection | None]:
    """``cfg`` with the searched parameters filled in (``cfg`` itself when search is off)."""
    if not cfg.search:
        return cfg, None
    sel = tune(rows, feats, cfg, index)
    chosen = replace(
        cfg,
        features=sel.features,
        term_penalty=sel.term_penalty,
        ngram_penalty=sel.ngram_penalty,
        bias_shift=sel.bias_shift,
    )
    return chosen, sel


def train_model(
    examples: Sequence[Example], cfg: TrainConfig, index: LexiconIndex | None = None
) -> tuple[Model, TrainConfig, Selection | None, list[Row]]:
    """The recipe on ``examples``: rows with crops, search, fit."""
    index = index or default_index()
    rows = training_rows(examples, cfg)
    feats = featurize(rows, cfg.spec, index)
    final_cfg, sel = tuned(rows, feats, cfg, index)
    return fit(rows, feats, final_cfg, index), final_cfg, sel, rows


# ---------------------------------------------------------------- model file


def to_model_json(
    model: Model, cfg: TrainConfig, index: LexiconIndex, version: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """The model file: weights, lexicon, feature spec, provenance; never any text."""
    names = feature_names(index.groups)
    features = {n: round(float(c), 6) for n, c in zip(names, model.feature_coef, strict=True) if c != 0.0}
    terms = {
        index.terms[i]: round(float(c), 6) for i, c in enumerate(model.term_coef) if round(float(c), 6) != 0.0
    }
    vocab = {gram_of(int(k)): round(float(c), 6) for k, c in zip(model.vocab, model.vocab_coef, strict=True)}
    return {
        "format": MODEL_FORMAT,
        "version": version,
        "feature_spec": cfg.spec.to_json(),
        "bias": round(model.bias, 6),
        "feature_weights": features,
        "term_weights": dict(sorted(terms.items(), key=lambda kv: (-abs(kv[1]), kv[0]))),
        "lexicon_groups": [g.to_json() for g in index.groups],
        "training": {
            "features": cfg.features,
            "finance_share": cfg.finance_share,
            "term_penalty": cfg.term_penalty,
            "feature_penalty": cfg.feature_penalty,
            "ngram_penalty": cfg.ngram_penalty,
            "vocab_size": cfg.vocab_size if cfg.ngram_penalty is not None else 0,
            "bias_shift": cfg.bias_shift,
            "crops": cfg.crops,
            "seed": cfg.seed,
            "loss": "weighted logistic loss (class share, sources equal within a class, documents and crops half "
            "each), L2 per block, finance terms >= 0 and other-topic terms <= 0, L-BFGS-B; bias_shift is "
            "included in bias (0.5 is the decision boundary)",
            **extra,
        },
        "vocab": dict(sorted(vocab.items(), key=lambda kv: (-abs(kv[1]), kv[0]))),
    }


def data_description(examples: Sequence[Example]) -> dict[str, Any]:
    counts = Counter(f"{e.source}:{'finance' if e.label == FINANCE else 'other'}" for e in examples)
    return {
        "source": "fincorpus shared data (read at training time, not shipped): texts/cnews/cnews_500.jsonl, "
        "texts/laws (+index.jsonl), a sample of texts/announcements_cfee/FREEZE_Data.json, html/ article pages, "
        "pdf/",
        "labels": "cnews 财经/股票 = finance, all other categories (房产 included) = other; laws per index.jsonl; "
        "announcements and pdf finance; html topic_hint_by_collector finance or economy_business = finance, "
        "other = other",
        "counts": dict(sorted(counts.items())),
    }


def build_model_file(
    examples: Sequence[Example], cfg: TrainConfig, version: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train on ``examples`` and return the model JSON, listing every record it was trained on."""
    index = default_index()
    t0 = time.perf_counter()
    model, final_cfg, sel, rows = train_model(examples, cfg, index)
    info: dict[str, Any] = {
        "data": data_description(examples),
        "rows": dict(sorted(Counter(f"{r.source}:{r.kind}" for r in rows).items())),
        "trained_groups": sorted({e.group for e in examples}),
        "trained_refs": sorted({e.ref for e in examples}),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if sel is not None:
        info["search"] = {
            "grid": {
                "candidates (features, term_penalty, ngram_penalty)": [list(c) for c in cfg.candidates],
                "bias_shift": list(cfg.bias_shifts),
            },
            "protocol": (
                "leave one training source out"
                if cfg.inner == "source"
                else f"grouped {cfg.inner_folds}-fold CV"
            )
            + " on the training rows, mean per-source F1 at 0.5 over documents and crops; ties to the earlier "
            "candidate, then the smaller |shift|",
            "selected": asdict(sel),
        }
    return to_model_json(model, final_cfg, index, version, {**info, **(extra or {})})


# ---------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fincorpus.cleaning.domain_train", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder (../shared/data)")
    ap.add_argument("--out", type=Path, required=True, help="model file to write")
    ap.add_argument("--version", default="finance_v3", help="model version written into the file")
    ap.add_argument(
        "--all-data",
        action="store_true",
        help="train on all data instead of the training split of fincorpus.cleaning.domain_eval",
    )
    ap.add_argument(
        "--no-search", action="store_true", help="skip the search; use the defaults of TrainConfig"
    )
    args = ap.parse_args(argv)
    cfg = TrainConfig(search=not args.no_search)
    examples = load_examples(args.data)
    if args.all_data:
        model = build_model_file(examples, cfg, args.version, {"split": "none: all data"})
    else:
        from fincorpus.cleaning.domain_eval import train_shipped

        model = train_shipped(examples, cfg, args.version)
    if "search" in model["training"]:
        print(f"search chose {model['training']['search']['selected']}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    FinanceScorer.load(args.out)  # the file must load with the scorer it was written for
    print(f"wrote {args.out} ({len(model['term_weights'])} term weights, {len(model['vocab'])} n-grams)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
