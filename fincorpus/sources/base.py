"""What every connector hands to cleaning: a pointer to stored raw bytes plus the facts of the fetch."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
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
        # Field by field: dataclasses.asdict deep-copies and cost ~100 us per capture, more than a dataset row.
        return {
            "robots_sha256": self.robots_sha256,
            "robots_group": self.robots_group,
            "robots_rule": self.robots_rule,
            "ai_disallowed": list(self.ai_disallowed),
            "tdm_reservation": self.tdm_reservation,
            "tdm_policy": self.tdm_policy,
            "tdm_source": self.tdm_source,
            "x_robots_tag": self.x_robots_tag,
        }

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
        item = self.item
        return {
            "source_id": self.source_id,
            "url": self.url,
            "final_url": self.final_url,
            "status": self.status,
            "content_type": self.content_type,
            "headers": dict(self.headers),
            "fetched_at": self.fetched_at.isoformat(),
            "raw_ref": self.raw_ref,
            "raw_sha256": self.raw_sha256,
            "warc_record_id": self.warc_record_id,
            "redirect_chain": list(self.redirect_chain),
            "discovered_via": self.discovered_via,
            "version": self.version,
            "previous_raw_ref": self.previous_raw_ref,
            "access": self.access.to_json(),
            "item": None
            if item is None
            else {"title": item.title, "published": item.published, "native_id": item.native_id},
        }

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


@dataclass
class CrawlReport:
    """What one run of a reader did, beyond the crawl log: the facts the ingest summary and exit code need.

    Every reader (web, files, warc, dataset) fills one and returns it from ``run()`` (also kept as
    ``reader.report``).
    """

    source_id: str
    pass_id: str
    stored: int = 0  # new or changed documents committed by this run (what max_pages counts)
    unchanged: int = 0  # 304s and same-hash bodies/rows/files: they do not count against max_pages
    unchanged_files: int = 0  # input files skipped whole as unchanged
    unchanged_file_records: int = 0  # their records (also in ``unchanged``; no per-record event is logged)
    limit_hit: str | None = (
        None  # set when max_pages stopped the pass: where, and that the next ingest goes on
    )
    stopped: bool = False  # a stop was requested: the pass is left open and resumes on the next run
    requests: int = 0  # HTTP requests sent (web)
    responses: int = 0  # HTTP responses received, any status (web)
    unreachable_hosts: list[str] = field(default_factory=list)  # hosts whose every connection failed (web)
    refused: int = 0  # URLs refused by the network guard (loopback, private, link-local addresses)
    cut: list[str] = field(default_factory=list)  # inputs that were bounded: what was cut and how much

    @property
    def unreachable(self) -> bool:
        """True when the source could not be reached at all: requests were sent and none was answered."""
        return self.requests > 0 and self.responses == 0

    def note_cut(self, what: str, keep: int = 20) -> None:
        """Record a truncation; only the first ``keep`` are kept here (every one is in the crawl log)."""
        if len(self.cut) < keep:
            self.cut.append(what)
        elif len(self.cut) == keep:
            self.cut.append("... more in the crawl log")


class CrawlStopped(Exception):
    """A stop was requested (Ctrl-C, SIGTERM): state is committed, the pass stays open and resumes next time."""

    def __init__(self, report: CrawlReport) -> None:
        self.report = report
        super().__init__(
            f"crawl of source {report.source_id!r} stopped on request; everything fetched so far is saved "
            f"(pass {report.pass_id}); run the same command again to resume"
        )


# Set by the command line's signal handler (or a test) to stop every reader at its next URL, row or file.
STOP = threading.Event()


def request_stop() -> None:
    STOP.set()


def clear_stop() -> None:
    STOP.clear()
