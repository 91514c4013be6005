"""`fincorpus audit TAG` on the real demo snapshot: 100% verified as built, and exactly the documents damaged in a
copy of the home (a flipped byte in a WARC record, a text edited in the table, ...) fail, each with its check."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyiceberg.expressions import EqualTo

from fincorpus.catalog.audit import (
    CHECKS,
    FAILED,
    NA,
    OK,
    AuditReport,
    Failure,
    Tally,
    audit_snapshot,
    check_licence,
    check_optout,
    check_text,
    environment,
    write_report,
)
from fincorpus.catalog.store import CatalogError, CorpusCatalog
from fincorpus.fixture_server import FixtureServer
from fincorpus.pipelines.ingest import new_run_id, stage_records
from fincorpus.pipelines.publish import publish
from fincorpus.sources.registry import load_sources
from tests.rows import make_row

REPO = Path(__file__).resolve().parent.parent
DEMO_SOURCES = REPO / "fincorpus" / "demo" / "sources.yaml"
TAG = "demo"
CLI = [sys.executable, "-m", "fincorpus.cli"]
RUN = {
    "capture_output": True,
    "text": True,
    "timeout": 900,
    "env": {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
}


@pytest.fixture(scope="module")
def demo(prefect_harness: None, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The demo snapshot as `fincorpus demo` builds it (crawl through the fixture proxy, Prefect flows)."""
    sys.path.insert(0, str(REPO))
    import flows

    home = tmp_path_factory.mktemp("audit-home")
    with FixtureServer(data_dir / "sites", 0, home / "requests.jsonl") as server:
        flows.ingest_flow(str(DEMO_SOURCES), None, str(home), server.proxy_url)
    flows.publish_flow(TAG, str(home))
    catalog = CorpusCatalog(home, create=False)
    docs = catalog.read(
        TAG, columns=("doc_id", "canonical_url", "source_id", "raw_ref", "extractor")
    ).to_pylist()
    return {"home": home, "docs": docs, "info": catalog.tag(TAG)}


