"""Takedowns and the source gate with the staged runs, the warehouse and the WARC segments in an object store
(FINCORPUS_WAREHOUSE=s3://..., moto's S3 server on 127.0.0.1; the catalog stays SQLite under the home).

A takedown without --purge works there in full: staged and published documents become tombstones in the next
snapshot and pulls (to a folder or to s3://) leave them out. A purge is refused in one line before anything is
logged: erasing bytes in place is not possible on S3 objects yet (docs/compliance.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fincorpus.catalog import erasure
from fincorpus.catalog.export import pull, verify
from fincorpus.catalog.store import CorpusCatalog
from fincorpus.pipelines import gate
from fincorpus.pipelines.ingest import stage_records, staging
from fincorpus.pipelines.publish import publish
from fincorpus.storage import Storage
from fincorpus.takedown import TakedownError, TakedownRequest
from tests.rows import make_row
from tests.test_compliance_store import clean_text, corpus


@pytest.fixture
def remote(s3_server: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch, request) -> str:  # type: ignore[no-untyped-def]
    prefix = f"s3://fincorpus-test/takedown-{request.node.name[-30:]}"
    for k, v in {**s3_server, "FINCORPUS_WAREHOUSE": prefix}.items():
        monkeypatch.setenv(k, v)
    return prefix


def req(kind: str, value: str, purge: bool = False) -> TakedownRequest:
    return TakedownRequest(
        kind=kind, value=value, requester="权利人", reason="撤稿", legal_basis="rights-holder", purge=purge
    )


def test_takedown_on_an_object_store_warehouse(remote: str, home: Path, tmp_path: Path) -> None:
    rows = corpus(spam=6)
    stage_records(home, "run-1", rows, {}, dedup=False)
    assert staging(home).remote and not (home / "staging").exists()
    done = {r.source_id: r for r in gate.pre_assess_run(home, "run-1")}
    assert done["spammy"].blocked
    assert staging(home).is_file("run-1/gate-spammy-pre-assessment.json")  # the copy beside the run, on S3
    publish(home, "v1")
    gone = rows[0]["doc_id"]
    res = erasure.take_down(home, req("doc_id", gone))
    assert res.found_in == {"catalog": 1}

    # a staged document of a later run, taken down before its publish
    extra = [
        make_row(f"http://clean.test/new{i}.html", clean_text(300 + i), source_id="clean") for i in range(2)
    ]
    stage_records(home, "run-2", extra, {}, dedup=False)
    assert erasure.take_down(home, req("doc_id", extra[0]["doc_id"])).found_in == {"staged": 1}

    info = publish(home, "v2").tag
    records = CorpusCatalog(home).read("v2", "records", columns=("doc_id", "removed_stage")).to_pylist()
    stages = {r["doc_id"]: r["removed_stage"] for r in records}
    assert stages[gone] == stages[extra[0]["doc_id"]] == "takedown"
    assert info.documents == 24 and info.removed == 2

    # pulls of the older tag leave the covered document out, to a folder and to the object store
    local = pull(home, "v1", tmp_path / "v1")
    assert local.stats["compliance"][0].startswith("takedowns: left out 1 document")
    ids = {
        r["doc_id"]
        for p in (tmp_path / "v1" / "data").glob("*.parquet")
        for r in pq.read_table(p).to_pylist()
    }
    assert gone not in ids and len(ids) == 23 and verify(tmp_path / "v1") == []
    target = f"{remote}-pulls/v1"
    res_s3 = pull(home, "v1", target, include_taken_down=True)
    store = Storage(target)
    compliance = json.loads(store.read_bytes("compliance.json"))
    assert compliance["takedowns"]["included_by_request"] and compliance["takedowns"]["excluded"] == 0
    assert res_s3.rows == 24
    logged = [json.loads(x) for x in (home / erasure.ACCESS_LOG).read_text(encoding="utf-8").splitlines()]
    assert logged[-1]["out"] == target and logged[-1]["documents"] == 1


def test_a_purge_on_an_object_store_is_refused_before_anything_is_logged(remote: str, home: Path) -> None:
    rows = corpus(spam=0)
    stage_records(home, "run-1", rows, {}, dedup=False)
    publish(home, "v1")
    with pytest.raises(TakedownError, match=r"--purge: .*FINCORPUS_WAREHOUSE.* without --purge"):
        erasure.take_down(home, req("doc_id", rows[0]["doc_id"], purge=True))
    assert not (home / erasure.LOG).exists()
    assert erasure.take_down(home, req("doc_id", rows[0]["doc_id"]), dry_run=True).doc_ids == [
        rows[0]["doc_id"]
    ]
