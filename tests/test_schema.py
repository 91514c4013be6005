import pyarrow as pa
import pytest

from fincorpus.schema import (
    DOCUMENT_SCHEMA,
    REMOVED_SCHEMA,
    SCHEMA_VERSION,
    SchemaError,
    doc_id_from_native,
    doc_id_from_url,
    documents_table,
    removed_table,
)
from tests.rows import make_row


def test_schema_is_explicit_and_versioned() -> None:
    assert DOCUMENT_SCHEMA.metadata[b"fincorpus.schema_version"] == SCHEMA_VERSION.encode() == b"3"
    assert DOCUMENT_SCHEMA.field("fetched_at").type == pa.timestamp(
        "us", tz="UTC"
    )  # Iceberg wants microseconds
    assert set(DOCUMENT_SCHEMA.names) < set(REMOVED_SCHEMA.names)
    for name in ("doc_id", "raw_sha256", "raw_ref", "licence_class", "usage", "run_id", "config_sha256"):
        assert not DOCUMENT_SCHEMA.field(name).nullable


def test_rows_become_a_table_with_exactly_the_schema() -> None:
    t = documents_table([make_row()])
    assert t.schema.equals(DOCUMENT_SCHEMA, check_metadata=False)
    q = t.column("quality")[0].as_py()
    assert q["length_chars"] == 120 and q["cjk_share"] == pytest.approx(0.9)


def test_unknown_field_is_rejected_not_inferred() -> None:
    with pytest.raises(SchemaError, match="unknown field"):
        documents_table([{**make_row(), "extra_col": 1}])


def test_missing_required_field_names_the_field() -> None:
    row = make_row()
    row["raw_sha256"] = None
    with pytest.raises(SchemaError, match="raw_sha256"):
        documents_table([row])


def test_wrong_type_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        documents_table([{**make_row(), "http_status": "two hundred"}])


def test_removed_rows_need_stage_and_reason() -> None:
    with pytest.raises(SchemaError, match="removed_stage"):
        removed_table([make_row()])
    t = removed_table([{**make_row(), "removed_stage": "quality.basic", "removed_reason": "too short"}])
    assert t.num_rows == 1


def test_doc_ids_are_stable_and_distinct() -> None:
    assert doc_id_from_url("http://a.test/x.html") == doc_id_from_url("http://a.test/x.html")
    assert doc_id_from_url("http://a.test/x.html") != doc_id_from_url("http://a.test/y.html")
    assert doc_id_from_native("s", "1") != doc_id_from_url("s:1")
    assert len(doc_id_from_url("http://a.test/")) == 32
