"""Publish is one atomic, serialised commit: kills at any moment never change an existing tag, the next publish
finishes the job exactly once, two publishers get one snapshot and one clear line, and a moved home still works."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fincorpus import faults
from fincorpus.catalog.store import CatalogError, CorpusCatalog
from fincorpus.pipelines.ingest import near_index, pending_runs, stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row

REPO = Path(__file__).resolve().parent.parent

WORDS = [
    "央行",
    "证监会",
    "银保监会",
    "上市公司",
    "信息披露",
    "债券",
    "基金",
    "期货",
    "外汇",
    "利率",
    "汇率",
    "股票",
    "融资",
    "并购",
    "监管",
    "风险",
    "资本",
    "市场",
]


def text(i: int, salt: str = "") -> str:
    rng = random.Random(f"{i}-{salt}")
    return (
        "".join(rng.choice(WORDS) + ("，" if rng.random() < 0.8 else "。") for _ in range(60))
        + f"第{i}号{salt}。"
    )


def fingerprint(home: Path, tag: str) -> str:
    """What a reader of ``tag`` gets: every record's id, status and text hash."""
    rows = CorpusCatalog(home).read(tag, "records", columns=("doc_id", "status", "text_sha256")).to_pylist()
    return hashlib.sha256(
        repr(sorted((r["doc_id"], r["status"], r["text_sha256"]) for r in rows)).encode()
    ).hexdigest()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A home with tag v1 published and a run staged that replaces, removes and adds documents."""
    home = tmp_path_factory.mktemp("atomic") / "home"
    home.mkdir()
    v1 = [make_row(f"http://a.test/{i}.html", text=text(i)) for i in range(150)]
    stage_records(home, "r1", v1, {}, dedup=False)
    publish(home, "v1")
    changed = [make_row(f"http://a.test/{i}.html", text=text(i, "rev"), run_id="r2") for i in range(0, 40)]
    gone = [
        make_row(f"http://a.test/{i}.html", text=text(i), removed_stage="quality.news", removed_reason="test")
        for i in range(40, 60)
    ]
    new = [make_row(f"http://b.test/{i}.html", text=text(1000 + i)) for i in range(200)]
    stage_records(home, "r2", changed + gone + new, {}, dedup=False)
    reference = home.parent / "reference"
    shutil.copytree(home, reference)
    t0 = time.monotonic()
    publish(reference, "v2")
    took = time.monotonic() - t0
    return {
        "home": home,
        "v1": fingerprint(home, "v1"),
        "v2": fingerprint(reference, "v2"),
        "kept_v2": CorpusCatalog(reference).tag("v2").documents,
        "took": took,
    }


def _publisher(home: Path, tag: str, crash_at: str | None = None) -> subprocess.Popen:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from fincorpus.pipelines.publish import publish
        from fincorpus.catalog.store import CatalogError
        from fincorpus.locks import LockHeld
        print("ready", flush=True)
        try:
            publish(Path({str(home)!r}), {tag!r})
        except (CatalogError, LockHeld) as exc:
            print("refused:", exc, flush=True)
            sys.exit(2)
        print("published", flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if crash_at:
        env[faults.ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


OUTCOMES: dict[str, int] = {}


def _metadata_files(home: Path) -> set[str]:
    return {p.name for p in (home / "warehouse").rglob("*.metadata.json")}


@pytest.mark.parametrize("trial", range(24))
def test_sigkill_during_publish_never_changes_a_tag_and_the_rerun_finishes_once(
    base: dict, tmp_path: Path, trial: int
) -> None:
    home = tmp_path / "home"
    shutil.copytree(base["home"], home)
    before = _metadata_files(home)
    proc = _publisher(home, "v2")
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    rng = random.Random(trial)
    if trial % 2 == 0:  # in the commit window: as soon as PyIceberg has written the new metadata file
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and _metadata_files(home) == before:
            time.sleep(0.0005)
    else:  # anywhere in the publish
        time.sleep(rng.uniform(0, base["took"] * 1.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _recovers(base, home)


EXPECTED = {
    "publish.before-commit": "not committed, unfinished",
    "publish.after-commit": "committed, unfinished",
    "publish.after-index": "committed, unfinished",
}


@pytest.mark.parametrize("point", faults.POINTS)
def test_a_crash_on_either_side_of_the_commit_is_finished_by_the_next_publish(
    base: dict, tmp_path: Path, point: str
) -> None:
    """Timed kills land where they land; these crash exactly at each named point (FINCORPUS_CRASH_AT)."""
    home = tmp_path / "home"
    shutil.copytree(base["home"], home)
    proc = _publisher(home, "v2", crash_at=point)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert _recovers(base, home) == EXPECTED[point]


def _recovers(base: dict, home: Path) -> str:
    """After a killed publish: v1 intact, v2 complete or absent, and the next publish finishes exactly once."""
    assert fingerprint(home, "v1") == base["v1"]  # the existing tag is untouched, whatever happened
    cat = CorpusCatalog(home)
    committed = "v2" in {t.tag for t in cat.tags()}
    if committed:  # committed before the kill: complete, never partial
        assert fingerprint(home, "v2") == base["v2"]
    outcome = ("committed" if committed else "not committed") + (", unfinished" if pending_runs(home) else "")
    OUTCOMES[outcome] = OUTCOMES.get(outcome, 0) + 1
    if pending_runs(home):
        res = publish(home, "v2")  # the next publish finishes the job, exactly once
        assert res.already_done or res.runs == ["r2"]
    else:  # the kill came after the whole publish had finished: nothing left to do, the tag is taken
        with pytest.raises(CatalogError, match="already exists"):
            publish(home, "v2")
    assert fingerprint(home, "v2") == base["v2"] and fingerprint(home, "v1") == base["v1"]
    assert pending_runs(home) == []
    assert [t.tag for t in CorpusCatalog(home).tags()] == ["v1", "v2"]
    index = near_index(home)
    try:
        assert len(index) == base["kept_v2"]  # the dedup index learnt every kept document once
        assert index.synced() == str(CorpusCatalog(home).tag("v2").snapshot_id)
    finally:
        index.close()
    return outcome


def test_the_kills_hit_before_and_after_the_commit() -> None:
    """The trials above are only worth something if kills landed on both sides of the commit (the named crash
    points guarantee one of each; the timed kills add moments nobody thought of)."""
    assert OUTCOMES.get("not committed, unfinished", 0) >= 3, OUTCOMES
    assert OUTCOMES.get("committed, unfinished", 0) >= 1, OUTCOMES
    print(OUTCOMES)


def test_two_publishes_at_once_give_one_snapshot_and_one_clear_line(base: dict, tmp_path: Path) -> None:
    for attempt in range(3):
        home = tmp_path / f"home{attempt}"
        shutil.copytree(base["home"], home)
        a, b = _publisher(home, "v2"), _publisher(home, "v2b")
        outs = []
        for p in (a, b):
            out, errout = p.communicate(timeout=120)
            outs.append((p.returncode, out, errout))
        codes = sorted(c for c, _, _ in outs)
        assert codes == [0, 2], outs
        loser = next((o, e) for c, o, e in outs if c == 2)
        assert "Traceback" not in loser[0] + loser[1]
        line = next(x for x in loser[0].splitlines() if x.startswith("refused:"))
        # held by the other one, or the other one published everything first
        assert "held by pid" in line or "nothing staged" in line
        tags = {t.tag for t in CorpusCatalog(home).tags()}
        assert len(tags - {"v1"}) == 1
        winner = (tags - {"v1"}).pop()
        assert fingerprint(home, winner) == base["v2"]


def test_a_moved_or_copied_home_reads_and_writes_its_own_files(base: dict, tmp_path: Path) -> None:
    original = tmp_path / "a" / "home"
    shutil.copytree(base["home"], original)
    publish(original, "v2")
    moved = tmp_path / "b" / "moved-home"
    moved.parent.mkdir()
    shutil.move(original, moved)  # the original path no longer exists
    cat = CorpusCatalog(moved)
    assert fingerprint(moved, "v1") == base["v1"] and fingerprint(moved, "v2") == base["v2"]
    assert cat.find("http://a.test/1.html", tag="v2")[0] == "documents"
    from fincorpus.catalog.export import pull, verify

    out = tmp_path / "pulled"
    assert pull(moved, "v2", out).rows == base["kept_v2"] and verify(out) == []
    stage_records(moved, "r3", [make_row("http://c.test/1.html", text=text(5000))], {}, dedup=False)
    publish(moved, "v3")
    assert CorpusCatalog(moved).tag("v3").documents == base["kept_v2"] + 1
    assert not original.exists()  # nothing was written to the old path
    # a copy restored elsewhere works on its own: removing the source does not affect it
    copy = tmp_path / "c" / "copy"
    shutil.copytree(moved, copy)
    shutil.rmtree(moved)
    assert CorpusCatalog(copy).tag("v3").documents == base["kept_v2"] + 1
    assert fingerprint(copy, "v2") == base["v2"]
    stage_records(copy, "r4", [make_row("http://c.test/2.html", text=text(5001))], {}, dedup=False)
    publish(copy, "v4")
    assert not moved.exists()


def test_publish_refusals_leave_everything_as_it_was(base: dict, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(base["home"], home)
    before = CorpusCatalog(home).table.metadata_location
    with pytest.raises(CatalogError, match="already exists"):
        publish(home, "v1")
    assert CorpusCatalog(home).table.metadata_location == before and len(pending_runs(home)) == 1
