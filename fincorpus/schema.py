"""The document record: one explicit, versioned Arrow schema that every stage reads and writes.

Nothing in fincorpus infers a schema from data. The processing stage builds one record per document and turns the
records of a shard into Arrow once, through :func:`records_table`, which rejects unknown, missing or mistyped fields
(struct members included) and names the stage and field; every later stage works on Arrow columns and declares the
columns it reads and writes (``fincorpus.pipelines.stage``).

Two schemas come from one field list:

- ``RECORD_SCHEMA``: the catalog table and the staged parts. Every record a run produced, kept or removed, with
  ``status`` (kept | removed) and, for removed records, ``removed_stage`` and ``removed_reason``.
- ``DOCUMENT_SCHEMA``: what a pulled snapshot holds (kept documents): the same fields without the three above.

Field meanings are documented in docs/data-model.md; change both together and bump SCHEMA_VERSION.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = "4"

# Iceberg stores timestamps in microseconds; nanosecond columns would be rejected at commit time.
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _q(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    return pa.field(name, type_, metadata={"doc": doc})


QUALITY_TYPE = pa.struct(
    [
        _q("length_chars", pa.int32(), "characters of normalised text"),
        _q("cjk_share", pa.float32(), "share of non-space characters that are CJK ideographs"),
        _q(
            "symbol_share",
            pa.float32(),
            "share of non-space characters that are symbols (Unicode S*, bullets)",
        ),
        _q("digit_share", pa.float32(), "share of digits: recorded, never used to drop financial text"),
        _q("lines", pa.int32(), "non-empty lines"),
        _q("dup_line_frac", pa.float32(), "share of lines repeating an earlier line"),
        _q("dup_line_char_frac", pa.float32(), "share of characters in repeated lines"),
        _q("dup_para_frac", pa.float32(), "share of paragraphs repeating an earlier paragraph"),
        _q("dup_para_char_frac", pa.float32(), "share of characters in repeated paragraphs"),
        _q("top_2gram_char_frac", pa.float32(), "characters covered by the most frequent character 2-gram"),
        _q("top_3gram_char_frac", pa.float32(), "characters covered by the most frequent character 3-gram"),
        _q("top_4gram_char_frac", pa.float32(), "characters covered by the most frequent character 4-gram"),
        _q(
            "dup_5gram_char_frac", pa.float32(), "characters inside repeated character 5-grams (Gopher-style)"
        ),
        _q("dup_10gram_char_frac", pa.float32(), "characters inside repeated character 10-grams"),
        _q("punct_end_share", pa.float32(), "share of lines ending in sentence or clause punctuation"),
        _q(
            "nav_line_share", pa.float32(), "share of short lines without end punctuation (navigation, lists)"
        ),
    ]
)

PII_TYPE = pa.struct(
    [
        _q("id_card", pa.int32(), "resident ID numbers (GB 11643 check digit; 15-digit old form)"),
        _q("mobile", pa.int32(), "mobile numbers"),
        _q("landline", pa.int32(), "landline numbers"),
        _q("bank_card", pa.int32(), "bank card numbers (Luhn)"),
        _q("email", pa.int32(), "e-mail addresses"),
        _q("ip", pa.int32(), "IP addresses"),
        _q("passport", pa.int32(), "passport numbers"),
        _q("max_class", pa.string(), "highest JR/T 0171-2020 class found (C1-C3), null when none"),
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

# issue 11 (licensing): the licence decision, the TC260 screen's scores
LICENCE_DECISION_TYPE = pa.struct(
    [
        _q(
            "rule",
            pa.string(),
            "licence rule that decided the class, e.g. prior, page.list, reprint.source-link",
        ),
        _q("evidence", pa.string(), "the matched text (notice, 来源 line, marker) the rule rests on"),
        _q(
            "evidence_link",
            pa.string(),
            "the link the rule rests on (original article, canonical, licence URL)",
        ),
        _q("prior", pa.string(), "the class the source declares (or contract:<id>)"),
        _q("rules_version", pa.string(), "version of fincorpus/data/licence_rules.yaml"),
        _q("spdx", pa.string(), "SPDX id of the licence, or a LicenseRef-fincorpus-… id"),
        _q(
            "publisher",
            pa.string(),
            "rights holder where resolved: original publisher, issuing body, counterparty",
        ),
        _q("contract_id", pa.string(), "contract the document is licensed under"),
        _q("contract_expires", TIMESTAMP, "after this time new pulls clear only contract_after_expiry"),
        _q("contract_after_expiry", pa.list_(pa.string()), "uses that survive the contract's expiry"),
        _q("restrictions", pa.list_(pa.string()), "no-reprint, reprint-with-attribution, rights-reserved"),
        _q(
            "usage_before_optouts",
            pa.list_(pa.string()),
            "uses of the class before opt-outs, gate and expiry",
        ),
    ]
)

SAFETY_TYPE = pa.struct(
    [
        _q("score", pa.float32(), "TC260 keyword score (warning contexts discounted)"),
        _q(
            "flagged",
            pa.bool_(),
            "score >= the library threshold with a promotion hit, or the classifier fired",
        ),
        _q("categories", pa.list_(pa.string()), "risk categories that contributed, highest first"),
        _q("hits", pa.list_(pa.string()), "category:term of the first hits (~ = in a warning context)"),
        _q("library_version", pa.string(), "version of fincorpus/data/tc260_keywords.yaml"),
        _q("classifier", pa.string(), "name/version of the classifier, null when none ran"),
        _q("classifier_score", pa.float32(), "the classifier's highest category probability"),
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
    _f("author", pa.string(), doc="author or byline found in the page"),
    _f("issuing_body", pa.string(), doc="official documents: the issuing body (发布机构/发文机关)"),
    _f(
        "doc_number", pa.string(), doc="official documents: the document number (文号), e.g. 银发〔2024〕12号"
    ),
    _f(
        "doc_type",
        pa.string(),
        doc="official | announcement | news | report | forum (selects quality thresholds)",
    ),
    _f(
        "page_type", pa.string(), doc="article | list for HTML pages, from the page's link and line structure"
    ),
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
    _f("original_source", pa.string(), doc="the source a 来源/转载自 line names, e.g. 新华社"),
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
    _f("pages", pa.int32(), doc="PDF page count (pages are separated by form feeds in text)"),
    _f("no_text_layer", pa.bool_(), doc="PDF without a text layer (scanned): flagged, never silently empty"),
    _f("text_sha256", pa.string(), doc="sha256 of the normalised text; the exact-duplicate key"),
    _f("licence_class", pa.string(), False, "licence class from the source declaration"),
    _f("legal_basis", pa.string(), doc="why we may hold the text, from the source declaration"),
    _f(
        "rights_notice",
        pa.string(),
        doc="rights/reprint notices and disclaimers copied verbatim from the page, one per line",
    ),
    _f("usage", pa.list_(pa.string()), False, "allowed uses derived from the licence class and opt-outs"),
    _f("tdm_reserved", pa.bool_(), doc="TDMRep reservation seen in headers, tdmrep.json or page"),
    _f("noai", pa.bool_(), doc="noai seen in X-Robots-Tag or meta robots"),
    _f("ai_reserved", pa.bool_(), doc="robots.txt disallows an AI crawler token here, read as a reservation"),
    _f("optout_reason", pa.string(), doc="why training use is excluded, null when it is not"),
    _f("access", ACCESS_TYPE, doc="decision inputs recorded at fetch time"),
    _f("quality", QUALITY_TYPE, doc="quality scores, kept for kept and dropped documents alike"),
    _f("finance_score", pa.float32(), doc="domain relevance in [0,1] from the finance model (see docs)"),
    _f("pii", PII_TYPE, doc="PII findings per kind, masked in text with readable tokens such as [身份证号]"),
    _f("dedup_cluster", pa.string(), doc="doc_id of the kept member of this document's duplicate cluster"),
    _f("duplicate_of", pa.string(), doc="doc_id of the kept document, null for kept documents"),
    _f("duplicate_relation", pa.string(), doc="exact | near | reprint | version"),
    _f(
        "duplicate_similarity",
        pa.float32(),
        doc="character 5-gram Jaccard with the kept document (1.0 for exact)",
    ),
    _f(
        "superseded_at",
        TIMESTAMP,
        doc="relation version: publication time of the newer version that superseded this one",
    ),
    _f("steps", pa.list_(STEP_TYPE), False, "every processing step that touched the document, in order"),
    _f("run_id", pa.string(), False, "ingest run that produced this record"),
    _f("config_sha256", pa.string(), False, "sha256 of the validated source + pipeline configuration"),
    # issue 13 (cleaning)
    _f(
        "decode_replaced",
        pa.int32(),
        doc="undecodable byte sequences replaced by U+FFFD when decoding (0 = strict decode; see docs/cleaning.md)",
    ),
    _f(
        "site_template",
        pa.string(),
        doc="template group and sha256 of the site template applied in cleaning (group@sha256), null if none",
    ),
    # issue 11 (licensing)
    _f(
        "licence_decision",
        LICENCE_DECISION_TYPE,
        doc="how licence_class was decided: rule, evidence, prior, version",
    ),
    _f("safety", SAFETY_TYPE, doc="TC260-003 keyword/classifier screen of the document"),
    _f(
        "security_level",
        pa.int8(),
        doc="JR/T 0197-2020 data security level 1-5 (rules in docs/compliance.md)",
    ),
    _f("security_tier", pa.string(), doc="GB/T 43697-2024 tier: general | important | core"),
    _f(
        "data_categories",
        pa.list_(pa.string()),
        doc="data categories the cross-border negative list is written in",
    ),
]

STATUS_FIELDS: list[pa.Field] = [
    _f("status", pa.string(), False, "kept | removed: whether the record is part of the corpus"),
    _f(
        "removed_stage",
        pa.string(),
        doc="removed records: stage that dropped it, e.g. quality.news, dedup.exact, error",
    ),
    _f("removed_reason", pa.string(), doc="removed records: human-readable reason with the deciding values"),
]

DOCUMENT_SCHEMA = pa.schema(DOCUMENT_FIELDS, metadata={"fincorpus.schema_version": SCHEMA_VERSION})
RECORD_SCHEMA = pa.schema(
    [*DOCUMENT_FIELDS, *STATUS_FIELDS], metadata={"fincorpus.schema_version": SCHEMA_VERSION}
)
# Removed records have the record schema; the name stays for readers of earlier releases.
REMOVED_SCHEMA = RECORD_SCHEMA

DOCUMENT_COLUMNS: tuple[str, ...] = tuple(DOCUMENT_SCHEMA.names)
RECORD_COLUMNS: tuple[str, ...] = tuple(RECORD_SCHEMA.names)
STATUSES = ("kept", "removed")


def doc_id_from_url(canonical_url: str) -> str:
    """Stable across runs: the same canonical URL always gives the same id."""
    return hashlib.sha256(("url:" + canonical_url).encode("utf-8")).hexdigest()[:32]


def doc_id_from_native(source_id: str, native_id: str) -> str:
    """For records that have their own id (files, datasets, API items)."""
    return hashlib.sha256(f"native:{source_id}:{native_id}".encode()).hexdigest()[:32]


class SchemaError(ValueError):
    """A row does not fit the document schema."""


def _where(stage: str, i: int, row: Mapping[str, Any]) -> str:
    doc = row.get("doc_id")
    return f"{stage}: row {i}" + (f" (doc_id={doc!r})" if doc else "")


@lru_cache(maxsize=64)
def _struct_plan(
    type_: pa.DataType,
) -> tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, pa.DataType], ...]]:
    """(member names, required members, members that are themselves nested) of a struct type."""
    names = frozenset(type_.field(k).name for k in range(type_.num_fields))
    required = tuple(type_.field(k).name for k in range(type_.num_fields) if not type_.field(k).nullable)
    nested = tuple(
        (type_.field(k).name, type_.field(k).type)
        for k in range(type_.num_fields)
        if pa.types.is_struct(type_.field(k).type)
        or (pa.types.is_list(type_.field(k).type) and pa.types.is_struct(type_.field(k).type.value_type))
    )
    return names, required, nested


def _check_nested(
    stage: str, i: int, row: Mapping[str, Any], path: str, value: Any, type_: pa.DataType
) -> None:
    """Struct values must carry exactly the struct's members: a misspelled key is an error, never a silent null."""
    if value is None:
        return
    if pa.types.is_struct(type_):
        if not isinstance(value, Mapping):
            raise SchemaError(
                f"{_where(stage, i, row)}: field {path!r} must be a mapping, got {type(value).__name__}"
            )
        names, required, nested = _struct_plan(type_)
        if value.keys() != names:
            keys = set(value)
            unknown, missing = sorted(keys - names), sorted(names - keys)
            order = [type_.field(k).name for k in range(type_.num_fields)]
            parts = []
            if unknown:
                parts.append(f"unknown key(s) {unknown}")
            if missing:
                parts.append(f"missing key(s) {missing}")
            raise SchemaError(
                f"{_where(stage, i, row)}: field {path!r}: {' and '.join(parts)}; its members are {order}"
            )
        for name in required:
            if value[name] is None:
                raise SchemaError(f"{_where(stage, i, row)}: field {path}.{name} is required")
        for name, sub in nested:
            _check_nested(stage, i, row, f"{path}.{name}", value[name], sub)
    elif pa.types.is_list(type_) and pa.types.is_struct(type_.value_type):
        if not isinstance(value, list | tuple):
            raise SchemaError(f"{_where(stage, i, row)}: field {path!r} must be a list")
        for k, item in enumerate(value):
            _check_nested(stage, i, row, f"{path}[{k}]", item, type_.value_type)


