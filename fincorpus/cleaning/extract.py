"""Main text and metadata from decoded HTML (trafilatura), PDFs (pypdfium2) and plain text."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from importlib.metadata import version as _dist_version
from typing import Any

import lxml.etree
import lxml.html
import trafilatura
from trafilatura import baseline
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html, repair_faulty_html

from fincorpus.cleaning import metadata, structure
from fincorpus.cleaning.mojibake import is_mojibake
from fincorpus.cleaning.normalize import without_surrogates
from fincorpus.cleaning.pdf import STEP as PDF_STEP
from fincorpus.cleaning.pdf import PdfError, extract_pdf_text

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_CST = timezone(timedelta(hours=8))  # dates on Chinese sites are Beijing time


@lru_cache(maxsize=8)
def version(dist: str) -> str:
    """The installed version of a distribution, read once: importlib.metadata scans the site-packages metadata
    on every call (11 ms, a third of the extraction time of a small page, measured by bench/fuzz)."""
    return _dist_version(dist)


class ExtractionError(ValueError):
    """The raw bytes could not be turned into text; the message says why."""


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str | None
    published_at: datetime | None
    extractor: str
    extractor_version: str
    pages: int | None = None
    author: str | None = None
    issuing_body: str | None = None  # 发布机构/发文机关 of an official document
    doc_number: str | None = None  # 文号, e.g. 银发〔2024〕12号
    page_type: str | None = None  # "article" | "list" (navigation/list pages are mostly link text)
    path: str | None = None  # which extraction produced the text: selector:…, trafilatura, fallback:…
    no_text_layer: bool | None = None  # PDFs only: True for scans without a text layer


def parse_date(value: str | None) -> datetime | None:
    """A date or datetime string as given by pages and listings; Beijing time unless it says otherwise."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d"):
            try:
                parsed = datetime.strptime(value.strip()[:19], fmt)
                break
            except ValueError:
                continue
        else:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_CST)
    return parsed.astimezone(UTC)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_XML_REF = re.compile(
    r"&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])(?![0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01])(?![0-9]));?"
)
_HTML_ROOT = re.compile(r"<(html|body)[\s>]", re.IGNORECASE)
_CSS_SIMPLE = re.compile(r"^[A-Za-z0-9_\-#.\s>]+$")
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "section",
        "article",
        "blockquote",
        "pre",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "dd",
        "dt",
        "dl",
        "header",
        "footer",
    ]
)
_TABLE_TAGS = ("table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption")
_DATE_IN_TEXT = re.compile(
    r"((?:19|20)\d{2})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?\s*(\d{1,2}:\d{2}(?::\d{2})?)?"
)
LAYOUT_CELL_CHARS = 200  # a table cell holding more text than this is page layout, not a data table
SHORT_SHARE = (
    0.1  # extracted text below this share of the visible text (and below SHORT_CHARS) is implausible
)
SHORT_CHARS = 300
LIST_LINK_SHARE = 0.4  # list/navigation page: links carry over 40 % of the visible text ...
LIST_MAX_PARAGRAPH = 70  # ... and no text outside links is longer (real lists <= 65, articles >= 77)
TRAFILATURA_COMPARE = (
    False  # trafilatura's own comparison with its readability/jusText fallbacks (fast=False)
)
MAX_DEPTH = 120  # elements nested deeper are unwrapped when the parser hits its limit (libxml2 stops at 256)


