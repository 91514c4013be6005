"""Issue 3: files, WARC-file and dataset connectors go through the same state, archive and processing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from fincorpus.pipelines.ingest import crawl_source, pass_captures, process_capture
from fincorpus.sources.archive import read_raw
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import SourcesError, load_sources


def write_sources(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text("sources:\n" + body, encoding="utf-8")
    return p


def make_warc(path: Path, records: list[tuple[str, int, str, bytes]]) -> None:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, status, ctype, body in records:
            headers = StatusAndHeaders(f"{status} X", [("Content-Type", ctype)], protocol="HTTP/1.1")
            rec = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
            writer.write_record(rec)


def test_warc_files_are_filtered_copied_and_processed(data_dir: Path, tmp_path: Path, home: Path) -> None:
    sites = data_dir / "sites"
    law = (sites / "regulator.test/zcfg/202412/t20241225_100102.html").read_bytes()
    gbk = (sites / "finnews.test/kuaixun/100196.html").read_bytes()
    make_warc(
        tmp_path / "cc-extract.warc.gz",
        [
            ("http://regulator.test/zcfg/202412/t20241225_100102.html", 200, "text/html", law),
            ("http://finnews.test/kuaixun/100196.html", 200, "text/html; charset=gbk", gbk),
            ("http://regulator.test/missing.html", 404, "text/html", b"gone"),
            ("http://regulator.test/logo.png", 200, "image/png", b"\x89PNG"),
            ("http://elsewhere.example/a.html", 200, "text/html", b"<html>x</html>"),
        ],
    )
    path = write_sources(
        tmp_path,
        """  - id: cc
    name: CC extract
    kind: warc
    paths: ["*.warc.gz"]
    allow: ["^http://(regulator|finnews)\\\\.test/"]
    licence: media-unknown
    legal_basis: "Common Crawl extract"
""",
    )
    sources = load_sources(path)
    res = crawl_source(sources, "cc", home)
    caps = pass_captures(home, res.pass_ids)
    assert sorted(c.final_url for c in caps) == [
        "http://finnews.test/kuaixun/100196.html",
        "http://regulator.test/zcfg/202412/t20241225_100102.html",
    ]
    law_cap = next(c for c in caps if "regulator" in c.final_url)
    assert read_raw(home, law_cap.raw_ref).body == law and law_cap.discovered_via.startswith(
        "warc:cc-extract"
    )
    rows = {r["canonical_url"]: r for r in (process_capture(c, sources, home, "r") for c in caps)}
    assert "中华人民共和国增值税法" in rows[law_cap.final_url]["text"]
    assert rows["http://finnews.test/kuaixun/100196.html"]["charset"] == "gb18030"
    # a second pass over the same file stores nothing new
    CrawlState(home).mark_staged(res.pass_ids, "run-1")
    again = crawl_source(sources, "cc", home)
    assert pass_captures(home, again.pass_ids) == []


def test_dataset_rows_with_a_column_mapping(data_dir: Path, tmp_path: Path, home: Path) -> None:
    items = [
        json.loads(x)
        for x in (data_dir / "texts/cnews/cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    ][:30]
    table = pa.table(
        {
            "content": [x["text"] for x in items],
            "uid": [x["id"] for x in items],
            "headline": [x["text"][:12] for x in items],
            "day": ["2024-05-01"] * len(items),
        }
    )
    pq.write_table(table, tmp_path / "part-0.parquet")
    (tmp_path / "more.jsonl").write_text(
        json.dumps(
            {
                "content": "上海银行间同业拆放利率今日小幅下行，隔夜品种下跌两个基点。",
                "uid": "extra-1",
                "headline": "Shibor",
                "day": "2024-05-02",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    path = write_sources(
        tmp_path,
        """  - id: news-ds
    name: labelled news
    kind: dataset
    dataset: {path: ".", text: content, id: uid, title: headline, published: day}
    licence: media-unknown
    legal_basis: "THUCNews research subset"
