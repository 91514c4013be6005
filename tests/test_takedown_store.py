"""Issue 11, takedown and erasure on the store: a covered document leaves the next snapshot and pulls of older
tags; after a purge neither its text nor its raw bytes are in any file of the home; the log holds only hashes.

The home is real: the regulator mirror site crawled through the fixture server (HTTP response + request WARC
records), a files source of texts written here (WARC resource records, a document with two versions), two
publishes (tags v1 and v2), all through the pipeline's own functions.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pyarrow.compute as pc
import pytest

from fincorpus.catalog import erasure
from fincorpus.catalog.export import pull
from fincorpus.catalog.store import CorpusCatalog
from fincorpus.fixture_server import FixtureServer
from fincorpus.pipelines.ingest import crawl_source, open_run, plan_pass_shards, run_in_process
from fincorpus.pipelines.publish import publish
from fincorpus.sources.archive import read_raw
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import load_sources
from fincorpus.takedown import TakedownRequest, pii_value_hash
from tests.homegrep import files_holding
from tests.test_publish_atomic import WORDS  # our own word list

SOURCES = """
crawler:
  user_agent: "fincorpus-test/1.0"
  delay_seconds: 0.0
  timeout_seconds: 30
sources:
  - id: regulator
    name: regulator mirror
    kind: web
    seeds: ["http://regulator.test/"]
    allow: ["^http://regulator\\\\.test/"]
    deny: ["^http://regulator\\\\.test/xxpl/", "\\\\.pdf$"]
    licence: cn-art5-official
    legal_basis: "official documents (test)"
    doc_type: official
    content_selectors: ["#zoom"]
  - id: local
    name: local texts
    kind: files
    path: folder
    licence: cn-art5-official
    legal_basis: "our own test texts"
    doc_type: official
