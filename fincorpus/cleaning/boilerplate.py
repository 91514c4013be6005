"""Chinese site boilerplate out, rights notices kept: notices are copied verbatim before anything is removed.

Two kinds of short lines are recognised in the extracted text:

- rights and reprint notices (版权所有, 未经授权不得转载, 转载请注明出处, 来源：…, 转载自…, 免责声明…, Copyright ©):
  the licensing work needs them word for word, so they go into ``rights_notice`` exactly as written, and the
  original source a 来源/转载自 line names is parsed out;
- site furniture (责任编辑, 扫一扫/二维码, 分享到, 相关阅读, 打印/关闭, 上一篇/下一篇, 字号 大中小, 返回顶部 …),
  which is dropped.

Both only ever match short lines (notices up to 300 characters, furniture up to 60), so an article or a statute
that *talks about* reprinting or copyright (著作权法: 未经著作权人许可，复制…) is never cut. Notices in the page
around the main text (the footer's 版权所有) are found in the HTML's text nodes by :func:`notices_in_html`.
"""

from __future__ import annotations

import html as html_lib
import re
from collections import Counter
from dataclasses import dataclass, field

from fincorpus.cleaning import sitetemplate
from fincorpus.cleaning.htmlscan import drop_blocks
from fincorpus.cleaning.quality import END_PUNCT, is_nav_line

STEP = "boilerplate:lines+notices"

MAX_NOTICE_CHARS = 300
MAX_FURNITURE_CHARS = 60

_REPRINT_VERB = r"(?:转载|复制|摘编|镜像|转贴|转发|刊登|使用|引用)"
_NOTICE = re.compile(
    r"版权所有|版权归.{0,20}所有|著作权归|原创版权|(?:未经|非经).{0,24}(?:授权|许可|同意|允许).{0,6}(?:，|,|\s)?"
    rf"(?:不得|禁止|严禁|请勿|谢绝)(?:任何(?:单位|个人|形式|媒体|网站)?的?)?(?:商业)?{_REPRINT_VERB}|"
    rf"(?:严禁|禁止|谢绝|请勿)(?:任何(?:单位|个人|形式|媒体|网站)?的?)?(?:商业)?(?:转载|复制|摘编|镜像|转贴)|"
    r"转载请(?:注明|联系|保留)|(?:如需|若需|欢迎)转载|转载须|^[\[【]?(?:免责声明|免责条款|版权声明|特别声明|声明)[】\]]?\s*[：:]|"
    r"不代表本(?:站|网|平台|号|报|刊)|仅代表作者|仅供参考.{0,12}不构成|不构成(?:任何)?投资建议|如有侵权|"
    r"如涉及.{0,12}版权|侵权.{0,8}(?:联系|删除)|(?:^|[\s(（【\[])(?:copyright|©)",
    re.IGNORECASE,
)
_BLANK_RUN = re.compile("\n\n\n+")  # literal-first: re scans for it, where "\n{3,}" tries every position
# A statute's article ("第十三条 …未经本人同意不得…") is law text, never a site notice.
_ARTICLE = re.compile(r"^第[一二三四五六七八九十百千零〇\d]+条")
# 来源：新华社 / 稿件来源: 中国证券报 / 转载自 上海证券报 / 本文来源于… / 原文链接 / 原标题
_SOURCE = re.compile(
    r"(?:^|[\s　|丨：:，,。])(?:文章|稿件|信息|新闻|内容|本文)?(?:(?:来源|出处)(?:于)?\s*[：:]|(?:转载自|转自|源自)\s*[：:]?)\s*"
    r"(?P<name>[^\s　|丨，,。；;【】\[\]()（）]{1,40})"
)
_SOURCE_LINE = re.compile(
    r"^(?:[\d\-/年月日:： ]{6,22})?\s*(?:(?:文章|稿件|信息|新闻|内容|本文)?(?:来源|出处|转载自|转自)|原文链接|原标题)"
)
# Labels that start a furniture line ("责任编辑：张三", "分享到：", "上一篇：…", "相关阅读：…").
_FURNITURE_PREFIX = re.compile(
    r"^[\[【(（]?\s*(?:(?:责任|本文|网络|值班|实习)?编辑|责编|校对|审核|审校|终审|监制|分享(?:到|至)?|上一篇|下一篇|"
    r"(?:相关|延伸|推荐|热点|热门|更多)(?:阅读|新闻|文章|推荐|链接|报道|资讯)|(?:阅读|浏览|点击)(?:次数|量|数)|"
    r"字号|字体)\s*[：:]"
    r"|^(?:扫(?:一扫|描|码)|长按(?:识别)?二维码|识别二维码|点击(?:进入|查看|这里|关注)|关注(?:我们|公众号|微信公众号))"
)
# Lines made only of furniture tokens ("【打印】【关闭】", "返回顶部", "相关阅读", "字号：大 中 小", "微信 微博 QQ空间").
_FURNITURE_TOKEN = (
    r"(?:打印(?:本页|此页|文章)?|关闭(?:窗口|本页)?|返回(?:顶部|首页|列表|上一页)?|收藏(?:本文|本页)?|分享(?:到|至)?|一键分享|"
    r"微信|微博|QQ空间|QQ|朋友圈|登录|注册|手机版|(?:相关|延伸|推荐|热点|热门|更多)(?:阅读|新闻|文章|推荐|链接|报道|资讯)|"
    r"猜你喜欢|上一篇|下一篇|上一页|下一页|(?:网友|发表|我要|查看)评论|评论|字号|字体|[大中小]|TOP|top|Top|>>|»)"
)
# Each token with its brackets and separators is one atomic, possessive unit: with plain \s* on both sides of a
# token and a separator class holding \s, every space between tokens could be split three ways, and a line of 12
# tokens with a non-token at the end ("打印 " * 12 + "x") took 16 s to fail (3^gaps). Now it fails at once.
_FURNITURE_WHOLE = re.compile(
    rf"^(?>[\[【(（]?\s*+{_FURNITURE_TOKEN}\s*+[\]】)）]?[：:|丨/·、\s]*+)+$", re.IGNORECASE
)
# "Related article" lines: a headline followed by its date and time, maybe a short channel name.
_DATED_LINK = re.compile(r"^.{4,80}?\s*\d{4}-\d{2}-\d{2}(?:\s+\d{2}:\d{2}(?::\d{2})?)?(?:\s+\S{1,8})?$")
NAV_RUN_MIN = 5  # this many short unpunctuated lines in a row at the head or tail of a web page are a menu

