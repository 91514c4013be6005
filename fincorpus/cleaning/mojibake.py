"""Detect text that was decoded with the wrong charset, so it is re-decoded or dropped, never published.

Wrong decodings of Chinese pages leave fingerprints:
- GBK bytes read as UTF-8 with replacement: U+FFFD everywhere; the classic 锟斤拷/烫烫烫 of twice-wrong text;
- UTF-8 (or GBK) bytes read as Latin-1/cp1252: runs like "ä¸­å›½" or "ÖÐ¹ú" (Latin-1 letters and C1 controls);
- UTF-8 bytes read as GBK/Big5: every character valid, but mostly rare ideographs ("鍏徃涓婂競"). Measured on the 123
  real pages of shared/data/html: correctly decoded pages have <= 1.7 % of their ideographs outside the common sets
  (GB2312 level 1 plus Big5 level 1, so traditional text counts as common), the same pages decoded wrongly >= 38 %;
- private-use code points, which some wrong decodings produce and real text almost never contains.
Scores first (shares of suspicious characters), decision second (thresholds below).
"""

from __future__ import annotations

import re
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# Two or more Latin-1 supplement / C1 characters in a row: "Ã¤", "ÖÐ¹ú". One alone (é, ×, ·) is normal, and
# no-break spaces (U+00A0, runs of &nbsp; indentation in real pages) are not letters at all. Neither are the
# signs Chinese text repeats on purpose: "······" (an ellipsis or leader dots), "×××公司" (a placeholder name),
# "°" and "±" in figures; a run of them was taken for mojibake and the page re-read as GB18030 ("路路路").
_LATIN1_RUN = re.compile(
    r"[\u0080-\u009f\u00a1-\u00af\u00b2-\u00b6\u00b8-\u00d6\u00d8-\u00f6\u00f8-\u00ff]{2,}"
)
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")
_LATIN1 = re.compile(r"[\u0080-\u009f\u00a1-\u00af\u00b2-\u00b6\u00b8-\u00d6\u00d8-\u00f6\u00f8-\u00ff]")
_PRIVATE = re.compile(r"[\ue000-\uf8ff]")
_DOUBLE_WRONG = re.compile(r"锟斤拷|烫烫烫|屯屯屯")

RARE_CJK_MAX = 0.2  # share of ideographs outside the common sets (good pages <= 0.017, wrong >= 0.38)
MIN_CJK_FOR_RARE = 20  # too few ideographs to judge their rarity
BAD_CHAR_MAX = 0.05  # share of U+FFFD, private-use and Latin-1-run characters among non-ASCII characters
MIN_BAD_CHARS = 5  # a stray U+FFFD or two in a real page is the publisher's, not ours
SAMPLE_CHARS = 100_000  # a page's head is enough to judge its decoding and keeps the check at ~1 ms


@lru_cache(maxsize=1)
def common_ideographs() -> frozenset[str]:
    """GB2312 level 1 (the 3,755 most frequent simplified characters) and Big5 level 1 (5,401 traditional)."""
    chars: set[str] = set()
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            chars.update(bytes([lead, trail]).decode("gb2312", errors="ignore"))
    for lead in range(0xA4, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            chars.update(bytes([lead, trail]).decode("big5", errors="ignore"))
    return frozenset(c for c in chars if _CJK.match(c))


def mojibake_scores(text: str) -> dict[str, float]:
    """The separate signals: replacement/private/Latin-1-run characters as shares of the non-ASCII characters
    (markup and English do not dilute them; 0 when fewer than MIN_BAD_CHARS), rare ideographs as a share of all
    ideographs (0 when there are too few to judge), and 锟斤拷-style runs (a count)."""
    sample = text[:SAMPLE_CHARS]
    # Scanning only the non-ASCII characters (about 6 % of a Chinese page's HTML) keeps this at ~1 ms a page.
    wide = _ASCII_RUN.sub("", sample)
    total = max(1, len(wide))
    latin = len(_LATIN1.findall(wide))
    counts = {
        "replacement": wide.count("\ufffd"),
        "private_use": len(_PRIVATE.findall(wide)),
        # adjacency needs the original text: only looked at when there are Latin-1 characters at all
        "latin1_runs": sum(len(m) for m in _LATIN1_RUN.findall(sample)) if latin >= MIN_BAD_CHARS else 0,
    }
    enough = sum(counts.values()) >= MIN_BAD_CHARS
    cjk = _CJK.findall(wide)
    common = common_ideographs()
    rare = (len(cjk) - sum(map(common.__contains__, cjk))) / len(cjk) if len(cjk) >= MIN_CJK_FOR_RARE else 0.0
    return {
        **{k: v / total if enough else 0.0 for k, v in counts.items()},
        "rare_cjk": rare,
        "double_wrong": float(len(_DOUBLE_WRONG.findall(wide))),
    }


def mojibake_score(text: str) -> float:
    """One number in [0, 1]: the strongest signal, each scaled so that 1.0 means 'at its decision threshold'
    or beyond (clipped), so a score >= 1 is mojibake."""
    s = mojibake_scores(text)
    bad = s["replacement"] + s["private_use"] + s["latin1_runs"]
    return min(1.0, max(bad / BAD_CHAR_MAX, s["rare_cjk"] / RARE_CJK_MAX, s["double_wrong"] / 3))


def is_mojibake(text: str) -> tuple[bool, str]:
    """(flagged, reason): the reason names the signal and its value, for the removal log."""
    s = mojibake_scores(text)
    bad = s["replacement"] + s["private_use"] + s["latin1_runs"]
    if bad > BAD_CHAR_MAX:
        parts = ", ".join(f"{k}={s[k]:.3f}" for k in ("replacement", "private_use", "latin1_runs") if s[k])
        return True, f"mojibake: {parts} of characters (limit {BAD_CHAR_MAX} together)"
    if s["rare_cjk"] > RARE_CJK_MAX:
        return (
            True,
            f"mojibake: rare_cjk={s['rare_cjk']:.3f} of ideographs outside GB2312/Big5 level 1 (limit {RARE_CJK_MAX})",
        )
    if s["double_wrong"] >= 3:
        return True, f"mojibake: {int(s['double_wrong'])} runs of 锟斤拷/烫烫烫 (twice-wrong decoding)"
    return False, ""