def extract_html(
    html: str,
    url: str,
    *,
    selectors: Sequence[str] = (),
    fallback: bool = True,
    reject_mojibake: bool = True,
) -> Extracted:
    """Main text and metadata of a decoded page.

    Order: the source's content selectors (XPath, or simple CSS like "#zoom" / "div.article"), then trafilatura
    in its balanced mode on a tree whose layout tables are unwrapped, then, when that result is implausibly short
    for the page, trafilatura favouring recall and jusText-style baseline extraction. `path` says which one won.
    Raises ExtractionError when the page has no parseable tree or its text is mojibake (the document is dropped).
    """
    tree, cut = _parse(html)
    stats = page_stats(tree)
    page_type = classify_page(stats)
    text, path = "", None
    for selector in selectors:
        text = _select_text(tree, selector)
        if text.strip():
            path = f"selector:{selector}"
            break
    doc = _trafilatura(tree, url, favor_recall=False, metadata_only=path is not None)
    if path is None:
        text, path = (getattr(doc, "text", None) or "") if doc is not None else "", "trafilatura"
        # a list page legitimately has little main text: no fallback hunting for more
        if fallback and page_type == "article" and _implausibly_short(text, stats.chars):
            text, path = _fallback(tree, url, text, path)
    if READABILITY_MIN_SHARE is not None and not path.startswith("selector:"):
        text, used = vote_readability(text, readability_text(html), READABILITY_MIN_SHARE)
        if used:
            path = f"{path}; readability subset"
    text, rejoined = rejoin_table_rows(text, table_rows(tree))
    if rejoined:
        path = f"{path}; table rows rejoined: {rejoined}"
    if reject_mojibake:
        bad, reason = is_mojibake(text)
        if bad:
            raise ExtractionError(f"{reason}; the page was decoded with the wrong charset or is garbled")
    if cut:
        path = f"{path}; {cut}"
    if page_type == "article" and not text.strip() and stats.chars >= SHORT_CHARS:
        raise ExtractionError(
            f"no main text found although the page shows {stats.chars} characters ({path}); "
            "check the source's content_selectors"
        )
    return _with_metadata(text, html, doc, stats, page_type, path, stats.link_texts)


def _parse(html: str) -> tuple[lxml.html.HtmlElement, str | None]:
    """The page's tree, and what had to be cut to build it (None when nothing was).

    libxml2 stops building the tree at 256 nested elements and drops everything below without an exception: a page
    of 10^6 nested divs came out as an empty text. When the parser reports that limit, tags nested deeper than
    MAX_DEPTH are unwrapped (their text stays, in order) and the page is parsed again; the note says how many.
    """
    # a lone surrogate (JSON bodies can carry "\ud800") made libxml2 stop reading there: the text after it was
    # silently lost; it is no character, so it becomes U+FFFD like any undecodable sequence
    html = without_surrogates(html)
    if _NOT_XML.search(html) or ("&#" in html and _NOT_XML_REF.search(html)):
        # control characters (a page in a wrong single-byte charset is full of them, "&#25;" writes them too)
        # reach the tree's text, and trafilatura's baseline raises ValueError building elements from it; HTML
        # text cannot hold them anyway
        html = _NOT_XML_REF.sub("", _NOT_XML.sub("", html))
    if not _HTML_ROOT.search(html[:5000]):
        # A fragment (saved pages sometimes start with a wrapper element) parses into a tree trafilatura
        # rejects as empty; give it a document root.
        html = f"<html><body>{html}</body></html>"
    tree, too_deep = _parse_once(html)
    note = None
    if too_deep:
        html, unwrapped = flatten_deep_nesting(html, MAX_DEPTH)
        tree, too_deep = _parse_once(html)
        note = f"nesting: {unwrapped} tags deeper than {MAX_DEPTH} unwrapped"
        if too_deep:
            raise ExtractionError(f"{note}, still too deep for the HTML parser; the page is not usable HTML")
    if tree is None:
        raise ExtractionError("the HTML could not be parsed into a document tree (empty or not HTML)")
    drop_empty_blocks(tree)
    if cut_attrs := cap_selector_attributes(tree):
        attrs = (
            f"attributes: {cut_attrs} class/id/style values over {MAX_SELECTOR_ATTR_CHARS:,} characters cut"
        )
        note = f"{note}; {attrs}" if note else attrs
    moved = close_cells_before_rows(tree)
    if moved:
        rows = f"rows: {moved} table rows opened inside a cell moved after their row"
        note = f"{note}; {rows}" if note else rows
    return tree, note


# The attributes trafilatura's XPath expressions test with contains(): each test reads the whole value, so one
# 400,000-character class (fuzz 19:11724) cost a second. The 1,161 pages of shared/data hold at most 4,400
# characters in one (a style); values over the cap are cut to it, and the note says how many.
_SELECTOR_ATTRS = ("class", "id", "style", "role", "itemprop", "itemtype", "name", "rel", "type")
MAX_SELECTOR_ATTR_CHARS = 10_000


def cap_selector_attributes(tree: lxml.html.HtmlElement) -> int:
    """Cut class/id/style/... values longer than MAX_SELECTOR_ATTR_CHARS to that length; returns how many."""
    cut = 0
    for el in tree.iter(lxml.etree.Element):  # elements only (no comments or entities)
        attrib = el.attrib
        if not attrib:
            continue
        for name in _SELECTOR_ATTRS:
            value = attrib.get(name)
            if value is not None and len(value) > MAX_SELECTOR_ATTR_CHARS:
                attrib[name] = value[:MAX_SELECTOR_ATTR_CHARS]
                cut += 1
    return cut


