"""Chinese document metadata from text: 文号 (document number), 发布机构 (issuing body) and the author byline.

Official documents state these in a few fixed places: an index field (发布机构：/文号：), the header lines of a
regulation ("2015年2月17日 中华人民共和国国务院令第660号公布"), the line under a notice's title ("银发〔2024〕12号"),
or the signature block at the end ("……董事会\n2017年2月24日"). News bylines use 作者：/记者/文/ conventions;
编辑 (editor) and 摄 (photographer) lines name someone else and are never taken as the author.
"""

from __future__ import annotations

import html as _html
import re
from datetime import date

from fincorpus.cleaning.htmlscan import visible_markup_text

_NUM = r"[0-9０-９一二三四五六七八九十百千零〇○两]+"
_CJK = r"\u4e00-\u9fff"
_YEAR_BRACKET = r"[〔［\[【（(]\s*(?:19|20)\d{2}\s*[〕］\]】）)]"

# 银发〔2024〕12号, 沪金规[2023]3号, 证监发（2019）8号: an issuer abbreviation, the year in brackets, a number.
DOC_NO_BRACKET = re.compile(rf"[{_CJK}]{{1,12}}{_YEAR_BRACKET}\s*+第?\s*+{_NUM}\s*号")
# 中华人民共和国国务院令第660号, 证监会令第227号, 中国人民银行令〔2021〕第1号, ……常务委员会公告第10号.
DOC_NO_ORDER = re.compile(rf"[{_CJK}]{{2,40}}?(?:令|公告)(?:{_YEAR_BRACKET})?\s*第\s*{_NUM}\s*号")
_FIELD_DOC_NO = re.compile(r"(?:文\s*号|发文字号)\s*[：:]\s*([^\s|｜]{4,40})")
_FIELD_BODY = re.compile(
    r"(?:发布机构|发文机关|发文单位|制发机关|发布单位|发布部门)\s*[：:]\s*([^\s|｜：:]{2,60})"
)
# Words that end up glued in front of an issuer: dates' 日, "以/经/根据 … 令".
_LEAD_JUNK = re.compile(r"^(?:[年月日号]|以|经|由|根据|依据|按照|和|及|并)+")
_HEADER_LINE = re.compile(
    r"^\s*[（(]?\s*(?:根据|依据)?\s*((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(.*)$"
)
_BODY_START = re.compile(r"^\s*(?:第[一1]\s*[章条节编]|[一1]\s*[、.．]|各[省市区县]|各有关|为了|为进一步)")
_SESSION = re.compile(rf"第{_NUM}届")
_ORGAN_END = (
    "人民代表大会常务委员会",
    "人民代表大会",
    "人民政府",
    "办公厅",
    "办公室",
    "委员会",
    "董事会",
    "监事会",
    "银行",
    "公司",
    "法院",
    "检察院",
    "国务院",
    "总局",
    "部",
    "局",
    "署",
    "院",
    "会",
    "中心",
    "交易所",
    "协会",
)
_SIGNATURE = re.compile(
    rf"([{_CJK}（）()]{{2,40}}?(?:{'|'.join(_ORGAN_END)}))\s*[\n\s]*"
    r"(?:(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|二[〇零○][〇零○一二三四五六七八九十]{2}年[^\n]{2,8}日)\s*\d{0,3}\s*$"
)


def _clean_issuer(prefix: str) -> str:
    return _LEAD_JUNK.sub("", prefix.strip())


def _header(text: str, limit: int = 1500) -> list[str]:
    """The lines before the body starts (title, dates, document number): where a regulation states its facts."""
    lines = []
    for line in text[:limit].splitlines():
        if _BODY_START.match(line):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def _dated_lines(text: str) -> list[tuple[date, str]]:
    out = []
    for line in _header(text):
        m = _HEADER_LINE.match(line)
        if m and "施行" not in m.group(4)[-4:]:
            try:
                out.append((date(int(m.group(1)), int(m.group(2)), int(m.group(3))), m.group(4)))
            except ValueError:
                continue
    return out


def _outside_quotes(text: str, m: re.Match[str]) -> bool:
    """A number cited inside 《…》 or a 根据/依照 clause is another document's, not this one's."""
    before = text[: m.start()]
    return before.count("《") <= before.count("》")


