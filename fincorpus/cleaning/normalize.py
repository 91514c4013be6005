"""Unicode and whitespace normalisation that keeps Chinese typography intact.

NFC; control characters out (newline, tab and the form feed that separates PDF pages stay); full-width ASCII
letters and digits to half-width (ＡＢＣ１２３ -> ABC123, and a full-width point between digits -> '.') while
Chinese punctuation stays full-width (，。：；！？（）「」 are the text's own typography); per-line whitespace
collapsed and trimmed (including the ideographic space used for paragraph indents); at most one blank line in a row.

Traditional -> simplified conversion (OpenCC ``t2s``) is a separate, recorded step: it changes characters, so a
document says it was converted and how many characters changed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
# Written literal-first ("\n\n\n+", not "\n{3,}"): re then scans for the literal, ~15x faster on a long text.
_BLANKS = re.compile("\n\n\n+")
_SPACE_RUN = re.compile("  +")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WIDE_POINT = re.compile(r"(?<=[0-9])．(?=[0-9])")

# U+FF10-FF19 digits, U+FF21-FF3A and U+FF41-FF5A letters: the only full-width forms folded.
_HALF_WIDTH = str.maketrans(
    {
        cp: cp - 0xFEE0
        for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
        for cp in range(r[0], r[1] + 1)
    }
)

STEP = "normalize:nfc+halfwidth+whitespace"
T2S_STEP = "normalize:opencc-t2s"


def without_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (JSON text can carry them as escapes such as "\\ud800"; no decoding
    produces them) replaced by U+FFFD: they are not characters, and UTF-8 hashing, libxml2 and Parquet reject them."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def normalize_text(text: str) -> str:
    """Normalised text; normalising it again changes nothing (the fuzz tests hold it to that).

    Order matters for that: control characters go and full-width forms are folded *before* NFC, since both can
    bring a letter next to a combining mark ("Ｉ" + U+0301 composes only once folded to "I"). Lone surrogates
    (JSON text can carry them as escapes; no decoding produces them) become U+FFFD: they are not characters and
    every encoder downstream (UTF-8 hashes, Parquet) rejects them.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _NEEDS_FOLDING.search(text):  # one scan for the three kinds below, each then looked for only if needed
        text = _CONTROL.sub("", without_surrogates(text))
        if _FULL_WIDTH_ALNUM.search(
            text
        ):  # translate() costs ~50 µs per page: only when there is something to fold
            text = _WIDE_POINT.sub(".", text.translate(_HALF_WIDTH))
    text = unicodedata.normalize("NFC", text)
    text = "\n".join(line.strip(" ") for line in collapse_spaces(text).split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def collapse_spaces(text: str) -> str:
    """Every run of spaces, tabs, no-break and ideographic spaces as one space: the same as _SPACES.sub(" ", text),
    ~15x faster on a long text (str.replace, each only when needed, and a literal-first pattern)."""
    for ch in "\t\u00a0\u3000":
        if ch in text:
            text = text.replace(ch, " ")
    return _SPACE_RUN.sub(" ", text)


# Frequent characters that exist only in traditional script (the traditional forms of 这个们来时说国会为与学对经发
# 后开关长门问间现实种东银证务): counting a few dozen with str.count costs ~15 µs per 1.5 KB document, where a
# per-character set or regex class costs 40-90 µs. Simplified text has none of them; traditional text many.
_TRADITIONAL_MARKERS = "這個們來時說國會為與學對經發後開關長門問間現實種東銀證務"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FULL_WIDTH_ALNUM = re.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
# a control character, a lone surrogate or a full-width letter or digit: what normalize_text removes or folds
_NEEDS_FOLDING = re.compile(
    "[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff"
    "\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
)


@dataclass(frozen=True)
class Conversion:
    text: str
    converted: bool
    changed_chars: int
    traditional_share: float


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def traditional_share(text: str) -> float:
    """Share of CJK characters that are frequent traditional-only forms (0 for simplified text)."""
    marks = sum(text.count(ch) for ch in _TRADITIONAL_MARKERS)
    if not marks:
        return 0.0
    cjk = len(_CJK.findall(text))
    return marks / cjk if cjk else 0.0


def to_simplified(text: str, min_share: float = 0.02) -> Conversion:
    """OpenCC t2s when traditional-only characters make up at least ``min_share`` of the CJK characters.

    Simplified text has none of them; traditional running text has several per hundred characters. A simplified
    text quoting a traditional name or two stays below the threshold and is left as written.
    """
    share = traditional_share(text)
    if share < min_share:
        return Conversion(text, False, 0, round(share, 4))
    converted = _t2s().convert(text)
    changed = sum(1 for a, b in zip(text, converted, strict=False) if a != b)
    return Conversion(converted, True, changed, round(share, 4))
