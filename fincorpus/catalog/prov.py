"""W3C PROV export (PROV-JSON and PROV-O) for one document and for a snapshot, built with the ``prov`` package.

One document: entities for the raw capture (its bytes' SHA-256 and WARC record), the extracted text and the
final text, and the snapshot; activities fetch, extract, clean, dedup, licence and publish, each carrying the
document's recorded steps; agents for the crawler and the extractor (with versions), the configuration that
drove them (its hash, as the plan), and the operator. Times: fetch ends at ``fetched_at``; the later activities
of the ingest run start at the run's start, read from the run id (``fc:timeSource`` says so) unless the caller
passes the run times; publish is the catalog commit time or the manifest's creation time when given.

A snapshot: the snapshot entity and its data files (with hashes), one ingest activity per run (times from the
documents' fetch times), the configurations and extractor versions seen, the publish and pull activities.
It is built from :class:`~fincorpus.catalog.stats.SnapshotStats`, so its size grows with runs, not documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from prov.model import PROV, PROV_TYPE, Namespace, ProvDocument

from fincorpus.catalog.stats import SnapshotStats, data_files

FC_NS = "https://github.com/fincorpus/fincorpus/ns/prov#"
FC = Namespace("fc", FC_NS)
ID_NS = "urn:fincorpus:"
PROV_JSON, PROV_TTL = "prov.json", "prov.ttl"
KINDS = ("fetch", "extract", "clean", "dedup", "licence")


def fincorpus_version() -> str:
    try:
        return version("fincorpus")
    except PackageNotFoundError:
        return "unknown"


def step_kind(step: str) -> str:
    """Which PROV activity a recorded step belongs to."""
    name = step.split(":", 1)[0]
    if name == "fetch":
        return "fetch"
    if name in ("decode", "extract"):
        return "extract"
    if name.startswith("dedup"):
        return "dedup"
    if name in ("licence", "optout"):
        return "licence"
    return "clean"  # normalize, boilerplate, quality, domain, pii, opencc ...


def run_started(run_id: str | None) -> datetime | None:
    """The start time fincorpus writes at the head of a run id (20261201T094802Z-...), if it is there."""
    m = re.match(r"(\d{8}T\d{6}Z)", run_id or "")
    return datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) if m else None


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-") or "x"


def _new_doc() -> ProvDocument:
    doc = ProvDocument()
    doc.add_namespace("fc", FC_NS)
    doc.add_namespace("fcid", ID_NS)
    return doc


def _agents(
    doc: ProvDocument, *, extractor: str | None, extractor_version: str | None, operator: str | None
) -> dict:
    crawler = doc.agent(
        f"fcid:software-fincorpus-{_slug(fincorpus_version())}",
        {PROV_TYPE: PROV["SoftwareAgent"], "fc:name": "fincorpus", "fc:version": fincorpus_version()},
    )
    out = {"crawler": crawler, "extractor": None, "operator": None}
    if extractor:
        out["extractor"] = doc.agent(
            f"fcid:software-{_slug(extractor)}-{_slug(extractor_version or 'unknown')}",
            {
                PROV_TYPE: PROV["SoftwareAgent"],
                "fc:name": extractor,
                "fc:version": extractor_version or "unknown",
            },
        )
        doc.actedOnBehalfOf(out["extractor"], crawler)
    if operator:
        out["operator"] = doc.agent(
            f"fcid:operator-{_slug(operator)}", {PROV_TYPE: PROV["Organization"], "fc:name": operator}
        )
        doc.actedOnBehalfOf(crawler, out["operator"])
    return out


def document_prov(
    row: Mapping[str, Any],
    *,
    tag: str | None = None,
    snapshot_id: int | str | None = None,
    published_at: datetime | None = None,
    operator: str | None = None,
    run_times: Mapping[str, tuple[datetime | None, datetime | None]] | None = None,
) -> ProvDocument:
    """PROV of one document row (any dict with the document schema's fields)."""
    doc = _new_doc()
    did = row["doc_id"]
    agents = _agents(
        doc, extractor=row.get("extractor"), extractor_version=row.get("extractor_version"), operator=operator
    )
    config = doc.entity(
        f"fcid:config-{row['config_sha256']}",
        {
            PROV_TYPE: PROV["Plan"],
            "fc:sha256": row["config_sha256"],
            "fc:describes": "validated source + pipeline configuration",
        },
    )
    raw = doc.entity(
        f"fcid:raw-{row['raw_sha256']}",
        {
            "prov:location": row.get("url"),
            "fc:canonicalUrl": row.get("canonical_url"),
            "fc:sha256": row["raw_sha256"],
            "fc:rawRef": row.get("raw_ref"),
            "fc:warcRecordId": row.get("warc_record_id") or "",
            "fc:contentType": row.get("content_type") or "",
            "fc:charset": row.get("charset") or "",
        },
    )
    extracted = doc.entity(
        f"fcid:extracted-{did}", {"fc:docId": did, "fc:extractor": row.get("extractor") or ""}
    )
    text = doc.entity(
        f"fcid:text-{did}",
        {"fc:docId": did, "fc:textSha256": row.get("text_sha256") or "", "fc:title": row.get("title") or "",
         "fc:licenceClass": row.get("licence_class"), "fc:usage": ",".join(row.get("usage") or []) or "none"},
    )  # fmt: skip
    steps: dict[str, list[str]] = {k: [] for k in KINDS}
    for s in row.get("steps") or []:
        steps[step_kind(s["step"])].append(s["step"] + (f": {s['detail']}" if s.get("detail") else ""))
    rid = row.get("run_id")
    start, end = (run_times or {}).get(rid or "", (None, None))
    source = "caller" if start else "run_id"
    start = start or run_started(rid)
    fetched = row.get("fetched_at")
    acts = {}
    for kind in KINDS:
        attrs: dict[str, Any] = {
            PROV_TYPE: FC[kind],
            "fc:runId": rid or "",
            "fc:steps": " | ".join(steps[kind]) or "none recorded",
        }
        if kind == "fetch":
            a = doc.activity(
                f"fcid:{kind}-{did}-{_slug(rid or 'run')}",
                None,
                fetched,
                {**attrs, "fc:timeSource": "fetched_at"},
            )
        else:
            a = doc.activity(
                f"fcid:{kind}-{did}-{_slug(rid or 'run')}",
                start,
                end,
                {**attrs, "fc:timeSource": source if start else "unknown"},
            )
        acts[kind] = a
    doc.wasAssociatedWith(acts["fetch"], agents["crawler"], config)
    doc.wasGeneratedBy(raw, acts["fetch"], fetched)
    doc.used(acts["extract"], raw)
    doc.wasAssociatedWith(acts["extract"], agents["extractor"] or agents["crawler"], config)
    doc.wasGeneratedBy(extracted, acts["extract"])
    doc.wasDerivedFrom(extracted, raw)
    doc.used(acts["clean"], extracted)
    doc.wasAssociatedWith(acts["clean"], agents["crawler"], config)
    doc.wasGeneratedBy(text, acts["clean"])
    doc.wasDerivedFrom(text, extracted)
    for kind in ("dedup", "licence"):
        doc.used(acts[kind], text)
        doc.wasAssociatedWith(acts[kind], agents["crawler"], config)
    for a, b in (("extract", "fetch"), ("clean", "extract"), ("dedup", "clean"), ("licence", "dedup")):
        doc.wasInformedBy(acts[a], acts[b])
    if row.get("duplicate_of"):
        doc.wasDerivedFrom(
            text,
            f"fcid:text-{row['duplicate_of']}",
            other_attributes={PROV_TYPE: FC[row.get("duplicate_relation") or "duplicate"]},
        )
    if snapshot_id is not None:
        snap = doc.entity(
            f"fcid:snapshot-{snapshot_id}",
            {PROV_TYPE: PROV["Collection"], "fc:tag": tag or "", "fc:snapshotId": str(snapshot_id)},
        )
        pub = doc.activity(
            f"fcid:publish-{snapshot_id}", published_at, published_at, {PROV_TYPE: FC["publish"]}
        )
        doc.used(pub, text)
        doc.wasGeneratedBy(snap, pub, published_at)
        doc.hadMember(snap, text)
        doc.wasInformedBy(pub, acts["licence"])
        doc.wasAssociatedWith(pub, agents["operator"] or agents["crawler"])
    return doc


def find_document(folder: Path, key: str) -> dict[str, Any] | None:
    """The row of ``key`` (doc_id or URL) in a pulled folder, reading one batch at a time."""
    for p in data_files(folder):
        pf = pq.ParquetFile(p)
        for batch in pf.iter_batches(batch_size=4096):
            hit = pc.or_(
                pc.or_(pc.equal(batch["doc_id"], key), pc.equal(batch["url"], key)),
                pc.equal(batch["canonical_url"], key),
            )
            rows = batch.filter(pc.fill_null(hit, False)).to_pylist()
            if rows:
                return rows[0]
    return None


def snapshot_prov(
    *,
    tag: str,
    snapshot_id: int | str | None,
    stats: SnapshotStats,
    files: Sequence[Mapping[str, Any]] = (),
    published_at: datetime | None = None,
    pulled_at: datetime | None = None,
    operator: str | None = None,
) -> ProvDocument:
    """PROV of a snapshot: runs, configurations, extractor versions, the snapshot and its files.

    ``files``: manifest-style entries (name, sha256, rows) of the pulled folder; empty when not given.
    """
    doc = _new_doc()
    agents = _agents(doc, extractor=None, extractor_version=None, operator=operator)
    sid = str(snapshot_id) if snapshot_id is not None else "unknown"
    snap = doc.entity(
        f"fcid:snapshot-{sid}",
        {PROV_TYPE: PROV["Collection"], "fc:tag": tag, "fc:snapshotId": sid, "fc:documents": stats.documents},
    )
    pub = doc.activity(f"fcid:publish-{sid}", published_at, published_at, {PROV_TYPE: FC["publish"]})
    doc.wasGeneratedBy(snap, pub, published_at)
    doc.wasAssociatedWith(pub, agents["operator"] or agents["crawler"])
    extractors = {}
    for ext in stats.extractors:
        name, _, ver = ext.partition(" ")
        extractors[ext] = doc.agent(
            f"fcid:software-{_slug(name)}-{_slug(ver or 'unknown')}",
            {PROV_TYPE: PROV["SoftwareAgent"], "fc:name": name, "fc:version": ver or "unknown"},
        )
        doc.actedOnBehalfOf(extractors[ext], agents["crawler"])
    for cfg in sorted(stats.configs):
        doc.entity(f"fcid:config-{cfg}", {PROV_TYPE: PROV["Plan"], "fc:sha256": cfg})
    for rid, run in sorted(stats.runs.items()):
        start = run_started(rid) or run.fetched.first
        act = doc.activity(
            f"fcid:ingest-{_slug(rid)}",
            start,
            run.fetched.last,
            {PROV_TYPE: FC["ingest"], "fc:runId": rid, "fc:documents": run.documents,
             "fc:sources": ",".join(sorted(run.sources)), "fc:activities": "fetch, extract, clean, dedup, licence"},
        )  # fmt: skip
        out = doc.entity(f"fcid:run-output-{_slug(rid)}", {"fc:documents": run.documents, "fc:runId": rid})
        doc.wasGeneratedBy(out, act, run.fetched.last)
        for cfg in sorted(run.configs):
            doc.wasAssociatedWith(act, agents["crawler"], f"fcid:config-{cfg}")
        for ext in run.extractors:
            doc.wasAssociatedWith(act, extractors[ext])
        doc.used(pub, out)
        doc.wasDerivedFrom(snap, out)
    if files:
        pull = doc.activity(f"fcid:pull-{sid}", pulled_at, pulled_at, {PROV_TYPE: FC["pull"]})
        doc.used(pull, snap)
        for f in files:
            e = doc.entity(
                f"fcid:file-{sid}-{_slug(f['name'])}",
                {"fc:path": f["name"], "fc:sha256": f.get("sha256") or "", "fc:sm3": f.get("sm3") or "",
                 "fc:rows": f.get("rows") if f.get("rows") is not None else -1},
            )  # fmt: skip
            doc.wasGeneratedBy(e, pull, pulled_at)
            doc.wasDerivedFrom(e, snap)
    return doc


def write_prov(folder: Path, doc: ProvDocument, stem: str = "prov") -> tuple[Path, Path]:
    """Write PROV-JSON (``stem.json``) and PROV-O as Turtle (``stem.ttl``) into ``folder``."""
    js, ttl = folder / f"{stem}.json", folder / f"{stem}.ttl"
    js.write_text(doc.serialize(format="json", indent=2), encoding="utf-8")
    ttl.write_text(doc.serialize(format="rdf", rdf_format="turtle"), encoding="utf-8")
    return js, ttl
