"""Normalisation, traditional->simplified, boilerplate and rights notices, on invented text and shared/data."""

import json
from pathlib import Path

import pytest

from fincorpus.cleaning.boilerplate import clean_boilerplate, is_furniture, notices_in_html, parse_source
from fincorpus.cleaning.decode import decode_bytes
from fincorpus.cleaning.extract import extract_html
from fincorpus.cleaning.normalize import normalize_text, to_simplified, traditional_share


def test_full_width_letters_and_digits_fold_but_chinese_punctuation_stays() -> None:
    out = normalize_text("２０２４年营业收入增长１２．５％，ＰＥ为１５倍（ＴＴＭ）：“稳健”。")
    assert out == "2024年营业收入增长12.5％，PE为15倍（TTM）：“稳健”。"
    # a full-width point between digits is a decimal point; elsewhere it stays as written
    assert normalize_text("第一．总则") == "第一．总则"


def test_traditional_text_is_converted_and_says_so() -> None:
    trad = "中國人民銀行宣佈下調存款準備金率，這是今年第二次降準，銀行業務將受到影響。"
    c = to_simplified(trad)
    assert c.converted and c.changed_chars >= 8
    assert c.text.startswith("中国人民银行") and "这是今年第二次" in c.text
    simplified = to_simplified("中国人民银行宣布下调存款准备金率，这是今年第二次降准。")
    assert not simplified.converted and simplified.changed_chars == 0
    assert traditional_share("上海证券交易所") == 0.0


def test_traditional_real_page_is_detected(data_dir: Path) -> None:
    """pixnet (a Taiwanese blog) is written in traditional script; the simplified news pages are not."""
    index = [
        json.loads(x) for x in (data_dir / "html" / "index.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    converted = {}
    for entry in index:
        if entry["site"] not in ("pixnet", "people", "xinhuanet", "stcn"):
            continue
        html = decode_bytes((data_dir / entry["file"]).read_bytes()).text
        text = normalize_text(extract_html(html, "http://x.test/").text)
        converted[entry["file"]] = to_simplified(text).converted
    pixnet = [v for k, v in converted.items() if "/pixnet/" in k]
    others = [v for k, v in converted.items() if "/pixnet/" not in k]
    assert pixnet and all(pixnet)
    assert others and not any(others)


def test_notices_are_copied_verbatim_and_furniture_dropped() -> None:
    text = "\n".join(
        [
            "2024-03-01 10:00 来源：上海证券报",
            "某银行今日公告称，将于下月起调整部分存款产品利率，以应对市场变化。",
            "责任编辑：王五",
            "【打印】【关闭】",
            "分享到：微信 微博",
            "本文版权归原作者所有，未经授权不得转载。",
            "免责声明：本文仅代表作者个人观点，不构成投资建议。",
            "相关阅读",
        ]
    )
    out = clean_boilerplate(text)
    assert out.text == "某银行今日公告称，将于下月起调整部分存款产品利率，以应对市场变化。"
    assert out.rights_notice is not None
    notices = out.rights_notice.split("\n")
    assert "本文版权归原作者所有，未经授权不得转载。" in notices
    assert "免责声明：本文仅代表作者个人观点，不构成投资建议。" in notices
    assert "2024-03-01 10:00 来源：上海证券报" in notices
    assert out.original_source == "上海证券报"
    assert out.removed == {"notice": 3, "furniture": 4}


@pytest.mark.parametrize(
    ("line", "source"),
    [
        ("来源：新华社", "新华社"),
        ("稿件来源: 中国证券报", "中国证券报"),
        ("本文转载自证券时报网，转载目的在于传递更多信息", "证券时报网"),
        ("记者 张三 北京报道", None),
    ],
)
def test_source_lines_are_parsed(line: str, source: str | None) -> None:
    assert parse_source(line) == source


def test_body_lines_that_mention_reprinting_are_kept() -> None:
    """Statute articles and prose about copyright are text, not notices: nothing may be cut from them."""
    text = (
        "第三十一条 未经权利人许可，任何人不得对正在放映的电影进行录音录像。\n"
        "登录网上银行后，客户可以在首页查看账户余额和最近的交易记录。\n"
        "评论员认为，本轮降息对房地产市场的影响仍需观察。"
    )
    out = clean_boilerplate(text)
    assert out.text == text and out.rights_notice is None and not out.removed
    assert not is_furniture("登录网上银行后，客户可以在首页查看账户余额。")


def test_laws_lose_no_line(data_dir: Path) -> None:
    laws = sorted((data_dir / "texts" / "laws").glob("*/*.md"))
    assert len(laws) > 100
    touched = [
        p.name for p in laws if clean_boilerplate(normalize_text(p.read_text(encoding="utf-8"))).removed
    ]
    assert touched == []


def test_reprint_pages_keep_their_disclaimer_and_footer(data_dir: Path) -> None:
    """reprint.test pages carry an editor line, a disclaimer naming the original host and a 版权所有 footer."""
    pages = sorted((data_dir / "sites" / "reprint.test" / "article").glob("*.html"))[:10]
    assert pages
    for page in pages:
        html = decode_bytes(page.read_bytes()).text
        text = normalize_text(extract_html(html, "http://reprint.test/").text)
        out = clean_boilerplate(text, notices_in_html(html))
        assert out.rights_notice and "版权所有" in out.rights_notice, page.name
        assert out.original_source in ("finnews.test", "regulator.test"), page.name
        assert "责任编辑" not in out.text and "免责声明" not in out.text
        for notice in out.rights_notice.split(
            "\n"
        ):  # verbatim: every notice is in the page's text as written
            assert notice in " ".join(html.split()) or notice in text, notice


def _id18(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights, strict=True)) % 11]


