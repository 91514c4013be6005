"""The text-speed benchmark scaffold: its documents come from the shared data, its baseline is real datatrove."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from bench.textbench.docs import bench_summary, load_bench_docs, load_bench_records


def _cjk_share(text: str) -> float:
    return sum("CJK UNIFIED" in unicodedata.name(c, "") for c in text) / max(len(text), 1)


def test_bench_docs_are_deterministic_chinese_and_near_target(data_dir: Path) -> None:
    docs = load_bench_docs(300, 1500, seed=0, data_dir=data_dir)
    assert docs == load_bench_docs(300, 1500, seed=0, data_dir=data_dir)
    assert docs != load_bench_docs(300, 1500, seed=1, data_dir=data_dir)
    assert len(docs) == 300
    mean = sum(map(len, docs)) / len(docs)
    assert 1200 <= mean <= 1650, mean
    assert all(500 <= len(d) <= 3000 for d in docs)
    shares = sorted(map(_cjk_share, docs))
    assert shares[len(shares) // 2] > 0.6 and shares[0] > 0.1  # real pages mix in English, tables, digits


def test_bench_docs_mix_sources_and_can_match_utf8_kilobytes(data_dir: Path) -> None:
    summary = bench_summary(load_bench_records(600, 540, data_dir=data_dir))
    assert set(summary["by_kind"]) == {"news", "announcement", "law", "web"}
    assert 1300 <= summary["mean_utf8_bytes"] <= 1700, summary  # the "~1.5 KB"
    assert summary["distinct_documents"] >= 590


def test_bench_docs_reject_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="shared data not found"):
        load_bench_docs(10, data_dir=tmp_path)
    with pytest.raises(ValueError, match="must be positive"):
        load_bench_docs(0)


@pytest.fixture(scope="module")
def fw2():  # type: ignore[no-untyped-def]
    pytest.importorskip("datatrove")
    pytest.importorskip("spacy")
    pytest.importorskip("jieba")
    from bench.textbench import fineweb2_cmn

    return fineweb2_cmn


def test_baseline_uses_published_cmn_hani_thresholds(fw2) -> None:  # type: ignore[no-untyped-def]
    rep, fwq, gq = fw2.build_filters()
    assert type(rep).__name__ == "GopherRepetitionFilter"
    assert rep.dup_line_frac == 0.287 and rep.dup_para_frac == 0 and rep.language == "cmn_Hani"
    assert (
        fwq.line_punct_thr == 0.106 and fwq.char_duplicates_ratio == 0.1 and fwq.short_line_threshold == 999
    )
    assert gq.max_avg_word_length == 5 and gq.min_stop_words == 2 and "的" in gq.stop_words


def test_baseline_keeps_and_drops_20_real_docs_with_reasons(fw2, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    docs = load_bench_docs(20, 1500, seed=0, data_dir=data_dir)
    filters = fw2.build_filters()
    verdicts = fw2.run_direct(filters, docs)
    assert len(verdicts) == 20
    kept = [str(i) for i, v in enumerate(verdicts) if v.kept]
    dropped = [v for v in verdicts if not v.kept]
    assert kept and dropped
    assert all(v.filter and v.reason for v in dropped)
    assert all(v.filter is None and v.reason is None for v in verdicts if v.kept)
    assert fw2.run_pipeline(filters, docs) == kept  # the run() chain agrees with direct filter() calls


def test_baseline_decisions_on_invented_text(fw2) -> None:  # type: ignore[no-untyped-def]
    good = "\n".join(
        [
            "星河科技股份有限公司今天发布了第三季度经营情况的说明，营业收入比去年同期增长了百分之十二。",
            "公司表示，增长主要来自海外市场的订单，同时研发投入也在持续增加，新产品将于明年上半年上市。",
            "分析人士认为，该公司的现金流状况较为稳健，但原材料价格的波动仍是未来需要关注的风险。",
            "董事会还审议通过了回购部分股份的议案，回购资金由公司自有资金支付，回购价格不超过每股二十元。",
        ]
    )
    spam = "\n".join(["点击这里领取红包"] * 12)
    good_v, spam_v = fw2.run_direct(fw2.build_filters(), [good, spam])
    assert good_v.kept, good_v
    assert not spam_v.kept and spam_v.filter == "GopherRepetitionFilter"
