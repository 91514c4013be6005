"""Scores for a predicted clustering against the benchmark's duplicate clusters and template pairs.

- pair P/R/F1: over all unordered doc pairs, "same predicted cluster" vs "same true cluster". Large clusters weigh
  quadratically, which is what a corpus cares about (every wrongly merged pair is a document lost).
- cluster P/R/F1: exact-match clusters. Recall = true multi-doc clusters reproduced exactly by some predicted
  cluster / true multi-doc clusters; precision = predicted multi-doc clusters that equal a true cluster /
  predicted multi-doc clusters. Singletons are left out of both (they would swamp the score).
- template_false_merge_rate: share of template pairs (distinct documents sharing a template) put in one cluster.
- recall_by_kind: for docs in a true multi-doc cluster, mean share of their true cluster-mates found in their
  predicted cluster, per doc kind: shows which edit or source a method misses.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataset import Benchmark


def _pairs(labels: Sequence[Hashable]) -> int:
    return sum(n * (n - 1) // 2 for n in Counter(labels).values())


def _prf(tp: int, pred: int, true: int) -> tuple[float, float, float]:
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _clusters(labels: list[int]) -> set[frozenset[int]]:
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[label].append(i)
    return {frozenset(m) for m in members.values() if len(m) > 1}


def evaluate(labels_pred: list[int], bench: Benchmark) -> dict:
    labels_true = bench.true_labels()
    if len(labels_pred) != len(labels_true):
        raise ValueError(f"{len(labels_pred)} labels for {len(labels_true)} docs")
    tp = _pairs(list(zip(labels_pred, labels_true, strict=True)))
    pp, pr, pf = _prf(tp, _pairs(labels_pred), _pairs(labels_true))
    true_c, pred_c = _clusters(labels_true), _clusters(labels_pred)
    exact = len(true_c & pred_c)
    cp, cr, cf = _prf(exact, len(pred_c), len(true_c))

    index = {d.id: i for i, d in enumerate(bench.docs)}
    merged = sum(labels_pred[index[a]] == labels_pred[index[b]] for a, b in bench.template_pairs)

    true_size = Counter(labels_true)
    joint = Counter(zip(labels_pred, labels_true, strict=True))
    by_kind: dict[str, list[float]] = defaultdict(list)
    for i, d in enumerate(bench.docs):
        t = labels_true[i]
        if true_size[t] > 1:
            by_kind[d.kind].append((joint[labels_pred[i], t] - 1) / (true_size[t] - 1))

    return {
        "pair_precision": pp,
        "pair_recall": pr,
        "pair_f1": pf,
        "cluster_precision": cp,
        "cluster_recall": cr,
        "cluster_f1": cf,
        "template_false_merge_rate": merged / len(bench.template_pairs) if bench.template_pairs else 0.0,
        "predicted_multi_doc_clusters": len(pred_c),
        "recall_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
    }
