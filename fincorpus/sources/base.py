"""What every connector hands to cleaning: a pointer to stored raw bytes plus the facts of the fetch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AccessDecision:
    """The inputs of the decision to fetch and use a URL, recorded per fetch for auditors."""

    robots_sha256: str | None = None  # sha256 of the robots.txt body in force ("-" when unreachable)
    robots_group: str | None = None  # user-agent group that applied ("*" or our token), None = no group
    robots_rule: str | None = None  # the rule that decided, e.g. "allow: /" (None = no rule matched: allowed)
    ai_disallowed: tuple[str, ...] = ()  # AI crawler tokens robots.txt disallows for this URL
    tdm_reservation: str | None = None  # TDMRep value from header or tdmrep.json
    tdm_policy: str | None = None
    tdm_source: str | None = None  # http-header | tdmrep.json
    x_robots_tag: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ai_disallowed"] = list(self.ai_disallowed)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> AccessDecision:
        d = dict(d or {})
        d["ai_disallowed"] = tuple(d.get("ai_disallowed") or ())
        return cls(**d)


@dataclass(frozen=True)
class ItemMeta:
    """Metadata a listing (JSON API item, dataset row) gave for the document it points at."""

    title: str | None = None
    published: str | None = None  # date or datetime as the listing gave it
    native_id: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> ItemMeta | None:
        return cls(**d) if d else None


@dataclass(frozen=True)
class Capture:
    """One stored response (or file) that may become a document.

    The body is not carried: cleaning reads it back through ``raw_ref``, which proves on every run that the
    archive holds what the catalog points at.
    """

    source_id: str
    url: str
    final_url: str
    status: int
    content_type: str
    headers: dict[str, str]
    fetched_at: datetime
    raw_ref: str
    raw_sha256: str
    warc_record_id: str
    redirect_chain: tuple[str, ...] = ()
    discovered_via: str = "seed"
    version: int = 1
    previous_raw_ref: str | None = None
    access: AccessDecision = field(default_factory=AccessDecision)
    item: ItemMeta | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fetched_at"] = self.fetched_at.isoformat()
        d["redirect_chain"] = list(self.redirect_chain)
        d["access"] = self.access.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Capture:
        return cls(
            **{
                **d,
                "fetched_at": datetime.fromisoformat(d["fetched_at"]),
                "redirect_chain": tuple(d.get("redirect_chain", ())),
                "access": AccessDecision.from_json(d.get("access")),
                "item": ItemMeta.from_json(d.get("item")),
            }
        )


@dataclass
class CrawlEvent:
    """Why a URL was fetched, skipped or failed: the crawl log auditors and operators read."""

    url: str
    outcome: (
        str  # fetched | robots | redirect | skipped-* | not-modified | unchanged | retry | http-error | error
    )
    detail: str = ""
    status: int | None = None
    at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