_EMPTY_DROPPABLE = ("p", "div", "span", "font")
# the 1,157 real and mirror pages of shared/data hold at most 247 empty blocks; below this nothing is dropped
EMPTY_BLOCKS_LIMIT = 1000


def drop_empty_blocks(tree: lxml.html.HtmlElement) -> int:
    """Remove p/div/span/font elements that hold nothing (no child, no text, at most whitespace after them).

    No text is lost, and the extractors never keep such elements; but they pay for each one. libxml2 turns every
    stray ``</p>`` into an empty paragraph, and a 39 KB page of 5,000 ``<p>`` and 5,000 ``</p>`` (fuzz input
    17:3211) became 9,500 elements on which trafilatura spent a second. Only a page with EMPTY_BLOCKS_LIMIT or
    more is touched: dropping the few empty blocks of real pages changed trafilatura's choices on one of them
    (CWCED recall -0.07 points). Returns the count.
    """
    empty = [el for el in tree.iter(*_EMPTY_DROPPABLE) if _is_empty(el) and el.getparent() is not None]
    if len(empty) < EMPTY_BLOCKS_LIMIT:
        return 0
    dropped = 0
    for el in reversed(empty):
        if _is_empty(el):  # still empty (an emptied wrapper is not in the list: one pass is enough here)
            el.drop_tree()
            dropped += 1
    return dropped


def _is_empty(el: lxml.html.HtmlElement) -> bool:
    return not len(el) and not (el.text and el.text.strip()) and not (el.tail and el.tail.strip())


ROW_NESTING_LIMIT = 8  # rows nested in cells this deep (no table between) are broken markup, not a layout


def close_cells_before_rows(tree: lxml.html.HtmlElement) -> int:
    """When table rows are nested inside cells ROW_NESTING_LIMIT or more levels deep (no table in between), move
    each such row to just after the row holding its cell, as an HTML5 parser does (a <tr> start tag closes the
    open cell and row); libxml2 nests them instead.

    A broken table page (fuzz input 15:170: an unknown tag left open every few rows) nested rows 70 deep, and
    trafilatura then took 1.2 s on 37 KB; with the rows flat, 0.4 s. Shallow cases are left alone: a real page
    (CWCED, wenxuecity.com) holds four rows directly in its article <div> inside a cell, and moving them out of
    that block cost the page its text (F1 1.0 -> 0.18). O(rows x depth). Returns the rows moved.
    """
    level: dict[lxml.html.HtmlElement, int] = {}
    top: dict[lxml.html.HtmlElement, lxml.html.HtmlElement] = {}  # nested row -> the unnested row it sits in
    for tr in tree.iter("tr"):  # document order: a row's outer rows come first
        cell = tr.getparent()
        while cell is not None and cell.tag not in ("td", "th", "table"):
            cell = cell.getparent()
        if cell is None or cell.tag == "table":
            continue
        row = cell.getparent()
        while row is not None and row.tag not in ("tr", "table"):
            row = row.getparent()
        if row is None or row.tag != "tr":
            continue
        level[tr] = level.get(row, 0) + 1
        top[tr] = top.get(row, row)
    if not level or max(level.values()) < ROW_NESTING_LIMIT:
        return 0
    last: dict[lxml.html.HtmlElement, lxml.html.HtmlElement] = {}
    for tr, outer in top.items():  # in document order, each after the previous one: the order is kept
        last.get(outer, outer).addnext(tr)
        last[outer] = tr
    return len(top)


_PARSERS = threading.local()


