"""Croissant 1.1 JSON-LD (with the Responsible AI fields) for a pulled snapshot, so ML tools can read it.

Written as plain JSON (no runtime dependency); the tests validate it and read records through ``mlcroissant``.
Files are referenced relative to the folder, so the file is valid wherever the folder is copied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fincorpus.catalog.manifest import FileEntry, describe_file
from fincorpus.catalog.stats import PII_KINDS, SnapshotStats, data_files
from fincorpus.licensing import LICENCE_CLASSES

CROISSANT_FILE = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
RAI_CONFORMS_TO = "http://mlcommons.org/croissant/RAI/1.0"
PROJECT_URL = "https://github.com/fincorpus/fincorpus"

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# (column, Croissant data type, description): the flat columns a model team filters and trains on.
FIELDS: Sequence[tuple[str, str, str]] = (
    ("doc_id", "sc:Text", "stable document id"),
    ("source_id", "sc:Text", "id of the source in the sources file"),
    ("canonical_url", "sc:URL", "normalised final URL of the document"),
    ("title", "sc:Text", "title from the page or PDF metadata"),
    ("text", "sc:Text", "normalised main text (PII masked with tokens such as [身份证号])"),
    ("lang", "sc:Text", "zh when mainly CJK, und otherwise"),
    ("doc_type", "sc:Text", "official | announcement | news | report | forum"),
    ("published_at", "sc:Date", "publication time found in the page"),
    ("fetched_at", "sc:Date", "when the raw bytes were received"),
    ("licence_class", "sc:Text", "licence class from the source declaration"),
    ("optout_reason", "sc:Text", "why training use is excluded (null when it is not)"),
    ("finance_score", "sc:Float", "domain relevance in [0,1]"),
    ("text_sha256", "sc:Text", "sha256 of the text"),
    ("raw_sha256", "sc:Text", "sha256 of the stored raw response body"),
    ("raw_ref", "sc:Text", "WARC file and offset of the raw capture"),
)


def _licence_text(stats: SnapshotStats) -> list[str]:
    out = []
    for name, n in stats.licences.most_common():
        c = LICENCE_CLASSES.get(name)
        uses = ", ".join(c.usage) if c and c.usage else "no use"
        out.append(f"{name} ({n} documents; allowed: {uses}): {c.meaning if c else 'unknown class'}")
    return out


def croissant(
    folder: Path,
    *,
    tag: str,
    snapshot_id: int | str | None,
    stats: SnapshotStats,
    filters: Mapping[str, Any],
    publisher: str | None = None,
    created_at: str | None = None,
    data_entries: Sequence[FileEntry] | None = None,
) -> dict[str, Any]:
    """The Croissant document of a pulled folder; ``data_entries`` are its hashed Parquet files (else hashed here)."""
    files = data_entries or [
        describe_file(folder, p.relative_to(folder).as_posix()) for p in data_files(folder)
    ]
    dist: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": f.name,
            "name": f.name,
            "contentUrl": f.name,
            "contentSize": f"{f.bytes} B",
            "encodingFormat": "application/x-parquet",
            "sha256": f.sha256,
        }
        for f in files
    ]
    dist.append(
        {
            "@type": "cr:FileSet",
            "@id": "parquet-files",
            "name": "parquet-files",
            "description": "every Parquet file of the snapshot (the FileObjects above, with their hashes)",
            "encodingFormat": "application/x-parquet",
            "includes": "data/*.parquet",
        }
    )
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"documents/{col}",
            "name": col,
            "description": desc,
            "dataType": dtype,
            "source": {"fileSet": {"@id": "parquet-files"}, "extract": {"column": col}},
        }
        for col, dtype, desc in FIELDS
    ]
    pii = ", ".join(f"{k}: {stats.pii_found[k]}" for k in PII_KINDS if stats.pii_found.get(k)) or "none found"
    created = created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = stats.fetched.first.strftime("%Y-%m-%dT%H:%M:%SZ") if stats.fetched.first else None
    last = stats.fetched.last.strftime("%Y-%m-%dT%H:%M:%SZ") if stats.fetched.last else None
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"fincorpus-{tag}",
        "description": (
            f"Snapshot {tag} (id {snapshot_id}) of the Shanghai financial corpus: {stats.documents} Chinese financial "
            "texts (regulations, exchange and company announcements, policy documents, news, research PDFs) "
            f"from {len(stats.sources)} sources, cleaned, deduplicated and licence-tagged per document. Filters "
            f"applied at pull: {json.dumps(dict(filters), ensure_ascii=False)}."
        ),
        "conformsTo": [CONFORMS_TO, RAI_CONFORMS_TO],
        "url": PROJECT_URL,
        "version": f"1.0.0+{tag}" if tag.replace("-", "").isalnum() else "1.0.0",
        "datePublished": created,
        "citeAs": f"fincorpus snapshot {tag} (snapshot id {snapshot_id})",
        "license": _licence_text(stats),
        "keywords": ["finance", "Chinese", "regulation", "corpus", "provenance"],
        "inLanguage": sorted({lang for lang in stats.languages if lang != "und"}) or ["zh"],
        "rai:dataCollection": (
            "Crawled from the declared sources by the fincorpus crawler, which obeys robots.txt (RFC 9309), reads "
            "TDMRep and noai signals and records the raw bytes in WARC files; extracted with trafilatura (HTML) "
            "and pypdfium2 (PDF)."
        ),
        "rai:dataCollectionType": ["Web Scraping", "Secondary Data Analysis"],
        "rai:dataCollectionTimeframe": [t for t in (first, last) if t],
        "rai:dataPreprocessingProtocol": [
            "GB18030-aware decoding, Unicode NFC, OpenCC traditional-to-simplified where recorded",
            "boilerplate removal, quality scores and thresholds per document type",
            "exact and near-duplicate removal (character 5-gram MinHash)",
            "PII detection and masking",
            "licence classification from the source declaration and opt-out signals",
        ],
        "rai:personalSensitiveInformation": (
            "Personal information (ID, phone, bank card numbers, e-mail and IP addresses, passport numbers) is "
            f"detected and masked in the text with readable tokens; findings in this snapshot: {pii}. Each "
            "document's pii column gives the counts and the highest JR/T 0171-2020 class."
        ),
        "rai:dataBiases": (
            "Selected by source: official, exchange and a few news sources dominate; regional and retail "
            "finance, dialects and non-Mainland text are under-represented. Quality thresholds favour long, "
            f"punctuated text. Documents per source: {json.dumps(dict((k, v.documents) for k, v in sorted(stats.sources.items())), ensure_ascii=False)}."
        ),
        "rai:dataLimitations": (
            "Licence classes restrict use: respect each row's usage column (the configs of README.md select by it). "
            "Automatic extraction can keep navigation text or miss tables; PDFs without a text layer are flagged."
        ),
        "rai:dataUseCases": "Research and, where usage allows, training of financial-domain language models.",
        "rai:dataReleaseMaintenancePlan": (
            "Versioned snapshots in an Iceberg catalog; each pulled folder carries an SM2-signed manifest that "
            "`fincorpus verify` checks offline."
        ),
        "distribution": dist,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "documents",
                "name": "documents",
                "description": "one record per document (a subset of the columns; the Parquet files hold all)",
                "key": {"@id": "documents/doc_id"},
                "field": fields,
            }
        ],
    }
    if publisher:
        doc["publisher"] = {"@type": "sc:Organization", "name": publisher}
    return doc


def write_croissant(folder: Path, **kw: Any) -> Path:
    """Write ``croissant.json`` into the pulled ``folder``; keyword arguments as for :func:`croissant`."""
    path = folder / CROISSANT_FILE
    path.write_text(
        json.dumps(croissant(folder, **kw), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return path