_TAG_TEXT = re.compile(r">([^<>]{2,600})<")


@dataclass(frozen=True)
class Cleaned:
    text: str
    rights_notice: str | None
    original_source: str | None
    removed: Counter[str] = field(default_factory=Counter)  # kind -> lines removed
    template_lines: list[str] = field(default_factory=list)  # lines the site template removed, in order

    @property
    def detail(self) -> str:
        """The step detail stored in ``steps``: what was removed and whether notices were kept."""
        parts = [f"{k}={v}" for k, v in sorted(self.removed.items())]
        if self.rights_notice:
            parts.append(f"notices={self.rights_notice.count(chr(10)) + 1}")
        return ", ".join(parts) or "nothing removed"


def is_notice(line: str) -> bool:
    if len(line) > MAX_NOTICE_CHARS or _ARTICLE.match(line):
        return False
    return bool(_NOTICE.search(line) or _SOURCE_LINE.search(line))


def is_furniture(line: str) -> bool:
    return len(line) <= MAX_FURNITURE_CHARS and bool(
        _FURNITURE_PREFIX.search(line) or _FURNITURE_WHOLE.match(line)
    )


def parse_source(line: str) -> str | None:
    """The original source a 来源/转载自 line names: '来源：新华社' -> '新华社'."""
    m = _SOURCE.search(line)
    if not m:
        return None
    name = m.group("name").strip("：:　 ")
    return name or None


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in items if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def _trim_nav_runs(lines: list[str], removed: Counter[str]) -> list[str]:
    """Drop menus before the article and link lists after it: runs of short unpunctuated lines at either end.

    Only runs touching the head or the tail go (a statute's chapter headings or a list inside an article stay);
    blank lines do not break a run.
    """

    def edge(seq: list[str]) -> int:
        run = end = 0
        for i, line in enumerate(seq):
            stripped = line.strip()
            if not stripped:
                continue
            if not is_nav_line(stripped):
                break
            run += 1
            end = i + 1
        return end if run >= NAV_RUN_MIN else 0

    head = edge(lines)
    tail = edge(lines[::-1])
    if head:
        removed["nav-run"] += sum(1 for x in lines[:head] if x.strip())
    if tail and len(lines) - tail > head:
        removed["nav-run"] += sum(1 for x in lines[len(lines) - tail :] if x.strip())
        lines = lines[: len(lines) - tail]
    return lines[head:]