def _parse_once(html: str) -> tuple[lxml.html.HtmlElement | None, bool]:
    """trafilatura's load_html for a decoded string, on a parser of this thread so its error log is ours."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = lxml.html.HTMLParser(
            collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
        )
    fixed = repair_faulty_html(html, html[:50].lower())
    tree: lxml.html.HtmlElement | None
    try:
        try:
            tree = lxml.html.fromstring(fixed, parser=parser)
        except ValueError:  # a string with an encoding declaration: lxml wants bytes
            tree = lxml.html.fromstring(fixed.encode("utf-8", "surrogatepass"), parser=parser)
    # either call (fuzz 17:114642: an encoding declaration, then nothing parseable)
    except lxml.etree.ParserError:
        tree = None
    too_deep = any("Excessive depth" in e.message for e in parser.error_log)
    if tree is not None and tree.getparent() is not None:
        # fromstring hands back the only element of a page that starts with one ("<svg><html>…"): work on the
        # document root, or trafilatura's date search drops that element as "the tree" and asserts
        tree = tree.getroottree().getroot()
    if tree is None or len(tree) < 1:
        tree = load_html(html)
    return tree, too_deep


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)\b[^>]*>")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "basefont",
        "frame",
        "isindex",
    ]
)


def flatten_deep_nesting(html: str, max_depth: int) -> tuple[str, int]:
    """Unwrap elements nested deeper than ``max_depth``: their start and end tags go, their text stays.

    One linear pass over the tags with a stack (unclosed tags such as <p> are closed implicitly when an outer end
    tag comes), so a page of 10^6 nested divs costs about a second and memory proportional to its depth. Block tags
    unwrapped leave a line break behind, so paragraphs do not run together. Returns the HTML and the tag count.
    """
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # (tag, kept)
    open_tags: Counter[str] = Counter()
    last = unwrapped = 0
    for m in _TAG.finditer(html, 0, html.rfind(">") + 1):  # no tag after the last ">": linear on stray "<a"
        closing, name = m.group(1), m.group(2).lower()
        if name in _VOID or m.group(0).endswith("/>"):
            continue
        if not closing:
            keep = len(stack) < max_depth
            stack.append((name, keep))
            open_tags[name] += 1
            if not keep:
                _cut(html, last, m.start(), name, out)
                last = m.end()
                unwrapped += 1
            continue
        if not open_tags[name]:
            continue  # a stray end tag: the parser ignores it too
        while stack:
            tag, keep = stack.pop()
            open_tags[tag] -= 1
            if tag == name:
                if not keep:
                    _cut(html, last, m.start(), name, out)
                    last = m.end()
                break
    out.append(html[last:])
    return "".join(out), unwrapped


def _cut(html: str, start: int, end: int, tag: str, out: list[str]) -> None:
    """Keep the text before an unwrapped tag; a block tag leaves a line break, but only after some text (a
    million empty divs must not become a million <br>)."""
    chunk = html[start:end]
    out.append(chunk)
    if tag in _BLOCK_TAGS and chunk.strip():
        out.append("<br>")


def _trafilatura(
    tree: lxml.html.HtmlElement,
    url: str,
    *,
    favor_recall: bool,
    metadata_only: bool = False,
    with_metadata: bool = True,
) -> Any:
    if metadata_only:
        return extract_metadata(tree, default_url=url, extensive=False)
    return trafilatura.bare_extraction(
        _unwrap_layout_tables(tree),  # in place: trafilatura copies the tree it is given
        url=url,
        # the recall fallback's metadata is never used: on a page of 10,000 short paragraphs (fuzz 16:175751)
        # trafilatura's metadata search was half of a 1.0 s extraction
        with_metadata=with_metadata,
        include_comments=False,
        include_tables=True,
        # balanced mode: on the CWCED ground truth favor_recall cost 6 points of precision for 1 of recall
        # (bench/extraction.py); the recall mode is kept as the fallback for implausibly short results
        favor_recall=favor_recall,
        # no readability/jusText comparison (fast): our own fallback is cheaper; TRAFILATURA_COMPARE turns it on
        fast=not (favor_recall or TRAFILATURA_COMPARE),
        deduplicate=False,
        # htmldate's extensive search doubled extraction time for no gain: on the 400 dated mirror articles it
        # found the right date 386 times, the fast search 387 times.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )


def _unwrap_layout_tables(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """Old portals lay whole pages out in tables; extracted as tables they bring every menu along. A table
    that nests another table or has a long cell is layout: its cells become plain blocks. Data tables stay."""
    for table in tree.iter("table"):
        if table.tag != "table":
            continue  # already unwrapped as part of an outer layout table
        layout = table.find(".//table") is not None or any(
            len(cell.text_content()) > LAYOUT_CELL_CHARS for cell in table.iter("td", "th")
        )
        if layout:
            for el in table.iter(*_TABLE_TAGS):
                el.tag = "div"
    return tree


def table_rows(tree: lxml.html.HtmlElement) -> dict[str, list[list[str]]]:
    """The rows of the page's data tables (two or more non-empty cells), indexed by their first cell."""
    rows: dict[str, list[list[str]]] = {}
    for tr in tree.iter("tr"):
        cells = [_cell_text(c) for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")]
        cells = [c for c in cells if c]
        if len(cells) >= 2 and len(cells) <= 40:
            rows.setdefault(cells[0], []).append(cells)
    return rows


def rejoin_table_rows(text: str, rows: dict[str, list[list[str]]]) -> tuple[str, int]:
    """Where the extractor put every cell of a table row on a line of its own (number soup), the row is one
    line again with its cells joined by " | ". Only exact runs of a row's cells, in order, are joined, so the
    extractor's choice of text is left as it was. Returns the text and the number of rows rejoined."""
    if not rows:
        return text, 0
    lines = text.split("\n")
    out: list[str] = []
    joined = i = 0
    while i < len(lines):
        key = re.sub(r"\s+", " ", lines[i]).strip()
        for cells in rows.get(key, ()):
            n = len(cells)
            if [re.sub(r"\s+", " ", x).strip() for x in lines[i : i + n]] == cells:
                out.append(" | ".join(cells))
                i += n
                joined += 1
                break
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out), joined