def check_rows(rows: list[Mapping[str, Any]], schema: pa.Schema, stage: str = "build") -> None:
    """Unknown fields, empty required fields and malformed struct members are errors naming stage, row and field."""
    allowed = set(schema.names)
    required = [f.name for f in schema if not f.nullable]
    nested = [f for f in schema if pa.types.is_struct(f.type) or pa.types.is_list(f.type)]
    has_status = "status" in allowed
    for i, row in enumerate(rows):
        unknown = set(row) - allowed
        if unknown:
            raise SchemaError(
                f"{_where(stage, i, row)}: unknown field(s) {sorted(unknown)}; add them to fincorpus/schema.py first"
            )
        missing = [n for n in required if row.get(n) is None]
        if missing:
            raise SchemaError(f"{_where(stage, i, row)}: required field(s) {missing} are empty")
        for f in nested:
            _check_nested(stage, i, row, f.name, row.get(f.name), f.type)
        if has_status:
            status = row["status"]
            if status not in STATUSES:
                raise SchemaError(f"{_where(stage, i, row)}: status {status!r} is not one of {STATUSES}")
            if status == "removed" and not (row.get("removed_stage") and row.get("removed_reason")):
                raise SchemaError(
                    f"{_where(stage, i, row)}: a removed record needs removed_stage and removed_reason"
                )
            if status == "kept" and row.get("removed_stage"):
                raise SchemaError(
                    f"{_where(stage, i, row)}: a kept record has removed_stage {row['removed_stage']!r}"
                )


