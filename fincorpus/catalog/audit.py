"""Audit a snapshot: every document's provenance re-checked from what the home stores, in parallel.

For each document of a tag (kept ones; removed records too on request) five checks, each with an outcome
``ok``, ``failed``, ``changed`` (the inputs that made the record are no longer the ones available, so it cannot be
reproduced: a different configuration, extractor version or licence rules), ``n/a`` (does not apply to this
record) or ``not-run`` (a check it depends on failed):

- ``raw``: ``raw_ref`` opens a WARC record (digests checked by the reader), its body hashes to ``raw_sha256`` and
  its record id is ``warc_record_id``.
- ``reprocess``: decode, extraction and cleaning re-run from those bytes with what produced the record (the
  original Capture from the crawl state, the sources file its run used, whose ``config_sha256`` must be the
  record's, the run's site-template map, the installed extractor) give the record's ``text_sha256``.
- ``text``: the stored text itself hashes to ``text_sha256`` (a text edited in the table after processing).
- ``licence``: the decision inputs are present (class, legal basis, rule, prior, rules version), ``usage`` follows
  from them and the opt-outs as of the snapshot's commit time, and the re-run decides the same class by the same
  rule.
- ``optout``: the opt-out flags and the access decision are present, ``optout_reason`` is set exactly when a flag
  is, and the re-run reads the same signals.

A document is *verified* when no check failed or changed. Memory is bounded by a batch of the catalog scan and
the failures listed (at most ``max_listed``); the work is spread over a process pool (``FINCORPUS_WORKERS`` or
the CPU count), one chunk of documents per task. Nothing in the home is written except the report under
``HOME/audits/`` (a new file every audit).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path
from time import monotonic
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import In
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import OperationalError

from fincorpus.catalog.store import CorpusCatalog
from fincorpus.cleaning import sitetemplate
from fincorpus.licensing import LicenceDecision, default_rules, derive_usage, optouts_of_row
from fincorpus.pipelines.ingest import load_sources_for, process_capture
from fincorpus.pipelines.templates import run_templates, templates_store
from fincorpus.sources.archive import RawRefError, read_raw
from fincorpus.sources.base import Capture
from fincorpus.sources.frontier import catalog_engine
from fincorpus.sources.registry import SourcesError, SourcesFile

CHECKS = ("raw", "reprocess", "text", "licence", "optout")
OK, FAILED, CHANGED, NA, NOT_RUN = "ok", "failed", "changed", "n/a", "not-run"
OUTCOMES = (OK, FAILED, CHANGED, NA, NOT_RUN)
COLUMNS = (
    "doc_id",
    "url",
    "canonical_url",
    "source_id",
    "status",
    "removed_stage",
    "raw_ref",
    "raw_sha256",
    "warc_record_id",
    "text",
    "text_sha256",
    "run_id",
    "config_sha256",
    "extractor",
    "extractor_version",
    "site_template",
    "licence_class",
    "legal_basis",
    "licence_decision",
    "usage",
    "tdm_reserved",
    "noai",
    "ai_reserved",
    "optout_reason",
    "access",
    "steps",
    "redirect_chain",
)
# Documents per task: small enough to spread a demo snapshot over the workers, big enough to batch the SQL.
CHUNK = 32
MAX_LISTED = 10_000
_PACKAGES = ("fincorpus", "trafilatura", "pypdfium2", "opencc", "jieba")


def workers_default() -> int:
    return max(1, int(os.environ.get("FINCORPUS_WORKERS") or os.cpu_count() or 1))


# -- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One check of one document that did not hold (outcome failed or changed), with a one-line reason."""

    doc_id: str
    url: str
    source_id: str
    status: str
    check: str
    outcome: str
    reason: str


