from pathlib import Path

from fincorpus.schema import REMOVED_SCHEMA

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_schema_field_is_documented() -> None:
    text = (DOCS / "data-model.md").read_text(encoding="utf-8")
    missing = [f.name for f in REMOVED_SCHEMA if f"| `{f.name}` | `{f.type}` |" not in text]
    assert missing == [], "docs/data-model.md is out of date for these fields (regenerate the table)"


def test_readme_gives_the_two_setup_commands_first() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("```", 2)[1]
    assert [
        line.split()[0:2] for line in setup.splitlines() if line.strip() and not line.startswith("bash")
    ] == [
        ["make", "demo"],
        ["make", "test"],
    ]
    assert "make test" in (DOCS.parent / ".ci" / "run").read_text()


def test_every_command_the_readme_shows_exists() -> None:
    """A renamed or dropped command must not leave the README pointing at it."""
    import re

    import typer.main

    from fincorpus.cli import app

    click_app = typer.main.get_command(app)
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"fincorpus ([a-z][a-z-]+)", readme))
    known = set(click_app.commands)  # type: ignore[attr-defined]
    assert shown - known == set(), f"README.md shows commands the CLI does not have: {sorted(shown - known)}"
