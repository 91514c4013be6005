"""The document record: one explicit, versioned Arrow schema that every stage reads and writes.

Nothing in fincorpus infers a schema from data. Stages build rows as plain dicts and turn them into Arrow
through :func:`documents_table`, which rejects unknown or mistyped fields instead of guessing.
Field meanings are documented in docs/data-model.md; change both together and bump SCHEMA_VERSION.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = "2"

# Iceberg stores timestamps in microseconds; nanosecond columns would be rejected at commit time.
TIMESTAMP = pa.timestamp("us", tz="UTC")

QUALITY_TYPE = pa.struct(
    [
        pa.field("length_chars", pa.int32(), metadata={"doc": "characters of normalised text"}),
        pa.field(
            "cjk_share",
            pa.float32(),
            metadata={"doc": "share of non-space characters that are CJK ideographs"},
        ),
    ]
)

PII_TYPE = pa.struct(
    [
        pa.field("id_card", pa.int32()),
        pa.field("mobile", pa.int32()),
        pa.field("bank_card", pa.int32()),
        pa.field("email", pa.int32()),
    ]
)

ACCESS_TYPE = pa.struct(
    [
        pa.field(
            "robots_sha256",
            pa.string(),
            metadata={"doc": "sha256 of the robots.txt in force ('-' = unreachable)"},
        ),
        pa.field("robots_group", pa.string(), metadata={"doc": "user-agent group that applied"}),
        pa.field("robots_rule", pa.string(), metadata={"doc": "deciding rule, e.g. 'allow: /zcfg/'"}),
        pa.field(
            "ai_disallowed", pa.list_(pa.string()), metadata={"doc": "AI crawler tokens robots.txt disallows"}
        ),
        pa.field("tdm_reservation", pa.string()),
        pa.field("tdm_policy", pa.string()),
        pa.field("tdm_source", pa.string(), metadata={"doc": "http-header | tdmrep.json | meta"}),
        pa.field("x_robots_tag", pa.string()),
        pa.field("meta_robots", pa.string()),
    ]
)

STEP_TYPE = pa.struct(
    [
        pa.field("step", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
    ]
)


def _f(name: str, type_: pa.DataType, nullable: bool = True, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


DOCUMENT_FIELDS: list[pa.Field] = [
    _f("doc_id", pa.string(), False, "stable id: sha256 of the canonical URL, or of source id + native id"),
    _f("source_id", pa.string(), False, "id of the source in the sources file"),
    _f("url", pa.string(), False, "URL first requested (before redirects)"),
    _f("canonical_url", pa.string(), False, "normalised final URL after redirects"),
    _f("title", pa.string(), doc="title from the page metadata, else <title>; PDF metadata title"),
    _f("text", pa.string(), doc="normalised main text"),
    _f("lang", pa.string(), doc="zh when the text is mainly CJK, und otherwise"),
    _f("published_at", TIMESTAMP, doc="publication time found in the page, if any"),
    _f("fetched_at", TIMESTAMP, False, "when the raw bytes were received"),
    _f(
        "native_id",
        pa.string(),
        doc="the record's own id where the source gives one (API item id, file path)",
    ),
    _f(
        "version",
        pa.int32(),
        doc="1 for the first stored body of a URL, +1 each time it changed (null: before schema 2)",
    ),
    _f("previous_raw_ref", pa.string(), doc="raw_ref of the previous version's bytes, null for version 1"),
    _f("redirect_chain", pa.list_(pa.string()), doc="URLs that redirected to canonical_url, in order"),
    _f(
        "rel_canonical",
        pa.string(),
        doc="the page's own <link rel=canonical> (recorded, not trusted for identity)",
    ),
    _f("original_url", pa.string(), doc="the original a reprint names in a 来源/转载自 link (used by dedup)"),
    _f("discovered_via", pa.string(), doc="seed | link | sitemap | feed | api-item | file | ..."),
    _f("http_status", pa.int16(), doc="HTTP status of the final response (200 for files)"),
    _f("content_type", pa.string(), doc="media type without parameters"),
    _f("charset", pa.string(), doc="encoding used to decode the raw bytes"),
    _f(
        "charset_source",
        pa.string(),
        doc="http-header | meta | bom | utf-8-valid | detected | fallback | binary (PDF)",
    ),
    _f("raw_sha256", pa.string(), False, "sha256 of the stored response body (content-decoded)"),
    _f("raw_ref", pa.string(), False, "WARC file (relative to FINCORPUS_HOME) and byte offset: path#offset"),
    _f("warc_record_id", pa.string(), doc="WARC-Record-ID of the response record"),
    _f("extractor", pa.string(), doc="trafilatura | pypdfium2 | plain-text"),
    _f("extractor_version", pa.string(), doc="version of the extractor package"),
    _f("text_sha256", pa.string(), doc="sha256 of the normalised text; the exact-duplicate key"),
    _f("licence_class", pa.string(), False, "licence class from the source declaration"),
    _f("legal_basis", pa.string(), doc="why we may hold the text, from the source declaration"),
    _f(
        "rights_notice", pa.string(), doc="rights/reprint notices copied verbatim from the page (later issue)"
    ),
    _f("usage", pa.list_(pa.string()), False, "allowed uses derived from the licence class and opt-outs"),
    _f("tdm_reserved", pa.bool_(), doc="TDMRep reservation seen in headers, tdmrep.json or page"),
    _f("noai", pa.bool_(), doc="noai seen in X-Robots-Tag or meta robots"),
    _f("ai_reserved", pa.bool_(), doc="robots.txt disallows an AI crawler token here, read as a reservation"),
    _f("optout_reason", pa.string(), doc="why training use is excluded, null when it is not"),
    _f("access", ACCESS_TYPE, doc="decision inputs recorded at fetch time"),
    _f("quality", QUALITY_TYPE, doc="quality scores, kept for kept and dropped documents alike"),
    _f("finance_score", pa.float32(), doc="domain relevance in [0,1] (later issue)"),
    _f("pii", PII_TYPE, doc="PII findings per class (later issue)"),
    _f("dedup_cluster", pa.string(), doc="doc_id of the kept member of this document's duplicate cluster"),
    _f("duplicate_of", pa.string(), doc="doc_id of the kept document, null for kept documents"),
    _f("duplicate_relation", pa.string(), doc="exact | near | reprint | version"),
    _f(
        "duplicate_similarity",
        pa.float32(),
        doc="character 5-gram Jaccard with the kept document (1.0 for exact)",
    ),
    _f("steps", pa.list_(STEP_TYPE), False, "every processing step that touched the document, in order"),
    _f("run_id", pa.string(), False, "ingest run that produced this record"),
    _f("config_sha256", pa.string(), False, "sha256 of the validated source + pipeline configuration"),
]

DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS, metadata={"fincorpus.schema_version": SCHEMA_VERSION})

REMOVED_SCHEMA = pa.schema(
    [
        *DOCUMENT_FIELDS,
        _f("removed_stage", pa.string(), False, "stage that dropped the document, e.g. quality, dedup.exact"),
        _f("removed_reason", pa.string(), False, "human-readable reason with the deciding values"),
    ],
    metadata={"fincorpus.schema_version": SCHEMA_VERSION},
)

DOCUMENT_COLUMNS: tuple[str, ...] = tuple(DOCUMENT_SCHEMA.names)


def doc_id_from_url(canonical_url: str) -> str:
    """Stable across runs: the same canonical URL always gives the same id."""
    return hashlib.sha256(("url:" + canonical_url).encode("utf-8")).hexdigest()[:32]


def doc_id_from_native(source_id: str, native_id: str) -> str:
    """For records that have their own id (files, datasets, API items)."""
    return hashlib.sha256(f"native:{source_id}:{native_id}".encode()).hexdigest()[:32]


class SchemaError(ValueError):
    """A row does not fit the document schema."""


def _check_rows(rows: list[Mapping[str, Any]], schema: pa.Schema) -> None:
    allowed = set(schema.names)
    required = {f.name for f in schema if not f.nullable}
    for i, row in enumerate(rows):
        unknown = set(row) - allowed
        if unknown:
            raise SchemaError(
                f"row {i}: unknown field(s) {sorted(unknown)}; add them to fincorpus/schema.py first"
            )
        missing = sorted(n for n in required if row.get(n) is None)
        if missing:
            raise SchemaError(
                f"row {i} (doc_id={row.get('doc_id')!r}): required field(s) {missing} are empty"
            )


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema = DOCUMENT_SCHEMA) -> pa.Table:
    """Build an Arrow table with exactly ``schema``; missing nullable fields become null."""
    rows = list(rows)
    _check_rows(rows, schema)
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"rows do not fit the document schema: {exc}") from exc


def documents_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    return to_table(rows, DOCUMENT_SCHEMA)


def removed_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    return to_table(rows, REMOVED_SCHEMA)


def fields_markdown() -> str:
    """The field table of docs/data-model.md (regenerate with ``python -m fincorpus.schema``)."""
    lines = ["| field | type | | meaning |", "|---|---|---|---|"]
    for f in REMOVED_SCHEMA:
        doc = (f.metadata or {}).get(b"doc", b"").decode().replace("|", "\\|")
        lines.append(f"| `{f.name}` | `{f.type}` | {'required' if not f.nullable else ''} | {doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(fields_markdown())