@dataclass
class Tally:
    """Counts and listed failures of some documents; tallies of chunks add up to the audit's."""

    documents: int = 0
    verified: int = 0
    by_check: dict[str, Counter[str]] = field(default_factory=lambda: {c: Counter() for c in CHECKS})
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    not_listed: int = 0

    def add_document(self, row: dict[str, Any], results: dict[str, tuple[str, str]], max_listed: int) -> None:
        self.documents += 1
        bad = [(c, o, r) for c, (o, r) in results.items() if o in (FAILED, CHANGED)]
        src = self.by_source.setdefault(row["source_id"], Counter())
        src["documents"] += 1
        if not bad:
            self.verified += 1
            src["verified"] += 1
        else:
            src["failed" if any(o == FAILED for _, o, _ in bad) else "changed"] += 1
        for check, (outcome, _) in results.items():
            self.by_check[check][outcome] += 1
        for check, outcome, reason in bad:
            if len(self.failures) < max_listed:
                self.failures.append(
                    Failure(
                        row["doc_id"],
                        row.get("canonical_url") or row["url"],
                        row["source_id"],
                        row["status"],
                        check,
                        outcome,
                        reason,
                    )
                )
            else:
                self.not_listed += 1

    def merge(self, other: Tally, max_listed: int) -> None:
        self.documents += other.documents
        self.verified += other.verified
        for c, counts in other.by_check.items():
            self.by_check[c].update(counts)
        for s, counts in other.by_source.items():
            self.by_source.setdefault(s, Counter()).update(counts)
        room = max(0, max_listed - len(self.failures))
        self.failures += other.failures[:room]
        self.not_listed += other.not_listed + max(0, len(other.failures) - room)


@dataclass
class AuditReport:
    tag: str
    snapshot_id: int
    committed_at: datetime
    started_at: datetime
    seconds: float
    workers: int
    include_removed: bool
    source_ids: tuple[str, ...]
    tally: Tally
    environment: dict[str, str]

    @property
    def documents(self) -> int:
        return self.tally.documents

    @property
    def verified(self) -> int:
        return self.tally.verified

    @property
    def percent(self) -> float:
        return 100.0 * self.verified / self.documents if self.documents else 100.0

    @property
    def ok(self) -> bool:
        return self.verified == self.documents

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        t = self.tally
        return {
            "format": "fincorpus.audit/1",
            "tag": self.tag,
            "snapshot_id": str(self.snapshot_id),  # Iceberg ids exceed 2^53 (JavaScript readers round them)
            "committed_at": self.committed_at.isoformat(),
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "docs_per_second": round(self.docs_per_second, 2),
            "workers": self.workers,
            "include_removed": self.include_removed,
            "source_ids": list(self.source_ids),
            "documents": t.documents,
            "verified": t.verified,
            "percent_verified": round(self.percent, 3),
            "by_check": {c: {o: t.by_check[c].get(o, 0) for o in OUTCOMES} for c in CHECKS},
            "by_source": {s: dict(sorted(c.items())) for s, c in sorted(t.by_source.items())},
            "environment": self.environment,
            "failures": [asdict(f) for f in t.failures],
            "failures_not_listed": t.not_listed,
        }


def environment() -> dict[str, str]:
    """Versions the re-run used: what a "changed" outcome is measured against."""
    env = {"python": platform.python_version(), "licence_rules": default_rules().version}
    for pkg in _PACKAGES:
        try:
            env[pkg] = version(pkg)
        except PackageNotFoundError:
            env[pkg] = "not installed"
    return env


# -- what produced a record: its run, its capture ---------------------------------------------------------------


@dataclass(frozen=True)
class RunInputs:
    """What a run recorded about how it made its records (``staging/<run>/run.json`` and template maps)."""

    run_id: str
    pass_ids: tuple[str, ...]
    sources: SourcesFile | None
    sources_problem: str | None  # why the run's sources file cannot be used (then reprocess is "changed")
    templates: dict[str, str]
    problem: str | None = None  # the run itself is not on record (then reprocess fails)


def load_run(home: Path, run_id: str, sources_override: Path | None = None) -> RunInputs:
    from fincorpus.pipelines.ingest import staging

    store = staging(home)
    if not store.is_file(f"{run_id}/run.json"):
        return RunInputs(
            run_id, (), None, None, {}, f"run {run_id} is not on record (no staging/{run_id}/run.json)"
        )
    meta = store.read_json(f"{run_id}/run.json")
    path = str(sources_override) if sources_override else meta.get("sources_path")
    sources, problem = None, None
    if not path:
        problem = f"run {run_id} records no sources file (records staged by a tool); pass --sources"
    elif not Path(path).is_file():
        problem = f"sources file {path} of run {run_id} is missing; pass --sources with the file the run used"
    else:
        try:
            sources = load_sources_for(path)
        except SourcesError as exc:
            problem = f"sources file {path} no longer loads: {' '.join(str(exc).split())[:200]}"
    return RunInputs(run_id, tuple(meta.get("pass_ids") or ()), sources, problem, run_templates(home, run_id))