def copy_home(home: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home-copy"
    shutil.copytree(home, dst, ignore=shutil.ignore_patterns("audits"))
    return dst


def failures(report: AuditReport) -> set[tuple[str, str, str]]:
    return {(f.doc_id, f.check, f.outcome) for f in report.tally.failures}


# -- the demo snapshot as built -------------------------------------------------------------------------------


def test_demo_snapshot_is_fully_verified(demo: dict) -> None:
    seen: list[tuple[int, int | None]] = []
    rep = audit_snapshot(demo["home"], TAG, workers=2, progress=lambda d, t: seen.append((d, t)))
    assert rep.documents == demo["info"].documents == len(demo["docs"]) > 800
    assert rep.tally.failures == [], rep.tally.failures[:5]
    assert rep.verified == rep.documents and rep.percent == 100.0 and rep.ok
    data = rep.to_json()
    for check in CHECKS:  # every check ran on every kept document of the demo (none is n/a or not run)
        assert data["by_check"][check][OK] == rep.documents, (check, data["by_check"][check])
    assert {d["source_id"] for d in demo["docs"]} == set(data["by_source"])
    assert all(c["verified"] == c["documents"] for c in data["by_source"].values())
    assert seen[-1] == (rep.documents, rep.documents) and len(seen) > 1
    assert data["workers"] == 2 and data["environment"]["trafilatura"] != "not installed"
    # the report file: never overwritten, a second one gets its own name
    first = write_report(demo["home"], rep)
    second = write_report(demo["home"], rep)
    assert first != second and first.parent == demo["home"] / "audits"
    assert (
        first.name.startswith(f"audit-{TAG}-") and json.loads(first.read_text())["percent_verified"] == 100.0
    )


def test_removed_records_are_audited_on_request(demo: dict) -> None:
    """Removed records (quality, dedup) keep their raw bytes and reproduce too; their usage clears nothing."""
    rep = audit_snapshot(demo["home"], TAG, workers=1, include_removed=True, source_ids=["reprint"])
    kept = sum(1 for d in demo["docs"] if d["source_id"] == "reprint")  # the reprints lose to their originals
    assert rep.documents > kept and rep.tally.by_source["reprint"]["documents"] == rep.documents
    assert rep.tally.by_check["licence"][OK] == rep.documents
    assert rep.tally.failures == [], rep.tally.failures[:5]


# -- damage is caught, document by document --------------------------------------------------------------------


def _member_span(path: Path, offset: int) -> int:
    """Length of the gzip member at ``offset`` (each WARC record is a member of its own)."""
    data = path.read_bytes()
    d = zlib.decompressobj(wbits=31)
    d.decompress(data[offset:])
    assert d.eof
    return len(data) - offset - len(d.unused_data)


def test_a_corrupted_warc_record_fails_exactly_its_document(demo: dict, tmp_path: Path) -> None:
    home = copy_home(demo["home"], tmp_path)
    victim = next(
        d for d in sorted(demo["docs"], key=lambda d: d["doc_id"]) if d["extractor"] == "trafilatura"
    )
    rel, _, offset = victim["raw_ref"].rpartition("#")
    warc = home / rel
    span = _member_span(warc, int(offset))
    data = bytearray(warc.read_bytes())
    data[int(offset) + span // 2] ^= 0xFF  # one flipped byte inside the record's gzip member
    warc.write_bytes(bytes(data))

    res = subprocess.run(  # the command a user runs, in its own process (exit code, JSON on stdout)
        [
            sys.executable,
            "-m",
            "fincorpus.cli",
            "audit",
            TAG,
            "--json",
            "--workers",
            "1",
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )
    assert res.returncode == 1, res.stderr[-2000:]
    data_out = json.loads(res.stdout)
    assert [(f["doc_id"], f["check"], f["outcome"]) for f in data_out["failures"]] == [
        (victim["doc_id"], "raw", FAILED)
    ]
    reason = data_out["failures"][0]["reason"]
    assert "\n" not in reason and rel in reason and offset in reason, reason
    assert data_out["failures"][0]["url"] == victim["canonical_url"]
    assert data_out["verified"] == data_out["documents"] - 1 == demo["info"].documents - 1
    assert data_out["by_check"]["reprocess"]["not-run"] == 1  # nothing to re-run from damaged bytes
    assert data_out["by_check"]["text"][OK] == data_out["documents"]
    assert Path(data_out["report_file"]).is_file() and Path(data_out["report_file"]).parent == home / "audits"


def test_edited_records_fail_the_check_they_break(demo: dict, tmp_path: Path) -> None:
    """Replacement records published into a copy: a text edited with the old text_sha256 (text check), a text
    that came from an older extractor (reprocess: "extractor version changed", not a mismatch), an opt-out flag
    set without its reason (opt-out check)."""
    home = copy_home(demo["home"], tmp_path)
    catalog = CorpusCatalog(home, create=False)
    html = [d for d in sorted(demo["docs"], key=lambda d: d["doc_id"]) if d["extractor"] == "trafilatura"]
    free = [d for d in html if d["source_id"] == "regulator"]  # no opt-out on the regulator's pages
    edited, old, flagged = html[0]["doc_id"], html[1]["doc_id"], free[0]["doc_id"]
    assert len({edited, old, flagged}) == 3

    def record(doc_id: str) -> dict:
        return catalog.read(TAG, "records", row_filter=EqualTo("doc_id", doc_id)).to_pylist()[0]

    a = record(edited)
    a["text"] = a["text"] + "（此句为篡改）"  # text_sha256 left as it was
    b = record(old)
    b["text"] = b["text"] + "\n旧版抽取器多留的一行"
    b["text_sha256"] = hashlib.sha256(b["text"].encode("utf-8")).hexdigest()
    b["extractor_version"] = "1.0.0"
    c = record(flagged)
    assert not (c["noai"] or c["tdm_reserved"] or c["ai_reserved"])
    c["noai"] = True  # no optout_reason: the flag did not come from a reading of the page
    stage_records(home, new_run_id(), [a, b, c], {"kind": "test-edit"}, dedup=False)
    publish(home, "edited")

    rep = audit_snapshot(home, "edited", workers=2)
    assert failures(rep) == {
        (edited, "text", FAILED),
        (old, "reprocess", "changed"),
        (flagged, "optout", FAILED),
    }
    why = {(f.doc_id, f.check): f.reason for f in rep.tally.failures}
    assert "the text was edited" in why[(edited, "text")]
    assert why[(old, "reprocess")].startswith(
        "extractor version changed: recorded trafilatura 1.0.0, installed"
    )
    assert "inconsistent" in why[(flagged, "optout")]
    assert rep.verified == rep.documents - 3 and not rep.ok


def test_a_changed_configuration_is_reported_as_such(demo: dict, tmp_path: Path) -> None:
    """Re-running with a sources file whose regulator entry changed: its documents are "configuration changed"
    (not mismatches), the other sources still verify."""
    changed = tmp_path / "sources.yaml"
    text = DEMO_SOURCES.read_text(encoding="utf-8")
    assert text.count("max_pages: 2000") >= 2
    changed.write_text(text.replace("max_pages: 2000", "max_pages: 1999", 1), encoding="utf-8")
    assert load_sources(changed).get("regulator").max_pages == 1999
    rep = audit_snapshot(demo["home"], TAG, workers=1, sources=changed, source_ids=["regulator", "finnews"])
    by_source = rep.tally.by_source
    assert by_source["regulator"]["changed"] == by_source["regulator"]["documents"] > 0
    assert by_source["finnews"]["verified"] == by_source["finnews"]["documents"] > 0
    assert {(f.source_id, f.check, f.outcome) for f in rep.tally.failures} == {
        ("regulator", "reprocess", "changed")
    }
    assert all(f.reason.startswith("configuration changed: source 'regulator'") for f in rep.tally.failures)
    assert rep.tally.by_check["text"][OK] == rep.documents  # the other checks still ran


def test_unknown_tag_is_one_line(demo: dict) -> None:
    with pytest.raises(CatalogError, match="unknown tag 'nope'"):
        audit_snapshot(demo["home"], "nope", workers=1)


def test_the_command_prints_the_summary_and_refuses_bad_input(demo: dict) -> None:
    home = ["--home", str(demo["home"])]
    res = subprocess.run([*CLI, "audit", TAG, "--source", "regulator", "--workers", "1", *home], **RUN)
    n = sum(1 for d in demo["docs"] if d["source_id"] == "regulator")
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{n} of {n} documents verified (100.0%)" in res.stdout and "reprocess" in res.stdout
    for args, wanted in (
        (["nope"], "unknown tag 'nope'"),
        ([TAG, "--source", "nope"], "no documents of source(s) nope"),
        ([TAG, "--sources", "/nonexistent.yaml"], "does not exist"),
    ):
        res = subprocess.run([*CLI, "audit", *args, *home], **RUN)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and wanted in lines[0], res.stderr
    assert "--removed" in subprocess.run([*CLI, "audit", "--help"], **RUN).stdout


# -- units --------------------------------------------------------------------------------------------------------


def test_config_hash_does_not_depend_on_the_proxy() -> None:
    """The demo crawls through a fixture proxy on a random port; the record's config hash must not see it."""
    sf = load_sources(DEMO_SOURCES)
    other = sf.model_copy(update={"crawler": sf.crawler.model_copy(update={"proxy": "http://127.0.0.1:1"})})
    src = sf.get("regulator")
    assert sf.config_sha256(src) == other.config_sha256(src)
    slower = sf.model_copy(update={"crawler": sf.crawler.model_copy(update={"delay_seconds": 5.0})})
    assert sf.config_sha256(src) != slower.config_sha256(src)


def _decided(**over: object) -> dict:
    decision = {
        "rule": "source.declared",
        "evidence": None,
        "evidence_link": None,
        "prior": "cn-art5-official",
        "rules_version": "test-1",
        "spdx": None,
        "publisher": None,
        "contract_id": None,
        "contract_expires": None,
        "contract_after_expiry": [],
        "restrictions": [],
        "usage_before_optouts": ["research", "train", "commercial", "redistribute"],
    }
    row = make_row(
        licence_decision=decision,
        usage=["research", "train", "commercial", "redistribute"],
        status="kept",
        tdm_reserved=False,
        noai=False,
        ai_reserved=False,
        optout_reason=None,
        access={"robots_sha256": "0" * 64},
    )
    row.update(over)
    return row


def test_licence_check() -> None:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert check_licence(_decided(), at, None) == (OK, "")
    outcome, why = check_licence(_decided(noai=True, optout_reason="noai"), at, None)
    assert outcome == FAILED and "does not follow" in why and "['research', 'redistribute']" in why
    assert check_licence(_decided(noai=True, usage=["research", "redistribute"]), at, None) == (OK, "")
    outcome, why = check_licence(_decided(licence_decision=None), at, None)
    assert outcome == FAILED and "licence_decision" in why
    outcome, why = check_licence(_decided(legal_basis=""), at, None)
    assert outcome == FAILED and "legal_basis" in why
    assert check_licence(_decided(status="removed", usage=[]), at, None) == (OK, "")
    assert check_licence(_decided(status="removed"), at, None)[0] == FAILED
    rerun = {
        **_decided(),
        "licence_class": "unknown",
        "licence_decision": {"rule": "x", "rules_version": "test-2"},
    }
    outcome, why = check_licence(_decided(), at, rerun)
    assert outcome == "changed" and why.startswith("licence rules changed (test-1 -> test-2)")


def test_contract_usage_is_checked_at_the_commit_time() -> None:
    """A contract that expired after the commit: the snapshot's usage was right when it was committed."""
    row = _decided(licence_class="contract-licensed")
    row["licence_decision"] = {
        **row["licence_decision"],
        "contract_expires": datetime(2026, 3, 1, tzinfo=UTC),
        "contract_after_expiry": ["research"],
    }
    assert check_licence(row, datetime(2026, 2, 1, tzinfo=UTC), None) == (OK, "")
    assert check_licence(row, datetime(2026, 4, 1, tzinfo=UTC), None)[0] == FAILED


def test_text_and_optout_checks() -> None:
    assert check_text(make_row()) == (OK, "")
    assert check_text({**make_row(), "text": None, "text_sha256": None}) == (NA, "")
    assert check_text(make_row(text_sha256="0" * 64))[0] == FAILED
    assert check_optout(_decided(), None) == (OK, "")
    assert check_optout(_decided(tdm_reserved=True, optout_reason="tdm"), None) == (OK, "")
    assert check_optout(_decided(optout_reason="noai"), None)[0] == FAILED
    outcome, why = check_optout(_decided(access=None), None)
    assert outcome == FAILED and "access" in why
    outcome, why = check_optout(_decided(), {"tdm_reserved": True, "noai": False, "ai_reserved": False})
    assert outcome == FAILED and "tdm_reserved False -> True" in why


def test_listing_is_bounded_and_counts_stay_exact() -> None:
    total = Tally()
    for k in range(3):
        part = Tally()
        for i in range(4):
            row = make_row(f"http://a.test/{k}-{i}.html", status="kept")
            part.add_document(row, {"raw": (FAILED, "x"), "text": (OK, "")}, max_listed=5)
        total.merge(part, max_listed=5)
    assert total.documents == 12 and total.verified == 0
    assert len(total.failures) == 5 and total.not_listed == 7
    assert isinstance(total.failures[0], Failure) and total.by_check["raw"][FAILED] == 12


def test_report_files_are_never_overwritten(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rep = AuditReport("v1", 1, now, now, 1.0, 1, False, (), Tally(), environment())
    paths = [write_report(tmp_path, rep) for _ in range(3)]
    assert len(set(paths)) == 3 and [p.name for p in paths][1:] == [
        "audit-v1-20260101T000000Z-2.json",
        "audit-v1-20260101T000000Z-3.json",
    ]
