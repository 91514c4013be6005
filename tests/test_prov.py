"""W3C PROV export: parses back with `prov` (PROV-JSON) and rdflib (PROV-O), with the expected records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fincorpus.catalog.prov import document_prov, find_document, snapshot_prov, step_kind, write_prov
from fincorpus.catalog.stats import collect
from tests.snapshot_folder import snapshot_rows, write_snapshot

prov_model = pytest.importorskip("prov.model")
rdflib = pytest.importorskip("rdflib")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
FC = rdflib.Namespace("https://github.com/fincorpus/fincorpus/ns/prov#")
PUBLISHED = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def _graph(ttl: Path) -> rdflib.Graph:
    g = rdflib.Graph()
    g.parse(ttl, format="turtle")
    return g


def test_document_prov_round_trips_and_names_everything(tmp_path: Path) -> None:
    row = snapshot_rows()[4]
    doc = document_prov(row, tag="v1", snapshot_id=42, published_at=PUBLISHED, operator="测试运营方")
    js, ttl = write_prov(tmp_path, doc, "doc")
    assert prov_model.ProvDocument.deserialize(js) == doc
    again = prov_model.ProvDocument.deserialize(ttl, format="rdf", rdf_format="turtle")
    assert {str(r.identifier) for r in again.get_records(prov_model.ProvEntity)} == {
        str(r.identifier) for r in doc.get_records(prov_model.ProvEntity)
    }
    g = _graph(ttl)
    kinds = {
        str(o).rsplit("#", 1)[1] for s, o in g.subject_objects(rdflib.RDF.type) if str(o).startswith(str(FC))
    }
    assert {"fetch", "extract", "clean", "dedup", "licence", "publish"} <= kinds
    raw = rdflib.URIRef(f"urn:fincorpus:raw-{row['raw_sha256']}")
    text = rdflib.URIRef(f"urn:fincorpus:text-{row['doc_id']}")
    assert (raw, rdflib.RDF.type, PROV.Entity) in g
    assert (rdflib.URIRef(f"urn:fincorpus:extracted-{row['doc_id']}"), PROV.wasDerivedFrom, raw) in g
    assert (rdflib.URIRef("urn:fincorpus:snapshot-42"), PROV.hadMember, text) in g
    fetch = rdflib.URIRef(f"urn:fincorpus:fetch-{row['doc_id']}-{row['run_id']}")
    assert g.value(fetch, PROV.endedAtTime).toPython() == row["fetched_at"]
    agents = {
        str(g.value(a, FC.name)): str(g.value(a, FC.version)) for a in g.subjects(rdflib.RDF.type, PROV.Agent)
    }
    assert agents["trafilatura"] == "2.3.1" and "fincorpus" in agents and "测试运营方" in agents
    plans = list(g.subjects(rdflib.RDF.type, PROV.Plan))
    assert [str(g.value(p, FC.sha256)) for p in plans] == [row["config_sha256"]]


def test_processing_times_come_from_the_run_id_and_say_so(tmp_path: Path) -> None:
    row = snapshot_rows()[1]  # run id 20260301T010000Z-run1
    doc = document_prov(row)
    act = next(a for a in doc.get_records(prov_model.ProvActivity) if "extract" in str(a.identifier))
    assert act.get_startTime() == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert "run_id" in {str(v) for v in act.get_attribute("fc:timeSource")}


def test_snapshot_prov_has_runs_files_and_configs(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    st = collect(folder)
    files = [{"name": "data/train-00000-of-00001.parquet", "sha256": "ab" * 32, "sm3": "cd" * 32, "rows": 30}]
    doc = snapshot_prov(
        tag="v1", snapshot_id=42, stats=st, files=files, published_at=PUBLISHED, operator="op"
    )
    js, ttl = write_prov(tmp_path, doc)
    assert prov_model.ProvDocument.deserialize(js) == doc
    g = _graph(ttl)
    ingests = list(g.subjects(rdflib.RDF.type, FC.ingest))
    assert len(ingests) == 2 and sum(int(g.value(i, FC.documents)) for i in ingests) == 30
    assert len(list(g.subjects(rdflib.RDF.type, PROV.Plan))) == 2
    f = rdflib.URIRef("urn:fincorpus:file-42-data-train-00000-of-00001.parquet")
    assert str(g.value(f, FC.sha256)) == "ab" * 32
    assert (f, PROV.wasDerivedFrom, rdflib.URIRef("urn:fincorpus:snapshot-42")) in g


def test_find_document_by_id_or_url(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    rows = snapshot_rows()
    assert find_document(folder, rows[7]["doc_id"])["url"] == rows[7]["url"]
    assert find_document(folder, rows[3]["url"])["doc_id"] == rows[3]["doc_id"]
    assert find_document(folder, "nope") is None


def test_step_kinds() -> None:
    assert [step_kind(s) for s in ("fetch", "decode", "normalize:nfc", "pii:mask", "dedup.near", "optout", "licence")] == [
        "fetch", "extract", "clean", "clean", "dedup", "licence", "licence",
    ]  # fmt: skip