class CaptureIndex:
    """The Capture each record was made from, found in the crawl state by (pass, URL) and checked by raw_ref.

    ``crawl_capture`` holds every pass's captures (primary key pass + URL); ``crawl_page`` only the latest
    version of a URL, which is what a reprocess run read. Lookups are batched per chunk of documents.
    """

    def __init__(self, home: Path) -> None:
        self.engine: Engine = catalog_engine(home)
        self._source_passes: dict[str, tuple[str, ...]] = {}

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        q = text(sql)
        expanding = [k for k, v in params.items() if isinstance(v, list | tuple)]
        if expanding:
            q = q.bindparams(*(bindparam(k, expanding=True) for k in expanding))
        try:
            with self.engine.connect() as c:
                return list(c.execute(q, {k: list(v) if k in expanding else v for k, v in params.items()}))
        except OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a home without crawl state: every capture is "not found"
            raise

    def passes_of(self, source_id: str) -> tuple[str, ...]:
        if source_id not in self._source_passes:
            rows = self._rows(
                "SELECT pass_id FROM crawl_pass WHERE source_id=:s ORDER BY started_at DESC", s=source_id
            )
            self._source_passes[source_id] = tuple(r[0] for r in rows)
        return self._source_passes[source_id]

    def find(self, rows: Sequence[dict[str, Any]], runs: dict[str, RunInputs]) -> dict[int, Capture]:
        """Row position -> its Capture, for the rows whose capture is in the crawl state.

        The frontier keys a redirected fetch by the URL it finally requested, the record by the URL first
        requested, so every URL of the record is looked up and the capture is matched by ``raw_ref``.
        """
        found: dict[int, Capture] = {}
        wanted = {i: r["raw_ref"] for i, r in enumerate(rows)}

        def urls_of(idx: Iterable[int]) -> list[str]:
            out: set[str] = set()
            for i in idx:
                r = rows[i]
                out.update(
                    u for u in (r["url"], r.get("canonical_url"), *(r.get("redirect_chain") or ())) if u
                )
            return sorted(out)

        def take(candidates: list[Any]) -> None:
            by_ref: dict[str, Capture] = {}
            for (blob,) in candidates:
                cap = Capture.from_json(json.loads(blob))
                by_ref.setdefault(cap.raw_ref, cap)
            for i, ref in list(wanted.items()):
                if ref in by_ref:
                    found[i] = by_ref[ref]
                    del wanted[i]

        by_run: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            by_run.setdefault(r["run_id"], []).append(i)
        for run_id, idx in by_run.items():
            passes = runs[run_id].pass_ids
            if passes:
                take(self._captures(passes, urls_of(idx)))
        by_source: dict[str, list[int]] = {}
        for i in wanted:
            by_source.setdefault(rows[i]["source_id"], []).append(i)
        for source_id, idx in by_source.items():  # a reprocess run read crawl_page; or an earlier pass did
            take(
                self._rows(
                    "SELECT capture FROM crawl_page WHERE source_id=:s AND url IN :u",
                    s=source_id,
                    u=urls_of(idx),
                )
            )
            left = [i for i in idx if i in wanted]
            passes = self.passes_of(source_id)
            if left and passes:
                take(self._captures(passes, urls_of(left)))
        return found

    def _captures(self, passes: Sequence[str], urls: Sequence[str]) -> list[Any]:
        return self._rows(
            "SELECT capture FROM crawl_capture WHERE pass_id IN :p AND url IN :u",
            p=list(passes),
            u=list(urls),
        )


