"""The backbone's acceptance test: crawl the mirror sites through the fixture proxy with the Prefect flows,
publish, pull, and check the result against shared/data/sites/truth.jsonl."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fincorpus.catalog.export import pull, verify
from fincorpus.catalog.store import CorpusCatalog
from fincorpus.fixture_server import FixtureServer
from fincorpus.sources.archive import read_raw

REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"


@pytest.fixture(scope="module")
def built(prefect_harness: None, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    sys.path.insert(0, str(REPO))
    import flows

    home = tmp_path_factory.mktemp("e2e-home")
    log = home / "requests.jsonl"
    with FixtureServer(data_dir / "sites", 0, log) as server:
        summary = flows.ingest_flow(str(DEMO_SOURCES), None, str(home), server.proxy_url)
        requests = [json.loads(line) for line in log.read_text().splitlines()]
    published = flows.publish_flow("e2e", str(home))
    out = home.with_name(home.name + "-pulled")
    pull(home, "e2e", out)
    docs = pq.read_table(out / "data").to_pylist()
    removed = CorpusCatalog(home).read("e2e", "removed").to_pylist()
    return {
        "home": home,
        "summary": summary,
        "published": published,
        "requests": requests,
        "docs": docs,
        "removed": removed,
        "out": out,
    }


def test_no_disallowed_url_is_ever_requested(built: dict, truth: dict) -> None:
    disallowed = {u for u, t in truth.items() if not t["allowed_by_robots"]["generic"]}
    requested = {r["url"] for r in built["requests"]}
    assert len(requested) > 700
    assert requested & disallowed == set()
    assert all(r["user_agent"].startswith("fincorpus/") for r in built["requests"])


def test_blocked_host_sees_only_robots_txt(built: dict) -> None:
    assert [r["path"] for r in built["requests"] if r["host"] == "blocked.test"] == ["/robots.txt"]


@pytest.mark.parametrize("host", ["regulator.test", "finnews.test"])
def test_allowed_articles_reach_the_snapshot(built: dict, truth: dict, host: str) -> None:
    wanted = {
        u
        for u, t in truth.items()
        if t["host"] == host and t["kind"] == "article" and t["allowed_by_robots"]["generic"]
    }
    got = {d["canonical_url"] for d in built["docs"]}
    assert len(wanted & got) / len(wanted) >= 0.90, sorted(wanted - got)[:10]


def test_at_least_99_percent_of_allowed_articles_on_reachable_hosts_are_stored(
    built: dict, truth: dict
) -> None:
    """Through links, sitemaps, feeds and the exchange JSON API (issue 3)."""
    wanted = {
        u
        for u, t in truth.items()
        if t["host"] != "blocked.test"
        and t["kind"] in ("article", "pdf")
        and t["allowed_by_robots"]["generic"]
    }
    stored = {d["canonical_url"] for d in built["docs"] + built["removed"]}
    assert len(wanted) > 900
    assert len(wanted & stored) / len(wanted) >= 0.99, sorted(wanted - stored)[:10]
    via = {d["discovered_via"] for d in built["docs"] if d["source_id"] == "exchange"}
    assert "api-item" in via


def test_exchange_items_carry_the_listing_metadata(built: dict, truth: dict) -> None:
    items = [d for d in built["docs"] if "/disclosure/" in d["canonical_url"]]
    assert len(items) >= 230
    for d in items:
        t = truth[d["canonical_url"]]
        assert d["title"] == t["title"] and d["native_id"]
        assert d["licence_class"] == "exchange-asserted" and "train" in d["usage"]


def test_reprints_and_templates(built: dict, truth: dict) -> None:
    """Issue 5 on the crawl: originals beat their reprints; same-template announcements are all kept."""
    by_url = {r["canonical_url"]: r for r in built["docs"] + built["removed"]}
    kept = {d["canonical_url"] for d in built["docs"]}
    template_docs = [
        u for u, t in truth.items() if any("template near-duplicate" in x for x in t.get("dup_detail") or [])
    ]
    assert len(template_docs) >= 20
    assert all(u in kept for u in template_docs), [u for u in template_docs if u not in kept]
    canon = {
        t["dup_canonical_url"]
        for t in truth.values()
        if t.get("dup_canonical_url") and t["host"] != "blocked.test"
    }
    canon = {u for u in canon if not truth[u].get("original_url")}  # originals, not a reprint's own copies
    assert canon and all(u in kept for u in canon), [
        (u, by_url.get(u, {}).get("removed_reason")) for u in canon if u not in kept
    ]
    groups: dict[str, list[str]] = {}
    for u, t in truth.items():
        details = " ".join(t.get("dup_detail") or [])
        wanted = t.get("dup_group") and t["allowed_by_robots"]["generic"] and t["host"] != "blocked.test"
        if wanted and any(k in details for k in ("reprint", "byte-identical", "capture")):
            groups.setdefault(t["dup_group"], []).append(u)
    assert len(groups) >= 30
    for g, urls in groups.items():
        assert sum(1 for u in urls if u in kept) == 1, (g, [u for u in urls if u in kept])
    # Every reprint truth names is removed as a duplicate of exactly its original, which is kept: as a near
    # duplicate (relation reprint), or as an exact one when cleaning took away the only difference (a
    # "原标题：…" header line is a source line, see cleaning/boilerplate.py).
    reprint_of = {
        u: d.removeprefix("reprint of ").split()[0].rstrip(";")
        for u, t in truth.items()
        for d in t.get("dup_detail") or []
        if d.startswith("reprint of ") and t["allowed_by_robots"]["generic"] and t["host"] != "blocked.test"
    }
    assert len(reprint_of) >= 20
    for u, original in reprint_of.items():
        r, o = by_url[u], by_url[original]
        assert o["canonical_url"] in kept and r["duplicate_of"] == o["doc_id"], (
            u,
            original,
            r["removed_reason"],
        )
        assert r["duplicate_relation"] in ("reprint", "exact"), (u, r["duplicate_relation"])
    reprints = [r for r in built["removed"] if r.get("duplicate_relation") == "reprint"]
    assert len(reprints) >= 15
    for r in reprints:
        assert r["removed_stage"] == "dedup.near" and r["duplicate_similarity"] is not None
        assert by_url[r["canonical_url"]]["duplicate_of"] in {d["doc_id"] for d in built["docs"]}


def test_ai_crawler_reservations_are_recorded(built: dict) -> None:
    society = [d for d in built["docs"] if d["canonical_url"].startswith("http://finnews.test/society/a/")]
    assert society
    for d in society:
        assert d["ai_reserved"] and "CCBot" in d["access"]["ai_disallowed"] and "train" not in d["usage"]
        assert d["access"]["robots_sha256"] and d["optout_reason"]


def test_byte_identical_copies_are_recorded_as_duplicates(built: dict, truth: dict) -> None:
    by_url = {r["canonical_url"]: r for r in built["docs"] + built["removed"]}
    pairs = []
    for url, t in truth.items():
        for detail in t.get("dup_detail") or []:
            if detail.startswith("byte-identical copy of "):
                pairs.append((url, detail.removeprefix("byte-identical copy of ").split()[0]))
    assert len(pairs) >= 7
    for copy, original in pairs:
        a, b = by_url[copy], by_url[original]
        # one of the two is removed as an exact duplicate of the other (the other may itself be a reprint
        # of an original elsewhere, removed by near-duplicate detection)
        dup = a if a.get("duplicate_relation") == "exact" else b
        other = b if dup is a else a
        # ... or both are exact duplicates of one kept document (the copied page is itself an unchanged
        # reprint of an original elsewhere): one exact cluster either way
        same_cluster = (
            other.get("duplicate_relation") == "exact" and dup["duplicate_of"] == other["duplicate_of"]
        )
        assert dup["removed_stage"] == "dedup.exact" and (
            dup["duplicate_of"] == other["doc_id"] or same_cluster
        ), (
            copy,
            original,
        )
    snapshot_hashes = [d["text_sha256"] for d in built["docs"]]
    assert len(snapshot_hashes) == len(set(snapshot_hashes))  # no exact duplicates left in the corpus


def test_every_raw_ref_resolves_to_bytes_with_raw_sha256(built: dict) -> None:
    for row in built["docs"] + built["removed"]:
        raw = read_raw(built["home"], row["raw_ref"])
        assert hashlib.sha256(raw.body).hexdigest() == row["raw_sha256"], row["url"]
        assert raw.url == row["canonical_url"] or row["canonical_url"].startswith(raw.url)


def test_licence_classes_and_optouts_match_truth(built: dict, truth: dict) -> None:
    """Licence classes are decided per document from evidence (the demo sources declare only each host's generic
    class): issue 11 asks for 98% agreement overall and 90% per class (tests/test_licensing_mirror.py holds the
    per-class figures); opt-outs must hold for every document."""
    checked = agree = 0
    for d in built["docs"]:
        t = truth.get(d["canonical_url"])
        if t is None:
            continue
        checked += 1
        agree += d["licence_class"] == t["expected_licence_class"]
        if t["tdm_reserved"] or t["noai"]:
            assert "train" not in d["usage"], d["canonical_url"]
            assert d["tdm_reserved"] == t["tdm_reserved"] and d["noai"] == t["noai"]
    assert checked > 700 and agree / checked >= 0.98, (agree, checked)


def test_provenance_and_manifest(built: dict) -> None:
    assert verify(built["out"]) == []
    d = built["docs"][0]
    assert d["steps"][0]["step"] == "fetch" and d["steps"][-1]["step"] == "licence"
    assert d["run_id"] == built["summary"]["run_id"] and len(d["config_sha256"]) == 64
    assert built["published"]["documents"] == len(built["docs"])
    run = json.loads((built["home"] / "staging" / d["run_id"] / "run.json").read_text())
    assert run["status"] == "published" and run["tag"] == "e2e"
    crawl_log = built["home"] / "staging" / d["run_id"] / "crawl-regulator.jsonl"
    outcomes = [json.loads(x)["outcome"] for x in crawl_log.read_text().splitlines()]
    assert "skipped-robots" in outcomes and "robots" in outcomes


def test_second_ingest_of_unchanged_sites_changes_no_document(built: dict, data_dir: Path) -> None:
    import flows

    home = built["home"]
    with FixtureServer(data_dir / "sites") as server:
        flows.ingest_flow(str(DEMO_SOURCES), ["regulator", "reprint"], str(home), server.proxy_url)
    flows.publish_flow("e2e-again", str(home))
    cat = CorpusCatalog(home)
    before = {r["doc_id"]: r["text_sha256"] for r in cat.read("e2e").to_pylist()}
    after = {r["doc_id"]: r["text_sha256"] for r in cat.read("e2e-again").to_pylist()}
    assert after == before  # same ids, same texts: a re-crawl is idempotent


def test_reprocess_rebuilds_documents_from_the_archive_without_network(built: dict) -> None:
    """The fixture server is stopped: reprocess must read only the WARC records."""
    import flows

    # regulator only: near duplicates across sources are found within a run (a cross-snapshot index is issue 5)
    summary = flows.reprocess_flow(str(DEMO_SOURCES), ["regulator"], str(built["home"]))
    records = pq.read_table(Path(summary["path"]) / "final").to_pylist()
    staged = [r for r in records if r["status"] == "kept"]
    published = {d["doc_id"]: d for d in built["docs"] if d["source_id"] == "regulator"}
    assert summary["crawl"]["regulator"]["stored"] > 80
    extra = {d["doc_id"]: d["canonical_url"] for d in staged if d["doc_id"] not in published}
    assert {d["doc_id"] for d in staged} == set(published), extra
    for d in staged:
        assert d["text_sha256"] == published[d["doc_id"]]["text_sha256"], (
            d["canonical_url"],
            [s for s in d["steps"] if "template" in s["step"] or s["step"].startswith("boilerplate")],
            [
                s
                for s in published[d["doc_id"]]["steps"]
                if "template" in s["step"] or s["step"].startswith("boilerplate")
            ],
        )
        assert d["raw_ref"] == published[d["doc_id"]]["raw_ref"]


def test_scheduled_deployments_follow_each_sources_cron(prefect_harness: None) -> None:
    sys.path.insert(0, str(REPO))
    import flows

    deps = {d.name: d for d in flows.deployments(str(DEMO_SOURCES))}
    assert set(deps) == {"ingest-regulator", "ingest-finnews", "ingest-reprint", "ingest-exchange"}
    dep = deps["ingest-regulator"]
    assert dep.parameters["source_ids"] == ["regulator"] and dep.parameters["sources_path"] == str(
        DEMO_SOURCES
    )
    assert [s.schedule.cron for s in dep.schedules] == ["0 2 * * *"]


def test_cleaning_on_the_crawl(built: dict, truth: dict) -> None:
    """Issue 4 on the crawl: finance_score against truth's domain labels, rights notices and original sources of
    reprints, official-document metadata against the regulator's 信息索引, stock codes never masked as PII."""
    rows = built["docs"] + built["removed"]
    scored = [
        (r["finance_score"] >= 0.5, truth[r["canonical_url"]]["domain_label"] == "finance")
        for r in rows
        if r["canonical_url"] in truth
        and truth[r["canonical_url"]]["kind"] == "article"
        and truth[r["canonical_url"]]["domain_label"] in ("finance", "other")
        and r.get("finance_score") is not None
    ]
    assert len(scored) > 900
    tp = sum(1 for p, y in scored if p and y)
    precision = tp / sum(1 for p, _ in scored if p)
    recall = tp / sum(1 for _, y in scored if y)
    assert 2 * precision * recall / (precision + recall) >= 0.93, (precision, recall)

    reprints = [r for r in rows if r["source_id"] == "reprint" and "/article/" in r["canonical_url"]]
    assert len(reprints) >= 20
    for r in reprints:
        assert r["rights_notice"] and "版权所有" in r["rights_notice"], r["canonical_url"]
        assert r["original_source"], r["canonical_url"]
        assert "责任编辑" not in r["text"]
    # the reprint's 来源 names the mirror host; a reprinted article may name its own earlier source first
    named_host = [r["original_source"] in ("finnews.test", "regulator.test") for r in reprints]
    assert sum(named_host) / len(named_host) >= 0.9

    official = [
        (r, truth[r["canonical_url"]].get("fields_shown") or {})
        for r in rows
        if r["source_id"] == "regulator"
    ]
    organs = [(r["issuing_body"], f["organ"]) for r, f in official if f.get("organ")]
    numbers = [(r["doc_number"], f["docno"]) for r, f in official if f.get("docno")]
    assert len(organs) >= 70 and all(got == want for got, want in organs), [
        x for x in organs if x[0] != x[1]
    ][:5]
    assert numbers and all(got == want for got, want in numbers), [x for x in numbers if x[0] != x[1]][:5]

    disclosures = [r for r in rows if "/disclosure/" in r["canonical_url"]]
    codes = [truth[r["canonical_url"]].get("company_code") for r in disclosures]
    assert all(code in r["text"] for r, code in zip(disclosures, codes, strict=True) if code)
    for r in rows:
        assert r["quality"]["lines"] is not None and r["pii"] is not None
        steps = [s["step"] for s in r["steps"]]
        if r.get("text") and r.get("removed_stage") != "extract":
            assert "boilerplate:lines+notices" in steps and "quality:scores" in steps, steps
