"""Text structure (issue 13): tables one row per line with cells separated, titles apart from the body, run-on
announcements split at their own markers; only line breaks are added (no character of the text is lost)."""

from __future__ import annotations

import json
from pathlib import Path

from fincorpus.cleaning.extract import extract_html
from fincorpus.cleaning.structure import restore


def _nonspace(text: str) -> str:
    return "".join(text.split())


def test_html_table_becomes_one_row_per_line_with_cells_separated() -> None:
    rows = "".join(
        f"<tr><td>股东{n}</td><td>{n * 1000:,}</td><td>{n * 1.5:.2f}%</td><td>司法冻结</td></tr>"
        for n in (1, 2, 3)
    )
    html = (
        "<html><head><title>关于股东股份被冻结的公告</title></head><body><div class='c'>"
        "<h1>关于股东股份被冻结的公告</h1>"
        "<p>本公司董事会及全体董事保证本公告内容不存在任何虚假记载、误导性陈述或者重大遗漏。</p>"
        f"<table><tr><th>股东名称</th><th>冻结股数</th><th>占总股本比例</th><th>冻结类型</th></tr>{rows}</table>"
        "<p>截至本公告披露日，公司生产经营正常，上述事项不会对公司日常经营产生重大影响。特此公告。</p>"
        "</div></body></html>"
    )
    lines = extract_html(html, "http://disclosure.example/a.html").text.split("\n")
    assert "股东名称 | 冻结股数 | 占总股本比例 | 冻结类型" in lines
    assert "股东2 | 2,000 | 3.00% | 司法冻结" in lines
    assert not any(set(x) <= set("|-: ") for x in lines)  # no markdown separator row


def test_title_run_into_the_first_sentence_is_split_off() -> None:
    title = "央行今日开展逆回购操作"
    text = title + "本报讯 中国人民银行今日以利率招标方式开展了逆回购操作，维护银行体系流动性合理充裕。"
    out = restore(text, title)
    assert out.text.split("\n")[0] == title and out.title_split
    assert _nonspace(out.text) == _nonspace(text)


def test_heading_repeated_by_the_body_is_kept_once() -> None:
    title = "央行今日开展逆回购操作"
    text = f"{title}\n{title}本报讯 中国人民银行今日开展了逆回购操作。"
    assert restore(text, title).text == f"{title}\n本报讯 中国人民银行今日开展了逆回购操作。"


def test_run_on_announcements_get_their_lines_back(data_dir: Path) -> None:
    """All 1,039 CFEE announcements are one line each in the data: after restore most have header, title,
    statement, sections, 特此公告 and signature on lines of their own, and no character changed."""
    rows = [
        json.loads(x)
        for x in (data_dir / "texts/announcements_cfee/FREEZE_Data.json").read_text("utf-8").splitlines()
    ]
    split = 0
    for row in rows:
        out = restore(row["Doc"], row["Title"])
        assert _nonspace(out.text) == _nonspace(row["Doc"])
        lines = out.text.split("\n")
        split += (
            len(lines) >= 4
            and any(x.startswith("特此公告") for x in lines)
            + (row["Title"].split("：")[-1] in lines[1] if len(lines) > 1 else 0)
            >= 1
        )
    assert split / len(rows) >= 0.9


def test_ordinary_paragraphs_are_left_alone() -> None:
    text = "今年以来，债券市场总体平稳。\n分析人士认为，货币政策将保持稳健。"
    assert restore(text, "债市平稳").text == text


def test_a_header_line_of_repeated_labels_without_a_number_fails_at_once() -> None:
    """Fuzz finding 18:228687: a mutated exchange header, 50 "股票简称：…" and no 公告编号, kept the header pattern
    backtracking for 14 s (its values could run across later labels: ~k^4 in the label count). Now each value stops
    at the next label. This line of 120 labels took the old pattern about 35 s; the match runs in a child process
    with a 10 s limit, so a regression fails instead of hanging the suite."""
    import multiprocessing as mp

    from fincorpus.cleaning import structure

    line = "股票代码：600001" + "股票简称：示例科技公告编弚600001" * 120
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        res = pool.apply_async(structure._HEADER.match, (line,))
        assert res.get(timeout=10) is None  # raises multiprocessing.TimeoutError if it backtracks
    ok = "证券代码：600000证券简称：示例银行公告编号：2024-001本公司董事会"
    assert structure._HEADER.match(ok).group(0) == "证券代码：600000证券简称：示例银行公告编号：2024-001"
