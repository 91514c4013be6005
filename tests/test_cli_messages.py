"""Messages a person can act on: one line, brackets printed as written, no traceback; no stray homes created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINCORPUS_", "PREFECT_API"))}
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "fincorpus.cli", *args]
    if home is not None:
        cmd += ["--home", str(home)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_brackets_in_messages_are_printed_as_written(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text(
        "sources:\n  - {id: Bad_ID, name: x, kind: web, seeds: ['http://a.test/'], licence: unknown, legal_basis: x}\n"
    )
    line = one_line_error(run("sources", "check", "--sources", str(bad)))
    assert "^[a-z0-9_-]+$" in line  # rich markup used to eat "[a-z0-9_-]"


def test_read_commands_refuse_a_mistyped_home_and_create_nothing(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    missing = tmp_path / "no-such-home"
    for args in (
        ("snapshots",),
        ("show", "http://a.test/"),
        ("pull", "v1", "--out", str(tmp_path / "o")),
        ("diff", "a", "b"),
    ):
        line = one_line_error(run(*args, cwd=cwd, home=missing))
        assert "no corpus at" in line and str(missing) in line
    assert not missing.exists() and list(cwd.iterdir()) == []  # no ./fincorpus-home, no empty catalog


def test_publish_with_nothing_staged_and_reserved_or_malformed_tags(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "nothing staged to publish" in one_line_error(run("publish", "--tag", "v1", home=home))
    assert "reserved" in one_line_error(run("publish", "--tag", "main", home=home))
    assert "not valid" in one_line_error(run("publish", "--tag", "v1\n", home=home))
    assert "not valid" in one_line_error(run("publish", "--tag", "bad tag", home=home))


def test_version_and_help() -> None:
    res = run("--version")
    assert res.returncode == 0 and res.stdout.startswith("fincorpus ")
    for cmd in ("diff", "maintain", "migrate", "settings", "audit", "pull", "publish"):
        res = run(cmd, "--help")
        assert res.returncode == 0 and "Usage" in res.stdout, cmd