""",
    )
    sources = load_sources(path)
    res = crawl_source(sources, "news-ds", home)
    caps = pass_captures(home, res.pass_ids)
    assert len(caps) == 31
    rows = [process_capture(c, sources, home, "r") for c in caps]
    first = next(r for r in rows if r["native_id"] == items[0]["id"])
    assert first["text"] == items[0]["text"].strip() and first["title"] == items[0]["text"][:12]
    assert first["published_at"] == datetime(2024, 4, 30, 16, tzinfo=UTC)  # Beijing midnight
    assert first["licence_class"] == "media-unknown" and first["extractor"] == "dataset-column"
    assert len({r["doc_id"] for r in rows}) == 31
    assert json.loads(read_raw(home, caps[0].raw_ref).body)["uid"] == caps[0].item.native_id


def test_dataset_saved_with_datasets_and_bad_mapping(tmp_path: Path, home: Path) -> None:
    import datasets

    datasets.Dataset.from_dict(
        {"body": ["中国证监会发布上市公司信息披露管理办法修订稿，向社会公开征求意见。"], "id": ["a"]}
    ).save_to_disk(str(tmp_path / "saved"))
    good = write_sources(
        tmp_path,
        """  - id: saved
    name: saved
    kind: dataset
    dataset: {path: saved, text: body, id: id}
    licence: unknown
    legal_basis: test
""",
    )
    sources = load_sources(good)
    caps = pass_captures(home, crawl_source(sources, "saved", home).pass_ids)
    assert len(caps) == 1 and caps[0].item.native_id == "a"
    bad = load_sources(
        write_sources(
            tmp_path,
            good.read_text()
            .split("sources:\n")[1]
            .replace("text: body", "text: content")
            .replace("id: saved", "id: saved2"),
        )
    )
    with pytest.raises(ValueError, match=r"column 'content' .* not in the data"):
        crawl_source(bad, "saved2", home)
    with pytest.raises(SourcesError, match="exactly one of 'path'"):
        load_sources(
            write_sources(
                tmp_path,
                "  - {id: x, name: x, kind: dataset, dataset: {text: t}, licence: unknown, legal_basis: b}\n",
            )
        )
    with pytest.raises(SourcesError, match="needs 'paths'"):
        load_sources(
            write_sources(tmp_path, "  - {id: x, name: x, kind: warc, licence: unknown, legal_basis: b}\n")
        )


def test_files_folder_html_text_pdf(data_dir: Path, tmp_path: Path, home: Path) -> None:
    import shutil

    folder = tmp_path / "reports"
    (folder / "sub").mkdir(parents=True)
    pdf = min((data_dir / "pdf").rglob("*.pdf"), key=lambda p: p.stat().st_size)
    shutil.copy(pdf, folder / "sub" / "report.pdf")
    (folder / "notice.txt").write_text(
        "关于开展金融风险排查工作的通知\n各金融机构应于本月底前完成自查并报送结果。" * 3, encoding="utf-8"
    )
    shutil.copy(data_dir / "sites/regulator.test/zcfg/202412/t20241225_100102.html", folder / "law.html")
    (folder / "image.png").write_bytes(b"\x89PNG")
    path = write_sources(
        tmp_path,
        """  - id: local
    name: local reports
    kind: files
    path: reports
    licence: unknown
    legal_basis: internal copies
""",
    )
    sources = load_sources(path)
    res = crawl_source(sources, "local", home)
    caps = pass_captures(home, res.pass_ids)
    assert sorted(c.item.native_id for c in caps) == ["law.html", "notice.txt", "sub/report.pdf"]
    assert res.outcomes.get("not-document") == 1
    rows = {r["native_id"]: r for r in (process_capture(c, sources, home, "r") for c in caps)}
    assert rows["sub/report.pdf"]["extractor"] == "pypdfium2" and "\f" in rows["sub/report.pdf"]["text"]
    assert rows["notice.txt"]["title"] == "关于开展金融风险排查工作的通知"
    CrawlState(home).mark_staged(res.pass_ids, "run-1")
    (folder / "notice.txt").write_text("更正后的通知全文，请各机构以本版本为准。", encoding="utf-8")
    again = pass_captures(home, crawl_source(sources, "local", home).pass_ids)
    assert [(c.item.native_id, c.version) for c in again] == [("notice.txt", 2)]
