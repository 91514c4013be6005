"""One bad input never sinks a run: a document whose stored bytes are damaged, or whose text is over the limit,
becomes a removed record with the stage and the reason; the other documents of its shard are processed."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from fincorpus.pipelines import ingest as st
from fincorpus.sources.registry import load_sources

PAGE = "<html><head><title>第{i}号公告</title></head><body><div><p>{body}</p></div></body></html>"


def _source(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        body = f"上海证券交易所第{i}号公告：本公司董事会审议通过了年度报告，现将有关事项公告如下。" * 6
        (docs / f"{i}.html").write_text(PAGE.format(i=i, body=body), encoding="utf-8")
    src = tmp_path / "sources.yaml"
    src.write_text(
        "sources:\n  - {id: local, name: local files, kind: files, path: docs, licence: unknown, "
        "legal_basis: test, doc_type: announcement}\n",
        encoding="utf-8",
    )
    return src


def _flip_byte_in_record(home: Path, raw_ref: str) -> None:
    rel, _, offset = raw_ref.rpartition("#")
    path = home / rel
    data = bytearray(path.read_bytes())
    data[int(offset) + 40] ^= 0xFF  # inside the record's gzip member
    path.write_bytes(bytes(data))


def test_a_damaged_record_is_an_error_record_and_the_shard_goes_on(tmp_path: Path, home: Path) -> None:
    src = _source(tmp_path)
    sources = load_sources(src)
    res = st.crawl_source(sources, "local", home)
    caps = st.pass_captures(home, res.pass_ids)
    victim = sorted(caps, key=lambda c: c.url)[1]
    _flip_byte_in_record(home, victim.raw_ref)
    run_id, _ = st.open_run(home, res.pass_ids)
    shard = st.plan_pass_shards(home, res.pass_ids)[0]
    ref = st.process_shard(str(src), None, home, run_id, shard)
    rows = {r["url"]: r for r in pq.read_table(st.staging(home).path(ref.part)).to_pylist()}
    assert ref.rows == 3 and ref.removed_by_stage == {"error": 1}
    bad = rows[victim.url]
    assert bad["status"] == "removed" and bad["removed_stage"] == "error"
    assert "WARC file" in bad["removed_reason"] and "offset" in bad["removed_reason"]
    assert all(r["status"] == "kept" for u, r in rows.items() if u != victim.url)


def test_a_text_over_the_limit_is_removed_with_its_length(tmp_path: Path, home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = _source(tmp_path)
    monkeypatch.setattr(st, "MAX_TEXT_CHARS", 100)  # the limit is a setting (FINCORPUS_MAX_TEXT_CHARS)
    sources = load_sources(src)
    res = st.crawl_source(sources, "local", home)
    run_id, _ = st.open_run(home, res.pass_ids)
    ref = st.process_shard(str(src), None, home, run_id, st.plan_pass_shards(home, res.pass_ids)[0])
    rows = pq.read_table(st.staging(home).path(ref.part)).to_pylist()
    assert [r["removed_stage"] for r in rows] == ["error"] * 3
    assert all("exceeds the limit of 100" in r["removed_reason"] for r in rows)


def test_a_shard_reads_in_archive_order_and_writes_in_url_order(
    tmp_path: Path, home: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """URL order ("…/1", "…/10", "…/2") is not the order the crawl wrote the WARC records in; reading in URL order
    made every document a jump through the segment (on S3, a ranged GET of a whole window each)."""
    import json

    rows = tmp_path / "rows.jsonl"
    body = "本公司董事会审议通过了年度报告，现将有关事项公告如下。" * 6
    rows.write_text(
        "".join(
            json.dumps({"id": str(i), "text": f"第{i}号公告：{body}"}, ensure_ascii=False) + "\n"
            for i in range(12)
        ),
        encoding="utf-8",
    )
    src = tmp_path / "sources.yaml"
    src.write_text(
        "sources:\n  - {id: local, name: rows, kind: dataset, dataset: {path: rows.jsonl, text: text, id: id}, "
        "licence: unknown, legal_basis: test, doc_type: announcement}\n",
        encoding="utf-8",
    )
    res = st.crawl_source(load_sources(src), "local", home)
    read: list[int] = []
    real = st.read_raw

    def spy(h, ref):  # type: ignore[no-untyped-def]
        read.append(int(ref.rpartition("#")[2]))
        return real(h, ref)

    monkeypatch.setattr(st, "read_raw", spy)
    run_id, _ = st.open_run(home, res.pass_ids)
    ref = st.process_shard(str(src), None, home, run_id, st.plan_pass_shards(home, res.pass_ids)[0])
    urls = [r["url"] for r in pq.read_table(st.staging(home).path(ref.part)).to_pylist()]
    assert len(read) == 12 and read == sorted(read)
    assert urls == sorted(urls) and urls != sorted(urls, key=lambda u: int(u.rsplit("/", 1)[1]))