def to_table(
    rows: Iterable[Mapping[str, Any]], schema: pa.Schema = DOCUMENT_SCHEMA, stage: str = "build"
) -> pa.Table:
    """Build an Arrow table with exactly ``schema``; missing nullable fields become null."""
    rows = list(rows)
    check_rows(rows, schema, stage)
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"{stage}: rows do not fit the document schema: {exc}") from exc


def documents_table(rows: Iterable[Mapping[str, Any]], stage: str = "build") -> pa.Table:
    return to_table(rows, DOCUMENT_SCHEMA, stage)


def records_table(rows: Iterable[Mapping[str, Any]], stage: str = "build") -> pa.Table:
    """Records of the catalog/staging schema; ``status`` defaults from ``removed_stage`` when not given."""
    filled = []
    for r in rows:
        if "status" not in r:
            r = {**r, "status": "removed" if r.get("removed_stage") else "kept"}
        filled.append(r)
    return to_table(filled, RECORD_SCHEMA, stage)


def removed_table(rows: Iterable[Mapping[str, Any]], stage: str = "build") -> pa.Table:
    """Removed records (status removed, stage and reason required)."""
    out = []
    for i, r in enumerate(rows):
        if not r.get("removed_stage") or not r.get("removed_reason"):
            raise SchemaError(
                f"{_where(stage, i, r)}: removed_stage and removed_reason are required for a removed record"
            )
        out.append({**r, "status": "removed"})
    return to_table(out, RECORD_SCHEMA, stage)


