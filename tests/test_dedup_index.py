from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fincorpus.dedup.index import IndexConfigError, IndexedDocs, NearIndex, RedisNearIndex
from fincorpus.dedup.near import NO_FACTS, NearConfig, prepare
from fincorpus.pipelines.ingest import near_index, stage_records
from fincorpus.pipelines.publish import publish, rebuild_near_index
from tests.rows import make_row
from tests.test_dedup_near import BASE

OTHER = (
    "国家外汇管理局公布数据显示，十月末我国外汇储备规模为三万二千亿美元，较九月末小幅上升，汇率保持基本稳定。"
    * 3
)


@pytest.fixture(params=["sqlite", "redis"])
def open_index(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Both backends behind one interface: the embedded SQLite file and the Redis scale-out variant."""
    if request.param == "sqlite":
        return lambda cfg: NearIndex(tmp_path / "idx.sqlite", cfg)
    url = request.getfixturevalue("redis_url")
    prefix = f"test:{tmp_path.name}"
    return lambda cfg: RedisNearIndex(url, cfg, prefix=prefix)


def test_index_add_query_remove_and_persist(open_index) -> None:  # type: ignore[no-untyped-def]
    cfg = NearConfig()
    a, b = prepare(BASE, cfg), prepare(OTHER, cfg)
    index = open_index(cfg)
    index.add(
        IndexedDocs(
            ["a", "b", "c"],
            ["src-a", "src-b", "src-c"],
            np.stack([a.sig, b.sig, b.sig]),
            [a.facts, b.facts, None],
            ["h-a", "h-b", "h-c"],
        ),
        "v1",
    )
    index.set_synced("123")
    index.close()
    index = open_index(cfg)  # persisted
    assert len(index) == 3 and index.synced() == "123"
    copy = prepare("来源：某网\n" + BASE, cfg)
    noise = np.random.default_rng(1).integers(0, 2**32, size=cfg.num_perm, dtype=np.uint64).astype(np.uint32)
    found = index.query(np.stack([copy.sig, noise]), [copy.facts, NO_FACTS])
    assert (
        [m.doc_id for m in found[0]] == ["a"] and found[0][0].tag == "v1" and found[0][0].source_id == "src-a"
    )
    assert found[0][0].estimate >= 0.7 and found[1] == []
    assert index.exact(["h-a", "h-c", "h-x"]) == {"h-a": ("a", "v1"), "h-c": ("c", "v1")}  # "c": hash only
    index.remove(["a"])
    assert index.query(copy.sig[None, :], [copy.facts])[0] == [] and len(index) == 2
    assert index.exact(["h-a"]) == {}
    index.add(IndexedDocs(["b"], ["src-b"], b.sig[None, :], [b.facts], ["h-b2"]), "v2")  # replaces
    assert index.exact(["h-b", "h-b2"]) == {"h-b2": ("b", "v2")} and len(index) == 2
    index.clear()
    assert len(index) == 0 and index.synced() is None
    index.close()
    with pytest.raises(IndexConfigError, match="rebuild"):
        open_index(NearConfig(bands=16, rows=8))


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_new_run_is_checked_against_published_snapshots(
    home: Path, backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "redis":
        monkeypatch.setenv("FINCORPUS_NEAR_INDEX", request.getfixturevalue("redis_url").replace("/0", "/1"))
    else:
        monkeypatch.delenv("FINCORPUS_NEAR_INDEX", raising=False)
    original = make_row(
        "http://finnews.test/a/1.html", text=BASE, source_id="finnews", licence_class="media-unknown"
    )
    copy = make_row("http://copy.test/a/1.html", text=BASE, source_id="copy", licence_class="media-unknown")
    stage_records(home, "r1", [original], {})
    info = publish(home, "v1").tag
    index = near_index(home)
    assert index.synced() == str(info.snapshot_id) and len(index) == 1
    index.close()
    reprint = make_row(
        "http://reprint.test/a/9.html",
        text="原标题：办法修订\n" + BASE,
        source_id="reprint",
        licence_class="media-third-party-reprint",
    )
    refetch = make_row(
        "http://finnews.test/a/1.html", text=BASE, source_id="finnews", licence_class="media-unknown"
    )
    staged = stage_records(home, "r2", [reprint, copy], {})
    rows = {r["canonical_url"]: r for r in pq.read_table(staged.path / "final").to_pylist()}
    again = stage_records(home, "r3", [refetch], {})
    rows |= {r["canonical_url"]: r for r in pq.read_table(again.path / "final").to_pylist()}
    r = rows[reprint["canonical_url"]]
    assert r["removed_stage"] == "dedup.near" and r["duplicate_of"] == original["doc_id"]
    assert "published in snapshot 'v1'" in r["removed_reason"] and r["duplicate_relation"] == "reprint"
    c = rows[copy["canonical_url"]]
    assert c["removed_stage"] == "dedup.exact" and "published in snapshot 'v1'" in c["removed_reason"]
    assert rows[refetch["canonical_url"]]["status"] == "kept"  # the same document again is not its own copy
    assert rebuild_near_index(home) == 1
    index = near_index(home)
    assert len(index) == 1
    index.close()


def test_unreachable_or_unknown_index_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from fincorpus.dedup.index import open_near_index

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    with pytest.raises(IndexConfigError, match=r"not reachable.*unset FINCORPUS_NEAR_INDEX"):
        open_near_index(home, f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("FINCORPUS_NEAR_INDEX", "postgres://x")
    with pytest.raises(IndexConfigError, match="not a redis:// URL"):
        open_near_index(home)
