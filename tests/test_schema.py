import pyarrow as pa
import pytest

from fincorpus.schema import (
    DOCUMENT_SCHEMA,
    RECORD_SCHEMA,
    REMOVED_SCHEMA,
    SCHEMA_VERSION,
    SchemaError,
    Stage,
    doc_id_from_native,
    doc_id_from_url,
    documents_table,
    records_table,
    removed_table,
)
from tests.rows import make_row


def test_schema_is_explicit_and_versioned() -> None:
    assert DOCUMENT_SCHEMA.metadata[b"fincorpus.schema_version"] == SCHEMA_VERSION.encode() == b"4"
    assert DOCUMENT_SCHEMA.field("fetched_at").type == pa.timestamp(
        "us", tz="UTC"
    )  # Iceberg wants microseconds
    assert set(DOCUMENT_SCHEMA.names) < set(REMOVED_SCHEMA.names)
    for name in ("doc_id", "raw_sha256", "raw_ref", "licence_class", "usage", "run_id", "config_sha256"):
        assert not DOCUMENT_SCHEMA.field(name).nullable


def test_rows_become_a_table_with_exactly_the_schema() -> None:
    row = make_row()
    t = documents_table([row])
    assert t.schema.equals(DOCUMENT_SCHEMA, check_metadata=False)
    q = t.column("quality")[0].as_py()
    assert q["length_chars"] == len(row["text"]) and q["cjk_share"] == pytest.approx(0.9)


def test_unknown_field_is_rejected_not_inferred() -> None:
    with pytest.raises(SchemaError, match="unknown field"):
        records_table([{**make_row(), "extra_col": 1}])


def test_struct_members_are_checked_by_name() -> None:
    """A misspelled struct key is an error naming the stage and field, never a silent null."""
    row = make_row()
    row["quality"] = {**row["quality"], "cjk_shar": 0.5}
    del row["quality"]["cjk_share"]
    with pytest.raises(
        SchemaError,
        match=r"process: row 0.*'quality'.*unknown key\(s\) \['cjk_shar'\].*missing key\(s\) \['cjk_share'\]",
    ):
        records_table([row], stage="process")
    row = make_row(steps=[{"step": "fetch", "detial": "x"}])
    with pytest.raises(SchemaError, match=r"steps\[0\]"):
        records_table([row])
    row = make_row(steps=[{"step": None, "detail": "x"}])
    with pytest.raises(SchemaError, match=r"steps\[0\].step is required"):
        records_table([row])


def test_status_and_removal_fields_agree() -> None:
    with pytest.raises(SchemaError, match="needs removed_stage"):
        records_table([make_row(status="removed")])
    with pytest.raises(SchemaError, match="kept record has removed_stage"):
        records_table([make_row(status="kept", removed_stage="x", removed_reason="y")])
    with pytest.raises(SchemaError, match="not one of"):
        records_table([make_row(status="gone")])
    assert records_table([make_row()]).schema.equals(RECORD_SCHEMA, check_metadata=False)


def test_a_stage_writes_only_what_it_declares() -> None:
    t = records_table([make_row(), make_row("http://a.test/2.html")])
    stage = Stage("licence", reads=("licence_class",), writes=("usage",))
    assert stage.view(t).column_names == ["licence_class"]
    out = stage.apply(t, {"usage": pa.array([["research"], []], pa.list_(pa.string()))}, ["one", None])
    assert out.column("usage").to_pylist() == [["research"], []]
    assert out.column("steps").to_pylist()[0][-1] == {"step": "licence", "detail": "one"}
    assert out.column("steps").to_pylist()[1] == t.column("steps").to_pylist()[1]
    with pytest.raises(SchemaError, match="undeclared column"):
        stage.apply(t, {"text": pa.array(["x", "y"])})
    with pytest.raises(SchemaError, match="2 rows"):
        stage.apply(t, {"usage": pa.array([["a"]], pa.list_(pa.string()))})
    with pytest.raises(SchemaError, match="unknown column"):
        Stage("bad", reads=("txet",), writes=())


def test_missing_required_field_names_the_field() -> None:
    row = make_row()
    row["raw_sha256"] = None
    with pytest.raises(SchemaError, match="raw_sha256"):
        records_table([row])


def test_wrong_type_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        documents_table([{**make_row(), "http_status": "two hundred"}])


def test_removed_rows_need_stage_and_reason() -> None:
    with pytest.raises(SchemaError, match="removed_stage"):
        removed_table([make_row()])
    assert REMOVED_SCHEMA is RECORD_SCHEMA
    t = removed_table([{**make_row(), "removed_stage": "quality.basic", "removed_reason": "too short"}])
    assert t.num_rows == 1


def test_doc_ids_are_stable_and_distinct() -> None:
    assert doc_id_from_url("http://a.test/x.html") == doc_id_from_url("http://a.test/x.html")
    assert doc_id_from_url("http://a.test/x.html") != doc_id_from_url("http://a.test/y.html")
    assert doc_id_from_native("s", "1") != doc_id_from_url("s:1")
    assert len(doc_id_from_url("http://a.test/")) == 32
