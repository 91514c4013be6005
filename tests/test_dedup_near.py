from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from fincorpus.dedup.keeper import Member, choose_keeper, title_key
from fincorpus.dedup.near import (
    NearConfig,
    band_key_matrix,
    candidate_pairs,
    cluster_texts,
    facts_conflict,
    facts_of,
    normalise,
    prepare,
    shingle_hashes,
    signature,
)
from fincorpus.pipelines.ingest import stage_records
from tests.rows import make_row

BASE = (
    "中国证监会今日发布《上市公司信息披露管理办法》修订稿，向社会公开征求意见。修订稿进一步明确了信息披露义务人的责任，"
    "强化了对重大事件的临时报告要求，并对财务造假行为加大处罚力度。证监会表示，将持续推进注册制改革，提升上市公司质量。"
) * 2


def dedup(home: Path, rows: list[dict]) -> dict[str, dict]:
    """Run the dedup and licence stages over records, as an ingest does; returns the staged records by URL."""
    staged = stage_records(home, "r", rows, {})
    table = pq.read_table(staged.path / "final")
    return {r["canonical_url"]: r for r in table.to_pylist()}


def test_normalise_folds_width_script_and_punctuation() -> None:
    assert normalise("證券，ＡＢＣ１２３　abc！") == normalise("证券,ABC123 abc!") == "证券abc123abc"


def test_signature_equals_datasketch_on_the_same_shingles() -> None:
    """datasketch's own affine32 scheme: bijective permutations (odd multipliers), same values bit for bit."""
    import datasketch

    from fincorpus.dedup.near import _permutations

    cfg = NearConfig()
    h = shingle_hashes(normalise(BASE), cfg.ngram)
    assert h.dtype == np.uint32 and np.all(np.diff(h.astype(np.int64)) > 0)  # sorted, unique
    m = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32", hashfunc=int)
    m.update_batch(h.tolist())
    assert signature(h, cfg).tolist() == m.hashvalues.tolist()
    a, b = _permutations(cfg.num_perm, cfg.seed)
    assert np.all(a % 2 == 1)  # a * h + b mod 2**32 is a bijection
    da, db = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32").permutations
    assert a.tolist() == [int(x) for x in da] and b.tolist() == [
        int(x) for x in db
    ]  # drawn as datasketch draws
    empty = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32")
    assert signature(np.zeros(0, np.uint32), cfg).tolist() == empty.hashvalues.tolist()
    big = np.arange(0, 200_000, 7, dtype=np.uint32)  # more shingles than one block
    m2 = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32", hashfunc=int)
    m2.update_batch(big.tolist())
    assert signature(big, cfg).tolist() == m2.hashvalues.tolist()
    assert np.array_equal(prepare(BASE, cfg).sig, prepare(BASE, cfg).sig)


