"""Turn raw bytes into text ourselves: HTTP header, then <meta> charset, then detection.

GB2312 and GBK are read as GB18030 (a superset: real "GB2312" pages use GBK characters), and a page whose
bytes are valid multi-byte UTF-8 is read as UTF-8 whatever it declares (measured on shared/data/html: six pages
declare gb2312 but are UTF-8). trafilatura's own decoding garbled 14 of 30 GB18030 pages, so it never decodes.

Declarations lie, so the chosen decoding is checked for mojibake (fincorpus.cleaning.mojibake); when it is garbled
the other plausible charsets are tried and the first clean one wins (source "fallback-after-mojibake"). When none
is clean the result carries the reason in `mojibake` and `ensure_clean` raises, so the pipeline drops the document
instead of publishing garbage.

Real pages carry a few broken bytes (a truncated character at a cut-off, one stray byte from a bad copy-paste): a
page declaring gb2312 with 12 undecodable bytes in 38 KB must not be dropped, and a page with 2 bad bytes must not
be handed to generic detection, which guesses a single-byte code page (ptcp154, cp1251, latin-1) and turns Chinese
into Cyrillic. So a charset that fails on under REPLACE_MAX_SHARE of the bytes decodes with U+FFFD for those bytes
and records how many it replaced (`Decoded.replaced`); the charsets Chinese pages use (UTF-8, GB18030, Big5) are
tried before detection; and a single-byte code page is never taken for bytes that read as Chinese.
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
    source: str  # http-header | meta | bom | utf-8-valid | chinese-candidate | detected | fallback | fallback-after-mojibake
    mojibake: str | None = None  # why no decoding was clean; None when the text is clean
    replaced: int = 0  # undecodable byte sequences replaced by U+FFFD (0 = the bytes decoded strictly)


class MojibakeError(ValueError):
    """No charset turns the bytes into clean text; the message says which signal fired."""


# A charset that fails on fewer than this share of the bytes is the right one with a few broken bytes (12 in 38 KB
# is 0.03 %); a wrong charset fails on several percent (GBK read as UTF-8: ~60 % of the Chinese bytes).
REPLACE_MAX_SHARE = 0.001
# Bytes that decode as Chinese with at most this share of errors are never handed to a single-byte code page.
CHINESE_GUARD_SHARE = 0.02
# Tried in this order before generic detection, and when the first decoding is garbled: the charsets Chinese
# pages actually use.
FALLBACK_CHARSETS = ("utf-8", "gb18030", "big5")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


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


def tolerant_decode(
    body: bytes, charset: str, max_share: float = REPLACE_MAX_SHARE, memo: dict[str, object] | None = None
) -> tuple[str, int] | None:
    """(text, replaced) when ``charset`` decodes the bytes with at most ``max_share`` of them undecodable, the
    bad sequences replaced by U+FFFD; None when it fails on more (it is then the wrong charset) or is unknown.

    ``memo`` (one dict per body) keeps each charset's strict and replacing decodings: decoding a page tries the
    same charsets at several shares, and each try of a 4 MB body costs ~15 ms."""
    memo = {} if memo is None else memo
    strict_key, replace_key = f"strict:{charset}", f"replace:{charset}"
    if strict_key not in memo:
        memo[strict_key] = _strict(body, charset)
    text = memo[strict_key]
    if isinstance(text, str):
        return text, 0
    if max_share <= 0:
        return None
    if replace_key not in memo:
        memo[replace_key] = _replacing(body, charset)
    got = memo[replace_key]
    if not isinstance(got, tuple):
        return None
    if got[1] > max(1, len(body) * max_share):
        return None
    return got


def _replacing(body: bytes, charset: str) -> tuple[str, int] | None:
    """The bytes decoded with bad sequences replaced by U+FFFD, and how many were replaced (None: unknown)."""
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        return None
    try:
        genuine = body.count("\ufffd".encode(charset))  # U+FFFD the page itself contains
    except UnicodeEncodeError:
        genuine = 0
    return text, text.count("\ufffd") - genuine


def _is_multibyte_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return any(b >= 0x80 for b in body[:65536])


def _single_byte(charset: str) -> bool:
    """cp1251, ptcp154, koi8-r, iso8859-*, mac-*, latin-1 ...: one byte, one character."""
    try:
        info = codecs.lookup(charset)
    except LookupError:
        return False
    if info.name in (
        "utf-8",
        "gb18030",
        "gbk",
        "gb2312",
        "big5",
        "big5hkscs",
        "cp950",
        "hz",
        "euc_jp",
        "euc_kr",
        "shift_jis",
        "cp932",
        "cp949",
        "utf-16",
        "utf-32",
        "iso2022_jp",
    ):
        return False
    try:
        return len(bytes(range(0x80, 0x100)).decode(info.name, errors="replace")) == 128
    except Exception:  # a codec that cannot even be probed is not a single-byte page codec
        return False


def decode_bytes(body: bytes, content_type: str | None = None, *, check: bool = True) -> Decoded:
    """Decode a page: declared charset (header, then meta), valid UTF-8, the Chinese charsets, detection; then,
    unless check=False, re-decode with the next-best charset if the result is mojibake. A charset that fails on
    a tiny share of the bytes is used with replacement (`replaced` counts the bad sequences)."""
    memo: dict[str, object] = {}
    first = _first_decoding(body, content_type, memo)
    if not check:
        return first
    bad, reason = is_mojibake(first.text)
    if not bad:
        return first
    for charset in _fallback_charsets(body, first.charset, memo):
        got = tolerant_decode(body, charset, memo=memo)
        if got is not None and not is_mojibake(got[0])[0]:
            return Decoded(got[0], charset, "fallback-after-mojibake", replaced=got[1])
    return Decoded(
        first.text,
        first.charset,
        first.source,
        mojibake=f"{first.charset} from {first.source}: {reason}",
        replaced=first.replaced,
    )


def ensure_clean(decoded: Decoded) -> Decoded:
    """The decoding itself, or MojibakeError when no charset gave clean text (the caller drops the document)."""
    if decoded.mojibake:
        raise MojibakeError(
            f"no clean decoding ({decoded.mojibake}); tried {', '.join(FALLBACK_CHARSETS)} and detection"
        )
    return decoded


def _fallback_charsets(body: bytes, tried: str, memo: dict[str, object]) -> list[str]:
    candidates = [c for c in FALLBACK_CHARSETS if c != tried]
    detected = _detected(body)
    if detected and detected != tried and detected not in candidates and not _reads_as_chinese(body, memo):
        candidates.append(detected)
    return candidates


def _detected(body: bytes) -> str | None:
    best = from_bytes(body[:200_000]).best()
    if best is None or not best.encoding:
        return None
    return canonical_charset(best.encoding) or best.encoding


def _chinese_candidate(body: bytes, max_share: float, memo: dict[str, object]) -> Decoded | None:
    """The first of UTF-8, GB18030, Big5 that decodes the bytes (within max_share errors) into clean text."""
    for charset in FALLBACK_CHARSETS:
        got = tolerant_decode(body, charset, max_share, memo)
        if got is not None and not is_mojibake(got[0])[0]:
            return Decoded(got[0], charset, "chinese-candidate", replaced=got[1])
    return None


def _reads_as_chinese(body: bytes, memo: dict[str, object]) -> bool:
    cand = _chinese_candidate(body, CHINESE_GUARD_SHARE, memo)
    return cand is not None and len(_CJK.findall(cand.text[:20000])) >= 10


def _first_decoding(body: bytes, content_type: str | None, memo: dict[str, object]) -> Decoded:
    if body.startswith(codecs.BOM_UTF8):
        text = body[3:].decode("utf-8", errors="replace")
        return Decoded(text, "utf-8", "bom", replaced=text.count("\ufffd"))
    multibyte_utf8 = _is_multibyte_utf8(body)
    for where, declared in (("http-header", header_charset(content_type)), ("meta", meta_charset(body))):
        charset = canonical_charset(declared)
        if charset is None:
            continue
        if charset != "utf-8" and multibyte_utf8:
            return Decoded(body.decode("utf-8"), "utf-8", "utf-8-valid")
        got = tolerant_decode(body, charset, memo=memo)
        if got is not None and not (got[1] and is_mojibake(got[0])[0]):
            return Decoded(got[0], charset, where, replaced=got[1])
    if multibyte_utf8 or all(b < 0x80 for b in body[:65536]):
        text = _strict(body, "utf-8")
        if text is not None:
            return Decoded(text, "utf-8", "utf-8-valid")
    # before generic detection: the charsets Chinese pages use, strictly first, then with a few bad bytes
    for share in (0.0, REPLACE_MAX_SHARE):
        cand = _chinese_candidate(body, share, memo)
        if cand is not None:
            return cand
    detected = _detected(body)
    if detected:
        if _single_byte(detected) and _reads_as_chinese(body, memo):
            cand = _chinese_candidate(body, CHINESE_GUARD_SHARE, memo)
            assert cand is not None
            return cand
        got = tolerant_decode(body, detected, memo=memo)
        if got is not None:
            return Decoded(got[0], detected, "detected", replaced=got[1])
    text = body.decode("utf-8", errors="replace")
    return Decoded(text, "utf-8", "fallback", replaced=text.count("\ufffd"))