# -- the checks -------------------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 120) -> str:
    s = " ".join(str(value).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def check_raw(home: Path, row: dict[str, Any]) -> tuple[str, str]:
    try:
        raw = read_raw(home, row["raw_ref"])
    except RawRefError as exc:
        return FAILED, _short(exc, 300)
    sha = hashlib.sha256(raw.body).hexdigest()
    if sha != row["raw_sha256"]:
        return (
            FAILED,
            f"{row['raw_ref']}: stored bytes hash to {sha}, the record says raw_sha256 {row['raw_sha256']}",
        )
    if row.get("warc_record_id") and raw.record_id != row["warc_record_id"]:
        return (
            FAILED,
            f"{row['raw_ref']} holds WARC record {raw.record_id}, the record says {row['warc_record_id']}",
        )
    return OK, ""


def check_text(row: dict[str, Any]) -> tuple[str, str]:
    if row.get("text") is None and row.get("text_sha256") is None:
        return NA, ""  # removed before extraction succeeded: no text to check
    if row.get("text") is None or row.get("text_sha256") is None:
        return FAILED, "text and text_sha256 must both be set or both be null"
    sha = hashlib.sha256(row["text"].encode("utf-8")).hexdigest()
    if sha != row["text_sha256"]:
        return (
            FAILED,
            f"stored text hashes to {sha}, text_sha256 is {row['text_sha256']}: the text was edited",
        )
    return OK, ""


def _first_step_difference(stored: Sequence[dict[str, Any]], rerun: Sequence[dict[str, Any]]) -> str:
    for i, (a, b) in enumerate(zip(stored, rerun, strict=False), 1):
        if (a["step"], a["detail"]) != (b["step"], b["detail"]):
            return f"; first different step {i} {a['step']!r}: stored {_short(a['detail'], 80)!r}, re-run {_short(b['detail'], 80)!r}"
    return ""


def _template_problem(home: Path, row: dict[str, Any], run: RunInputs) -> str | None:
    """The record's site template must be the one its run's map names for the group, stored intact."""
    value = row.get("site_template")
    if not value:
        return None
    group, _, sha = value.rpartition("@")
    if run.templates.get(group) != sha:
        return f"site_template {value} is not the template the run's map names for {group!r} ({run.templates.get(group)})"
    store = templates_store(home)
    name = f"{sha}.json"
    if not store.is_file(name):
        return f"site template {sha} is missing from {store.location('')}"
    try:
        stored = sitetemplate.SiteTemplate.from_json(store.read_json(name))
    except (ValueError, KeyError, TypeError) as exc:
        return f"site template {sha} does not load: {_short(exc)}"
    if stored.sha256 != sha:
        return f"site template file {name} hashes to {stored.sha256}: it was edited"
    return None


def reprocess(
    home: Path, row: dict[str, Any], run: RunInputs, capture: Capture | None
) -> tuple[tuple[str, str], dict[str, Any] | None]:
    """Re-run processing for one record: (outcome, reason) and the re-run record (None if it did not run)."""
    if run.problem:
        return (FAILED, run.problem), None
    if capture is None:
        return (
            FAILED,
            f"no capture with raw_ref {row['raw_ref']} for URL {row['url']} in the crawl state "
            f"(passes of run {row['run_id']}, the page table and every pass of source {row['source_id']})",
        ), None
    if capture.raw_sha256 != row["raw_sha256"]:
        return (
            FAILED,
            f"the crawl state's capture says raw_sha256 {capture.raw_sha256}, the record {row['raw_sha256']}",
        ), None
    if run.sources is None:
        return (CHANGED, f"configuration changed: {run.sources_problem}"), None
    try:
        source = run.sources.get(row["source_id"])
    except (KeyError, SourcesError, ValueError):
        return (
            CHANGED,
            f"configuration changed: source {row['source_id']!r} is no longer in the run's sources file",
        ), None
    now = run.sources.config_sha256(source)
    if now != row["config_sha256"]:
        return (
            CHANGED,
            f"configuration changed: source {source.id!r} of the sources file now hashes to {now}, the record "
            f"was made with {row['config_sha256']}",
        ), None
    problem = _template_problem(home, row, run)
    if problem:
        return (FAILED, problem), None
    try:
        rerun = process_capture(capture, run.sources, home, row["run_id"], run.templates)
    except Exception as exc:  # one document's failure is that document's finding
        return (FAILED, f"re-run raised {type(exc).__name__}: {_short(exc, 200)}"), None
    if rerun.get("text_sha256") == row.get("text_sha256"):
        if rerun["doc_id"] != row["doc_id"]:
            return (FAILED, f"re-run gives doc_id {rerun['doc_id']}, the record has {row['doc_id']}"), rerun
        return (OK, ""), rerun
    was = (row.get("extractor"), row.get("extractor_version"))
    now_x = (rerun.get("extractor"), rerun.get("extractor_version"))
    if was != now_x and None not in was:
        return (
            CHANGED,
            f"extractor version changed: recorded {was[0]} {was[1]}, installed {now_x[0]} {now_x[1]} "
            "(the re-run text differs)",
        ), rerun
    why = (
        f" (re-run removed it at {rerun['removed_stage']}: {_short(rerun['removed_reason'], 80)})"
        if rerun.get("removed_stage") in ("extract", "error")
        else ""
    )
    return (
        FAILED,
        f"re-run text_sha256 {rerun.get('text_sha256')} != recorded {row.get('text_sha256')}{why}"
        + _first_step_difference(row.get("steps") or [], rerun["steps"]),
    ), rerun


def check_licence(row: dict[str, Any], at: datetime, rerun: dict[str, Any] | None) -> tuple[str, str]:
    if row["status"] != "kept":
        usage = list(row.get("usage") or [])
        return (
            (OK, "")
            if not usage
            else (FAILED, f"removed record has usage {usage}; removed records clear nothing")
        )
    d = row.get("licence_decision")
    missing = [k for k in ("licence_class", "legal_basis") if not row.get(k)]
    if not d:
        missing.append("licence_decision")
    else:
        missing += [f"licence_decision.{k}" for k in ("rule", "prior", "rules_version") if not d.get(k)]
    if missing:
        return FAILED, f"licence decision inputs missing: {', '.join(missing)}"
    expected = derive_usage(LicenceDecision.from_row(row), optouts_of_row(row), at)
    stored = list(row.get("usage") or [])
    if expected != stored:
        return (
            FAILED,
            f"usage {stored} does not follow from {row['licence_class']} by rule {d['rule']} and the opt-outs "
            f"(expected {expected} at the commit time {at.isoformat()})",
        )
    if rerun is not None:
        r = rerun.get("licence_decision") or {}
        if (rerun.get("licence_class"), r.get("rule")) != (row["licence_class"], d["rule"]):
            outcome = CHANGED if r.get("rules_version") != d["rules_version"] else FAILED
            note = (
                f"licence rules changed ({d['rules_version']} -> {r.get('rules_version')}): "
                if outcome == CHANGED
                else ""
            )
            return (
                outcome,
                f"{note}re-run decides {rerun.get('licence_class')} by rule {r.get('rule')}, the record "
                f"{row['licence_class']} by rule {d['rule']}",
            )
    return OK, ""


_FLAGS = ("tdm_reserved", "noai", "ai_reserved")


def check_optout(row: dict[str, Any], rerun: dict[str, Any] | None) -> tuple[str, str]:
    if row.get("text") is None and all(row.get(f) is None for f in _FLAGS):
        return NA, ""  # removed before opt-out signals were read
    missing = [f for f in (*_FLAGS, "access") if row.get(f) is None]
    if missing:
        return FAILED, f"opt-out signals missing: {', '.join(missing)}"
    flagged = [f for f in _FLAGS if row[f]]
    if bool(flagged) != bool(row.get("optout_reason")):
        return (
            FAILED,
            f"optout_reason {row.get('optout_reason')!r} inconsistent with the flags "
            f"({', '.join(flagged) or 'none set'})",
        )
    if rerun is not None:
        fields = (*_FLAGS, "optout_reason")
        diff = [f for f in fields if rerun.get(f) != row.get(f)]
        if diff:
            return FAILED, "re-run reads other opt-out signals: " + ", ".join(
                f"{f} {row.get(f)!r} -> {rerun.get(f)!r}" for f in diff
            )
    return OK, ""


def audit_rows(
    home: Path,
    rows: Sequence[dict[str, Any]],
    at: datetime,
    runs: dict[str, RunInputs],
    index: CaptureIndex,
    sources_override: Path | None = None,
    max_listed: int = MAX_LISTED,
) -> Tally:
    """Every check for some records (``runs`` is a cache of run inputs, filled as runs are met)."""
    for r in rows:
        if r["run_id"] not in runs:
            runs[r["run_id"]] = load_run(home, r["run_id"], sources_override)
    captures = index.find(rows, runs)
    tally = Tally()
    for i, row in enumerate(rows):
        results: dict[str, tuple[str, str]] = {"raw": _guarded(check_raw, home, row)}
        rerun = None
        if results["raw"][0] == OK:
            try:
                results["reprocess"], rerun = reprocess(home, row, runs[row["run_id"]], captures.get(i))
            except Exception as exc:
                results["reprocess"] = (FAILED, f"audit error {type(exc).__name__}: {_short(exc, 200)}")
        else:
            results["reprocess"] = (NOT_RUN, "")
        results["text"] = _guarded(check_text, row)
        results["licence"] = _guarded(check_licence, row, at, rerun)
        results["optout"] = _guarded(check_optout, row, rerun)
        tally.add_document(row, results, max_listed)
    return tally


def _guarded(check: Callable[..., tuple[str, str]], *args: Any) -> tuple[str, str]:
    """A record the check cannot even read (a value no code path writes) fails that check; the audit goes on."""
    try:
        return check(*args)
    except Exception as exc:
        return FAILED, f"audit error {type(exc).__name__}: {_short(exc, 200)}"


# -- worker processes -------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_state(home: str, sources_override: str | None) -> tuple[dict[str, RunInputs], CaptureIndex]:
    key = (home, sources_override)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, runs={}, index=CaptureIndex(Path(home)))
    return _WORKER["runs"], _WORKER["index"]


