"""`fincorpus maintain` never touches a tagged snapshot and removes only unreferenced files of the table;
`fincorpus diff A B` lists added, removed (with reasons) and changed documents per source."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from fincorpus.catalog.diff import diff
from fincorpus.catalog.maintain import maintain
from fincorpus.catalog.store import CorpusCatalog
from fincorpus.pipelines.ingest import stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row


def _content(home: Path, tag: str) -> str:
    rows = CorpusCatalog(home).read(tag, "records", columns=("doc_id", "status", "text_sha256")).to_pylist()
    return hashlib.sha256(repr(sorted(tuple(r.values()) for r in rows)).encode()).hexdigest()


def test_maintain_expires_untagged_snapshots_and_removes_orphans_only(home: Path) -> None:
    stage_records(
        home,
        "r1",
        [make_row(f"http://a.test/{i}.html", text=f"第{i}篇文章内容。" * 9) for i in range(4)],
        {},
        dedup=False,
    )
    publish(home, "v1")
    stage_records(home, "r2", [make_row("http://a.test/0.html", text="修订后的第0篇。" * 9)], {}, dedup=False)
    publish(home, "v2")
    stage_records(home, "r3", [make_row("http://a.test/1.html", text="再次修订。" * 9)], {}, dedup=False)
    publish(home, "v2", force=True)  # the first v2 snapshot is now untagged
    before = {t: _content(home, t) for t in ("v1", "v2")}
    table_dir = home / "warehouse" / "fincorpus" / "corpus"
    orphan = table_dir / "data" / "00000-0-left-by-a-killed-publish.parquet"
    orphan.write_bytes(b"not referenced by any snapshot")
    young = table_dir / "data" / "00000-0-being-written.parquet"
    young.write_bytes(b"a publish in flight")
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    outside = home / "warehouse" / "notes.txt"  # not the table's: never considered
    outside.write_text("mine")
    os.utime(outside, (old, old))
    dry = maintain(home, retain_days=0, orphan_hours=1, dry_run=True)
    assert orphan.exists() and len(dry.expired_snapshots) == 1
    rep = maintain(home, retain_days=0, orphan_hours=1)
    assert len(rep.expired_snapshots) == 1  # the untagged one; tags and main are kept
    assert not orphan.exists() and young.exists() and outside.exists()
    assert any(p.endswith("left-by-a-killed-publish.parquet") for p in rep.orphan_files)
    assert {t: _content(home, t) for t in ("v1", "v2")} == before  # tags read exactly as before
    again = maintain(home, retain_days=0, orphan_hours=1)
    assert again.expired_snapshots == [] and all("being-written" not in p for p in again.orphan_files)


def test_diff_lists_added_removed_and_changed_per_source(home: Path) -> None:
    stage_records(
        home,
        "r1",
        [make_row(f"http://a.test/{i}.html", text=f"第{i}篇文章内容。" * 9, source_id="a") for i in range(3)],
        {},
        dedup=False,
    )
    publish(home, "v1")
    stage_records(
        home,
        "r2",
        [
            make_row("http://a.test/0.html", text="修订后的第0篇。" * 9, source_id="a"),
            make_row(
                "http://a.test/1.html",
                text="第1篇文章内容。" * 9,
                source_id="a",
                removed_stage="dedup.exact",
                removed_reason="duplicate of x",
            ),
            make_row("http://b.test/9.html", text="新来源的文章。" * 9, source_id="b"),
        ],
        {},
        dedup=False,
    )
    publish(home, "v2")
    d = diff(CorpusCatalog(home), "v1", "v2")
    assert [r["canonical_url"] for r in d.added] == ["http://b.test/9.html"]
    assert [(r["canonical_url"], r["removed_stage"]) for r in d.removed] == [
        ("http://a.test/1.html", "dedup.exact")
    ]
    assert d.removed[0]["removed_reason"] == "duplicate of x"
    assert [r["canonical_url"] for r in d.changed] == ["http://a.test/0.html"] and d.unchanged == 1
    assert d.by_source() == {"a": {"removed": 1, "changed": 1}, "b": {"added": 1}}