"""
PHONE = "13912345678"


def our_text(i: int, lead: str = "") -> str:
    """Chinese text written for this test (no third-party text in the repository)."""
    import random

    rng = random.Random(i)
    body = "".join(rng.choice(WORDS) + ("，" if rng.random() < 0.8 else "。") for _ in range(80))
    return f"{lead}第{i}号通知。{body}特此通知。\n"


def pii_doc(version: int) -> str:
    # starts with 一 (U+4E00, the smallest CJK ideograph): its text is the lower bound of its data file's text
    # column, so before the purge a manifest quotes it (the check below can fail)
    return our_text(2, "一、") + f"联系人孙女士，电话 {PHONE}，第{version}版。\n"


def _sources(root: Path, proxy: str):  # type: ignore[no-untyped-def]
    sf = load_sources(root / "sources.yaml")
    return sf.model_copy(update={"crawler": sf.crawler.model_copy(update={"proxy": proxy})})


def ingest(root: Path, home: Path, proxy: str, ids: tuple[str, ...] = ("regulator", "local")):  # type: ignore[no-untyped-def]
    sf = _sources(root, proxy)
    passes = [p for sid in ids for p in crawl_source(sf, sid, home).pass_ids]
    run_id, _ = open_run(home, passes)
    shards = plan_pass_shards(home, passes)
    return run_in_process(str(root / "sources.yaml"), home, shards, run_id, {}, passes, proxy=proxy)


def build_base(root: Path, data_dir: Path) -> Path:
    root.mkdir(parents=True)
    (root / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    folder = root / "folder"
    folder.mkdir()
    for i in range(6):
        (folder / f"doc{i}.txt").write_text(pii_doc(1) if i == 2 else our_text(i), encoding="utf-8")
    home = root / "home"
    home.mkdir()
    with FixtureServer(data_dir / "sites") as server:
        ingest(root, home, server.proxy_url)
        publish(home, "v1")
        (folder / "doc2.txt").write_text(pii_doc(2), encoding="utf-8")  # a second version of the same file
        (folder / "doc9.txt").write_text(our_text(9), encoding="utf-8")
        ingest(root, home, server.proxy_url)
        publish(home, "v2")
    return root


@pytest.fixture(scope="module")
def base(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("takedown") / "base", data_dir)


@pytest.fixture
def site(base: Path, tmp_path: Path) -> Path:
    """A private copy of the built home and its inputs (a copied home reads and writes its own files)."""
    root = tmp_path / "site"
    shutil.copytree(base, root, symlinks=True)
    return root


def article(home: Path, tag: str = "v1") -> dict:
    """A regulator article with a long text, as the catalog holds it."""
    rows = (
        CorpusCatalog(home).read(tag, columns=("doc_id", "source_id", "url", "text", "raw_ref")).to_pylist()
    )
    arts = sorted(
        (r for r in rows if r["source_id"] == "regulator" and len(r["text"] or "") > 2000),
        key=lambda r: r["url"],
    )
    return arts[len(arts) // 2]


def needles_for(home: Path, row: dict) -> list[bytes]:
    """A distinctive slice of the text (UTF-8 and GB18030) and of the raw response body."""
    text = row["text"]
    mid = text[len(text) // 2 : len(text) // 2 + 40]
    body = read_raw(home, row["raw_ref"]).body
    raw = body[len(body) // 2 : len(body) // 2 + 64]
    return [mid.encode("utf-8"), mid.encode("gb18030"), raw]


def request(kind: str, value: str, purge: bool = False, basis: str = "rights-holder") -> TakedownRequest:
    return TakedownRequest(
        kind=kind,
        value=value,
        requester="某出版社法务部",
        reason="著作权人通知删除",
        legal_basis=basis,
        purge=purge,
    )


def kept_ids(home: Path, tag: str) -> set[str]:
    return set(CorpusCatalog(home).read(tag, columns=("doc_id",)).column("doc_id").to_pylist())


def pulled_ids(home: Path, tag: str, out: Path, **kw) -> set[str]:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    res = pull(home, tag, out, overwrite=True, **kw)
    return {
        d for f in res.files for d in pq.read_table(out / f, columns=["doc_id"]).column("doc_id").to_pylist()
    }


# -- takedown without purge ------------------------------------------------------------------------------------------


def test_a_takedown_leaves_the_next_snapshot_and_pulls_of_older_tags(site: Path, tmp_path: Path) -> None:
    home = site / "home"
    doc = article(home)
    res = erasure.take_down(home, request("url_pattern", doc["url"]))
    assert res.doc_ids == [doc["doc_id"]] and res.found_in == {"catalog": 1}

    # the next publish needs nothing staged: the takedown alone makes the snapshot
    info = publish(home, "v3").tag
    assert doc["doc_id"] not in kept_ids(home, "v3")
    removed = CorpusCatalog(home).read("v3", "removed").to_pylist()
    stone = next(r for r in removed if r["doc_id"] == doc["doc_id"])
    assert stone["removed_stage"] == "takedown" and res.entry.request_id in stone["removed_reason"]
    assert stone["text"] is None and stone["title"] is None and stone["url"] == doc["url"]
    assert info.documents == CorpusCatalog(home).tag("v2").documents - 1

    # an older tag still holds it, but a pull leaves it out unless the legal team asks, which is logged
    assert doc["doc_id"] in kept_ids(home, "v1")
    assert doc["doc_id"] not in pulled_ids(home, "v1", tmp_path / "p1")
    manifest = json.loads((tmp_path / "p1" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["filters"]["taken_down_excluded"] == 1
    assert doc["doc_id"] in pulled_ids(home, "v1", tmp_path / "p2", include_taken_down=True)
    access = [
        json.loads(x) for x in (home / "takedown-access.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert access[-1]["tag"] == "v1" and access[-1]["documents"] == 1

    # the log: hashes, who, when, why; not the URL pattern
    log = (home / "takedown.jsonl").read_text(encoding="utf-8")
    assert doc["url"] not in log and "regulator.test" not in log
    assert "某出版社法务部" in log and doc["doc_id"] in log


def test_a_taken_down_page_is_not_fetched_again(site: Path, data_dir: Path) -> None:
    home = site / "home"
    doc = article(home)
    erasure.take_down(home, request("doc_id", doc["doc_id"]))
    with FixtureServer(data_dir / "sites") as server:
        sf = _sources(site, server.proxy_url)
        res = crawl_source(sf, "regulator", home)
        fetched = [r["url"] for r in server.requests]
    assert res.outcomes.get("skipped-takedown") == 1
    assert doc["url"] not in fetched
    events = [e for p in res.pass_ids for e in CrawlState(home).events(p) if e.url == doc["url"]]
    assert [e.outcome for e in events] == ["skipped-takedown"]


def test_a_document_matching_nothing_is_refused_and_nothing_is_logged(site: Path) -> None:
    home = site / "home"
    with pytest.raises(erasure.TakedownError, match="no document"):
        erasure.take_down(home, request("url_pattern", "http://nowhere.test/*"))
    assert not (home / "takedown.jsonl").exists()


# -- purge -----------------------------------------------------------------------------------------------------------


def test_purge_erases_text_and_raw_bytes_from_every_file_of_the_home(site: Path, tmp_path: Path) -> None:
    home = site / "home"
    doc = article(home)
    other = next(r for r in CorpusCatalog(home).read("v1").to_pylist() if r["source_id"] == "regulator"
                 and r["doc_id"] != doc["doc_id"] and len(r["text"] or "") > 2000)  # fmt: skip
    needles = needles_for(home, doc)
    control = needles_for(home, other)
    assert files_holding(home, needles), (
        "the needles must be found before the purge, or the test proves nothing"
    )
    before = {t.tag: t for t in CorpusCatalog(home).tags()}

    res = erasure.take_down(home, request("doc_id", doc["doc_id"], purge=True))
    assert res.problems == []
    assert set(res.purge.snapshots) >= {"v1", "v2", "main"}
    assert len(res.purge.warc_records) >= 1

    assert files_holding(home, needles) == {}
    assert files_holding(home, control), "another document's bytes must stay"
    # every other document still reads from the archive, and the tags keep their history
    catalog = CorpusCatalog(home)
    for row in catalog.read("v2", "records", columns=("doc_id", "raw_ref")).to_pylist():
        read_raw(home, row["raw_ref"])
    after = {t.tag: t for t in catalog.tags()}
    for tag in ("v1", "v2"):
        assert after[tag].committed_at == before[tag].committed_at
        assert after[tag].snapshot_id != before[tag].snapshot_id
        assert after[tag].documents == before[tag].documents - 1
        assert doc["doc_id"] not in kept_ids(home, tag)
        assert doc["doc_id"] not in pulled_ids(home, tag, tmp_path / tag, include_taken_down=True)
    assert [t.tag for t in catalog.tags()] == [
        t.tag for t in sorted(before.values(), key=lambda t: t.committed_at)
    ]

    entries = [json.loads(x) for x in (home / "takedown.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["action"] for e in entries] == ["takedown", "purge-done"]
    assert entries[1]["replaced"]["snapshots"]["v1"] == [before["v1"].snapshot_id, after["v1"].snapshot_id]
    erasure.takedown_log(home).verify()


def test_purge_of_a_personal_information_value_covers_every_version_and_later_documents(
    site: Path, data_dir: Path
) -> None:
    home = site / "home"
    needles = [PHONE.encode(), "联系人孙女士".encode(), pii_doc(1)[:30].encode()]
    prefix = pii_doc(1)[:12].encode()  # Iceberg keeps 16-character bounds of text columns in manifests
    assert any(f.endswith(".avro") for f in files_holding(home, [prefix])), (
        "the bound check must be able to fail"
    )
    assert files_holding(home, needles)

    res = erasure.take_down(home, request("pii_hash", pii_value_hash(f"+86 {PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}"),
                                          purge=True, basis="pipl-art47"))  # fmt: skip
    assert len(res.doc_ids) == 1 and res.problems == []
    assert len(res.purge.warc_records) == 2  # both versions of the file
    # the files source's own input is outside the home (the home was built beside another copy of it)
    assert [u.rsplit("/", 2)[-2:] for u in res.purge.outside_home] == [["folder", "doc2.txt"]]
    assert files_holding(home, [*needles, prefix]) == {}
    log = (home / "takedown.jsonl").read_text(encoding="utf-8")
    assert PHONE not in log and pii_value_hash(PHONE) not in log  # only the hash of the hash

    # a new document holding the same number: processed into a tombstone, its raw record erased at once
    (site / "folder" / "doc2.txt").unlink()
    (site / "folder" / "new.txt").write_text(our_text(11) + f"如有疑问，请致电 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}。\n",
                                             encoding="utf-8")  # fmt: skip
    with FixtureServer(data_dir / "sites") as server:
        staged = ingest(site, home, server.proxy_url, ids=("local",))
    assert staged.summary["removed_by_stage"].get("takedown") == 1
    assert files_holding(home, [PHONE.encode(), f"{PHONE[:3]} {PHONE[3:7]}".encode()]) == {}


def test_a_purge_interrupted_after_the_commit_is_finished_by_resume(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = site / "home"
    doc = article(home)
    needles = needles_for(home, doc)

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError("disk went away")

    monkeypatch.setattr(erasure, "_scrub_warc", boom)
    with pytest.raises(OSError):
        erasure.take_down(home, request("doc_id", doc["doc_id"], purge=True))
    assert [e.action for e in erasure.takedown_log(home).entries()] == ["takedown"]
    monkeypatch.undo()
    done = erasure.resume_purges(home)
    assert [p for _, _, p in done] == [[]]
    assert files_holding(home, needles) == {}
    assert [e.action for e in erasure.takedown_log(home).entries()] == ["takedown", "purge-done"]


def test_the_crawl_state_and_dedup_index_keep_no_text(site: Path) -> None:
    home = site / "home"
    doc = article(home)
    con = sqlite3.connect(home / "catalog.db")
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert doc["text"][1000:1040] not in dump  # URLs and hashes only, before any takedown
    idx = sqlite3.connect(home / "near-index.sqlite")
    try:
        n = idx.execute("SELECT COUNT(*) FROM idx_doc WHERE doc_id=?", (doc["doc_id"],)).fetchone()[0]
    finally:
        idx.close()
    assert n == 1
    erasure.take_down(home, request("doc_id", doc["doc_id"]))
    idx = sqlite3.connect(home / "near-index.sqlite")
    try:
        assert idx.execute("SELECT COUNT(*) FROM idx_doc WHERE doc_id=?", (doc["doc_id"],)).fetchone()[0] == 0
    finally:
        idx.close()


def test_a_source_takedown_covers_its_later_documents(site: Path) -> None:
    home = site / "home"
    res = erasure.take_down(home, request("source", "local", basis="operator"))
    assert len(res.doc_ids) == 7
    ids = kept_ids(home, "v2")
    info = publish(home, "v3").tag
    assert not {d for d in ids if d in res.doc_ids} & kept_ids(home, "v3")
    removed = CorpusCatalog(home).read("v3", "removed", columns=("source_id", "removed_stage"))
    assert pc.sum(pc.equal(removed.column("removed_stage"), "takedown")).as_py() == 7
    assert info.documents == len(ids) - 7


def test_a_takedown_published_first_and_purged_later_leaves_no_manifest_quoting_it(site: Path) -> None:
    """The publish that made the tombstone recorded the old data file as deleted, with its column bounds: the
    snapshot holding only the tombstone is replaced as well."""
    home = site / "home"
    rows = CorpusCatalog(home).read("v2", columns=("doc_id", "text")).to_pylist()
    doc = next(r for r in rows if r["text"] and r["text"].startswith("一、"))
    prefix = doc["text"][:12].encode()
    erasure.take_down(home, request("doc_id", doc["doc_id"]))
    publish(home, "v3")
    assert any(f.endswith(".avro") for f in files_holding(home, [prefix]))
    res = erasure.take_down(home, request("doc_id", doc["doc_id"], purge=True, basis="court-order"))
    assert res.problems == [] and "v3" in res.purge.snapshots
    assert files_holding(home, [prefix, doc["text"][40:80].encode()]) == {}