def doc_number(text: str, title: str | None = None) -> str | None:
    """The document's own 文号, or None. Order: an index field (文号：), the title, then the header: for a
    regulation with a dated history the latest non-施行 line decides (an amended version has no number of its own
    unless that line states one), otherwise the first number in the header not quoted from another document."""
    field = _FIELD_DOC_NO.search(text[:3000])
    if field and (DOC_NO_BRACKET.fullmatch(field.group(1)) or DOC_NO_ORDER.fullmatch(field.group(1))):
        return field.group(1)
    for source in (title or "",):
        m = DOC_NO_BRACKET.search(source)
        if m:
            return _clean_issuer(m.group(0))
    dated = _dated_lines(text)
    if dated:
        newest = max(d for d, _ in dated)
        for day, line in dated:  # several lines can share the newest date (通过 and 公布 the same day)
            m = DOC_NO_ORDER.search(line) or DOC_NO_BRACKET.search(line)
            if day == newest and m and _outside_quotes(line, m):
                return _clean_issuer(m.group(0))
        return None
    header = "\n".join(_header(text, 600))
    for pattern in (DOC_NO_BRACKET, DOC_NO_ORDER):
        for m in pattern.finditer(header):
            if _outside_quotes(header, m):
                return _clean_issuer(m.group(0))
    return None


def _organ_of_line(line: str) -> tuple[str, str] | None:
    """(kind, organ) from one dated header line: kind 'promulgate' (公布/发布) or 'adopt' (通过/批准/修正…)."""
    line = re.sub(r"《[^》]*》", "", line)
    m = re.match(rf"([{_CJK}、]+?)(?:令|公告)", line)
    if m and re.search(r"(?:公布|发布)\s*[　\s]*$", line):
        return "promulgate", _normalise_organ(m.group(1))
    m = re.match(rf"([{_CJK}、]+?)\s*(?:公布|发布)\s*[　\s]*$", line)
    if m:
        return "promulgate", _normalise_organ(m.group(1))
    m = re.match(
        rf"([{_CJK}]+?)(?:审判委员会|检察委员会|第{_NUM}次|常务会议|批准|通过)", _SESSION.sub("", line)
    )
    if m:
        return "adopt", _normalise_organ(m.group(1))
    return None


def _normalise_organ(name: str) -> str:
    name = _SESSION.sub("", _clean_issuer(name))
    return name.removeprefix("中华人民共和国") or name


def issuing_body(text: str) -> str | None:
    """The issuing body (发布机构/发文机关), or None: an index field, else a regulation's header history (the
    latest 公布/发布 line's organ, else the latest adopting organ; joint judicial interpretations name both
    courts), else the signature block closing the text."""
    field = _FIELD_BODY.search(text[:5000])
    if field:
        return field.group(1)
    header = "".join(_header(text))
    if "最高人民法院审判委员会" in header and "检察委员会" in header:
        return "最高人民法院、最高人民检察院"  # a joint judicial interpretation
    found = [(d, _organ_of_line(line)) for d, line in _dated_lines(text)]
    organs = [(d, o) for d, o in found if o and o[1]]
    for kind in ("promulgate", "adopt"):
        of_kind = [(d, o[1]) for d, o in organs if o[0] == kind]
        if of_kind:
            names = {n for _, n in of_kind}
            if kind == "adopt" and {"最高人民法院", "最高人民检察院"} <= names:
                return "最高人民法院、最高人民检察院"
            return max(of_kind, key=lambda x: x[0])[1]
    tail = text.rstrip()[-200:]
    tail = re.sub(r"^.*(?:特此公告|特此通知|此复)[。.！!]?", "", tail, flags=re.S)
    m = _SIGNATURE.search(tail)
    if m:
        name = m.group(1)
        # keep only the last clause: the signature follows the closing sentence's full stop
        return re.split(r"[。；;！!？?，,：:]", name)[-1] or None
    # last resort: the issuer named in a title line "国务院关于……的规定"
    first = next((line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip()), "")
    m = re.match(rf"([{_CJK}、]{{2,30}}?)关于", first)
    return m.group(1) if m else None


# -- author ------------------------------------------------------------------------------------------------------