def test_edited_copies_cluster_and_unrelated_texts_do_not() -> None:
    other = (
        "上海证券交易所发布公告称，科创板将于下月起实施新的交易规则，投资者适当性管理要求同步调整，相关细则另行公布。"
        * 2
    )
    texts = [
        BASE,
        "来源：财经网 编辑：王五\n" + BASE + "\n免责声明：本文仅供参考。",  # header and footer
        BASE.replace("，", ",").replace("。", "."),  # half-width punctuation
        BASE[: len(BASE) * 3 // 4],  # last part removed
        other,
    ]
    labels = cluster_texts(texts)
    assert labels[:4] == [0, 0, 0, 0] and labels[4] == 4
    assert cluster_texts(texts) == labels  # deterministic


TEMPLATE = (
    "本公司于{d}收到通知，股东张某所持本公司{n}股股份被司法冻结，占公司总股本的{p}%，冻结期限为三年。"
    "本次冻结不会导致公司控制权发生变更。"
) * 2


def test_same_template_different_facts_stay_apart() -> None:
    a = TEMPLATE.format(d="2018年12月21日", n="12,000,000", p="3.2")
    b = TEMPLATE.format(d="2019年3月5日", n="8,500,000", p="2.1")
    assert facts_conflict(facts_of(normalise(a)), facts_of(normalise(b)))
    assert not facts_conflict(facts_of(normalise(a)), facts_of(normalise(a + "特此公告。")))
    labels = cluster_texts([a, b, a + "特此公告。"])
    assert labels[0] != labels[1] and labels[0] == labels[2]


def test_a_heavy_bucket_is_capped_not_quadratic() -> None:
    cfg = NearConfig(bucket_cap=8)
    sigs = np.tile(prepare(BASE, cfg).sig, (300, 1))  # 300 identical signatures: one bucket per band
    keys = band_key_matrix(sigs, cfg)
    cands = candidate_pairs(lambda b: keys[:, b], 300, cfg)
    assert cands.capped_buckets == cfg.bands and cands.largest_bucket == 300
    assert len(cands.pairs) <= 300 * cfg.bucket_cap < 300 * 299 // 2
    # every member is still linked to its neighbours, so the cluster stays whole
    from fincorpus.dedup.near import UnionFind

    uf = UnionFind(300)
    for i, j in cands.pairs.tolist():
        uf.union(i, j)
    assert len({uf.find(i) for i in range(300)}) == 1


def test_keeper_policy_and_relations(home: Path) -> None:
    original = make_row(
        "http://finnews.test/a/1.html", text=BASE, source_id="finnews", licence_class="media-unknown"
    )
    reprint = make_row(
        "http://reprint.test/a/9.html",
        text="原标题：办法修订\n" + BASE,
        source_id="reprint",
        licence_class="media-third-party-reprint",
    )
    lone = make_row(
        "http://finnews.test/a/2.html",
        text="完全不同的一篇关于外汇市场的报道，人民币汇率今日小幅走强。" * 4,
        source_id="finnews",
    )
    out = dedup(home, [reprint, original, lone])
    r, o, one = out[reprint["canonical_url"]], out[original["canonical_url"]], out[lone["canonical_url"]]
    assert r["removed_stage"] == "dedup.near" and r["duplicate_of"] == original["doc_id"]
    assert r["status"] == "removed" and r["usage"] == []
    assert r["duplicate_relation"] == "reprint" and 0.7 <= r["duplicate_similarity"] <= 1.0
    assert o["status"] == "kept" and o["dedup_cluster"] == original["doc_id"]
    assert one["duplicate_of"] is None and one["status"] == "kept"
    assert any(s["step"] == "dedup.near" for s in r["steps"]) and r["steps"][-1]["step"] == "dedup.near"


def test_containment_never_drops_the_containing_text(home: Path) -> None:
    digest_extra = (
        "今日其他要闻：央行开展逆回购操作，外汇储备规模保持稳定，多家银行下调存款利率，房地产政策持续优化。"
        * 6
    )
    short = make_row("http://a.test/flash.html", text=BASE, source_id="a", licence_class="cn-art5-official")
    digest = make_row(
        "http://b.test/digest.html", text=BASE + digest_extra, source_id="b", licence_class="media-unknown"
    )
    out = dedup(home, [short, digest])
    # the short official text wins by authority, but the digest contains more: neither is dropped
    assert all(r["status"] == "kept" for r in out.values())


def test_a_reprint_naming_its_original_is_merged_below_the_jaccard_threshold(home: Path) -> None:
    page_extra = (
        "相关阅读：更多财经新闻请访问本站首页。网友评论：这篇报道很有价值。热门推荐：本周市场回顾与展望。" * 8
    )
    original = make_row(
        "http://finnews.test/a/1.html",
        text=BASE + page_extra,
        source_id="finnews",
        licence_class="media-unknown",
    )
    reprint = make_row(
        "http://reprint.test/a/9.html",
        text=BASE[: len(BASE) * 2 // 3]
        + "编者按：本站转载此文旨在传递更多信息，观点仅代表作者本人，读者可自行判断其中的投资逻辑与风险。"
        * 3,
        source_id="reprint",
        licence_class="media-third-party-reprint",
        original_url="http://finnews.test/a/1.html",
    )
    unrelated = make_row(
        "http://reprint.test/a/10.html",
        text="与原文无关的另一篇文章，讨论的是期货市场的交割规则调整。" * 5,
        source_id="reprint",
        original_url="http://finnews.test/a/1.html",
    )
    out = dedup(home, [original, reprint, unrelated])
    r = out[reprint["canonical_url"]]
    assert r["duplicate_of"] == original["doc_id"] and r["duplicate_relation"] == "reprint"
    assert "来源" in r["removed_reason"] and r["duplicate_similarity"] < 0.7
    assert out[unrelated["canonical_url"]]["status"] == "kept"  # a 来源 link alone is not trusted


def test_the_original_wins_from_page_evidence_without_dates(home: Path) -> None:
    """Two copies, no dates, same licence class: the page that names the other as its source is the reprint,
    whichever was crawled first and whatever the URLs look like."""
    original = make_row(
        "http://zz-long-original-host.test/news/2024/a/very/long/path/1.html",
        text=BASE,
        source_id="news-b",
        licence_class="media-unknown",
    )
    reprint = make_row(
        "http://a.test/1.html",
        text=BASE + "（本文来源于网络）",
        source_id="news-a",
        licence_class="media-unknown",
        original_url=original["canonical_url"],
    )
    out = dedup(home, [reprint, original])
    assert out[original["canonical_url"]]["status"] == "kept"
    r = out[reprint["canonical_url"]]
    assert r["status"] == "removed" and r["duplicate_of"] == original["doc_id"]
    keep_step = [s for s in out[original["canonical_url"]]["steps"] if s["step"] == "dedup.near"]
    assert "named as the original" in keep_step[0]["detail"]


def test_the_newest_version_of_a_law_is_kept(home: Path) -> None:
    law = (
        "第一条 为了控制和化解证券公司风险，保护投资者合法权益和社会公共利益，保障证券业健康发展，制定本条例。"
        "第二条 国务院证券监督管理机构依法对处置证券公司风险工作进行组织、协调和监督。"
        "第三条 证券公司被依法撤销、关闭或者破产的，应当依照本条例的规定处置。"
    ) * 3
    old = make_row(
        "http://regulator.test/zcfg/2016.html",
        text=law + "本条例自2008年6月1日起施行。",
        title="证券公司风险处置条例（2016年修订）",
        doc_type="official",
        published_at=datetime(2016, 2, 6, tzinfo=UTC),
    )
    new = make_row(
        "http://regulator.test/zcfg/2023.html",
        text=law + "本条例自2023年7月20日起施行。",
        title="证券公司风险处置条例（2023年修订）",
        doc_type="official",
        published_at=datetime(2023, 7, 20, tzinfo=UTC),
    )
    out = dedup(home, [old, new])
    assert out[new["canonical_url"]]["status"] == "kept"
    o = out[old["canonical_url"]]
    assert o["status"] == "removed" and o["duplicate_relation"] == "version"
    assert o["duplicate_of"] == new["doc_id"] and o["superseded_at"] == datetime(2023, 7, 20, tzinfo=UTC)
    assert "superseded by the version published 2023-07-20" in o["removed_reason"]


def test_version_groups_need_one_official_title() -> None:
    assert title_key("证券公司风险处置条例（2023年修订）") == title_key("证券公司风险处置条例") != ""
    m = dict(source_id="s", licence_class="cn-art5-official", length=100, doc_type="official")
    a = Member("a", canonical_url="http://x/a", published=datetime(2016, 1, 1, tzinfo=UTC), title="条例", **m)
    b = Member("b", canonical_url="http://x/b", published=datetime(2023, 1, 1, tzinfo=UTC), title="条例", **m)
    assert choose_keeper([a, b]).keeper == 1 and choose_keeper([a, b]).versions
    c = Member(
        "c", canonical_url="http://x/c", published=datetime(2023, 1, 1, tzinfo=UTC), title="另一部法", **m
    )
    news = {**m, "doc_type": "news"}
    d = Member(
        "d", canonical_url="http://x/d", published=datetime(2016, 1, 1, tzinfo=UTC), title="条例", **news
    )
    assert not choose_keeper([a, c]).versions and choose_keeper([a, c]).keeper == 0  # earliest wins
    assert not choose_keeper([d, b]).versions


def test_exact_duplicates_keep_the_most_authoritative_then_earliest(home: Path) -> None:
    reprint = make_row("http://reprint.test/a.html", licence_class="media-third-party-reprint", source_id="r")
    official = make_row("http://regulator.test/zcfg/long/path/a.html", licence_class="cn-art5-official")
    late = make_row(
        "http://regulator.test/b.html", text="另一篇" * 20, published_at=datetime(2024, 1, 2, tzinfo=UTC)
    )
    early = make_row(
        "http://regulator.test/c.html", text="另一篇" * 20, published_at=datetime(2020, 1, 2, tzinfo=UTC)
    )
    unique = make_row("http://regulator.test/d.html", text="独一无二" * 20)
    out = dedup(home, [reprint, official, late, early, unique])
    r = out[reprint["canonical_url"]]
    assert r["duplicate_of"] == official["doc_id"] and r["removed_stage"] == "dedup.exact"
    assert r["duplicate_relation"] == "exact" and r["dedup_cluster"] == official["doc_id"]
    assert out[official["canonical_url"]]["status"] == "kept"
    assert out[official["canonical_url"]]["dedup_cluster"] == official["doc_id"]
    assert out[late["canonical_url"]]["duplicate_of"] == early["doc_id"]
    assert out[unique["canonical_url"]]["dedup_cluster"] is None


def test_dropped_records_are_not_keepers_and_the_same_document_twice_is_one(home: Path) -> None:
    dropped = make_row("http://a.test/0.html", removed_stage="quality.basic", removed_reason="short")
    kept = make_row("http://a.test/1.html")
    again = make_row("http://a.test/1.html")  # the same URL captured twice in one run
    staged = stage_records(home, "r", [dropped, kept, again], {})
    rows = pq.read_table(staged.path / "final").to_pylist()
    assert [r["canonical_url"] for r in rows] == ["http://a.test/0.html", "http://a.test/1.html"]
    assert rows[1]["duplicate_of"] is None and rows[0]["duplicate_of"] is None


def test_run_dedup_across_parts_with_chunked_lookups(home: Path, monkeypatch) -> None:
    """The run's columns stay chunked by part (no Python lists of the run): repeats and exact groups that span
    parts, hashes looked up in the index a few at a time, and empty texts, decided as in one part."""
    import numpy as np

    from fincorpus.dedup import stage as dstage
    from fincorpus.dedup.index import IndexedDocs, open_near_index
    from fincorpus.pipelines.ingest import staging
    from fincorpus.schema import records_table

    monkeypatch.setattr(dstage, "EXACT_LOOKUP_CHUNK", 2)
    cfg = NearConfig()
    texts = ["".join(chr(0x4E00 + 400 * i + (j * 7) % 400) for j in range(300)) for i in range(6)]
    published_text = texts[5]
    index = open_near_index(home, cfg=cfg)
    p = prepare(published_text, cfg)
    index.add(
        IndexedDocs(
            ["pub-1"], ["a"], np.stack([p.sig]), [p.facts], [make_row(text=published_text)["text_sha256"]]
        ),
        "t0",
    )
    parts_rows = [
        [
            make_row("http://a.test/0.html", text=texts[0]),
            make_row("http://a.test/1.html", text=texts[1]),
            make_row("http://a.test/e.html", text="", text_sha256=""),
        ],
        [
            make_row("http://a.test/1.html", text=texts[1]),  # the same document again, in another part
            make_row("http://b.test/0.html", text=texts[0], licence_class="media-third-party-reprint"),
            make_row("http://a.test/5.html", text=published_text),
        ],
        [make_row("http://c.test/0.html", text=texts[0], licence_class="media-third-party-reprint")],
    ]
    store = staging(home)
    parts = []
    for k, rows in enumerate(parts_rows):
        t = records_table(rows, stage="test")
        store.write_parquet(f"x/p{k}.parquet", t)
        store.write_parquet(f"x/s{k}.parquet", dstage.sidecar(t, cfg))
        parts.append(dstage.PartFiles(f"x/p{k}.parquet", f"x/s{k}.parquet"))
    decisions, stats = dstage.dedup_run(store, parts, cfg, index)
    index.close()
    got = {(d["part"], d["row"]): (d["action"], d["duplicate_of"]) for d in decisions.to_pylist()}
    a0 = make_row("http://a.test/0.html")["doc_id"]
    assert got[(1, 0)] == ("drop", None)
    assert got[(0, 0)] == ("keep", None)
    assert got[(1, 1)] == ("remove", a0) and got[(2, 0)] == ("remove", a0)
    assert got[(1, 2)] == ("remove", "pub-1")
    assert (0, 1) not in got and (0, 2) not in got
    assert (stats.same_document_dropped, stats.exact_in_run, stats.exact_published) == (1, 2, 1)
