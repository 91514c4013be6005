"""Issue 14: files, warc and dataset readers read every record, count only new or changed ones against max_pages,
commit in batches that survive SIGKILL, and skip oversized, damaged or outside inputs with a record saying so."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from fincorpus.pipelines.ingest import crawl_source, pass_captures
from fincorpus.sources.archive import RawRefError, WarcArchive, read_raw
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import load_sources

REPO = Path(__file__).resolve().parent.parent


def sentences(data_dir: Path, n: int) -> list[str]:
    """n distinct texts made of real sentences (THUCNews subset), our own combination."""
    texts = [
        json.loads(x)["text"]
        for x in (data_dir / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    parts = [s + "。" for t in texts for s in t.split("。") if len(s) > 10]
    return [parts[i % len(parts)] + parts[(i * 7 + 3) % len(parts)] + f"（第{i}条）" for i in range(n)]


def dataset_sources(tmp_path: Path, max_pages: int, sub: str = "ds") -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(
        f"""sources:
  - id: big
    name: big dataset
    kind: dataset
    dataset: {{path: {sub}, text: content, id: uid}}
    max_pages: {max_pages}
    licence: unknown
    legal_basis: test
""",
        encoding="utf-8",
    )
    return p


def write_parquet(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"uid": [f"u{i:06d}" for i in range(len(texts))], "content": texts}),
        folder / "rows.parquet",
        row_group_size=700,
    )


def test_dataset_larger_than_max_pages_is_ingested_over_successive_ingests(
    data_dir: Path, tmp_path: Path, home: Path
) -> None:
    texts = sentences(data_dir, 2500)
    write_parquet(tmp_path / "ds", texts)
    sources = load_sources(dataset_sources(tmp_path, max_pages=1000))
    state = CrawlState(home)
    stored: list[str] = []
    limits = []
    for _ in range(4):
        res = crawl_source(sources, "big", home)
        caps = pass_captures(home, res.pass_ids)
        stored += [c.item.native_id for c in caps]
        limits.append(res.outcomes.get("skipped-limit", 0))
        state.mark_staged(res.pass_ids, "run")
    # 1000 + 1000 + 500 new rows, then nothing: the rows stored before do not count again
    assert len(stored) == 2500 and len(set(stored)) == 2500
    assert sorted(stored) == [f"u{i:06d}" for i in range(2500)]
    assert limits == [1, 1, 0, 0]
    with sqlite3.connect(home / "catalog.db") as c:
        detail = c.execute(
            "SELECT detail FROM crawl_event WHERE outcome='skipped-limit' ORDER BY rowid"
        ).fetchone()[0]
        assert "max_pages=1000" in detail and "next ingest continues" in detail
        assert c.execute("SELECT MAX(version) FROM crawl_page").fetchone()[0] == 1


def test_dataset_reader_report_says_the_limit_was_hit(data_dir: Path, tmp_path: Path, home: Path) -> None:
    from fincorpus.sources.dataset import DatasetReader

    write_parquet(tmp_path / "ds", sentences(data_dir, 30))
    src = load_sources(dataset_sources(tmp_path, max_pages=10)).get("big")
    state = CrawlState(home)
    pass_id, _ = state.open_pass("big")
    reader = DatasetReader(src, home, state, pass_id, tmp_path)
    report = reader.run()
    reader.close()
    assert report.stored == 10 and report.limit_hit and "row 11" in report.limit_hit


_KILLABLE = """
import sys
from pathlib import Path
from fincorpus.pipelines.ingest import crawl_source
from fincorpus.sources.registry import load_sources
crawl_source(load_sources(sys.argv[1]), "big", Path(sys.argv[2]))
"""


def _done(home: Path) -> int:
    try:
        with sqlite3.connect(home / "catalog.db", timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM crawl_frontier WHERE state='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_pass_resumes_without_loss_or_duplicates(
    data_dir: Path, tmp_path: Path, home: Path
) -> None:
    n = 12_000
    write_parquet(tmp_path / "ds", sentences(data_dir, n))
    path = dataset_sources(tmp_path, max_pages=100_000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(4):
        before = _done(home)
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLABLE, str(path), str(home)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while _done(home) < before + 1000 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no cleanup, possibly mid-batch
            kills += 1
        proc.wait()
    assert kills >= 2, "the pass finished before it could be killed; the trial proves nothing"
    res = crawl_source(load_sources(path), "big", home)
    with sqlite3.connect(home / "catalog.db") as c:
        passes = c.execute("SELECT COUNT(*), MAX(segments) FROM crawl_pass").fetchone()
        captures = c.execute("SELECT url FROM crawl_capture").fetchall()
        pages = c.execute("SELECT COUNT(*), MAX(version) FROM crawl_page").fetchone()
    assert passes[0] == 1 and passes[1] > 1  # one pass, resumed into new WARC segments
    urls = [u for (u,) in captures]
    assert len(urls) == n and len(set(urls)) == n  # every row once
    assert pages == (n, 1)
    ids = sorted(c.item.native_id for c in pass_captures(home, res.pass_ids))
    assert ids == [f"u{i:06d}" for i in range(n)]
    for cap in pass_captures(home, res.pass_ids)[:: n // 50]:  # what is committed points at stored bytes
        assert json.loads(read_raw(home, cap.raw_ref).body)["uid"] == cap.item.native_id


def test_jsonl_is_streamed_and_bad_lines_are_recorded(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    lines = [
        json.dumps(
            {"uid": f"a{i}", "content": f"第{i}条公告，公司董事会审议通过年度报告。"}, ensure_ascii=False
        )
        for i in range(5)
    ]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"uid": "huge", "content": "长" * 5000}, ensure_ascii=False))
    (folder / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = dataset_sources(tmp_path, max_pages=100)
    path.write_text(path.read_text().replace("    max_pages", "    max_document_bytes: 4000\n    max_pages"))
    res = crawl_source(load_sources(path), "big", home)
    ids = sorted(c.item.native_id for c in pass_captures(home, res.pass_ids))
    assert ids == [f"a{i}" for i in range(5)]
    events = [e for p in res.pass_ids for e in CrawlState(home).events(p)]
    bad = [e for e in events if e.outcome == "error"]
    assert len(bad) == 1 and "rows.jsonl line 3: not a JSON line" in bad[0].detail
    big = [e for e in events if e.outcome == "skipped-size"]
    assert len(big) == 1 and "line 5" in big[0].detail and "max_document_bytes=4,000" in big[0].detail


def files_source(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(
        "sources:\n  - {id: local, name: local, kind: files, path: folder, licence: unknown, legal_basis: t"
        + extra
        + "}\n",
        encoding="utf-8",
    )
    return p


def test_files_with_chinese_spaces_and_percent_names_and_symlinks(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    names = ["年报 2024.txt", "公告（一）.html", "percent%41.txt", "with%20space.txt", "with space.txt"]
    for name in names:
        (folder / name).write_text(f"{name} 的正文：公司发布公告，董事会决议通过。", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the folder", encoding="utf-8")
    (folder / "link.txt").symlink_to(outside)
    (folder / "inside-link.txt").symlink_to(folder / "年报 2024.txt")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("elsewhere", encoding="utf-8")
    (folder / "dirlink").symlink_to(tmp_path / "elsewhere")
    (folder / "big.txt").write_bytes(b"x" * 5000)
    sources = load_sources(files_source(tmp_path, ", max_document_bytes: 4000"))
    res = crawl_source(sources, "local", home)
    caps = {c.item.native_id: c for c in pass_captures(home, res.pass_ids)}
    assert set(caps) == {*names, "inside-link.txt"}
    for name in names:  # each file's own bytes, found by its path
        assert read_raw(home, caps[name].raw_ref).body.decode("utf-8").startswith(name)
    events = [e for p in res.pass_ids for e in CrawlState(home).events(p)]
    outside_ev = [e.detail for e in events if e.outcome == "skipped-outside"]
    assert any("link.txt: symlink to" in d and "outside the folder" in d for d in outside_ev)
    assert any("dirlink" in d for d in outside_ev)
    assert not any("elsewhere" in c.url for c in caps.values())
    assert [e.detail for e in events if e.outcome == "skipped-size"] == [
        "big.txt: 5,000 bytes > max_document_bytes=4,000; not read"
    ]


def _response(url: str, body: bytes) -> tuple[str, int, str, bytes]:
    return (url, 200, "text/html; charset=utf-8", body)


def make_warc(path: Path, records: list[tuple[str, int, str, bytes]]) -> list[int]:
    offsets = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, status, ctype, body in records:
            offsets.append(fh.tell())
            headers = StatusAndHeaders(f"{status} X", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
            )
    return offsets


def test_damaged_foreign_warc_record_is_reported_and_the_rest_is_read(tmp_path: Path, home: Path) -> None:
    page = "<html><body><p>{}：本所发布关于加强信息披露监管的通知，要求各上市公司严格履行义务。</p></body></html>"
    records = [_response(f"http://a.test/{i}.html", page.format(i).encode()) for i in range(5)]
    records.insert(3, _response("http://a.test/huge.html", b"<html>" + b"x" * 9000 + b"</html>"))
    warc = tmp_path / "x.warc.gz"
    offsets = make_warc(warc, records)
    data = bytearray(warc.read_bytes())
    data[offsets[1] + 40] ^= 0xFF  # one flipped byte inside the second record's gzip member
    warc.write_bytes(bytes(data))
    p = tmp_path / "sources.yaml"
    p.write_text(
        "sources:\n  - {id: cc, name: cc, kind: warc, paths: ['x.warc.gz'], max_document_bytes: 5000, "
        "licence: unknown, legal_basis: t}\n",
        encoding="utf-8",
    )
    res = crawl_source(load_sources(p), "cc", home)
    got = sorted(c.final_url for c in pass_captures(home, res.pass_ids))
    assert got == [f"http://a.test/{i}.html" for i in (0, 2, 3, 4)]
    events = [e for q in res.pass_ids for e in CrawlState(home).events(q)]
    integrity = [e.detail for e in events if e.outcome == "integrity"]
    assert len(integrity) == 1
    assert (
        f"x.warc.gz, offset {offsets[1]}" in integrity[0]
        and f"went on at offset {offsets[2]}" in integrity[0]
    )
    assert any(e.outcome == "skipped-size" and "huge" in e.url for e in events)


@pytest.mark.parametrize("where", ["header", "body"])
def test_flipped_byte_in_stored_warc_is_a_clear_raw_ref_error(home: Path, where: str) -> None:
    from datetime import UTC, datetime

    with WarcArchive(home, "raw/p/s-001.warc.gz") as a:
        refs = [
            a.write_resource(
                url=f"file:///{i}.txt",
                fetched_at=datetime.now(UTC),
                content_type="text/plain",
                body=f"第{i}份文件：".encode() * 200,
            ).raw_ref
            for i in range(3)
        ]
    f = home / "raw/p/s-001.warc.gz"
    data = bytearray(f.read_bytes())
    off = int(refs[1].rsplit("#", 1)[1])
    data[off + (12 if where == "header" else 200)] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(RawRefError) as exc:
        read_raw(home, refs[1])
    msg = str(exc.value)
    assert f"raw/p/s-001.warc.gz, offset {off}:" in msg
    assert msg.isprintable() and len(msg) < 300
    # the records around it still read
    assert read_raw(home, refs[0]).body.startswith("第0份".encode())
    assert read_raw(home, refs[2]).body.startswith("第2份".encode())


def test_stop_request_commits_the_batch_and_the_pass_resumes(
    data_dir: Path, tmp_path: Path, home: Path
) -> None:
    import threading

    from fincorpus.sources.base import CrawlStopped
    from fincorpus.sources.dataset import DatasetReader

    write_parquet(tmp_path / "ds", sentences(data_dir, 1800))
    src = load_sources(dataset_sources(tmp_path, max_pages=10_000)).get("big")
    state = CrawlState(home)
    pass_id, _ = state.open_pass("big")
    stop = threading.Event()
    stop.set()  # asked before the first row: the reader stops after committing its first batch
    reader = DatasetReader(src, home, state, pass_id, tmp_path, stop=stop)
    with pytest.raises(CrawlStopped, match="run the same command again to resume"):
        reader.run()
    reader.close()
    assert reader.report.stopped and state.stored_in_pass(pass_id) == 1
    with sqlite3.connect(home / "catalog.db") as c:
        assert c.execute("SELECT state FROM crawl_pass").fetchone()[0] == "crawling"
    res = crawl_source(load_sources(dataset_sources(tmp_path, max_pages=10_000)), "big", home)
    assert res.pass_ids == [pass_id] and state.stored_in_pass(pass_id) == 1800