def _cell_text(cell: lxml.html.HtmlElement) -> str:
    return re.sub(r"\s+", " ", cell.text_content()).strip().replace("|", "｜")


@dataclass(frozen=True)
class PageStats:
    """What the page shows a reader: its visible text, how much of it is link text, the longest text outside links."""

    text: str
    chars: int
    link_share: float
    longest_unlinked: int
    link_texts: frozenset[str] = frozenset()  # the texts of the page's links (whitespace removed)


_SKIP_TEXT = frozenset(("script", "style", "noscript"))


def page_stats(tree: lxml.html.HtmlElement) -> PageStats:
    """One pass over the body's text nodes (an XPath with ancestor tests was 6 % of extraction time)."""
    in_links: set[lxml.html.HtmlElement] = set()
    anchors: set[str] = set()
    for a in tree.iter("a"):
        in_links.update(a.iter())
        key = _NO_SPACE.sub("", a.text_content())
        if key:
            anchors.add(key)
    parts: list[str] = []
    total = link = longest = 0
    for node in tree.xpath("//body//text()"):
        parent = node.getparent()
        owner = parent if node.is_text or parent is None else parent.getparent()
        if node.is_text and parent is not None and parent.tag in _SKIP_TEXT:
            continue
        stripped = node.strip()
        if not stripped:
            continue
        parts.append(stripped)
        n = len(stripped)
        total += n
        if owner is not None and owner in in_links:
            link += n
        else:
            longest = max(longest, n)
    return PageStats("\n".join(parts), total, link / total if total else 0.0, longest, frozenset(anchors))


def classify_page(stats: PageStats) -> str:
    """ "list" for list/navigation pages, else "article". Scores first (PageStats), then the decision: a list
    page is mostly link text and has no text of its own longer than a title."""
    if stats.link_share > LIST_LINK_SHARE and stats.longest_unlinked <= LIST_MAX_PARAGRAPH:
        return "list"
    return "article"


def _implausibly_short(text: str, visible: int) -> bool:
    n = sum(1 for c in text if not c.isspace())
    return n < SHORT_CHARS and n < SHORT_SHARE * visible


def _fallback(tree: lxml.html.HtmlElement, url: str, text: str, path: str) -> tuple[str, str]:
    """The longer of trafilatura's recall mode and its baseline (article/paragraph text) when the balanced
    result is implausibly short; the original when neither finds more."""
    best, best_path = text, path
    doc = _trafilatura(tree, url, favor_recall=True, with_metadata=False)  # only its text is used
    recall = (getattr(doc, "text", None) or "") if doc is not None else ""
    if len(recall.strip()) > len(best.strip()):
        best, best_path = recall, "fallback:trafilatura-recall"
    if _implausibly_short(best, _visible(tree)):
        base = baseline(deepcopy(tree))[1]
        if len(base.strip()) > len(best.strip()):
            best, best_path = base, "fallback:baseline"
    return best, best_path


def _visible(tree: lxml.html.HtmlElement) -> int:
    return page_stats(tree).chars


def check_selector(selector: str) -> str:
    """Compile a content selector once so a bad one is reported when the sources file is read, not mid-ingest."""
    try:
        lxml.etree.XPath(_to_xpath(selector))
    except lxml.etree.XPathError as exc:
        raise ValueError(f"content selector {selector!r} is not valid XPath or simple CSS: {exc}") from exc
    return selector


