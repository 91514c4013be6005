"""Official-document and byline parsers on real laws, mirror pages and invented examples."""

import json
from pathlib import Path

import pytest

from fincorpus.cleaning.decode import decode_bytes
from fincorpus.cleaning.extract import extract_html
from fincorpus.cleaning.metadata import author, doc_number, issuing_body


def _regulator_laws(data_dir: Path) -> list[dict]:
    rows = [
        json.loads(x) for x in (data_dir / "sites" / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return [
        r for r in rows if r["host"] == "regulator.test" and (r.get("source") or "").startswith("texts/laws/")
    ]


def _law_text(data_dir: Path, row: dict) -> str:
    return (data_dir / row["source"]).read_text(encoding="utf-8").replace("<!-- INFO END -->", "")


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        (
            "中国人民银行关于加强支付管理的通知\n银发〔2024〕12号\n各分行：为进一步……",
            None,
            "银发〔2024〕12号",
        ),
        ("上海市地方金融管理局通知\n沪金规[2023]3号\n各有关单位：", None, "沪金规[2023]3号"),
        ("某某办法\n证监发（2019）8号\n各派出机构：", None, "证监发（2019）8号"),
        (
            "2024年3月1日 中国证券监督管理委员会令第227号公布\n第一条 为了……",
            None,
            "中国证券监督管理委员会令第227号",
        ),
        ("关于某事项的通知\n各有关单位：\n根据《某规定》（银发〔2020〕5号）的要求……", None, None),
        ("正文没有文号。", "关于调整利率的通知（银发〔2021〕7号）", "银发〔2021〕7号"),
        ("没有任何编号的普通新闻稿件。", None, None),
    ],
)
def test_doc_number_invented(text: str, title: str | None, expected: str | None) -> None:
    assert doc_number(text, title) == expected


def test_doc_number_amended_version_has_none_of_its_own() -> None:
    text = (
        "# 某条例\n\n2000年3月20日 中华人民共和国国务院令第285号发布\n\n"
        "2011年1月8日 《国务院关于废止和修改部分行政法规的决定》修订\n\n第一条 为了……"
    )
    assert doc_number(text) is None
    assert issuing_body(text) == "国务院"


def test_issuing_body_invented() -> None:
    assert issuing_body("信息索引\n发布机构：中国人民银行\n发布日期：2024-01-02") == "中国人民银行"
    assert issuing_body("……请遵照执行。\n\n某某市地方金融管理局\n2023年5月6日") == "某某市地方金融管理局"
    assert issuing_body("……注意投资风险。特此公告。某某科技股份有限公司董事会二〇二三年六月一日") == (
        "某某科技股份有限公司董事会"
    )
    assert issuing_body("一段没有落款的普通文字。") is None


def test_law_headers_give_the_mirror_truth(data_dir: Path) -> None:
    """The regulator mirror's 信息索引 was derived from each law's own header lines: our parsers, given the law
    text alone, must agree. Truth omits the number when the header's only 文号 predates the version (an amended
    text), so the number check is: every truth number found, and agreement on >= 85 % of the laws."""
    laws = _regulator_laws(data_dir)
    assert len(laws) >= 75
    organs = [
        (issuing_body(_law_text(data_dir, r)), r["fields_shown"]["organ"])
        for r in laws
        if r["fields_shown"].get("organ")
    ]
    assert sum(a == b for a, b in organs) / len(organs) >= 0.95, [x for x in organs if x[0] != x[1]]
    numbers = [(doc_number(_law_text(data_dir, r), r["title"]), r["fields_shown"].get("docno")) for r in laws]
    assert all(ours == truth for ours, truth in numbers if truth), [
        x for x in numbers if x[1] and x[0] != x[1]
    ]
    assert sum(a == b for a, b in numbers) / len(numbers) >= 0.85


def test_regulator_pages_carry_index_fields(data_dir: Path) -> None:
    laws = [r for r in _regulator_laws(data_dir) if r["fields_shown"].get("docno")][:5]
    for r in laws:
        page = decode_bytes((data_dir / "sites" / r["file"]).read_bytes()).text
        ex = extract_html(page, r["url"])
        assert ex.issuing_body == r["fields_shown"]["organ"]
        assert ex.doc_number == r["fields_shown"]["docno"]


def test_announcement_signatures(data_dir: Path) -> None:
    rows = (
        (data_dir / "texts/announcements_cfee/FREEZE_Data.json")
        .read_text(encoding="utf-8")
        .splitlines()[:100]
    )
    bodies = [issuing_body(json.loads(x)["Doc"]) for x in rows]
    signed = [b for b in bodies if b and b.endswith(("董事会", "公司"))]
    assert len(signed) >= 85, bodies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("作者：张晓明\n正文第一段讲述了市场情况。", "张晓明"),
        ("本报记者 王小五 李大六\n央行今天宣布……", "王小五 李大六"),
        ("……市场保持稳定。（赵小七 上海报道）", "赵小七"),
        ("新京报记者 孙八八 北京报道\n正文……", "孙八八"),
        ("正文……\n编辑：李四四\n责任编辑：周五五", None),
        ("记者了解到，本季度银行信贷保持增长。", None),
        ("作者:bluefish2005\n博客正文……", "bluefish2005"),
    ],
)
def test_author_invented(text: str, expected: str | None) -> None:
    assert author(text) == expected


def test_author_from_page_text_when_not_in_main_text() -> None:
    html = "<html><body><div>发布时间：2024-01-02 作者： 陈一一</div><p>正文。</p></body></html>"
    assert author("正文。", html) == "陈一一"
