"""Opt-out signals: TDMRep reservations (header, tdmrep.json, meta), noai (X-Robots-Tag, meta robots) and AI
crawler tokens disallowed in robots.txt. Any of them keeps a document out of training use."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fincorpus.sources.base import AccessDecision

_META = re.compile(r"<meta\s[^>]*>", re.I)
_ATTR = re.compile(r"""(name|content)\s*=\s*["']([^"']*)["']""", re.I)


@dataclass(frozen=True)
class OptOut:
    tdm_reserved: bool
    noai: bool
    ai_reserved: bool
    reason: str | None  # null when training use is not excluded
    meta_robots: str | None
    tdm_source: str | None


def _meta_tags(html_head: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in _META.findall(html_head):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if "name" in attrs:
            name = attrs["name"].strip().lower()
            tags[name] = (tags[name] + ", " if name in tags else "") + attrs.get("content", "")
    return tags


def detect_optout(
    access: AccessDecision, html: str | None, *, ai_disallow_is_reservation: bool = True
) -> OptOut:
    """``html`` is the decoded page (only its head is read); ``access`` holds the fetch-time signals."""
    reasons: list[str] = []
    meta = _meta_tags(html[:30000]) if html else {}
    tdm_source = access.tdm_source
    tdm = (access.tdm_reservation or "").strip() == "1"
    if tdm:
        reasons.append(f"tdm-reservation: 1 ({access.tdm_source})")
    elif meta.get("tdm-reservation", "").strip() == "1":
        tdm, tdm_source = True, "meta"
        reasons.append("tdm-reservation: 1 (meta)")
    noai = False
    if "noai" in (access.x_robots_tag or "").lower():
        noai = True
        reasons.append("X-Robots-Tag noai")
    if "noai" in meta.get("robots", "").lower():
        noai = True
        reasons.append("meta robots noai")
    ai = bool(access.ai_disallowed) and ai_disallow_is_reservation
    if ai:
        reasons.append("robots.txt disallows " + ", ".join(access.ai_disallowed))
    return OptOut(tdm, noai, ai, "; ".join(reasons) or None, meta.get("robots"), tdm_source)