def empty_quality() -> dict[str, Any]:
    """A quality struct with every member present and null (for records that never reached scoring)."""
    return {QUALITY_TYPE.field(k).name: None for k in range(QUALITY_TYPE.num_fields)}


def struct_value(field: str, **values: Any) -> dict[str, Any]:
    """A value for struct column ``field`` with the given members set and every other member null.

    Explicit on purpose: a member name that is not in the struct is an error here, as it is in the schema check.
    """
    type_ = RECORD_SCHEMA.field(field).type
    names = [type_.field(k).name for k in range(type_.num_fields)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise SchemaError(f"struct {field!r} has no member(s) {unknown}; its members are {names}")
    return {n: values.get(n) for n in names}


def conform(table: pa.Table, schema: pa.Schema = RECORD_SCHEMA) -> pa.Table:
    """A table read from an older schema version, with the newer columns added as nulls, in schema order."""
    for f in schema:
        if f.name not in table.column_names:
            if f.name == "status":
                table = table.append_column(f.name, pa.array(["kept"] * table.num_rows, pa.string()))
            else:
                table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table.select(schema.names).cast(schema)


def fields_markdown() -> str:
    """The field table of docs/data-model.md (regenerate with ``python -m fincorpus.schema``)."""
    lines = ["| field | type | | meaning |", "|---|---|---|---|"]
    for f in RECORD_SCHEMA:
        doc = (f.metadata or {}).get(b"doc", b"").decode().replace("|", "\\|")
        lines.append(f"| `{f.name}` | `{f.type}` | {'required' if not f.nullable else ''} | {doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(fields_markdown())


# -- stages over typed batches -----------------------------------------------------------------------------------


def _step(name: str, d: str | tuple[str, str] | None) -> list[dict[str, str]]:
    if d is None:
        return []
    if isinstance(d, tuple):
        return [{"step": d[0], "detail": d[1]}]
    return [{"step": name, "detail": d}]


class Stage:
    """A stage declares the record columns it reads and writes; :meth:`apply` enforces the declaration.

    A stage function sees only :meth:`view` (its declared input columns) and returns new arrays for its declared
    output columns plus, per row, an optional step detail that is appended to ``steps``. Nothing else can change:
    an undeclared output, a wrong type or a wrong length is a SchemaError naming the stage and column.
    """

    def __init__(
        self, name: str, reads: Iterable[str], writes: Iterable[str], schema: pa.Schema = RECORD_SCHEMA
    ):
        self.name = name
        self.reads = tuple(reads)
        self.writes = tuple(writes)
        self.schema = schema
        unknown = [c for c in (*self.reads, *self.writes) if c not in schema.names]
        if unknown:
            raise SchemaError(f"stage {name}: unknown column(s) {unknown}")

    def __repr__(self) -> str:
        return f"Stage({self.name!r}, reads={self.reads}, writes={self.writes})"

    def view(self, table: pa.Table) -> pa.Table:
        missing = [c for c in self.reads if c not in table.column_names]
        if missing:
            raise SchemaError(f"stage {self.name}: input lacks column(s) {missing}")
        return table.select(list(self.reads))

    def apply(
        self,
        table: pa.Table,
        columns: Mapping[str, pa.Array | pa.ChunkedArray],
        steps: Sequence[str | tuple[str, str] | None] | None = None,
    ) -> pa.Table:
        extra = [c for c in columns if c not in self.writes]
        if extra:
            raise SchemaError(
                f"stage {self.name}: wrote undeclared column(s) {extra}; declared {list(self.writes)}"
            )
        out = table
        for name, values in columns.items():
            want = self.schema.field(name).type
            if len(values) != table.num_rows:
                raise SchemaError(
                    f"stage {self.name}: column {name!r} has {len(values)} values for {table.num_rows} rows"
                )
            if not values.type.equals(want):
                try:
                    values = values.cast(want)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(
                        f"stage {self.name}: column {name!r} is {values.type}, not {want}"
                    ) from exc
            out = out.set_column(out.schema.get_field_index(name), self.schema.field(name), values)
        if steps is not None:
            if len(steps) != table.num_rows:
                raise SchemaError(f"stage {self.name}: {len(steps)} step details for {table.num_rows} rows")
            old = out.column("steps").to_pylist()
            new = [(s or []) + _step(self.name, d) for s, d in zip(old, steps, strict=True)]
            out = out.set_column(
                out.schema.get_field_index("steps"),
                self.schema.field("steps"),
                pa.array(new, self.schema.field("steps").type),
            )
        return out
