"""PDF text per page: running headers, footers and page numbers removed, wrapped lines joined, scans flagged.

Why each step:
- Pages stay separate (joined by form feeds in ``PdfText.text``) so a passage can be cited by page number.
- Listed-company reports repeat the company name, report title, chapter title and page number on every page; left
  in, these lines dominate n-gram statistics, defeat near-duplicate detection and break sentences across pages.
  A line is *running* when the same text (modulo a page counter) sits in the top or bottom few lines of many pages.
  Numbers are normalised for the comparison only, and a normalised line counts only when its exact text also
  recurs, so table rows such as "合计 1,234 5,678" (same words, different values) are never taken for headers.
- PDF lines break wherever the column ends, mid-sentence for Chinese prose. A line that fills the column and does
  not end a sentence is joined to the next; table rows (several numbers, leader dots) keep their own lines.
- Table cells: on these reports ``get_text_range`` never glues adjacent cells (no "1,234.565,678.90" in the 343
  pages of shared/data/pdf). It does split a few numbers with a space PDFium generates ("1 8,079", 19 times in
  the research note); char boxes cannot tell those from real column gaps, which in the WPS-made reports are as
  narrow (0.1-0.4 em), so no geometric repair is attempted.
- Scanned PDFs have no text layer; they are flagged (``no_text_layer``) instead of entering the corpus as empty.

PDFium is not thread-safe (concurrent shards in Prefect's thread pool segfaulted), so every PDFium call happens
under ``PDFIUM_LOCK``; cleaning runs outside the lock. Processes and Dask workers still run in parallel.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pypdfium2 as pdfium

STEP = "pdf:pages+headers"
PDFIUM_LOCK = threading.Lock()

EDGE_TOP = 6  # lines examined at the top: the annual report stacks 4 header lines and then the page number
EDGE_BOTTOM = 4
# A running line sits at the page edge on at least this share of pages (and MIN_RUNNING_PAGES): annual reports
# carry the report title on the narrative part only (38% of the 296-page one), the statements their own header.
RUNNING_SHARE = 0.35
MIN_RUNNING_PAGES = 3
SECTION_RUN = 3  # chapter titles heading this many consecutive pages are running too, however rare overall
EXACT_SHARE = 0.5  # a number-normalised line needs its commonest exact text on this share of its pages
TEXT_PAGE_CHARS = 20  # a page with fewer non-space characters (a stamp, a page number) has no real text layer
TEXT_PAGE_SHARE = 0.1  # below this share of real-text pages the whole PDF is flagged as having no text layer
FULL_LINE = 0.88  # a line at least this share of the page's typical full line width was wrapped by the layout

_LINE_BREAK = re.compile(r"\r\n|\r|\n|\f")
_NUMBER = re.compile(r"\d+(?:[,.]\d+)*")
_SPACE = re.compile(r"\s+")
# Explicit page-number forms: "第 3 页", "第3页 共10页", "- 3 -", "—3—", "3/296", "Page 3 of 10".
_PAGE_FORMS = (
    re.compile(r"第\s*(\d{1,4})\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"),
    re.compile(r"[-–—－]+\s*(\d{1,4})\s*[-–—－]+"),
    re.compile(r"(\d{1,4})\s*[/／]\s*(\d{1,4})"),
    re.compile(r"(?:page|p\.)\s*(\d{1,4})(?:\s*of\s*\d{1,4})?", re.IGNORECASE),
)
_BARE_NUMBER = re.compile(r"\d{1,4}")
_NUMBERS_ONLY_KEY = re.compile(r"[#\-–—－/／.,()（）]*")
_SENTENCE_END = frozenset("。！？；：!?;:")
_LEADER_DOTS = re.compile(r"(?:\.{4,}|…{2,}|·{4,})")
_NUMERIC_LINE = re.compile(r"[-+(（]?\d[\d,.%]*[)）]?")
# Two numbers apart: true exactly when the original "\d[\d,.%]*\s+[-+]?\d" finds a match (the last digit of the
# run before the space works as well as its first), without retrying the run from every digit: that was quadratic
# on a long run of digits (1.2 s on an 8.7 KB line, found by bench/fuzz).
_TWO_NUMBERS = re.compile(r"\d[,.%]*+\s++[-+]?\d")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_ONLY = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# Thousands-grouped amounts: money in tables, rarely twice on one line of prose.
_AMOUNT = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+")
# "单位：元 币种：人民币": a caption of fields, not prose. The first run may hold a colon only at its end, and it is
# possessive: with \S+ a line of 10,000 "：a" took 3 s (every colon restarted a scan to the line's end).
_FORM_FIELDS = re.compile(r"[：:](?=\S)(?:[^\s：:]|[：:](?!\S))*+\s++\S+[：:]")
# A line opening an item: checkbox answers, "(三)", "二、", "1.", "3、", "第二节", "注：", "①".
_ITEM_START = re.compile(
    r"\s*(?:[□■√☑☐\uf052\uf0fe\uf0a3]|[(（][一二三四五六七八九十\d]{1,3}[)）]|[一二三四五六七八九十]{1,3}、"
    r"|\d{1,2}(?:\.\d{1,2})*(?:、|．|\.(?!\d))|第[一二三四五六七八九十\d]{1,3}[章节条部]|(?:注\s*\d*|单位)[：:]|[①-⑳])"
)


class PdfError(ValueError):
    """The bytes are not a PDF whose text can be read; the message says why and what to do."""


@dataclass(frozen=True)
class PdfText:
    pages: list[str]  # cleaned text per page, page order, index i = page i+1
    title: str | None  # PDF metadata title, else None
    page_count: int
    no_text_layer: bool  # (almost) no page has a text layer: a scan or image-only PDF, to be flagged
    empty_pages: list[int]  # 1-based numbers of pages without any text
    removed_lines: int  # running header/footer/page-number lines removed

    @property
    def text(self) -> str:
        """Pages joined by form feeds: ``text.split("\\f")[i]`` is page i+1."""
        return "\f".join(self.pages)


def extract_pdf_text(data: bytes, *, join_lines: bool = True) -> PdfText:
    """Cleaned per-page text of a PDF; raises PdfError for unreadable, encrypted or broken PDFs."""
    raw_pages, title = read_pdf_pages(data)
    return clean_pages(raw_pages, title, join_lines=join_lines)


def read_pdf_pages(data: bytes) -> tuple[list[str], str | None]:
    """Raw text of every page (pypdfium2 ``get_text_range``) and the metadata title, under the PDFium lock."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise PdfError(_open_error_message(exc, len(data))) from exc
        try:
            pages = [_page_text(pdf, i) for i in range(len(pdf))]
            title = _clean_title(pdf.get_metadata_dict().get("Title"))
        finally:
            pdf.close()
    return pages, title


