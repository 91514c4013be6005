"""Turn raw bytes into text ourselves: HTTP header, then <meta> charset, then detection.

GB2312 and GBK are read as GB18030 (a superset: real "GB2312" pages use GBK characters), and a page whose
bytes are valid multi-byte UTF-8 is read as UTF-8 whatever it declares (measured on shared/data/html: six pages
declare gb2312 but are UTF-8). trafilatura's own decoding garbled 14 of 30 GB18030 pages, so it never decodes.

Declarations lie, so the chosen decoding is checked for mojibake (fincorpus.cleaning.mojibake); when it is garbled
the other plausible charsets are tried and the first clean one wins (source "fallback-after-mojibake"). When none
is clean the result carries the reason in `mojibake` and `ensure_clean` raises, so the pipeline drops the document
instead of publishing garbage.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from fincorpus.cleaning.mojibake import is_mojibake

_GB_FAMILY = {
    "gb2312",
    "gbk",
    "gb18030",
    "cp936",
    "euc-cn",
    "x-gbk",
    "gb_2312-80",
    "csgb2312",
    "ms936",
    "windows-936",
}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    text: str
    charset: str
    source: str  # http-header | meta | bom | utf-8-valid | detected | fallback | fallback-after-mojibake
    mojibake: str | None = None  # why no decoding was clean; None when the text is clean


class MojibakeError(ValueError):
    """No charset turns the bytes into clean text; the message says which signal fired."""


def canonical_charset(name: str | None) -> str | None:
    """Python codec name for a declared charset, GB family mapped to gb18030; None if unknown."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in _GB_FAMILY:
        return "gb18030"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    m = _HEADER_CHARSET.search(content_type or "")
    return m.group(1) if m else None


def meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", errors="ignore") if m else None


def _strict(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


def _is_multibyte_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(b >= 0x80 for b in body[:65536])


# Tried in this order when the first decoding is garbled: the charsets Chinese pages actually use.
FALLBACK_CHARSETS = ("utf-8", "gb18030", "big5")


def decode_bytes(body: bytes, content_type: str | None = None, *, check: bool = True) -> Decoded:
    """Decode a page: declared charset (header, then meta), valid UTF-8, detection; then, unless check=False,
    re-decode with the next-best charset if the result is mojibake."""
    first = _first_decoding(body, content_type)
    if not check:
        return first
    bad, reason = is_mojibake(first.text)
    if not bad:
        return first
    for charset in _fallback_charsets(body, first.charset):
        text = _strict(body, charset)
        if text is not None and not is_mojibake(text)[0]:
            return Decoded(text, charset, "fallback-after-mojibake")
    return Decoded(
        first.text, first.charset, first.source, mojibake=f"{first.charset} from {first.source}: {reason}"
    )


def ensure_clean(decoded: Decoded) -> Decoded:
    """The decoding itself, or MojibakeError when no charset gave clean text (the caller drops the document)."""
    if decoded.mojibake:
        raise MojibakeError(
            f"no clean decoding ({decoded.mojibake}); tried {', '.join(FALLBACK_CHARSETS)} and detection"
        )
    return decoded


def _fallback_charsets(body: bytes, tried: str) -> list[str]:
    candidates = [c for c in FALLBACK_CHARSETS if c != tried]
    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        detected = canonical_charset(best.encoding) or best.encoding
        if detected != tried and detected not in candidates:
            candidates.append(detected)
    return candidates


def _first_decoding(body: bytes, content_type: str | None) -> Decoded:
    if body.startswith(codecs.BOM_UTF8):
        return Decoded(body[3:].decode("utf-8", errors="replace"), "utf-8", "bom")
    for where, declared in (("http-header", header_charset(content_type)), ("meta", meta_charset(body))):
        charset = canonical_charset(declared)
        if charset is None:
            continue
        if charset != "utf-8" and _is_multibyte_utf8(body):
            return Decoded(body.decode("utf-8"), "utf-8", "utf-8-valid")
        text = _strict(body, charset)
        if text is not None:
            return Decoded(text, charset, where)
    if _is_multibyte_utf8(body) or all(b < 0x80 for b in body[:65536]):
        text = _strict(body, "utf-8")
        if text is not None:
            return Decoded(text, "utf-8", "utf-8-valid")
    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        charset = canonical_charset(best.encoding) or best.encoding
        text = _strict(body, charset)
        if text is not None:
            return Decoded(text, charset, "detected")
    return Decoded(body.decode("utf-8", errors="replace"), "utf-8", "fallback")