def test_text_path_records_every_step_and_masks_or_flags_pii() -> None:
    from fincorpus.cleaning.textpath import clean_text

    person = _id18("31010419850312123")
    text = (
        "證券公司公告：客戶張先生（身份證號" + person + "，手機13912345678）於本月完成開戶。\n"
        "責任編輯：李四\n本文版權歸原作者所有，未經授權不得轉載。"
    )
    masked = clean_text(text)
    steps = [s["step"] for s in masked.steps]
    assert steps[:3] == [
        "normalize:nfc+halfwidth+whitespace",
        "normalize:opencc-t2s",
        "boilerplate:lines+notices",
    ]
    assert "pii:mask" in steps and "quality:scores" in steps
    assert "[身份证号]" in masked.text and "[手机号]" in masked.text and person not in masked.text
    assert masked.text.startswith("证券公司公告") and "责任编辑" not in masked.text
    assert masked.pii["id_card"] == 1 and masked.pii["mobile"] == 1 and masked.pii["max_class"] == "C2"
    assert masked.rights_notice == "本文版權歸原作者所有，未經授權不得轉載。"  # verbatim, as published
    flagged = clean_text(text, pii_mode="flag")
    assert person in flagged.text and flagged.pii["id_card"] == 1
    assert "pii:flag" in [s["step"] for s in flagged.steps]
    assert 0.0 <= masked.finance_score <= 1.0


def test_a_line_of_furniture_tokens_ending_in_other_text_fails_at_once() -> None:
    """Found reviewing the patterns after fuzz finding 18:228687: the whole-line furniture pattern let each space
    between tokens be split three ways, so '打印 ' * 12 + 'x' took 16 s to fail (3^gaps; a 60-character line of
    29 tokens would never finish). Each token unit is now atomic. The match runs in a child process with a 10 s
    limit, so a regression fails instead of hanging the suite; furniture lines are still found."""
    import multiprocessing as mp

    from fincorpus.cleaning import boilerplate

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        for line in ("打印 " * 14 + "x", "大 " * 29 + "x"):
            assert pool.apply_async(boilerplate.is_furniture, (line,)).get(timeout=10) is False
    for line in (
        "【打印】【关闭】",
        "返回顶部",
        "字号：大 中 小",
        "微信 微博 QQ空间",
        "分享到 微信 朋友圈 | 打印 | 关闭窗口",
    ):
        assert boilerplate.is_furniture(line), line
    assert not boilerplate.is_furniture("打印 关闭 央行开展逆回购操作")