def _select_text(tree: lxml.html.HtmlElement, selector: str) -> str:
    """Text of the nodes a content selector picks, paragraphs on their own lines."""
    try:
        nodes = tree.xpath(_to_xpath(selector))
    except lxml.etree.XPathError as exc:
        raise ValueError(f"content selector {selector!r} is not valid XPath or simple CSS: {exc}") from exc
    parts = [_node_text(n) for n in nodes if isinstance(n, lxml.html.HtmlElement)]
    return "\n".join(p for p in parts if p)


def _to_xpath(selector: str) -> str:
    """XPath as given; simple CSS ("#id", ".class", "tag", "tag#id.class", descendant "a b", child "a > b")
    translated, since cssselect is not a dependency."""
    sel = selector.strip()
    if sel.startswith(("/", "(", ".//")):
        return sel
    if not _CSS_SIMPLE.match(sel):
        raise ValueError(
            f"content selector {selector!r}: use XPath, or CSS made of tags, #id, .class, ' ' and '>'"
        )
    out = ""
    for i, token in enumerate(re.split(r"\s*(>)\s*|\s+", sel)):
        if token is None or token == "":
            continue
        if token == ">":
            out += "/"
            continue
        m = re.match(r"^([A-Za-z0-9]*)((?:[#.][A-Za-z0-9_\-]+)*)$", token)
        if not m:
            raise ValueError(f"content selector {selector!r}: cannot read {token!r}")
        step = m.group(1) or "*"
        for kind, name in re.findall(r"([#.])([A-Za-z0-9_\-]+)", m.group(2)):
            step += (
                f"[@id='{name}']"
                if kind == "#"
                else f"[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"
            )
        out += ("//" if not out.endswith("/") or i == 0 else "") + step
    return out


def _node_text(node: lxml.html.HtmlElement) -> str:
    chunks: list[str] = []

    def walk(el: lxml.html.HtmlElement) -> None:
        if el.tag in ("script", "style", "noscript") or not isinstance(el.tag, str):
            if el.tail:
                chunks.append(el.tail)
            return
        block = el.tag in _BLOCK_TAGS
        if block:
            chunks.append("\n")
        if el.text:
            chunks.append(el.text)
        for child in el:
            walk(child)
        if el.tag in ("td", "th"):
            chunks.append(" | ")
        if block:
            chunks.append("\n")
        if el.tail:
            chunks.append(el.tail)

    walk(node)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip(" |") for line in "".join(chunks).split("\n"))
    return "\n".join(line.strip() for line in lines if line.strip())


def _with_metadata(
    text: str,
    html: str,
    doc: Any,
    stats: PageStats,
    page_type: str,
    path: str | None,
    link_texts: frozenset[str] = frozenset(),
) -> Extracted:
    title = getattr(doc, "title", None) if doc is not None else None
    if not title:
        m = _TITLE.search(html[:20000])
        title = re.sub(r"\s+", " ", m.group(1)).strip() if m else None
    page_text = stats.text
    restored = structure.restore(text, title)
    if restored.text != text:
        text = restored.text
        path = f"{path}; {structure.STEP}: {restored.breaks} breaks, {restored.table_rows} table rows"
    published = parse_date(getattr(doc, "date", None) if doc is not None else None) or _date_in(text)
    author = metadata.author(text, page_text=page_text) or _plausible_author(
        getattr(doc, "author", None) if doc else None
    )
    doc_number = metadata.doc_number(text, title)
    issuing = metadata.issuing_body(text)
    trimmed = trim_edges(text, title, link_texts)  # after the metadata was read from those lines
    if trimmed.text != text:
        text = trimmed.text
        path = f"{path}; {EDGE_STEP}: {trimmed.detail}"
    return Extracted(
        text=text,
        title=title or None,
        published_at=published,
        extractor="trafilatura",
        extractor_version=version("trafilatura"),
        author=author,
        issuing_body=metadata.index_field(page_text[:8000], "issuing_body") or issuing,
        doc_number=metadata.index_field(page_text[:8000], "doc_number") or doc_number,
        page_type=page_type,
        path=path,
    )


# -- a second extractor: readability-lxml (Mozilla Readability's scoring) --------------------------------------

# When readability's text is a subset of ours holding at least this share of our characters, ours kept page
# furniture readability dropped, and readability's text is used. None: off. Chosen leave-one-site-out.
READABILITY_MIN_SHARE: float | None = None
READABILITY_SUBSET = 0.97  # share of readability's characters that must be in our text (whitespace ignored)


