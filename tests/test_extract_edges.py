"""Issue 13, item 3: the page frame a generic extractor keeps is trimmed from the text without any site's markup."""

from __future__ import annotations

from fincorpus.cleaning import extract
from fincorpus.cleaning.extract import extract_html, is_meta_line, trim_edges

BODY = [
    "昨日，公司董事会审议通过了2024年度利润分配方案，拟每10股派发现金红利3元。",
    "公司表示，本次分配方案综合考虑了经营发展与股东回报，尚需提交股东大会审议。",
]


def test_title_line_at_the_head_is_the_title_not_body() -> None:
    text = "\n".join(["公司发布年度利润分配方案", *BODY])
    assert trim_edges(text, "公司发布年度利润分配方案_财经频道").text == "\n".join(BODY)
    # the same words inside the body stay
    inside = "\n".join([BODY[0], "公司发布年度利润分配方案", BODY[1]])
    assert trim_edges(inside, "公司发布年度利润分配方案").text == inside


def test_dateline_byline_and_counter_lines_at_the_edges() -> None:
    for line in (
        "2005-02-06 13:26更新 来源：转载文章 | 发表评论",
        "发表于 2004年12月27日 12:40 - (阅读:3727;评论:63)",
        "(本文发表于首页批评与建议, 已被阅读178次)",
        "Saturday, September 10th, 2005 10:56 am",
        "本报记者 王燕平 方云凤 柏建斌",
        "2003-7-24 钱江晚报",
    ):
        assert is_meta_line(line), line
        assert trim_edges("\n".join([line, *BODY]), None).text == "\n".join(BODY)
        assert trim_edges("\n".join([*BODY, line]), None).text == "\n".join(BODY)
    for line in (
        "（2005年10月27日第十届全国人民代表大会常务委员会第十八次会议通过）",  # a statute's history
        "2024年一季度，公司实现营业收入12.3亿元，同比增长8%。",  # a sentence with a date
        "第一章 总则",
    ):
        assert not is_meta_line(line), line
    # only at the edges: a dateline between body paragraphs is left alone
    mid = "\n".join([BODY[0], "2005-02-06 13:26更新", BODY[1]])
    assert trim_edges(mid, None).text == mid


def test_link_lines_at_the_edges_are_navigation() -> None:
    links = frozenset({"首页", "新闻中心", "今日推荐", "79年每月挣六千", "大款收藏86部老车"})
    text = "\n".join(["首页 | 新闻中心", *BODY, "今日推荐 | 79年每月挣六千 | 大款收藏86部老车"])
    assert trim_edges(text, None, links).text == "\n".join(BODY)
    # a body line holding a link keeps it; a link line after the body starts stays
    kept = "\n".join([BODY[0], "首页 | 新闻中心", BODY[1]])
    assert trim_edges(kept, None, links).text == kept


def test_repeated_block_of_lines_is_a_copy() -> None:
    table = [
        "索引号： | 11220000013544357T/2022-00426",
        "发文机关： | 吉林省人民政府",
        "发文字号： | 吉政明电〔2022〕1号",
    ]
    text = "\n".join([*table, BODY[0], *table, BODY[1]])
    assert trim_edges(text, None).text == "\n".join([*table, BODY[0], BODY[1]])
    # a line or two that repeat (a refrain, a repeated table row) stay
    two = "\n".join([BODY[0], "合计 | 0", "小计 | 0", BODY[1], "合计 | 0", "小计 | 0"])
    assert trim_edges(two, None).text == two


def test_switches_turn_each_rule_off() -> None:
    text = "\n".join(["公司发布年度利润分配方案", "2005-02-06 13:26更新", *BODY])
    saved = extract.TITLE_OUT, extract.META_LINES
    try:
        extract.TITLE_OUT = extract.META_LINES = False
        assert trim_edges(text, "公司发布年度利润分配方案").text == text
    finally:
        extract.TITLE_OUT, extract.META_LINES = saved


def test_extract_html_reads_metadata_before_trimming_the_frame() -> None:
    html = (
        "<html><head><title>公司发布年度利润分配方案_财经频道</title></head><body>"
        "<div class='nav'><a href='/'>首页</a> <a href='/news'>新闻中心</a></div>"
        "<article><h1>公司发布年度利润分配方案</h1><p>2024-03-01 09:30 来源：证券时报 作者：张三</p>"
        + "".join(f"<p>{b}</p>" for b in BODY)
        + "</article></body></html>"
    )
    ex = extract_html(html, "http://news.test/finance/1.html")
    assert ex.title and "利润分配方案" in ex.title
    assert ex.text.split("\n")[0] == BODY[0] and BODY[1] in ex.text
    assert ex.published_at is not None and ex.published_at.year == 2024  # read from the dateline


def test_index_table_rows_are_not_datelines() -> None:
    assert not is_meta_line("成文日期： | 2022年01月27日")
    assert is_meta_line("成文日期：2022年01月27日")


def test_readability_vote_takes_a_subset_that_drops_the_frame() -> None:
    ours = "\n".join(["首页 | 新闻中心 | 财经", *BODY, "相关新闻：公司召开股东大会"])
    other = "\n".join(BODY)
    assert extract.vote_readability(ours, other, 0.7) == (other, True)
    # not a subset (readability found another block), or losing too much of ours: ours stays
    assert extract.vote_readability(ours, "另一段完全不同的文字，讲的是别的事情。" * 3, 0.7) == (ours, False)
    assert extract.vote_readability(ours, BODY[0], 0.85) == (ours, False)
    assert extract.vote_readability(ours, "", 0.7) == (ours, False)


def test_readability_text_of_a_page() -> None:
    html = (
        "<html><body><div id='nav'><a href='/'>首页</a></div><div class='article'>"
        + "".join(f"<p>{b}</p>" for b in BODY * 3)
        + "</div></body></html>"
    )
    assert BODY[0] in extract.readability_text(html)
    assert extract.readability_text("") == ""
