"""What every connector hands to cleaning: a pointer to stored raw bytes plus the facts of the fetch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


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

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["fetched_at"] = self.fetched_at.isoformat()
        d["redirect_chain"] = list(self.redirect_chain)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Capture:
        return cls(
            **{
                **d,
                "fetched_at": datetime.fromisoformat(d["fetched_at"]),
                "redirect_chain": tuple(d.get("redirect_chain", ())),
            }
        )


@dataclass
class CrawlEvent:
    """Why a URL was fetched, skipped or failed: the crawl log auditors and operators read."""

    url: str
    outcome: (
        str  # fetched | skipped-robots | skipped-pattern | skipped-depth | skipped-limit | http-error | error
    )
    detail: str = ""
    status: int | None = None
    at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
