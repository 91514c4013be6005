"""Who is kept when documents duplicate each other, and how every other member relates to the keeper.

The keeper is chosen from evidence the pages carry, not from crawl order, in this order:

1. **Named original.** A member that another member names as its original (a 来源/转载自 link, or a
   ``rel=canonical`` to another host) is the original: it wins over the members naming it.
2. **Declared origin.** A member whose own page declares an external origin (a 来源 link to another host) is a
   reprint: it loses to members that declare none.
3. **Host authority** of the source's licence class (official documents of state organs, then exchange
   disclosures, open licences, media, reprints, unknown).
4. **Dates.** The earliest publication wins (an original precedes its reprints) - except in a **version group**:
   official texts of one title published at different dates are versions of one law or regulation, and the
   newest version is kept; the older ones are recorded with relation ``version`` and the date they were
   superseded (the newer version's publication date).
5. The most complete text, then the shortest and lexically first URL (deterministic).

Relations of a member to its keeper: ``version`` (a version group), ``reprint`` (another source), ``near`` (same
source); exact duplicates are ``exact``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import regex

AUTHORITY = {
    "cn-art5-official": 0,
    "exchange-asserted": 1,
    "open-licence": 2,
    "contract-licensed": 2,
    "media-unknown": 3,
    "media-no-reprint": 3,
    "media-third-party-reprint": 4,
    "unknown": 5,
}

# A title's version markers: （2023年修订）, (2016年修正), 2019年修订版, [第二次修正] ...
# A match never starts inside a run of spaces and the spaces are possessive: with four plain \s* in a row, a title of
# 400 spaces took 23 s (each start retried every split of the run; dataset and JSON titles are not collapsed).
_VERSION_MARK = re.compile(
    r"(?:[（(【\[]|(?<!\s)|(?!\s))\s*+(?:\d{4}\s*+年?)?\s*+(?:第[一二三四五六七八九十\d]+次)?\s*+(?:修订|修正|修改|版|施行)"
    r"\s*+(?:版|稿|本)?\s*+[)）】\]]?"
)
_TITLE_DROP = regex.compile(r"[\s\p{P}\p{S}]+")
_YEAR = re.compile(r"\d{4}\s*年")


def host(url: str | None) -> str:
    return (urlsplit(url).hostname or "") if url else ""


def title_key(title: str | None) -> str:
    """A title with its version markers, years and punctuation removed: equal for versions of one text."""
    if not title:
        return ""
    t = _VERSION_MARK.sub("", title)
    t = _YEAR.sub("", t)
    return _TITLE_DROP.sub("", t)


@dataclass(frozen=True)
class Member:
    """The facts of one duplicate-cluster member the keeper policy reads."""

    doc_id: str
    source_id: str
    canonical_url: str
    licence_class: str
    published: datetime | None
    length: int
    doc_type: str | None = None
    title: str | None = None
    original_url: str | None = None
    rel_canonical: str | None = None

    def names(self) -> set[str]:
        """URLs this page names as its original (a 来源 link, or a canonical link to another host)."""
        out = set()
        if self.original_url and self.original_url != self.canonical_url:
            out.add(self.original_url)
        if self.rel_canonical and host(self.rel_canonical) not in ("", host(self.canonical_url)):
            out.add(self.rel_canonical)
        return out

    @property
    def declares_origin(self) -> bool:
        return any(host(u) != host(self.canonical_url) for u in self.names())


def is_version_group(members: Sequence[Member]) -> bool:
    """Official texts of one title with at least two publication dates: versions of one law or regulation."""
    if len(members) < 2 or any(m.doc_type != "official" for m in members):
        return False
    keys = {title_key(m.title) for m in members}
    dates = {m.published for m in members if m.published is not None}
    return len(keys) == 1 and "" not in keys and len(dates) >= 2


def _rank(m: Member, named: set[str], versions: bool) -> tuple:
    ts = m.published.timestamp() if m.published is not None else None
    date = (-ts if ts is not None else float("inf")) if versions else (ts if ts is not None else float("inf"))
    return (
        0 if m.canonical_url in named else 1,
        1 if m.declares_origin else 0,
        AUTHORITY.get(m.licence_class, 9),
        date,
        -m.length,
        len(m.canonical_url),
        m.canonical_url,
    )


@dataclass(frozen=True)
class KeeperChoice:
    keeper: int  # index into the members
    versions: bool  # the members are versions of one text: the newest is kept
    reason: str


def choose_keeper(members: Sequence[Member]) -> KeeperChoice:
    versions = is_version_group(members)
    named = {u for m in members for u in m.names()}
    ranks = [_rank(m, named, versions) for m in members]
    k = min(range(len(members)), key=lambda i: ranks[i])
    m = members[k]
    if m.canonical_url in named:
        why = "named as the original by another member"
    elif versions:
        why = "newest version"
    elif any(x.declares_origin for x in members) and not m.declares_origin:
        why = "declares no external origin"
    else:
        why = "authority, then earliest publication, then most complete text"
    return KeeperChoice(k, versions, why)


def relation(member: Member, keeper: Member, versions: bool) -> str:
    if versions:
        return "version"
    if member.source_id != keeper.source_id:
        return "reprint"
    return "near"
