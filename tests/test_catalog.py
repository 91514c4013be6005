import json
from pathlib import Path

import pytest

from fincorpus.catalog.export import pull, verify
from fincorpus.catalog.store import CatalogError, CorpusCatalog
from fincorpus.pipelines.ingest import pending_runs, stage_records
from fincorpus.pipelines.publish import publish
from fincorpus.schema import SCHEMA_VERSION
from tests.rows import make_row


def stage(home: Path, run_id: str, rows: list[dict]) -> None:
    """Stage records exactly as given (no dedup): what the catalog tests need."""
    stage_records(home, run_id, rows, {}, dedup=False)


def rows_v1() -> list[dict]:
    return [
        make_row("http://a.test/1.html", text="第一篇"),
        make_row("http://a.test/2.html", text="第二篇", licence_class="media-unknown", usage=["research"]),
        make_row(
            "http://a.test/3.html", text="第三篇", removed_stage="quality.basic", removed_reason="too short"
        ),
    ]


def test_publish_tags_both_tables_and_pull_is_loadable(home: Path, tmp_path: Path) -> None:
    stage(home, "r1", rows_v1())
    res = publish(home, "v1")
    assert (res.tag.documents, res.tag.removed) == (2, 1)
    assert res.tag.runs == ("r1",)
    assert pending_runs(home) == []
    assert json.loads((home / "staging/r1/run.json").read_text())["status"] == "published"
    cat = CorpusCatalog(home)
    assert [t.tag for t in cat.tags()] == ["v1"]
    assert sorted(cat.read("v1")["url"].to_pylist()) == ["http://a.test/1.html", "http://a.test/2.html"]
    assert cat.read("v1", "removed")["removed_reason"].to_pylist() == ["too short"]

    out = tmp_path / "snap"
    pulled = pull(home, "v1", out)
    assert pulled.rows == 2 and verify(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tag"] == "v1" and manifest["rows"] == 2 and len(manifest["files"][0]["sha256"]) == 64
    assert "cn-art5-official" in (out / "README.md").read_text()
    import datasets

    ds = datasets.load_dataset("parquet", data_dir=str(out), split="train")
    assert ds.num_rows == 2 and "steps" in ds.column_names

    train = pull(home, "v1", tmp_path / "train", usage="research", licences=["media-unknown"])
    assert train.rows == 1
    data_file = next(f["name"] for f in manifest["files"] if f["name"].startswith("data/"))
    (out / data_file).write_bytes(b"tampered")
    assert any(data_file in p and "SHA-256 differs" in p for p in verify(out))


def test_second_publish_upserts_and_old_tag_still_reads_old_rows(home: Path) -> None:
    stage(home, "r1", rows_v1())
    publish(home, "v1")
    changed = make_row("http://a.test/1.html", text="第一篇（修订）", run_id="run-2")
    now_dup = make_row(
        "http://a.test/2.html",
        text="第二篇",
        removed_stage="dedup.exact",
        removed_reason="dup",
        duplicate_of="x",
    )
    stage(home, "r2", [changed, now_dup, make_row("http://a.test/4.html", text="第四篇")])
    publish(home, "v2")
    cat = CorpusCatalog(home)
    v2 = {r["url"]: r for r in cat.read("v2").to_pylist()}
    assert set(v2) == {"http://a.test/1.html", "http://a.test/4.html"}
    assert v2["http://a.test/1.html"]["text"] == "第一篇（修订）"
    assert sorted(cat.read("v2", "removed")["url"].to_pylist()) == [
        "http://a.test/2.html",
        "http://a.test/3.html",
    ]
    assert {r["text"] for r in cat.read("v1").to_pylist()} == {"第一篇", "第二篇"}  # time travel
    assert [t.documents for t in cat.tags()] == [2, 2]
    assert [t.removed for t in cat.tags()] == [1, 2]


def test_refusals_change_nothing(home: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="nothing staged"):
        publish(home, "v0")
    stage(home, "r1", rows_v1())
    publish(home, "v1")
    stage(home, "r2", [make_row("http://a.test/9.html", text="第九篇")])
    before = CorpusCatalog(home).table.metadata_location
    with pytest.raises(CatalogError, match="already exists"):
        publish(home, "v1")
    with pytest.raises(CatalogError, match="not valid"):
        publish(home, "bad tag!")
    with pytest.raises(CatalogError, match="not valid"):
        publish(home, "v1\n")  # a full match: a trailing newline is not a valid tag
    with pytest.raises(CatalogError, match="reserved"):
        publish(home, "main")
    assert CorpusCatalog(home).table.metadata_location == before
    assert len(pending_runs(home)) == 1  # still staged for the next publish
    with pytest.raises(CatalogError, match=r"unknown tag 'nope'.*known tags: v1"):
        pull(home, "nope", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(CatalogError, match="unknown usage"):
        pull(home, "v1", tmp_path / "y", usage="everything")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(CatalogError, match="not empty"):
        pull(home, "v1", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    res = publish(home, "v1", force=True)  # moving a tag is explicit
    assert res.tag.documents == 3


def test_find_by_url_or_id(home: Path) -> None:
    stage(home, "r1", rows_v1())
    publish(home, "v1")
    cat = CorpusCatalog(home)
    where, rows = cat.find("http://a.test/3.html")
    assert where == "removed" and rows.num_rows == 1
    doc_id = make_row("http://a.test/1.html")["doc_id"]
    assert cat.find(doc_id, tag="v1")[0] == "documents"
    assert cat.find("http://nowhere.test/")[0] == ""


def test_a_catalog_of_the_earlier_layout_is_migrated_tag_by_tag(home: Path) -> None:
    """A catalog written before schema 4 (two tables, schema 1 columns) is refused with one line, then migrated:
    its tags read back the same documents, and new publishes go on from there."""
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    from fincorpus.catalog import store
    from fincorpus.catalog.migrate import migrate
    from fincorpus.schema import DOCUMENT_SCHEMA

    # Schema 1: no version/access/native_id columns, and the two-field quality struct of the first release.
    old_quality = pa.struct([pa.field("length_chars", pa.int32()), pa.field("cjk_share", pa.float32())])
    old_fields = [
        pa.field("quality", old_quality) if f.name == "quality" else f
        for f in DOCUMENT_SCHEMA
        if f.name not in ("version", "access", "native_id", "pii", "superseded_at")
    ]
    old_schema = pa.schema(old_fields)
    (home / "warehouse").mkdir()
    sql = SqlCatalog(
        "fincorpus", uri=f"sqlite:///{home / 'catalog.db'}", warehouse=(home / "warehouse").as_uri()
    )
    sql.create_namespace("fincorpus")
    props = {**store.TABLE_PROPERTIES, "fincorpus.schema_version": "1"}
    t = sql.create_table("fincorpus.documents", schema=old_schema, properties=props)
    row = make_row()
    row["quality"] = {"length_chars": 6, "cjk_share": 0.9}
    t.append(
        pa.Table.from_pylist([{k: v for k, v in row.items() if k in old_schema.names}], schema=old_schema)
    )
    t = sql.load_table("fincorpus.documents")
    t.manage_snapshots().create_tag(t.current_snapshot().snapshot_id, "old").commit()
    removed_schema = pa.schema(
        [
            *old_fields,
            pa.field("removed_stage", pa.string(), False),
            pa.field("removed_reason", pa.string(), False),
        ]
    )
    r = sql.create_table("fincorpus.removed", schema=removed_schema, properties=props)
    gone = {**{k: v for k, v in row.items() if k in old_schema.names}, "url": "http://a.test/x.html"}
    gone.update(doc_id="x" * 32, removed_stage="quality.basic", removed_reason="too short")
    r.append(pa.Table.from_pylist([gone], schema=removed_schema))
    r = sql.load_table("fincorpus.removed")
    r.manage_snapshots().create_tag(r.current_snapshot().snapshot_id, "old").commit()

    with pytest.raises(CatalogError, match="fincorpus migrate"):
        CorpusCatalog(home).tags()
    assert migrate(home) == ["old"]
    cat = CorpusCatalog(home)
    old = cat.read("old").to_pylist()
    assert len(old) == 1 and old[0]["version"] is None and old[0]["text"] == "上海金融监管局发布通知。"
    assert old[0]["quality"]["dup_line_frac"] is None and old[0]["quality"]["cjk_share"] > 0
    assert cat.read("old", "removed").column("removed_reason").to_pylist() == ["too short"]
    stage(home, "r1", [make_row("http://a.test/new.html", text="新文档", version=3)])
    publish(home, "new")
    cat = CorpusCatalog(home)
    assert cat.table.properties["fincorpus.schema_version"] == SCHEMA_VERSION
    new = {r["url"]: r["version"] for r in cat.read("new").to_pylist()}
    assert new == {"http://a.test/1.html": None, "http://a.test/new.html": 3}
    assert len(cat.read("old").to_pylist()) == 1  # the old tag is unchanged
    with pytest.raises(CatalogError, match="nothing to do"):
        migrate(home)


def test_pull_filters_by_finance_score(home: Path, tmp_path: Path) -> None:
    stage(
        home,
        "r1",
        [
            make_row("http://a.test/1.html", text="央行降准", finance_score=0.93),
            make_row("http://a.test/2.html", text="体育新闻", finance_score=0.04),
            make_row("http://a.test/3.html", text="旧文档"),  # scored before schema 3: no score, left out
        ],
    )
    publish(home, "v1")
    pulled = pull(home, "v1", tmp_path / "fin", min_finance_score=0.5)
    assert pulled.rows == 1
    manifest = json.loads((tmp_path / "fin" / "manifest.json").read_text())
    assert float(manifest["filters"]["min_finance_score"]) == 0.5  # canonical manifests hold no floats
    with pytest.raises(CatalogError, match="between 0 and 1"):
        pull(home, "v1", tmp_path / "bad", min_finance_score=5)
