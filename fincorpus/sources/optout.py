"""Opt-out signals a publisher sends with a page: TDMRep reservations and noai directives."""

from __future__ import annotations

import re
from dataclasses import dataclass

_META = re.compile(r"<meta\s[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""(name|content)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@dataclass(frozen=True)
class OptOut:
    tdm_reserved: bool
    noai: bool
    detail: str


def _meta_tags(html_head: str) -> list[dict[str, str]]:
    tags = []
    for tag in _META.findall(html_head):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if "name" in attrs:
            tags.append(attrs)
    return tags


def detect_optout(headers: dict[str, str], html: str | None) -> OptOut:
    """Headers are lower-cased names; ``html`` is the decoded page (only its head is read)."""
    reasons: list[str] = []
    tdm = headers.get("tdm-reservation", "").strip() == "1"
    if tdm:
        reasons.append("tdm-reservation: 1 (http-header)")
    noai = "noai" in headers.get("x-robots-tag", "").lower()
    if noai:
        reasons.append("X-Robots-Tag noai")
    if html:
        for attrs in _meta_tags(html[:30000]):
            name = attrs["name"].lower()
            content = attrs.get("content", "").lower()
            if name == "tdm-reservation" and content.strip() == "1":
                tdm = True
                reasons.append("tdm-reservation: 1 (meta)")
            if name == "robots" and "noai" in content:
                noai = True
                reasons.append("meta robots noai")
    return OptOut(tdm, noai, "; ".join(reasons))
