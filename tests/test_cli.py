"""The command line as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fincorpus.pipelines.ingest import stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row

BIN = [sys.executable, "-m", "fincorpus.cli"]


def run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    cmd = BIN + list(args) + (["--home", str(home)] if home else [])
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    )


def test_help_everywhere() -> None:
    for cmd in (
        [],
        ["sources"],
        ["ingest"],
        ["crawl"],
        ["reprocess"],
        ["publish"],
        ["pull"],
        ["snapshots"],
        ["show"],
        ["demo"],
        ["verify"],
    ):
        res = run(*cmd, "--help")
        assert res.returncode == 0 and "Usage" in res.stdout, cmd


def test_invalid_sources_file_is_one_line_and_nonzero(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "sources:\n  - id: x\n    name: X\n    kind: web\n    seeds: [http://x.test/]\n    licence: free\n    legal_basis: b\n"
    )
    res = run("sources", "check", "--sources", str(bad))
    assert res.returncode == 2
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "bad.yaml" in lines[0] and "source 'x', field 'licence'" in lines[0]
    res = run("ingest", "--sources", str(bad), home=home)
    assert res.returncode == 2 and "unknown licence class 'free'" in res.stderr
    assert not (home / "catalog.db").exists() and not (home / "staging").exists()  # nothing touched


def test_unknown_tag_and_existing_tag(home: Path, tmp_path: Path) -> None:
    stage_records(home, "r1", [make_row()], {}, dedup=False)
    publish(home, "v1")

    def state() -> tuple:  # what a reader can see: the table's metadata file and its refs
        from fincorpus.catalog.store import CorpusCatalog

        cat = CorpusCatalog(home)
        return cat.table.metadata_location, sorted((n, r.snapshot_id) for n, r in cat.table.refs().items())

    before = state()
    res = run("pull", "nope", "--out", str(tmp_path / "o"), home=home)
    assert (
        res.returncode == 2
        and "unknown tag 'nope'" in res.stderr
        and len(res.stderr.strip().splitlines()) == 1
    )
    res = run("publish", "--tag", "v1", home=home)
    assert res.returncode == 2 and "already exists" in res.stderr
    assert state() == before and not (tmp_path / "o").exists()
    res = run("snapshots", home=home)
    assert res.returncode == 0 and "v1" in res.stdout


def test_show_checks_raw_bytes(home: Path) -> None:
    from datetime import UTC, datetime

    from fincorpus.sources.archive import WarcArchive

    with WarcArchive(home, "raw/r1/a.warc.gz") as a:
        rec = a.write_resource(
            url="file:///n.txt", fetched_at=datetime.now(UTC), content_type="text/plain", body="正文".encode()
        )
    row = make_row(
        raw_ref=rec.raw_ref,
        raw_sha256=rec.raw_sha256,
        finance_score=0.8125,
        rights_notice="版权所有 示例网",
        pii={
            "id_card": 0,
            "mobile": 2,
            "landline": 0,
            "bank_card": 0,
            "email": 0,
            "ip": 0,
            "passport": 0,
            "max_class": "C2",
        },
    )
    stage_records(home, "r1", [row], {}, dedup=False)
    publish(home, "v1")
    res = run("show", "http://a.test/1.html", home=home)
    assert res.returncode == 0 and "matches" in res.stdout and "fetch" in res.stdout
    # what an auditor needs from cleaning: the relevance score, the notices kept, what PII was masked
    assert "0.8125" in res.stdout and "版权所有 示例网" in res.stdout and "'mobile': 2" in res.stdout
    res = run("show", "http://missing.test/", home=home)
    assert res.returncode == 2 and "no document" in res.stderr


@pytest.mark.parametrize(
    "args", [["verify", "/nonexistent"], ["sources", "list", "--sources", "/nonexistent.yaml"]]
)
def test_missing_paths_are_clear(args: list[str]) -> None:
    res = run(*args)
    assert res.returncode == 2 and "error:" in res.stderr
