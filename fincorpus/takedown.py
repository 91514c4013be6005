"""Takedown and erasure requests: which documents they cover, and the append-only, hash-only log.

A request names documents by doc id, URL pattern, source, or the hash of a personal-information value (a PIPL
Art. 47 deletion request gives the value; only its hash is kept). :func:`match_documents` resolves a request over
rows; the catalog side (leaving the next snapshot, excluding from pulls of older tags, ``--purge`` rewriting data
files and WARC records) is the store's job and uses :func:`excluded_doc_ids` on the log.

The log (``takedown.jsonl`` under the corpus home) is append-only and keeps hashes, who, when and why: the selector
(URL pattern, PII value) as a SHA-256, the matched doc ids (already hashes of URLs), the requester, the reason and
the legal basis. Each entry carries the SHA-256 of the previous one, so a removed or edited line breaks the chain
(:meth:`TakedownLog.verify`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from fincorpus.cleaning.pii import find_pii, mask_pii

KINDS = ("doc_id", "url_pattern", "source", "pii_hash")
LEGAL_BASES = {
    "rights-holder": "request of the rights holder (PRC Copyright Law; Regulations on the Protection of the Right to "
    "Network Dissemination of Information, Art. 14)",
    "pipl-art47": "deletion of personal information at the individual's request (PIPL Art. 47)",
    "court-order": "order of a court or a competent authority",
    "operator": "the operator's own decision (e.g. a source withdrawn)",
}
GENESIS = "0" * 64


class TakedownError(ValueError):
    """A takedown request or log cannot be used; the message says what and where."""


class TakedownRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["doc_id", "url_pattern", "source", "pii_hash"]
    value: str
    requester: str
    reason: str
    legal_basis: Literal["rights-holder", "pipl-art47", "court-order", "operator"]
    purge: bool = False
    received_at: datetime | None = None

    @field_validator("value", "requester", "reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @field_validator("value")
    @classmethod
    def _pii_hash_shape(cls, v: str, info: Any) -> str:
        if info.data.get("kind") == "pii_hash" and not re.fullmatch(r"[0-9a-f]{64}", v.lower()):
            raise ValueError(
                "a pii_hash is the 64-hex SHA-256 of the value: compute it with pii_value_hash()"
            )
        return v.lower() if info.data.get("kind") == "pii_hash" else v


def normalise_pii_value(value: str) -> str:
    """One spelling per identifier: NFKC (full-width digits), no spaces/dashes/brackets, upper case (ID 'x')."""
    v = unicodedata.normalize("NFKC", value).strip()
    if "@" in v:
        return v.lower()
    v = re.sub(r"[\s\-()（）+]", "", v).upper()
    return v[2:] if v.startswith("86") and len(v) == 13 else v  # +86 mobile prefix


def pii_value_hash(value: str) -> str:
    """The hash a PIPL Art. 47 request is filed under: SHA-256 of the normalised value, hex."""
    return hashlib.sha256(normalise_pii_value(value).encode("utf-8")).hexdigest()


def pii_hashes_in(text: str) -> set[str]:
    """Hashes of every identifier :func:`fincorpus.cleaning.pii.find_pii` finds in ``text`` (run it on the raw,
    unmasked text: masked text no longer holds the values)."""
    return {pii_value_hash(text[f.start : f.end]) for f in find_pii(text)}


def _url_matches(pattern: str, url: str) -> bool:
    """A glob (``http://a.test/news/*``) or, written as ``re:…``, a regular expression searched in the URL."""
    if pattern.startswith("re:"):
        return re.search(pattern[3:], url) is not None
    return fnmatch.fnmatchcase(url, pattern)


def match_documents(
    request: TakedownRequest,
    rows: Iterable[Mapping[str, Any]],
    raw_text: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> list[str]:
    """The doc ids a request covers, in row order.

    ``pii_hash`` requests compare against the identifiers in each document: its stored ``pii_hashes`` when the row
    has them, else those found in ``raw_text(row)`` (the decoded raw bytes, before masking) and in ``text``.
    """
    out: list[str] = []
    for row in rows:
        if _covers(request, row, raw_text):
            out.append(row["doc_id"])
    return list(dict.fromkeys(out))


def _covers(
    req: TakedownRequest, row: Mapping[str, Any], raw_text: Callable[[Mapping[str, Any]], str | None] | None
) -> bool:
    if req.kind == "doc_id":
        return row.get("doc_id") == req.value
    if req.kind == "source":
        return row.get("source_id") == req.value
    if req.kind == "url_pattern":
        return any(_url_matches(req.value, u) for u in (row.get("url"), row.get("canonical_url")) if u)
    stored = row.get("pii_hashes")
    if stored is not None:
        return req.value in stored
    texts = [row.get("text") or ""]
    if raw_text is not None:
        texts.append(raw_text(row) or "")
    return any(req.value in pii_hashes_in(t) for t in texts if t)


# -- the log -----------------------------------------------------------------------------------------------------------


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LogEntry:
    seq: int
    at: str
    request_id: str
    kind: str
    selector_sha256: (
        str  # SHA-256 of the selector (for pii_hash: of the hash, so the value is two hashes away)
    )
    requester: str
    reason: str
    legal_basis: str
    purge: bool
    doc_ids: tuple[str, ...]
    action: str  # takedown | purge-done
    prev_sha256: str
    entry_sha256: str
    # purge-done: what the purge changed, e.g. {"snapshots": {"v1": [old id, new id]}, "warc_records": 2};
    # absent (empty) in entries that carry nothing, so their hash is what it was before the field existed
    replaced: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["doc_ids"] = list(self.doc_ids)
        if not d["replaced"]:
            del d["replaced"]
        return d


def _entry_hash(d: Mapping[str, Any]) -> str:
    body = {k: v for k, v in d.items() if k != "entry_sha256"}
    return _sha(json.dumps(body, ensure_ascii=False, sort_keys=True))


class TakedownLog:
    """``<home>/takedown.jsonl``: one JSON line per event, appended with O_APPEND and fsync, chained by hashes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def entries(self) -> Iterator[LogEntry]:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    d["doc_ids"] = tuple(d["doc_ids"])
                    yield LogEntry(**d)
                except (json.JSONDecodeError, TypeError, KeyError) as exc:
                    raise TakedownError(
                        f"{self.path}, line {i}: not a takedown log entry ({exc}); restore the file from backup"
                    ) from exc

    def verify(self) -> None:
        """Raise TakedownError naming the first line whose chain or content hash does not hold."""
        prev = GENESIS
        for n, e in enumerate(self.entries(), 1):
            d = e.to_json()
            if e.prev_sha256 != prev or _entry_hash(d) != e.entry_sha256 or e.seq != n:
                raise TakedownError(
                    f"{self.path}: entry {n} (request {e.request_id}) was altered, reordered or follows a removed one"
                )
            prev = e.entry_sha256

    def _last(self) -> tuple[int, str]:
        seq, prev = 0, GENESIS
        for e in self.entries():
            seq, prev = e.seq, e.entry_sha256
        return seq, prev

    def append(
        self,
        request: TakedownRequest,
        doc_ids: Iterable[str],
        *,
        action: str = "takedown",
        request_id: str | None = None,
        at: datetime | None = None,
        replaced: Mapping[str, Any] | None = None,
    ) -> LogEntry:
        """Record a request (or, with ``action='purge-done'``, the completion of its purge) and return the entry.

        ``replaced`` holds hashes and ids only (snapshot ids old -> new, counts): never a selector or a text.
        """
        d: dict[str, Any] = {
            "at": (at or datetime.now(UTC)).isoformat(),
            "request_id": request_id or uuid.uuid4().hex,
            "kind": request.kind,
            "selector_sha256": _sha(request.value),
            # identifiers in the free text are masked: the log keeps who and why, never the value itself
            "requester": mask_pii(request.requester),
            "reason": mask_pii(request.reason),
            "legal_basis": request.legal_basis,
            "purge": request.purge,
            "doc_ids": sorted(set(doc_ids)),
            "action": action,
        }
        return self._write(d, replaced)

    def append_done(self, of: LogEntry, *, replaced: Mapping[str, Any] | None = None) -> LogEntry:
        """Record that the purge of an earlier request is complete (the request's fields, copied from its entry:
        the original selector value is not known any more, only its hash)."""
        d = {
            k: v
            for k, v in of.to_json().items()
            if k not in ("seq", "at", "prev_sha256", "entry_sha256", "replaced")
        }
        d.update(at=datetime.now(UTC).isoformat(), action="purge-done")
        return self._write(d, replaced)

    def _write(self, body: dict[str, Any], replaced: Mapping[str, Any] | None) -> LogEntry:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        seq, prev = self._last()
        d = {"seq": seq + 1, **body, "prev_sha256": prev}
        if replaced:
            d["replaced"] = dict(replaced)
        d["entry_sha256"] = _entry_hash(d)
        line = json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        d["doc_ids"] = tuple(d["doc_ids"])
        return LogEntry(**d)


def excluded_doc_ids(log: TakedownLog) -> set[str]:
    """Every doc id a takedown covers: leaves the next snapshot, and pulls of older tags leave it out by default."""
    return {doc_id for e in log.entries() if e.action == "takedown" for doc_id in e.doc_ids}


def pending_purges(log: TakedownLog) -> dict[str, tuple[str, ...]]:
    """request_id -> doc ids of purge requests whose bytes are not yet confirmed gone (no purge-done entry)."""
    wanted: dict[str, tuple[str, ...]] = {}
    done: set[str] = set()
    for e in log.entries():
        if e.action == "takedown" and e.purge:
            wanted[e.request_id] = e.doc_ids
        elif e.action == "purge-done":
            done.add(e.request_id)
    return {k: v for k, v in wanted.items() if k not in done}
