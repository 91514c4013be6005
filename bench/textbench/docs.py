"""~1.5 KB Chinese benchmark documents, built at run time from ../shared/data (nothing is stored in the repo).

Sources, each cut or packed towards `target_chars` (deterministic for a given seed):

- news:         texts/cnews/cnews_500.jsonl (THUCNews articles, one line each)
- announcement: texts/announcements_cfee/FREEZE_Data.json (JSON lines, field Doc; templated equity-freeze notices)
- law:          texts/laws/**.md (statutes in markdown, many short paragraphs)
- web:          groundtruth/cwced/cleaned/*.txt (human-extracted main text of real news pages)

A text longer than 1.5x the target is split into nearly equal chunks at paragraph boundaries, or at sentence ends
(。！？) when it has no line breaks, so no chunk starts mid-sentence. Texts shorter than 0.6x the target are packed,
in file order, with the following short texts of the same source, separated by a blank line, like a digest page.
The pools are shuffled together with `seed`; when `n` exceeds the number of distinct documents the list repeats
in a fresh shuffle (`bench_summary` reports the distinct count).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MIN_SHARE = 0.6  # shorter texts are packed with their neighbours
MAX_SHARE = 1.5  # longer texts are split
_PARAGRAPHS = re.compile(r"\n\s*\n|\n")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")
_CLAUSE_END = re.compile(r"(?<=[；;，,、])")


def _data_dir(data_dir: Path | None) -> Path:
    d = (data_dir or DATA).resolve()
    if not (d / "texts").is_dir():
        raise FileNotFoundError(
            f"shared data not found at {d} (expected texts/ inside); clone it beside the repo as ../shared/data "
            "or pass data_dir"
        )
    return d


def _read_jsonl(path: Path, field: str) -> list[str]:
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line)[field])
        except (json.JSONDecodeError, KeyError) as e:
            raise ValueError(f"{path}:{lineno}: expected a JSON object with field {field!r} ({e})") from e
    return out


def _sources(d: Path) -> dict[str, list[str]]:
    laws = [
        (d / json.loads(line)["file"]).read_text(encoding="utf-8")
        for line in (d / "texts" / "laws" / "index.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    web = [
        p.read_text(encoding="utf-8") for p in sorted((d / "groundtruth" / "cwced" / "cleaned").glob("*.txt"))
    ]
    return {
        "news": _read_jsonl(d / "texts" / "cnews" / "cnews_500.jsonl", "text"),
        "announcement": _read_jsonl(d / "texts" / "announcements_cfee" / "FREEZE_Data.json", "Doc"),
        "law": laws,
        "web": web,
    }


def _pieces(unit: str, target: int) -> list[str]:
    """A unit longer than the target, cut at sentence ends, then clause marks, then every `target` chars."""
    if len(unit) <= target:
        return [unit]
    for pattern in (_SENTENCE_END, _CLAUSE_END):
        parts = [p for p in pattern.split(unit) if p]
        if len(parts) > 1:
            return [q for p in parts for q in _pieces(p, target)]
    return [unit[i : i + target] for i in range(0, len(unit), target)]


def _units(text: str, target: int) -> tuple[list[str], str]:
    """Paragraphs (joined back with blank lines) or, for one-line texts, sentences (joined with nothing)."""
    text = text.strip()
    if "\n" in text:
        paragraphs = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
        return [q for p in paragraphs for q in _pieces(p, target)], "\n\n"
    return _pieces(text, target // 4 or 1), ""


def _split(text: str, target: int) -> Iterator[str]:
    """Nearly equal chunks of about `target` chars, cut only between units."""
    units, sep = _units(text, target)
    k = max(1, round(len(text) / target))
    size = len(text) / k
    chunk: list[str] = []
    length = 0
    for u in units:
        chunk.append(u)
        length += len(u) + len(sep)
        if length >= size:
            yield sep.join(chunk)
            chunk, length = [], 0
    if chunk:
        yield sep.join(chunk)


def _shape(texts: list[str], target: int) -> list[str]:
    """Split long texts, pack short ones, keep the rest whole."""
    out: list[str] = []
    pending: list[str] = []
    for text in texts:
        text = text.strip()
        if len(text) > MAX_SHARE * target:
            out.extend(c for c in _split(text, target) if len(c) >= MIN_SHARE * target / 2)
        elif len(text) >= MIN_SHARE * target:
            out.append(text)
        else:
            pending.append(text)
            if sum(map(len, pending)) >= MIN_SHARE * target:
                out.append("\n\n".join(pending))
                pending = []
    return out


@lru_cache(maxsize=8)
def _pool(target_chars: int, data_dir: Path) -> tuple[tuple[str, str], ...]:
    return tuple(
        (kind, doc) for kind, texts in _sources(data_dir).items() for doc in _shape(texts, target_chars)
    )


def load_bench_docs(
    n: int = 3000, target_chars: int = 1500, seed: int = 0, data_dir: Path | None = None
) -> list[str]:
    """`n` Chinese documents of about `target_chars` characters each, same list for the same arguments."""
    return [doc for _, doc in load_bench_records(n, target_chars, seed, data_dir)]


def load_bench_records(
    n: int = 3000, target_chars: int = 1500, seed: int = 0, data_dir: Path | None = None
) -> list[tuple[str, str]]:
    """Like `load_bench_docs`, with each document's source kind: (kind, text)."""
    if n <= 0 or target_chars <= 0:
        raise ValueError(f"n and target_chars must be positive, got n={n}, target_chars={target_chars}")
    pool = list(_pool(target_chars, _data_dir(data_dir)))
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        batch = pool[:]
        rng.shuffle(batch)
        out.extend(batch[: n - len(out)])
    return out


def bench_summary(records: list[tuple[str, str]]) -> dict:
    """Sizes and mix of a document list, for the benchmark report."""
    chars = [len(t) for _, t in records]
    nbytes = [len(t.encode("utf-8")) for _, t in records]
    kinds: dict[str, int] = {}
    for k, _ in records:
        kinds[k] = kinds.get(k, 0) + 1
    return {
        "documents": len(records),
        "distinct_documents": len({t for _, t in records}),
        "mean_chars": round(sum(chars) / len(chars), 1),
        "mean_utf8_bytes": round(sum(nbytes) / len(nbytes), 1),
        "min_chars": min(chars),
        "max_chars": max(chars),
        "by_kind": dict(sorted(kinds.items())),
    }
