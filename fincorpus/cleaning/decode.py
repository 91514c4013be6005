"""Turn raw bytes into text ourselves: HTTP header, then <meta> charset, then detection.

GB2312 and GBK are read as GB18030 (a superset: real "GB2312" pages use GBK characters), and a page whose
bytes are valid multi-byte UTF-8 is read as UTF-8 whatever it declares (measured on shared/data/html: six pages
declare gb2312 but are UTF-8). trafilatura's own decoding garbled 14 of 30 GB18030 pages, so it never decodes.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

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
    source: str  # http-header | meta | bom | utf-8-valid | detected | fallback


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


def decode_bytes(body: bytes, content_type: str | None = None) -> Decoded:
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