def readability_text(html: str) -> str:
    """The main text readability-lxml finds, as lines (tables one row a line); '' when it fails or is absent."""
    try:
        from readability import Document
    except ImportError:  # optional (the bench extra): the vote is then off
        return ""
    try:
        summary = Document(html).summary(html_partial=True)
        return _node_text(_parse(summary)[0])
    except Exception:  # readability raises on pages it cannot score: no second opinion for this page
        return ""


def vote_readability(ours: str, other: str, min_share: float) -> tuple[str, bool]:
    """(text, used): ``other`` when it is (almost) a subset of ``ours`` by characters and keeps at least
    ``min_share`` of them: both found the same body and ours carries extra frame lines."""
    a = Counter(_NO_SPACE.sub("", ours))
    b = Counter(_NO_SPACE.sub("", other))
    na, nb = sum(a.values()), sum(b.values())
    if not nb or nb >= na or nb < min_share * na:
        return ours, False
    if sum((a & b).values()) < READABILITY_SUBSET * nb:
        return ours, False
    return other, True


# -- the page's frame around the body: title line, date/byline lines, link lines, repeated blocks ------------------

EDGE_STEP = "extract:edges"
# Chosen leave-one-site-out by bench/extraction_loso.py (every fold scores a site with the values the other sites
# chose); None switches a rule off. See docs/cleaning.md for the figures.
TITLE_OUT = True  # the page title opening the text is the title, not body ("titles separate from the body")
META_LINES = True  # dateline, byline and counter lines at the edges are the page frame
EDGE_LINES = (
    4  # date/byline/count lines and link lines are looked for in this many lines at the head and tail
)
LINK_LINE_SHARE: float | None = 0.8  # an edge line whose characters are this much link text is navigation
DUP_BLOCK_LINES: int | None = 3  # a run of this many lines repeating an earlier run (a print copy) goes

_NO_SPACE = re.compile(r"\s+")
_META_DATE = re.compile(
    r"(?:19|20)\d{2}\s*[-/年.]\s*\d{1,2}\s*[-/月.]\s*\d{1,2}|\d{1,2}:\d{2}|"
    r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s*)?"
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d{1,2}"
    r"(?:st|nd|rd|th)?,?\s*(?:\d{4})?(?:\s*[ap]\.?m\.?)?",
    re.IGNORECASE,
)
_META_WORDS = re.compile(
    r"(?:阅读|浏览|点击|评论|人气|来源|发布|发表|更新|作者|记者|通讯员|编辑|字号)\s*[:：(（]?"
)
_COUNT = re.compile(r"(?:阅读|浏览|点击|评论|人气)\s*(?:次数|量|数)?\s*[:：(（]?\s*\d+|已被阅读\s*\d+")
# "（2005年10月27日第十届全国人民代表大会常务委员会第十八次会议通过）": a statute's history is text, not frame
_HISTORY = re.compile(r"通过|公布|施行|修正|修订|会议|决定|令|第\s*\d+\s*号|〔")
_FIELD_CELL = re.compile(r"[：:]\s*\|\s")
_BYLINE = re.compile(
    r"^(?:本报|本刊|本台|新华社|中新社)?(?:实习生|记者|通讯员|特约记者)(?:\s*[\u4e00-\u9fff]{2,4}){1,4}$"
)


@dataclass(frozen=True)
class Trimmed:
    text: str
    detail: str


def is_meta_line(line: str) -> bool:
    """A dateline, byline or counter line of the page frame: "2005-02-06 13:26更新 来源：转载文章 | 发表评论",
    "发表于 2004年12月27日 12:40 - (阅读:3727;评论:63)", "本报记者 王燕平 方云凤". Short, no sentence end."""
    s = line.strip()
    if not s or len(s) > 80 or s[-1] in "。！？；…" or _FIELD_CELL.search(s) or _HISTORY.search(s):
        return False  # a field row of a table ("成文日期： | 2022年01月27日" of an index table) is content
    if _BYLINE.match(s) or _COUNT.search(s):
        return True
    date = _META_DATE.search(s)
    if date is None:
        return False
    rest = _META_DATE.sub("", s)
    # a date with at most a few words around it, or with frame words (更新, 来源, 发表, 阅读)
    return len(_NO_SPACE.sub("", rest)) <= 12 or bool(_META_WORDS.search(rest))


def _link_share(line: str, link_texts: frozenset[str]) -> float:
    key = _NO_SPACE.sub("", line)
    if not key:
        return 0.0
    if key in link_texts:
        return 1.0
    covered = sum(len(part) for part in re.split(r"\s*[|｜]\s*|\s+", line) if part and part in link_texts)
    return covered / len(key)


