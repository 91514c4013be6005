"""Quality signals for Chinese financial text, computed first and decided second.

All signals work on characters (no word segmentation on the hot path) and go into the ``quality`` column
whatever the decision, so thresholds can be changed and re-run over a snapshot without re-extracting anything.

Repetition signals follow Gopher (Rae et al. 2021) with characters in place of words: the share of characters
covered by the most frequent character 2/3/4-gram, and the share of characters inside repeated occurrences of
character 5-grams and 10-grams (first occurrences not counted). They are computed with numpy over 64-bit
rolling hashes of the code points: ~40 µs a page where Python Counters over slices took ~600 µs. A text over
``REPETITION_SAMPLE_CHARS`` visible characters is measured on ``REPETITION_WINDOWS`` evenly spaced windows that
together hold that many (repeats between windows still count): the sorts cost ~0.25 s per million characters, and
a 5-million-character text (the pipeline's limit) would otherwise spend seconds here. The other signals always
see the whole text.

Digit share is recorded and never used to drop anything: annual reports and announcements are rightly full of
figures. Thresholds differ per document type (official document, announcement, news, research report, forum
post): a statute's short numbered articles or a report's table lines are normal there and not in a news story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Literal, TypedDict

import numpy as np
import regex

DocType = Literal["official", "announcement", "news", "report", "forum"]
DOC_TYPES: tuple[str, ...] = ("official", "announcement", "news", "report", "forum")


class QualityScores(TypedDict):
    length_chars: int
    cjk_share: float
    symbol_share: float
    digit_share: float
    lines: int
    dup_line_frac: float
    dup_line_char_frac: float
    dup_para_frac: float
    dup_para_char_frac: float
    top_2gram_char_frac: float
    top_3gram_char_frac: float
    top_4gram_char_frac: float
    dup_5gram_char_frac: float
    dup_10gram_char_frac: float
    punct_end_share: float
    nav_line_share: float


_SYMBOL = regex.compile(r"\p{S}|[■□▪▫◆◇○●★☆※→←↑↓►▶◀▲▼|]")


@lru_cache(maxsize=1)
def _symbol_table() -> np.ndarray:
    """A flag per code point, True where _SYMBOL matches it: built once from the pattern itself, over every code
    point (surrogates stand in as "a"; ~50 ms), so counting the symbols of a text is one lookup per character (~10x faster
    than _SYMBOL.findall on a long text, and always the same count: every match of _SYMBOL is one code point)."""
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = ord("a")
    every = cps.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, dtype=bool)
    table[[m.start() for m in _SYMBOL.finditer(every)]] = True
    return table


def symbol_count(codes: np.ndarray) -> int:
    """How many of these code points (an integer array) _SYMBOL matches."""
    return int(np.count_nonzero(_symbol_table()[codes])) if len(codes) else 0


# A line "ends" when its last character closes a sentence or a clause, Chinese or ASCII, quotes included.
END_PUNCT = frozenset("。！？；：…」』”’）》】.!?;:)\"'")
NAV_LINE_MAX_CHARS = 20


def is_nav_line(line: str) -> bool:
    """A short line without end punctuation: a menu item, a list entry or a bare heading (``line`` is stripped)."""
    return len(line) <= NAV_LINE_MAX_CHARS and line[-1] not in END_PUNCT


_BLANK_LINE = re.compile(r"\n\s*\n")
_PRIME = np.uint64(1_000_003)
REPETITION_SAMPLE_CHARS = 500_000
REPETITION_WINDOWS = 8


def repetition_sample(codes: np.ndarray) -> np.ndarray:
    """The code points the repetition signals are computed on: all of them, or for a text over
    REPETITION_SAMPLE_CHARS, REPETITION_WINDOWS evenly spaced windows (first and last included) holding that many."""
    total = len(codes)
    if total <= REPETITION_SAMPLE_CHARS:
        return codes
    width = REPETITION_SAMPLE_CHARS // REPETITION_WINDOWS
    starts = np.linspace(0, total - width, REPETITION_WINDOWS).astype(np.int64)
    return np.concatenate([codes[s : s + width] for s in starts])


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _duplicates(items: list[str]) -> tuple[float, float]:
    """Share of items that repeat an earlier item, and the share of characters they hold (Gopher)."""
    seen: set[str] = set()
    dup = dup_chars = total_chars = 0
    for item in items:
        total_chars += len(item)
        if item in seen:
            dup += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return _share(dup, len(items)), _share(dup_chars, total_chars)


def _repetition(codes: np.ndarray) -> dict[str, float]:
    out = {f"top_{n}gram_char_frac": 0.0 for n in (2, 3, 4)}
    out |= {f"dup_{n}gram_char_frac": 0.0 for n in (5, 10)}
    total = len(codes)
    if total < 12:
        return out
    hashes: dict[int, np.ndarray] = {}
    h = codes
    with np.errstate(over="ignore"):
        for n in range(2, 11):  # the n-gram hashes of every n from the (n-1)-gram ones: one pass each
            h = h[:-1] * _PRIME + codes[n - 1 :]
            hashes[n] = h
    for n in (2, 3, 4):
        ordered = np.sort(hashes[n])
        breaks = np.flatnonzero(ordered[1:] != ordered[:-1])
        ends = np.concatenate((breaks, [len(ordered) - 1]))
        sizes = np.diff(np.concatenate(([-1], ends)))
        top = int(sizes.argmax())
        covered = int(sizes[top]) * n
        if sizes[top] > 1:  # occurrences may overlap ("哈哈哈哈"): count the characters they cover, once
            starts = np.flatnonzero(hashes[n] == ordered[ends[top]])
            covered = int(np.minimum(np.diff(starts), n).sum()) + n
        out[f"top_{n}gram_char_frac"] = _share(covered, total)
    positions = np.arange(total, dtype=np.uint64)
    for n in (5, 10):
        # (32-bit hash, position) packed in one uint64: a plain sort groups equal n-grams in position order, so
        # every member of a group after the first is a repeat (a stable argsort of the hashes cost 3x more).
        h = hashes[n]
        packed = np.sort(((h ^ (h >> np.uint64(32))) << np.uint64(32)) | positions[: len(h)])
        keys = packed >> np.uint64(32)
        repeat_starts = (packed[1:][keys[1:] == keys[:-1]] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        if len(repeat_starts):
            edges = np.bincount(repeat_starts, minlength=total + 1) - np.bincount(
                repeat_starts + n, minlength=total + 1
            )
            out[f"dup_{n}gram_char_frac"] = _share(int(np.count_nonzero(np.cumsum(edges[:total]))), total)
    return out


def _count_between(codes: np.ndarray, ranges: tuple[tuple[int, int], ...]) -> int:
    return int(sum(np.count_nonzero((codes >= lo) & (codes <= hi)) for lo, hi in ranges))


_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


def compute_quality(text: str) -> QualityScores:
    # str.split() and re's \s agree on every code point (checked over all of Unicode); split is ~10x faster
    chars = "".join(text.split())
    visible = len(chars)
    # surrogatepass: a lone surrogate (normalize_text replaces them, a caller may not have) is a code point here
    codes = np.frombuffer(chars.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    # split on form feeds, then on blank lines: the same paragraphs as re.split(r"\n\s*\n|\f") once stripped, 10x
    # faster on a long text (the pattern begins with a literal)
    pieces = (q for page in text.split("\f") for q in _BLANK_LINE.split(page))
    paragraphs = [p.strip() for p in pieces if p.strip()]
    dup_line, dup_line_chars = _duplicates(lines)
    dup_para, dup_para_chars = _duplicates(paragraphs)
    ended = sum(1 for line in lines if line[-1] in END_PUNCT)
    nav = sum(1 for line in lines if is_nav_line(line))
    scores: QualityScores = {
        "length_chars": len(text),
        "cjk_share": _share(_count_between(codes, _CJK_RANGES), visible),
        "symbol_share": _share(symbol_count(codes), visible),
        "digit_share": _share(_count_between(codes, ((0x30, 0x39),)), visible),
        "lines": len(lines),
        "dup_line_frac": dup_line,
        "dup_line_char_frac": dup_line_chars,
        "dup_para_frac": dup_para,
        "dup_para_char_frac": dup_para_chars,
        "punct_end_share": _share(ended, len(lines)),
        "nav_line_share": _share(nav, len(lines)),
        **_repetition(repetition_sample(codes).astype(np.uint64)),  # type: ignore[typeddict-item]
    }
    return scores


@dataclass(frozen=True)
class Thresholds:
    """Limits for one document type; None switches a check off."""

    min_chars: int | None = 50
    min_cjk_share: float | None = 0.2
    max_symbol_share: float | None = 0.1
    # Interviews repeat their short questions (8 experts asked the same 5 questions: 30% of lines, 16% of
    # characters), so the count limit is looser than Gopher's 0.3 and the character share does the work.
    max_dup_line_frac: float | None = 0.4
    max_dup_para_frac: float | None = 0.3
    max_dup_line_char_frac: float | None = 0.2
    max_top_2gram_char_frac: float | None = 0.2
    max_top_3gram_char_frac: float | None = 0.2
    max_top_4gram_char_frac: float | None = 0.2
    max_dup_5gram_char_frac: float | None = 0.75
    max_dup_10gram_char_frac: float | None = 0.6
    # FineWeb-2's cmn_Hani line_punct_thr is 0.106; web articles keep captions and subheads without punctuation.
    min_punct_end_share: float | None = 0.1
    max_nav_line_share: float | None = 0.7
    drop_list_pages: bool = True


# Line checks say nothing about a text of one or two long lines (announcement and cnews texts have no line
# breaks at all), so they apply from this many non-empty lines on.
MIN_LINES_FOR_LINE_CHECKS = 5
_LINE_KEYS = frozenset({"dup_line_frac", "dup_line_char_frac", "punct_end_share", "nav_line_share"})

# Calibrated on shared/data (tests/test_quality.py shows the outcome): character n-grams repeat far more than
# Gopher's word n-grams (a statute's median dup_5gram_char_frac is 0.44), so those limits sit above the 99th
# percentile of real texts of the type; list/navigation pages fail on nav_line_share or page_type.
DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "news": Thresholds(),
    "forum": Thresholds(min_chars=30, max_nav_line_share=0.8),
    # Statutes: short numbered articles, chapter headings (第一章 总则) and recurring formulas.
    "official": Thresholds(
        max_nav_line_share=0.8,
        min_punct_end_share=0.1,
        max_dup_5gram_char_frac=0.8,
        max_dup_10gram_char_frac=0.7,
    ),
    # Announcements repeat the company name and fixed formulas (信息披露义务人 …) by design.
    "announcement": Thresholds(
        max_top_2gram_char_frac=0.3,
        max_top_3gram_char_frac=0.4,
        max_top_4gram_char_frac=0.5,
        max_dup_5gram_char_frac=0.95,
        max_dup_10gram_char_frac=0.9,
        max_dup_line_frac=0.5,
        max_nav_line_share=0.8,
    ),
    # Report PDFs: table rows and running figures, lines broken mid-sentence.
    "report": Thresholds(
        min_punct_end_share=None,
        max_nav_line_share=None,
        max_symbol_share=0.15,
        max_dup_line_frac=0.5,
        max_dup_line_char_frac=0.4,
        max_top_2gram_char_frac=0.3,
        max_top_3gram_char_frac=0.4,
        max_top_4gram_char_frac=0.5,
        max_dup_5gram_char_frac=0.95,
        max_dup_10gram_char_frac=0.9,
    ),
}


def thresholds_for(
    doc_type: str, overrides: dict[str, dict[str, float | int | bool | None]] | None = None
) -> Thresholds:
    base = DEFAULT_THRESHOLDS.get(doc_type)
    if base is None:
        raise ValueError(f"unknown document type {doc_type!r}; use one of {', '.join(DOC_TYPES)}")
    extra = (overrides or {}).get(doc_type) or {}
    return replace(base, **extra) if extra else base


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str = ""


@dataclass(frozen=True)
class QualityFilter:
    """Drop documents that are too short, not Chinese, repetitive or navigation rather than prose."""

    thresholds: Thresholds
    doc_type: str = "news"
    name: str = "quality"

    def decide(self, scores: QualityScores, page_type: str | None = None) -> Decision:
        t = self.thresholds
        if t.drop_list_pages and page_type == "list":
            return Decision(False, "page_type=list (navigation/list page, not an article)")
        for f in fields(t):
            limit = getattr(t, f.name)
            if f.name == "drop_list_pages" or limit is None:
                continue
            kind, _, key = f.name.partition("_")
            key = "length_chars" if key == "chars" else key
            if key in _LINE_KEYS and scores["lines"] < MIN_LINES_FOR_LINE_CHECKS:
                continue
            value = scores[key]  # type: ignore[literal-required]
            if (kind == "min" and value < limit) or (kind == "max" and value > limit):
                op = "<" if kind == "min" else ">"
                return Decision(False, f"{key}={value} {op} {f.name}={limit} ({self.doc_type})")
        return Decision(True)


def lang_of(scores: QualityScores) -> str:
    return "zh" if scores["cjk_share"] >= 0.3 else "und"