_NAME = r"[\u4e00-\u9fff·]{2,4}|[A-Za-z][A-Za-z0-9_.\-]{2,30}"
_NAMES = (
    # one separator between names; a line break ends the byline; at most 10 names: with an unbounded list every
    # 记者 inside a long failing chain re-scanned the rest of it (8.7 s on a 20,000-character page, issue 14)
    rf"(?:{_NAME})(?:[ 　、，,](?:{_NAME})){{0,9}}"
)
_STOP = "编辑|责编|责任编辑|来源|出处|摄|阅读|日期|时间|发布|点击|字号|分享|图|报道"
_AUTHOR_PATTERNS = [
    # 作者：宋怡 杨志华 / 作者:zboygirl / 作者： 周思博 (Joel Spolsky) / 执笔人：… (a label needs its colon)
    re.compile(
        rf"(?:作\s*者|执笔人|撰\s*文|撰稿人?)\s*[：:︱|]\s*(?P<n>{_NAMES})(?:\s*[（(](?P<alias>[A-Za-z][A-Za-z .]{{1,40}})[）)])?"
    ),
    re.compile(rf"(?<![\u4e00-\u9fff])文\s*[/／]\s*(?P<n>{_NAMES})"),
    # 光明日报记者 王建宏 张文攀 / 本报记者 葛灵丹 / (信报记者 蔡雪婧) / 新京报记者 彭冲 山东冠县报道: a byline, so the
    # names end at a line end, a bracket, or a 报道/摄/电 tail; "记者了解到" in running text does not match
    re.compile(
        rf"(?:实习生|通讯员|特约记者|见习记者|实习记者|记者)\s*(?P<n>{_NAMES})"
        rf"(?=\s*(?:$|\n|[）)】\]]|[\u4e00-\u9fff]{{0,6}}报道|摄|电|/))",
        re.M,
    ),
    # 马俊峰/文, 由海姑娘张贴, 本贴由大卫于, by duscha
    re.compile(rf"(?P<n>{_NAME})\s*[/／]\s*文(?![\u4e00-\u9fff])"),
    re.compile(rf"由\s*(?P<n>{_NAME})\s*(?:张贴|发表)|本贴由\s*(?P<n2>{_NAME})\s*于"),
    re.compile(r"\bby\s+(?P<n>[A-Za-z][A-Za-z0-9_.\-]{2,30})\b"),
]
# A reporter's sign-off at the end of a news text: （袁源）, （姚峰 上海报道）, （记者 张三）. Searched in the last
# TRAILING_CHARS of the text only, with possessive spaces: on a 30 KB line of "(" and spaces the plain pattern
# backtracked for 12 s (found by bench/fuzz).
TRAILING_CHARS = 200
_TRAILING = re.compile(
    r"[（(]\s*+(?:(?:记者|本报记者)\s*+)?(?P<n>[\u4e00-\u9fff]{2,4}(?:[ 　、][\u4e00-\u9fff]{2,4})*)\s*(?:[\u4e00-\u9fff]{0,6}报道)?\s*[）)]\s*$"
)
_NOT_NAMES = re.compile(
    rf"^(?:{_STOP}|本报|记者|作者|简介|介绍|新华社|人民网|中新网|通讯员|实习生|未知|佚名|admin|null|none|discuz|phpwind|wordpress|the|this|default)$",
    re.I,
)


def _names_from(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    tokens = re.split(r"[ 　、，,]+", groups.get("n") or groups.get("n2") or "")
    kept: list[str] = []
    for token in tokens:
        if token.endswith("报道"):  # "北京报道": the place reported from ends the byline
            break
        head = re.split(rf"(?:{_STOP})", token)[0]
        if head:
            kept.append(head)
        if head != token:
            break
    # "记者惠禾" inside a list of names: the role word is not part of the name
    names = [re.sub(r"^(?:本报)?(?:实习|见习|特约)?记者", "", n) for n in kept]
    names = [n for n in names if len(n) >= 2 and not _NOT_NAMES.match(n)]
    # "彭冲 山东冠县报道", "姚峰 上海报道": the word before 报道 is the place reported from
    if len(names) > 1 and re.match(r"\s*报道", match.string[match.end() : match.end() + 4]):
        names = names[:-1]
    if not names:
        return None
    out = " ".join(names)
    alias = groups.get("alias")
    return f"{out} ({alias.strip()})" if alias else out


def visible_text(html: str) -> str:
    """The page's text without scripts, styles and tags (cheap; for metadata patterns, not for the corpus)."""
    # tags become line breaks, so a byline never runs into the next element's text
    text = _html.unescape(visible_markup_text(html)).replace("\xa0", " ")
    return re.sub(r"\s*\n\s*", "\n", re.sub(r"[ \t\r\f\v]+", " ", text))


def index_field(text: str, which: str) -> str | None:
    """A labelled field of a government page's 信息索引 table or header: which = "issuing_body" | "doc_number"."""
    if which == "issuing_body":
        m = _FIELD_BODY.search(text)
        return m.group(1) if m else None
    m = _FIELD_DOC_NO.search(text)
    if m and (DOC_NO_BRACKET.fullmatch(m.group(1)) or DOC_NO_ORDER.fullmatch(m.group(1))):
        return m.group(1)
    return None


def author(text: str, html: str | None = None, *, page_text: str | None = None) -> str | None:
    """The byline of a news text or post, or None. The extracted text is searched first (its head, then its
    tail sign-off), then the page's visible text (page_text, or derived from html); 编辑/责任编辑 are editors
    and never returned."""
    head, tail = text[:300], text[-120:]
    for region in (head, tail):
        found = _first_author(region)
        if found:
            return found
    m = _TRAILING.search(text.rstrip()[-TRAILING_CHARS:])
    if m:
        names = _names_from(m)
        if names:
            return names
    if page_text is None and html:
        page_text = visible_text(html)
    return _first_author(page_text[:20000]) if page_text else None


def _first_author(region: str) -> str | None:
    best: tuple[int, str] | None = None
    for pattern in _AUTHOR_PATTERNS:
        for m in pattern.finditer(region):
            names = _names_from(m)
            if names and (best is None or m.start() < best[0]):
                best = (m.start(), names)
                break
    return best[1] if best else None