def trim_edges(text: str, title: str | None, link_texts: frozenset[str] = frozenset()) -> Trimmed:
    """What a generic extractor keeps of the page frame, found without any site's markup: the title line at the
    head (the title is ``Extracted.title``), dateline/byline/counter lines and lines made of link texts among
    the first and last EDGE_LINES lines, and a repeated block of DUP_BLOCK_LINES lines or more (pages that carry
    a print or mobile copy of their index table). Only whole lines go."""
    lines = [x for x in text.split("\n")]
    drop = [False] * len(lines)
    counts: Counter[str] = Counter()
    filled = [i for i, x in enumerate(lines) if x.strip()]
    if TITLE_OUT and title and filled and _is_title_line(lines[filled[0]], title):
        drop[filled[0]] = True
        counts["title"] += 1
    for edge in (filled[:EDGE_LINES], filled[::-1][:EDGE_LINES]):
        for i in edge:
            if drop[i]:
                continue
            if META_LINES and is_meta_line(lines[i]):
                drop[i] = True
                counts["meta"] += 1
            elif LINK_LINE_SHARE is not None and _link_share(lines[i], link_texts) >= LINK_LINE_SHARE:
                drop[i] = True
                counts["links"] += 1
            elif lines[i].strip() and not _is_title_line(lines[i], title or ""):
                break  # the body starts here: nothing beyond it is the frame
    if DUP_BLOCK_LINES:
        for i in _repeated_block_lines(lines, DUP_BLOCK_LINES):
            if not drop[i]:
                drop[i] = True
                counts["repeated"] += 1
    if not counts:
        return Trimmed(text, "")
    kept = "\n".join(x for x, d in zip(lines, drop, strict=True) if not d)
    detail = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    return Trimmed(re.sub(r"\n{3,}", "\n\n", kept).strip(), detail)


def _is_title_line(line: str, title: str) -> bool:
    key = structure._key(line)
    return bool(key) and any(key == structure._key(f) for f in structure._title_forms(title) or [title])


def _repeated_block_lines(lines: list[str], k: int) -> list[int]:
    """Indices of lines in runs of >= k non-empty lines that repeat an earlier run line for line."""
    keys = [_NO_SPACE.sub("", x) for x in lines]
    idx = [i for i, key in enumerate(keys) if key]
    seq = [keys[i] for i in idx]
    first: dict[tuple[str, ...], int] = {}
    out: set[int] = set()
    j = 0
    while j + k <= len(seq):
        gram = tuple(seq[j : j + k])
        seen = first.get(gram)
        if seen is not None and seen + k <= j:
            n = k
            while j + n < len(seq) and seen + n < j and seq[seen + n] == seq[j + n]:
                n += 1
            out.update(idx[j : j + n])
            j += n
            continue
        first.setdefault(gram, j)
        j += 1
    return sorted(out)


def _plausible_author(name: str | None) -> str | None:
    """trafilatura's byline, unless it is an editor line or a site name."""
    if not name or re.search(r"编辑|责编|来源|网|报|社|台|;|Team|Inc\b|Powered|Discuz|http", name):
        return None
    return name


def _date_in(text: str) -> datetime | None:
    """A date-time stated in the text's first lines, when the page's metadata had none."""
    m = _DATE_IN_TEXT.search(text[:300])
    if not m:
        return None
    stamp = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return parse_date(f"{stamp} {m.group(4)}" if m.group(4) and m.group(4).count(":") == 2 else stamp)


def extract_pdf(data: bytes) -> Extracted:
    """Page texts joined by form feeds (page numbers survive), running headers/footers removed, scans flagged.

    PDFium calls are serialised inside fincorpus.cleaning.pdf (PDFium is not thread-safe; concurrent shards in
    Prefect's thread pool segfaulted), so threads, processes and Dask workers can all call this.
    """
    try:
        pdf = extract_pdf_text(data)
    except PdfError as exc:
        raise ExtractionError(str(exc)) from exc
    return Extracted(
        pdf.text,
        pdf.title,
        None,
        "pypdfium2",
        version("pypdfium2"),
        pages=pdf.page_count,
        no_text_layer=pdf.no_text_layer,
        path=f"{PDF_STEP}: {pdf.removed_lines} running lines removed"
        + (f", empty pages {pdf.empty_pages[:10]}" if pdf.empty_pages else ""),
    )


def extract_plain(text: str) -> Extracted:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return Extracted(text, first[:120] or None, None, "plain-text", "1")