def _page_text(pdf: pdfium.PdfDocument, index: int) -> str:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
    except pdfium.PdfiumError as exc:
        raise PdfError(
            f"not a readable PDF: page {index + 1} cannot be parsed ({exc}); the file is probably damaged"
        ) from exc
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_range()
        finally:
            textpage.close()
    except pdfium.PdfiumError as exc:
        raise PdfError(f"not a readable PDF: no text could be read from page {index + 1} ({exc})") from exc
    finally:
        page.close()


def _open_error_message(exc: Exception, size: int) -> str:
    code = getattr(exc, "err_code", None)
    if code == 4:  # FPDF_ERR_PASSWORD
        return "not a readable PDF: it is encrypted with a user password; supply a decrypted copy"
    if code == 5:  # FPDF_ERR_SECURITY
        return "not a readable PDF: its security handler is not supported; supply a decrypted copy"
    return f"not a readable PDF ({size} bytes): {str(exc).rstrip('.')}; the file is damaged, truncated or not a PDF"


def _clean_title(value: str | None) -> str | None:
    """Metadata titles are often the upload file name ("报告.pdf"); the extension is not part of the title."""
    title = _SPACE.sub(" ", value or "").strip()
    title = re.sub(r"\.(?:pdf|docx?|wps)$", "", title, flags=re.IGNORECASE).strip()
    return title or None


# --- cleaning (pure text, no PDFium) ---------------------------------------------------------------


def clean_pages(raw_pages: Sequence[str], title: str | None = None, *, join_lines: bool = True) -> PdfText:
    """Running lines and page numbers out, wrapped lines joined; decisions come from document-wide scores."""
    pages_lines = [split_lines(page) for page in raw_pages]
    kept, removed = strip_running_lines(pages_lines)
    if join_lines:
        column = column_width(kept)
        kept = [join_wrapped_lines(lines, column) for lines in kept]
    text_chars = [len(_SPACE.sub("", page)) for page in raw_pages]
    text_pages = sum(1 for n in text_chars if n >= TEXT_PAGE_CHARS)
    return PdfText(
        pages=["\n".join(lines) for lines in kept],
        title=title,
        page_count=len(raw_pages),
        no_text_layer=text_pages < max(1, TEXT_PAGE_SHARE * len(raw_pages)),
        empty_pages=[i + 1 for i, n in enumerate(text_chars) if n == 0],
        removed_lines=sum(len(r) for r in removed),
    )


def split_lines(page: str) -> list[str]:
    """Non-blank lines, right-trimmed; a stray form feed inside a page must not fake a page boundary."""
    return [line.rstrip() for line in _LINE_BREAK.split(page) if line.strip()]


