"""Two off-the-shelf MinHash near-duplicate configurations, re-created with datasketch for a like-for-like baseline.

Both map `cluster(texts) -> labels` (one int per text, deterministic: fixed seeds, labels numbered in input order)
and link LSH candidates with union-find without checking the real Jaccard, as the originals do.

- datatrove_config: datatrove's MinhashConfig defaults: simplified text (lowercase, punctuation removed, digit runs
  -> "0", whitespace collapsed), word 5-grams, 14 bands x 8 rows = 112 permutations. datatrove tokenises Chinese
  with a word segmenter; jieba stands in for it here.
- textdedup_config: text-dedup's minhash script: `re.split(r"\\W+", text.lower())` word 5-grams, LSH threshold 0.8
  with 128 permutations (datasketch picks bands/rows). On Chinese, \\W+ splits only at punctuation, so "words"
  are whole clauses: that is exactly the behaviour this baseline is meant to show. A text with fewer than 5 tokens
  becomes one shingle of all its tokens (text-dedup would give it an empty MinHash that collides with every other
  short text; we do not reproduce that defect).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from datasketch import MinHash, MinHashLSH

SEED = 1


def _ngrams(tokens: list[str], n: int = 5) -> set[str]:
    if len(tokens) < n:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _union_find_labels(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    names: dict[int, int] = {}
    return [names.setdefault(find(i), len(names)) for i in range(n)]


def _lsh_cluster(shingle_sets: list[set[str]], lsh: MinHashLSH, num_perm: int) -> list[int]:
    hashes = []
    for i, sh in enumerate(shingle_sets):
        m = MinHash(num_perm=num_perm, seed=SEED)
        m.update_batch([s.encode("utf-8") for s in sorted(sh)])
        lsh.insert(i, m)
        hashes.append(m)
    edges = ((i, j) for i, m in enumerate(hashes) for j in lsh.query(m) if j != i)
    return _union_find_labels(len(shingle_sets), edges)


# ---------------------------------------------------------------- datatrove

_DIGITS = re.compile(r"\d+([.,]\d+)?")  # str patterns: \d is any Unicode Nd digit, as in datatrove
_SPACES = re.compile(r"\s+")


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def simplify_text(text: str) -> str:
    """datatrove's simplify_text in its order: lowercase, numbers -> 0, punctuation -> space, whitespace
    collapsed, diacritics stripped (NFD minus Mn). Unicode P*/S* categories stand in for its punctuation list."""
    text = _DIGITS.sub("0", text.lower())
    text = "".join(" " if _is_punct(c) else c for c in text)
    text = _SPACES.sub(" ", text).strip()
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def datatrove_config(texts: list[str]) -> list[int]:
    import jieba

    jieba.setLogLevel(60)
    sets = [_ngrams([t for t in jieba.lcut(simplify_text(x)) if t.strip()]) for x in texts]
    return _lsh_cluster(sets, MinHashLSH(num_perm=112, params=(14, 8)), 112)


# ---------------------------------------------------------------- text-dedup

_NON_ALPHA = re.compile(r"\W+", re.UNICODE)


def textdedup_config(texts: list[str]) -> list[int]:
    sets = [_ngrams([t for t in _NON_ALPHA.split(x.lower()) if t]) for x in texts]
    return _lsh_cluster(sets, MinHashLSH(threshold=0.8, num_perm=128), 128)


BASELINES: dict[str, Callable[[list[str]], list[int]]] = {
    "datatrove_config": datatrove_config,
    "textdedup_config": textdedup_config,
}
