"""Issue 11's acceptance figure: crawl the mirror sites with the demo sources (each source declares only its
generic class: no licence_overrides) and compare every document's decided class with truth's
expected_licence_class: >= 98 % overall and >= 90 % for each class with 5 or more documents."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fincorpus.catalog.export import pull
from fincorpus.fixture_server import FixtureServer
from fincorpus.licence_eval import Agreement, agreement, decide_items, processed_items
from fincorpus.sources.registry import load_sources

REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"


@pytest.fixture(scope="module")
def mirror(prefect_harness: None, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    sys.path.insert(0, str(REPO))
    import flows

    home = tmp_path_factory.mktemp("licence-home")
    with FixtureServer(data_dir / "sites", 0, home / "requests.jsonl") as server:
        flows.ingest_flow(str(DEMO_SOURCES), None, str(home), server.proxy_url)
    flows.publish_flow("lic", str(home))
    pull(home, "lic", home.with_name(home.name + "-pulled"))
    kept = set(
        pq.read_table(home.with_name(home.name + "-pulled") / "data", columns=["canonical_url"])
        .column(0)
        .to_pylist()
    )
    sources = load_sources(DEMO_SOURCES)
    items = processed_items(home, sources)
    return {"items": items, "decisions": decide_items(items, sources), "kept": kept}


def test_demo_sources_declare_no_overrides() -> None:
    assert all(not s.licence_overrides for s in load_sources(DEMO_SOURCES).sources)


def _check(result: Agreement) -> None:
    assert result.documents > 0
    assert result.rate >= 0.98, (result.rate, result.confusions)
    for klass, (_, n) in result.by_class.items():
        if n >= 5:
            assert result.class_rate(klass) >= 0.90, (klass, result.by_class[klass], result.confusions)


def test_licence_classes_agree_with_truth(mirror: dict, truth: dict) -> None:
    every = agreement(mirror["items"], mirror["decisions"], truth)
    assert every.documents >= 1000  # kept and removed documents alike
    _check(every)
    kept = agreement(mirror["items"], mirror["decisions"], truth, only=mirror["kept"])
    assert kept.documents >= 850
    _check(kept)
    assert set(every.by_class) >= {
        "cn-art5-official",
        "exchange-asserted",
        "media-third-party-reprint",
        "media-unknown",
        "unknown",
    }


def test_every_decision_records_its_evidence(mirror: dict) -> None:
    for d in mirror["decisions"]:
        assert d.rule and d.rules_version and d.prior
        if d.rule not in ("prior", "page.list"):
            assert d.evidence or d.evidence_link, d
        if d.licence_class == "media-third-party-reprint":
            assert d.publisher, d