def clean_boilerplate(
    text: str,
    page_notices: list[str] | None = None,
    *,
    web_page: bool = False,
    as_written: str | None = None,
    site_template: sitetemplate.SiteTemplate | None = None,
) -> Cleaned:
    """Copy notices (from the text and the page around it), then drop notice and furniture lines.

    ``web_page`` also trims menus and related-link lists a generic extractor left at the head or tail of a news
    or forum page, and dated "related article" lines; never for statutes, announcements or reports, whose
    tables of contents and figure rows are content. ``as_written`` is the text before traditional -> simplified
    conversion (same lines): notices are copied from it, so they stay verbatim. ``site_template`` (learned
    from the host's pages, see fincorpus.cleaning.sitetemplate) removes the host's frame lines after the notices
    were copied, on any document type; its lines are matched as written.
    """
    written = as_written.split("\n") if as_written is not None else None
    notices: list[str] = []
    source: str | None = None
    removed: Counter[str] = Counter()
    kept: list[str] = []
    kept_written: list[str] = []
    lines = text.split("\n")
    if written is not None and len(written) != len(lines):
        written = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            kept.append(line)
            kept_written.append(line)
            continue
        if is_notice(stripped):
            notices.append(written[i].strip() if written is not None else stripped)
            source = source or parse_source(stripped)
            removed["notice"] += 1
            continue
        if is_furniture(stripped):
            removed["furniture"] += 1
            continue
        if web_page and _DATED_LINK.match(stripped) and stripped[-1] not in END_PUNCT:
            removed["dated-link"] += 1
            continue
        if web_page and i < BREADCRUMB_HEAD_LINES and is_breadcrumb(stripped):
            removed["breadcrumb"] += 1
            continue
        kept.append(line)
        kept_written.append(written[i] if written is not None else line)
    template_lines: list[str] = []
    if site_template:
        drops = sitetemplate.template_drops(site_template, kept_written)
        template_lines = [x.strip() for x, d in zip(kept, drops, strict=True) if d]
        kept = [x for x, d in zip(kept, drops, strict=True) if not d]
        if template_lines:
            removed["site-template"] += len(template_lines)
    if web_page:
        kept = _trim_nav_runs(kept, removed)
    for notice in page_notices or []:
        notices.append(notice)
        source = source or parse_source(notice)
    out = _BLANK_RUN.sub("\n\n", "\n".join(kept)).strip()
    unique = _unique(notices)
    return Cleaned(out, "\n".join(unique) if unique else None, source, removed, template_lines)


BREADCRUMB_HEAD_LINES = 6  # a breadcrumb is looked for in the first lines only
_CRUMB_ROOT = re.compile(r"(?:首页|主页|首\s*页|网站首页|当前位置|您的位置|你的位置|所在位置)\s*[：:]?")


def is_breadcrumb(line: str) -> bool:
    """'企业服务首页 > 产经资讯 > 正文', '当前位置：首页 » 新闻中心': a path of short crumbs starting at a home
    page or a 'you are here' label. Works on a single page of a host never seen before."""
    if len(line) > 120 or line[-1] in END_PUNCT:
        return False
    parts = re.split(r"\s*(?:>|»|›|＞|→|>>)\s*", line)
    if len(parts) < 2 or any(len(p) > 40 for p in parts[:-1]):
        return False
    return bool(_CRUMB_ROOT.search(parts[0]))


def notices_in_html(html: str) -> list[str]:
    """Rights notices in the page's text nodes (footers, disclaimers beside the article), verbatim, in order."""
    body = drop_blocks(html, " ", ("script", "style"), comments=False)  # linear on unclosed blocks
    found: list[str] = []
    for m in _TAG_TEXT.finditer(body):
        chunk = m.group(1)
        if "&" in chunk:
            chunk = html_lib.unescape(chunk)
        chunk = re.sub(r"\s+", " ", chunk).strip()
        if chunk and len(chunk) <= MAX_NOTICE_CHARS and _NOTICE.search(chunk):
            found.append(chunk)
    return _unique(found)
