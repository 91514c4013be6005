"""Unicode and whitespace normalisation that keeps Chinese typography intact.

NFC, control characters out (newline, tab and the form feed that separates PDF pages stay), per-line
whitespace collapsed and trimmed (including the ideographic space used for paragraph indents), at most one
blank line in a row. Full-width punctuation is left alone.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0d-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANKS = re.compile(r"\n{3,}")

STEP = "normalize:nfc+whitespace"


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip(" ") for line in text.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
