"""Issue 9: an unchanged dataset file is skipped whole by the next pass (an appended part costs only its own rows),
with the same outcome as reading it: a later row repeating one of its ids is still a repeat, a changed file or
mapping is read again, and the summary still counts the skipped rows as unchanged."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fincorpus.pipelines.ingest import crawl_source, pass_captures
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import load_sources
from tests.test_connectors_hardening import dataset_sources, sentences


def _part(folder: Path, name: str, ids: list[int], texts: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    pq.write_table(pa.table({"uid": [f"u{i:06d}" for i in ids], "content": texts}), path)
    return path


def _crawl(tmp_path: Path, home: Path, sources: Path) -> tuple[dict, list[str]]:
    res = crawl_source(load_sources(sources), "big", home)
    stored = [c.item.native_id for c in pass_captures(home, res.pass_ids)]
    CrawlState(home).mark_staged(res.pass_ids, "run")
    return {**res.outcomes, **res.facts()}, stored


def test_unchanged_dataset_files_are_skipped_whole_with_the_same_outcome(
    data_dir: Path, tmp_path: Path, home: Path
) -> None:
    texts = sentences(data_dir, 1700)
    ds = tmp_path / "ds"
    first = _part(ds, "part-0.parquet", list(range(1500)), texts[:1500])
    sources = dataset_sources(tmp_path, max_pages=1_000_000)

    got, stored = _crawl(tmp_path, home, sources)
    assert len(stored) == 1500 and got["unchanged_files"] == 0

    # an appended part: 150 new rows and 50 that repeat ids of part-0 with other text (repeats, as when read)
    _part(ds, "part-1.parquet", [*range(1500, 1650), *range(50)], [*texts[1500:1650], *texts[1650:1700]])
    got, stored = _crawl(tmp_path, home, sources)
    assert sorted(stored) == [f"u{i:06d}" for i in range(1500, 1650)]
    assert got["unchanged_files"] == 1 and got["unchanged_file_records"] == 1500
    assert got["unchanged-file"] == 1 and got["duplicate"] == 50
    assert got.get("unchanged", 0) == 1500  # the report's count: skipped rows are unchanged rows
    with sqlite3.connect(home / "catalog.db") as c:
        detail = c.execute("SELECT detail FROM crawl_event WHERE outcome='unchanged-file'").fetchone()[0]
        assert "part-0.parquet: 1,500 rows not read, unchanged since pass" in detail
        repeat = c.execute("SELECT detail FROM crawl_event WHERE outcome='duplicate' LIMIT 1").fetchone()[0]
        assert "of an unchanged input file" in repeat
        # part-1 is smaller than REMEMBER_MIN_RECORDS: read each time; part-0 remembered once
        assert [r[0] for r in c.execute("SELECT path FROM crawl_input_file")] == ["part-0.parquet"]

    # a touched but unchanged file is still skipped; nothing new is stored
    os.utime(first, (1, 1))
    got, stored = _crawl(tmp_path, home, sources)
    assert stored == [] and got["unchanged_files"] == 1 and got["duplicate"] == 50

    # a changed row in part-0: the file is read again and only that row becomes a new version
    changed = [*texts[:1500]]
    changed[7] = changed[7] + "（更正）"
    _part(ds, "part-0.parquet", list(range(1500)), changed)
    got, stored = _crawl(tmp_path, home, sources)
    assert stored == ["u000007"] and got["unchanged_files"] == 0

    # another column mapping reads every file again (the same rows, so nothing is new)
    sources.write_text(
        sources.read_text(encoding="utf-8").replace("id: uid}", "id: uid, title: uid}"), "utf-8"
    )
    got, stored = _crawl(tmp_path, home, sources)
    assert got["unchanged_files"] == 0 and got.get("unchanged-file", 0) == 0
    with sqlite3.connect(home / "catalog.db") as c:
        assert c.execute("SELECT COUNT(*) FROM crawl_input_file").fetchone()[0] == 1