def _audit_chunk(
    home: str, at: datetime, batch: pa.RecordBatch, sources_override: str | None, max_listed: int
) -> Tally:
    runs, index = _worker_state(home, sources_override)
    override = Path(sources_override) if sources_override else None
    return audit_rows(Path(home), batch.to_pylist(), at, runs, index, override, max_listed)


def _chunks(
    catalog: CorpusCatalog, tag: str, include_removed: bool, source_ids: Sequence[str], size: int
) -> Iterator[pa.RecordBatch]:
    status = None if include_removed else "kept"
    where = In("source_id", list(source_ids)) if source_ids else None
    for batch in catalog.batches(tag, status=status, row_filter=where, columns=COLUMNS):
        for start in range(0, batch.num_rows, size):
            yield batch.slice(start, size)


def audit_snapshot(
    home: Path,
    tag: str,
    *,
    include_removed: bool = False,
    workers: int | None = None,
    sources: Path | None = None,
    source_ids: Sequence[str] = (),
    progress: Callable[[int, int | None], None] | None = None,
    chunk_size: int = CHUNK,
    max_listed: int = MAX_LISTED,
) -> AuditReport:
    """Audit every kept document of ``tag`` (and its removed records with ``include_removed``).

    ``sources`` replaces the sources file each run recorded (the records' ``config_sha256`` still has to match);
    ``source_ids`` audits only those sources; ``progress(done, total)`` is called after each chunk (total None
    when a source filter makes it unknown in advance). ``workers`` 1 runs in this process.
    """
    started, t0 = datetime.now(UTC), monotonic()
    catalog = CorpusCatalog(home, create=False)
    info = catalog.tag(tag)  # an unknown tag is a one-line CatalogError before any work
    at = info.committed_at
    total = None if source_ids else info.documents + (info.removed if include_removed else 0)
    n = workers or workers_default()
    src = str(sources.resolve()) if sources else None
    tally, done = Tally(), 0

    def add(part: Tally) -> None:
        nonlocal done
        tally.merge(part, max_listed)
        done += part.documents
        if progress:
            progress(done, total)

    chunks = _chunks(catalog, tag, include_removed, source_ids, chunk_size)
    if n == 1:
        _WORKER.clear()  # run inputs are read afresh by every audit
        for batch in chunks:
            add(_audit_chunk(str(home), at, batch, src, max_listed))
    else:
        # spawn, not fork: the parent holds SQLite connections and (in the CLI) a progress thread
        pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"))
        try:
            pending: set[Future[Tally]] = set()
            for batch in chunks:
                pending.add(pool.submit(_audit_chunk, str(home), at, batch, src, max_listed))
                if len(pending) >= 3 * n:  # bounded: a few chunks per worker in flight
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        add(f.result())
            for f in pending:
                add(f.result())
        finally:  # Ctrl-C or a failed worker: queued chunks are dropped, not waited for
            pool.shutdown(wait=True, cancel_futures=True)
    return AuditReport(
        tag,
        info.snapshot_id,
        at,
        started,
        monotonic() - t0,
        n,
        include_removed,
        tuple(source_ids),
        tally,
        environment(),
    )


def write_report(home: Path, report: AuditReport) -> Path:
    """``HOME/audits/audit-<tag>-<UTC time>.json``; an existing file is never overwritten (a suffix is added)."""
    folder = home / "audits"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.strftime("%Y%m%dT%H%M%SZ")
    data = json.dumps(report.to_json(), ensure_ascii=False, indent=2).encode("utf-8")
    for k in range(1, 1000):
        path = folder / f"audit-{report.tag}-{stamp}{'' if k == 1 else f'-{k}'}.json"
        try:
            with open(path, "xb") as fh:  # exclusive create: an earlier audit file stays as it was
                fh.write(data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: 999 audit files for {report.tag} at {stamp}; remove some or retry")