def line_key(line: str) -> str:
    """Comparison key: width-folded, spaces out, every number one '#': "第 3 页" and "第 12 页" share a key."""
    folded = unicodedata.normalize("NFKC", line)
    return _SPACE.sub("", _NUMBER.sub("#", folded))


def exact_key(line: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", line))


def _edge_indices(n_lines: int) -> list[tuple[int, bool]]:
    """(line index, is-top) of the lines at a page's edges; a short page is all edge."""
    top = [(i, True) for i in range(min(EDGE_TOP, n_lines))]
    bottom = [(i, False) for i in range(max(EDGE_TOP, n_lines - EDGE_BOTTOM), n_lines)]
    return top + bottom


def page_number_value(line: str) -> tuple[int, bool] | None:
    """(number, explicit) when the whole line is a page number; bare digits and "3/11" are not explicit."""
    text = unicodedata.normalize("NFKC", line).strip()
    for form in _PAGE_FORMS:
        m = form.fullmatch(text)
        if m:
            if m.lastindex == 2:  # "3/11" may be a fraction or a date: it needs a consistent page offset
                return (int(m.group(1)), False) if int(m.group(1)) <= int(m.group(2)) else None
            return int(m.group(1)), True
    if _BARE_NUMBER.fullmatch(text):
        return int(text), False
    return None


@dataclass(frozen=True)
class EdgeScore:
    """How a number-normalised line key behaves at page edges across a document."""

    pages: int  # pages whose edge holds the key
    exact_share: float  # share of those pages holding its commonest exact text
    counter_share: float  # share whose single number is the page index plus its commonest offset


def running_line_scores(pages_lines: Sequence[Sequence[str]]) -> dict[str, EdgeScore]:
    """Scores of every line key found at a page edge; ``_running_keys`` decides from them."""
    exact: defaultdict[str, Counter[str]] = defaultdict(Counter)
    offsets: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for p, lines in enumerate(pages_lines):
        seen: set[str] = set()
        for i, _top in _edge_indices(len(lines)):
            key = line_key(lines[i])
            if key in seen:
                continue
            seen.add(key)
            exact[key][exact_key(lines[i])] += 1
            numbers = _NUMBER.findall(unicodedata.normalize("NFKC", lines[i]))
            # a page number has at most 4 digits, like the page forms above (a 4,618-digit "number" made int()
            # raise past Python's digit limit: found by bench/fuzz)
            if len(numbers) == 1 and numbers[0].isdigit() and len(numbers[0]) <= 4:
                offsets[key][int(numbers[0]) - p] += 1
    scores = {}
    for key, variants in exact.items():
        n = sum(variants.values())
        counter = offsets[key].most_common(1)[0][1] if offsets[key] else 0
        scores[key] = EdgeScore(n, variants.most_common(1)[0][1] / n, counter / n)
    return scores


def _running_keys(pages_lines: Sequence[Sequence[str]]) -> set[str]:
    """Keys at the edge of enough pages whose text is fixed, or varies only by a page counter ("第 3 页")."""
    need = max(MIN_RUNNING_PAGES, math.ceil(RUNNING_SHARE * len(pages_lines)))
    return {
        key
        for key, s in running_line_scores(pages_lines).items()
        if s.pages >= need
        and max(s.exact_share, s.counter_share) >= EXACT_SHARE
        and not _NUMBERS_ONLY_KEY.fullmatch(key)  # page numbers: ``_page_number_lines`` checks their offsets
    }


def _section_hits(pages_lines: Sequence[Sequence[str]]) -> set[tuple[int, str]]:
    """(page, exact text) of top lines repeated on SECTION_RUN consecutive pages: chapter titles as headers."""
    pages_of: defaultdict[str, list[int]] = defaultdict(list)
    for p, lines in enumerate(pages_lines):
        for text in {exact_key(lines[i]) for i, top in _edge_indices(len(lines)) if top}:
            pages_of[text].append(p)
    hits: set[tuple[int, str]] = set()
    for text, pages in pages_of.items():
        for run in _runs(pages):
            if len(run) >= SECTION_RUN:
                hits.update((p, text) for p in run)
    return hits


def _runs(pages: list[int]) -> list[list[int]]:
    """Split ascending page indices into runs of consecutive pages (one missing page allowed, e.g. a chart)."""
    runs: list[list[int]] = []
    for p in pages:
        if runs and p - runs[-1][-1] <= 2:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def _page_number_lines(pages_lines: Sequence[Sequence[str]]) -> set[tuple[int, int]]:
    """(page, line) of page numbers: explicit forms always; bare digits when their offset from the page index
    recurs (pages 2-113 print 1-112), so a lone table value at a page edge is not mistaken for one."""
    candidates: list[tuple[int, int, int, bool]] = []
    for p, lines in enumerate(pages_lines):
        for i, _top in _edge_indices(len(lines)):
            found = page_number_value(lines[i])
            if found is not None:
                candidates.append((p, i, found[0] - p, found[1]))
    offsets = Counter(offset for _p, _i, offset, _explicit in candidates)
    need = min(3, len(pages_lines))
    return {(p, i) for p, i, offset, explicit in candidates if explicit or offsets[offset] >= need}


def strip_running_lines(
    pages_lines: Sequence[Sequence[str]],
) -> tuple[list[list[str]], list[list[str]]]:
    """Per page, (kept lines, removed lines): running headers/footers and page numbers at page edges go."""
    running = _running_keys(pages_lines)
    sections = _section_hits(pages_lines)
    numbers = _page_number_lines(pages_lines)
    kept: list[list[str]] = []
    removed: list[list[str]] = []
    for p, lines in enumerate(pages_lines):
        edge = _edge_indices(len(lines))
        drop = {i for i, _top in edge if (p, i) in numbers or line_key(lines[i]) in running}
        # A chapter title counts only while everything above it is page furniture too: a table's "本集团"
        # label under the statement title repeats on consecutive pages but is content.
        for i in (i for i, top in edge if top):
            if i not in drop:
                if (p, exact_key(lines[i])) not in sections:
                    break
                drop.add(i)
        if len(drop) == len(lines):
            # Nothing but running lines: a cover or part-title page, where they are the content (the title).
            drop = {i for i in drop if (p, i) in numbers}
        kept.append([line for i, line in enumerate(lines) if i not in drop])
        removed.append([line for i, line in enumerate(lines) if i in drop])
    return kept, removed


# --- joining wrapped lines ---------------------------------------------------------------------------


def display_width(line: str) -> int:
    """Columns a line takes: CJK and full-width characters count two, as they do on the page.

    Counted from the UTF-8 length (3 bytes for CJK, 1 for ASCII): 20x faster than asking
    ``unicodedata.east_asian_width`` per character and the same for Chinese and ASCII text.
    """
    return len(line) + (len(line.encode("utf-8", "surrogatepass")) - len(line)) // 2


def is_table_like(line: str) -> bool:
    """Rows of numbers ("小计 85,365 206,788"), lone values and table-of-contents lines keep their own line."""
    return bool(
        _LEADER_DOTS.search(line)
        or _TWO_NUMBERS.search(line)
        or len(_AMOUNT.findall(line)) >= 2
        or _NUMERIC_LINE.fullmatch(line.strip())
    )


def _is_column_heads(line: str) -> bool:
    """ "股东名称 股东性质 持股数量": three or more short Chinese cells side by side head a table."""
    cells = line.split()
    return len(cells) >= 3 and all(len(c) <= 6 and _CJK_ONLY.fullmatch(c) for c in cells)


def column_width(pages_lines: Sequence[Sequence[str]]) -> int:
    """The document's prose column width: 90th percentile width of lines with Chinese that are not table rows."""
    widths = sorted(
        display_width(line)
        for lines in pages_lines
        for line in lines
        if _CJK.search(line) and not is_table_like(line)
    )
    return widths[int(0.9 * (len(widths) - 1))] if widths else 0


def join_wrapped_lines(lines: Sequence[str], column: int = 0) -> list[str]:
    """Join a line that fills the column and does not end a sentence to the next one (same paragraph).

    The column is the page's own 90th-percentile line width, but at least ``FULL_LINE`` of the document's
    ``column`` width: on a page of short table rows a heading is the widest line without being wrapped.
    """
    if len(lines) < 2:
        return list(lines)
    widths = [display_width(line) for line in lines]
    full = max(sorted(widths)[int(0.9 * (len(widths) - 1))], FULL_LINE * column)
    out = [lines[0]]
    for prev, width, line in zip(lines, widths, lines[1:], strict=False):
        if (
            _wraps(prev, width, full)
            and not is_table_like(line)
            and not _ITEM_START.match(line)
            and not _is_column_heads(line)
        ):
            out[-1] = _glue(out[-1], line.strip())
        else:
            out.append(line)
    return out


def _wraps(line: str, width: int, full: float) -> bool:
    """A prose line cut by the column edge: as wide as the column, no sentence end, not a table row."""
    stripped = line.rstrip()
    return (
        width >= FULL_LINE * full
        and stripped[-1] not in _SENTENCE_END
        and _CJK.search(stripped) is not None
        and not is_table_like(stripped)
        and not _FORM_FIELDS.search(stripped)
    )


def _glue(left: str, right: str) -> str:
    """Chinese joins without a space; two Latin letters or digits meeting keep one between them."""
    left = left.rstrip()
    if (
        left
        and right
        and left[-1].isascii()
        and left[-1].isalnum()
        and right[0].isascii()
        and right[0].isalnum()
    ):
        return f"{left} {right}"
    return left + right
