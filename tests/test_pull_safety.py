"""No command deletes anything it did not create: where `pull` may write, and what --overwrite may replace.

Each case is one the hardening issue measured on the earlier code (which deleted the catalog, unrelated files, the
current folder, or an existing `N.partial`, or printed a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fincorpus.catalog.export import pull, verify
from fincorpus.catalog.store import CatalogError
from fincorpus.pipelines.ingest import stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def published(home: Path) -> Path:
    stage_records(
        home, "r1", [make_row(f"http://a.test/{i}.html", text=f"第{i}篇文章。" * 8) for i in range(3)], {}
    )
    publish(home, "v1")
    return home


def _tree(root: Path) -> dict[str, bytes]:
    """Every file and its bytes (SQLite's own -wal/-shm files change on reads and are left out)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def test_out_inside_or_containing_the_home_is_refused_and_the_home_is_untouched(published: Path) -> None:
    before = _tree(published)
    for out in (published, published / "sub", published.parent):
        with pytest.raises(CatalogError, match="corpus home"):
            pull(published, "v1", out, overwrite=True)
    assert _tree(published) == before


def test_overwrite_replaces_only_an_earlier_pull(published: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("someone's work")
    with pytest.raises(CatalogError, match=r"only replaces an earlier pull.*notes\.txt"):
        pull(published, "v1", theirs, overwrite=True)
    assert (theirs / "notes.txt").read_text() == "someone's work" and len(list(theirs.iterdir())) == 1

    ours = tmp_path / "ours"
    pull(published, "v1", ours)
    assert verify(ours) == []
    pull(published, "v1", ours, overwrite=True)  # an earlier pull and nothing else: replaced
    assert verify(ours) == []
    (ours / "mine.txt").write_text("added by a person")
    with pytest.raises(CatalogError, match=r"mine\.txt"):
        pull(published, "v1", ours, overwrite=True)
    assert (ours / "mine.txt").read_text() == "added by a person" and verify(ours) == [
        "mine.txt: extra file not in the manifest"
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_an_existing_partial_folder_is_never_deleted(published: Path, tmp_path: Path) -> None:
    partial = tmp_path / "snap.partial"
    partial.mkdir()
    (partial / "keep.bin").write_bytes(b"\x00\x01")
    pull(published, "v1", tmp_path / "snap")
    assert (partial / "keep.bin").read_bytes() == b"\x00\x01"


def test_out_a_file_a_symlink_or_the_current_folder(published: Path, tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CatalogError, match="is a file"):
        pull(published, "v1", f)
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(CatalogError, match="symbolic link"):
        pull(published, "v1", link)
    # `cd S/a/b && pull --out ..`: refused when it holds anything but an earlier pull, and S/a stays as it was
    work = tmp_path / "S" / "a" / "b"
    work.mkdir(parents=True)
    (tmp_path / "S" / "a" / "other.txt").write_text("keep")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for out in ("..", "."):
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "fincorpus.cli",
                "pull",
                "v1",
                "--out",
                out,
                "--overwrite",
                "--home",
                str(published),
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        assert (
            res.returncode == 2
            and "Traceback" not in res.stderr
            and len(res.stderr.strip().splitlines()) == 1
        )
    assert (tmp_path / "S" / "a" / "other.txt").read_text() == "keep" and work.is_dir()
    res = subprocess.run(
        [sys.executable, "-m", "fincorpus.cli", "pull", "v1", "--out", str(f), "--home", str(published)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "is a file" in res.stderr and "Traceback" not in res.stderr
