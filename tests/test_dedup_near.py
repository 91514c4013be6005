import numpy as np

from fincorpus.dedup.cluster import mark_near_duplicates
from fincorpus.dedup.near import (
    NearConfig,
    cluster_texts,
    digit_conflicts,
    normalise,
    prepare,
    shingle_hashes,
    signature,
)
from tests.rows import make_row

BASE = (
    "中国证监会今日发布《上市公司信息披露管理办法》修订稿，向社会公开征求意见。修订稿进一步明确了信息披露义务人的责任，"
    "强化了对重大事件的临时报告要求，并对财务造假行为加大处罚力度。证监会表示，将持续推进注册制改革，提升上市公司质量。"
) * 2


def test_normalise_folds_width_script_and_punctuation() -> None:
    assert normalise("證券，ＡＢＣ１２３　abc！") == normalise("证券,ABC123 abc!") == "证券abc123abc"


def test_signature_matches_the_permutation_formula_and_is_deterministic() -> None:
    import datasketch

    cfg = NearConfig(bands=4, rows=2)
    h = shingle_hashes(normalise(BASE), cfg.ngram)
    assert h.dtype == np.uint32 and np.all(np.diff(h.astype(np.int64)) > 0)  # sorted, unique
    a, b = datasketch.MinHash(num_perm=cfg.num_perm, seed=cfg.seed).permutations
    expected = [min((int(x) * int(a[k]) + int(b[k])) % 2**32 for x in h) for k in range(cfg.num_perm)]
    assert signature(h, cfg).tolist() == expected
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


def test_same_template_different_facts_stay_apart() -> None:
    tpl = (
        "本公司于{d}收到通知，股东张某所持本公司{n}股股份被司法冻结，占公司总股本的{p}%，冻结期限为三年。本次冻结不会导致公司控制权发生变更。"
        * 2
    )
    a = tpl.format(d="2018年12月21日", n="12,000,000", p="3.2")
    b = tpl.format(d="2019年3月5日", n="8,500,000", p="2.1")
    assert digit_conflicts(normalise(a), normalise(b)) > 0
    assert digit_conflicts(normalise(a), normalise(a + "特此公告。")) == 0
    labels = cluster_texts([a, b, a + "特此公告。"])
    assert labels[0] != labels[1] and labels[0] == labels[2]


def test_keeper_policy_and_relations() -> None:
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
    rows = mark_near_duplicates([reprint, original, lone])
    assert reprint["removed_stage"] == "dedup.near" and reprint["duplicate_of"] == original["doc_id"]
    assert reprint["duplicate_relation"] == "reprint" and 0.7 <= reprint["duplicate_similarity"] <= 1.0
    assert original.get("removed_stage") is None and original["dedup_cluster"] == original["doc_id"]
    assert lone.get("duplicate_of") is None and len(rows) == 3


def test_containment_never_drops_the_containing_text() -> None:
    digest_extra = (
        "今日其他要闻：央行开展逆回购操作，外汇储备规模保持稳定，多家银行下调存款利率，房地产政策持续优化。"
        * 6
    )
    short = make_row("http://a.test/flash.html", text=BASE, source_id="a", licence_class="cn-art5-official")
    digest = make_row(
        "http://b.test/digest.html", text=BASE + digest_extra, source_id="b", licence_class="media-unknown"
    )
    mark_near_duplicates([short, digest])
    # the short official text wins by authority, but the digest contains more: neither is dropped
    assert short.get("removed_stage") is None and digest.get("removed_stage") is None


def test_a_reprint_naming_its_original_is_merged_below_the_jaccard_threshold() -> None:
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
    mark_near_duplicates([original, reprint, unrelated])
    assert reprint["duplicate_of"] == original["doc_id"] and reprint["duplicate_relation"] == "reprint"
    assert "来源" in reprint["removed_reason"] and reprint["duplicate_similarity"] < 0.7
    assert unrelated.get("removed_stage") is None  # a 来源 link alone is not trusted without shared text
