"""PDF extraction on the real PDFs of shared/data/pdf: pages, running headers out, numbers kept, scans flagged."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from fincorpus.cleaning.extract import ExtractionError, extract_pdf
from fincorpus.cleaning.pdf import (
    PdfError,
    PdfText,
    clean_pages,
    extract_pdf_text,
    join_wrapped_lines,
    page_number_value,
    split_lines,
    strip_running_lines,
)

ANNUAL = "pingan_bank_2024_annual_report.pdf"
# Amounts and ratios as they appear in report tables: 1,234 / 1,234.56 / 12.5 / 3.16%
NUMBER = re.compile(r"(?<![\d,.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)%?")


@pytest.fixture(scope="module")
def pdf_index(data_dir: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (data_dir / "pdf" / "index.jsonl").read_text("utf-8").splitlines()]
    return {Path(r["file"]).name: r for r in rows}


@pytest.fixture(scope="module")
def extracted(data_dir: Path, pdf_index: dict[str, dict]) -> dict[str, PdfText]:
    return {name: extract_pdf_text((data_dir / "pdf" / name).read_bytes()) for name in pdf_index}


def raw_pages(path: Path) -> list[str]:
    """Page texts straight from pypdfium2, independent of the module under test."""
    pdf = pdfium.PdfDocument(path.read_bytes())
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def test_pages_match_the_index_and_the_form_feeds(
    extracted: dict[str, PdfText], pdf_index: dict[str, dict]
) -> None:
    assert len(extracted) == 7
    for name, doc in extracted.items():
        assert doc.page_count == pdf_index[name]["pages"] == len(doc.pages), name
        assert doc.text.split("\f") == doc.pages, name
        assert not doc.no_text_layer and doc.empty_pages == [], name
        assert all(page.strip() for page in doc.pages), f"{name}: a page lost all its text"


def test_running_headers_and_page_numbers_are_removed(data_dir: Path, extracted: dict[str, PdfText]) -> None:
    for name, doc in extracted.items():
        raw = [split_lines(p) for p in raw_pages(data_dir / "pdf" / name)]
        clean = [split_lines(p) for p in doc.pages]
        # A line heading most raw pages (the company name / report title) heads no cleaned page any more.
        tops = Counter(line.strip() for lines in raw for line in set(lines[:3]))
        # (short date-like lines such as a year also head tables, so only headers with some words count)
        headers = {
            line
            for line, n in tops.items()
            if n >= max(3, 0.5 * len(raw)) and len(re.sub(r"[\d\s]", "", line)) >= 5
        }
        assert headers, f"{name}: expected a running header in the raw text"
        # (a cover page keeps its title; a table may head a page with a year like a header's)
        still = [p for p, lines in enumerate(clean, 1) if headers & {line.strip() for line in lines[:3]}]
        assert len(still) <= max(1, 0.02 * len(clean)), f"{name}: headers left on pages {still}"
        # Page numbers ("12", "3/11") sat at the edge of most raw pages; none is left at an edge.
        number = re.compile(r"\d{1,4}(?:\s*/\s*\d{1,4})?")
        edges_raw = sum(any(number.fullmatch(x.strip()) for x in lines[:6] + lines[-4:]) for lines in raw)
        edges_clean = sum(any(number.fullmatch(x.strip()) for x in lines[:6] + lines[-4:]) for lines in clean)
        if edges_raw >= len(raw) / 2:
            assert edges_clean == 0, name
        assert doc.removed_lines >= len(raw), f"{name}: {doc.removed_lines} lines removed"


def test_annual_report_removes_headers_only(data_dir: Path, extracted: dict[str, PdfText]) -> None:
    """Per page at most a handful of header lines go, and every removed line sits in the page's edge lines."""
    raw = [split_lines(p) for p in raw_pages(data_dir / "pdf" / ANNUAL)]
    kept, removed = strip_running_lines(raw)
    assert sum(map(len, removed)) == extracted[ANNUAL].removed_lines
    assert 2 * len(raw) <= extracted[ANNUAL].removed_lines <= 7 * len(raw)
    for lines, gone in zip(raw, removed, strict=True):
        assert len(gone) <= 7
        edge = set(lines[:6] + lines[-4:])
        assert set(gone) <= edge
    assert sum(map(len, kept)) >= 0.8 * sum(map(len, raw))


def test_table_numbers_survive(data_dir: Path, extracted: dict[str, PdfText]) -> None:
    """Every amount pypdfium2 extracts (outside removed header lines) is still in the cleaned text."""
    for name, doc in extracted.items():
        raw = [split_lines(p) for p in raw_pages(data_dir / "pdf" / name)]
        kept, _ = strip_running_lines(raw)
        expected = Counter(n for lines in kept for line in lines for n in NUMBER.findall(line))
        got = Counter(NUMBER.findall(doc.text))
        assert sum(expected.values()) > 20, name
        missing = expected - got
        assert not missing, f"{name}: {sum(missing.values())} numbers lost, e.g. {list(missing)[:5]}"
    assert sum(Counter(NUMBER.findall(extracted[ANNUAL].text)).values()) > 5000


def test_body_lines_repeated_once_or_twice_and_table_rows_stay() -> None:
    """Invented pages: the header and the page number go; body lines that recur at page edges stay."""
    pages = []
    for n in range(1, 9):
        lines = ["示例科技股份有限公司 2031 年年度报告", str(n)]
        lines.append(
            "本节讨论风险管理。"
            if n in (2, 3)
            else f"正文开头，说明经营情况（{'甲乙丙丁戊己庚辛'[n - 1]}）。"
        )
        lines += [f"正文第 {n} 页第 {k} 行，内容各不相同。" for k in range(8)]
        lines.append(f"合计 {n * 1111:,} {n * 2222:,}")  # a table total at the bottom of every page
        pages.append("\r\n".join(lines))
    doc = clean_pages(pages)
    assert doc.removed_lines == 16
    assert all("示例科技" not in p for p in doc.pages)
    assert sum(p.count("本节讨论风险管理。") for p in doc.pages) == 2
    for n, page in enumerate(doc.pages, 1):
        assert f"合计 {n * 1111:,} {n * 2222:,}" in page.splitlines()
        assert page.splitlines()[0].startswith(("本节", "正文开头"))


def test_chapter_titles_go_but_table_labels_under_a_statement_title_stay() -> None:
    """Invented statement pages: a chapter title heading consecutive pages is page furniture; a "本集团" label
    repeated under changing statement titles is content, though it also recurs on consecutive pages."""
    titles = [
        "合并利润表",
        "合并利润表(续)",
        "合并利润表(续)",
        "银行利润表",
        "银行利润表(续)",
        "银行利润表(续)",
    ]
    pages = []
    for n, title in enumerate(titles):
        rows = [f"项目{k} {n * 97 + k * 13:,} {n * 89 + k * 7:,}" for k in range(6)]
        pages.append(
            "\n".join(["示例银行股份有限公司", "2031年度", title, "本集团" if n < 3 else "本行", *rows])
        )
    for n in range(4):
        body = [f"第{n}页讨论经营情况的正文，第{k}句。" for k in range(6)]
        pages.append("\n".join(["第三章 经营讨论", "示例银行股份有限公司", "2031年度", *body]))
    doc = clean_pages(pages)
    firsts = [page.splitlines()[:2] for page in doc.pages]
    assert firsts[:6] == [[t, "本集团" if n < 3 else "本行"] for n, t in enumerate(titles)]
    assert all(not page.startswith("第三章") for page in doc.pages[6:])
    assert doc.removed_lines == 6 * 2 + 4 * 3


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("第 3 页", (3, True)),
        ("第3页 共10页", (3, True)),
        ("- 3 -", (3, True)),
        ("Page 3 of 10", (3, True)),
        ("3/296", (3, False)),
        ("12", (12, False)),
        ("7/3", None),
        ("2031 年", None),
        ("1,234", None),
    ],
)
def test_page_number_forms(line: str, expected: tuple[int, bool] | None) -> None:
    assert page_number_value(line) == expected


def test_bare_numbers_go_only_when_they_count_pages() -> None:
    """Invented pages: "n/8" footers with a steady offset go; a lone table value at a page edge stays."""
    pages = [
        "\n".join(
            [
                f"示例正文第{n}页，内容各不相同，编号{n}。",
                *[f"第{n}页正文第{k}行" for k in range(8)],
                "350",
                f"{n}/8",
            ]
        )
        for n in range(1, 9)
    ]
    doc = clean_pages(pages)
    assert all(page.splitlines()[-1] == "350" for page in doc.pages)
    assert doc.removed_lines == 8


def test_wrapped_prose_is_joined_and_table_rows_are_not() -> None:
    """Invented page: wrapped paragraphs become one line each; full-width table rows, captions and items stay
    lines (each row below is blocked by a different rule)."""
    para1 = [
        "本公司在报告期内持续推进数字化转型，提升客户服务效率和风险管理",
        "能力，各项业务保持稳健增长，资产质量总体稳定，拨备覆盖率较高。",
    ]
    para2 = ["报告期内，本公司继续优化资产负债结构，净息差保持在合理区间内，", "经营效益稳步提升。"]
    rest = [
        "单位：元",
        "归属于本公司普通股股东的扣除非经常性损益后的每股收益 0.56 0.52",
        "基本每股收益与稀释每股收益的计算口径相同",
        "示例企业管理有限公司（有限合伙） 15,876,300 人民币普通股 15,876,300",
        "示例投资有限公司",
        "经营活动产生的现金流量净额与上年同期相比发生较大变动的主要原因说明",
        "（一）经营活动现金流入小计与上年同期相比的变动原因",
    ]
    lines = [*para1, *para2, *rest]
    assert join_wrapped_lines(lines) == ["".join(para1), "".join(para2), *rest]
    assert clean_pages(["\n".join(lines)], join_lines=False).pages[0].splitlines() == lines


def test_annual_report_lines_are_joined(extracted: dict[str, PdfText], data_dir: Path) -> None:
    raw_lines = sum(len(split_lines(p)) for p in raw_pages(data_dir / "pdf" / ANNUAL))
    clean_lines = sum(len(p.splitlines()) for p in extracted[ANNUAL].pages)
    assert clean_lines < 0.9 * raw_lines - extracted[ANNUAL].removed_lines


def image_only_pdf(source: Path, pages: int) -> bytes:
    """A scan: real pages rendered to bitmaps and placed as images in a new PDF without any text."""
    src = pdfium.PdfDocument(source.read_bytes())
    out = pdfium.PdfDocument.new()
    for i in range(pages):
        width, height = src[i].get_size()
        image = pdfium.PdfImage.new(out)
        image.set_bitmap(src[i].render(scale=0.5))
        image.set_matrix(pdfium.PdfMatrix().scale(width, height))
        page = out.new_page(width, height)
        page.insert_obj(image)
        page.gen_content()
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def test_pdf_without_text_layer_is_flagged(data_dir: Path) -> None:
    doc = extract_pdf_text(image_only_pdf(data_dir / "pdf" / "jinhua_600080_2025_q1_report.pdf", 3))
    assert doc.no_text_layer
    assert doc.page_count == 3 and doc.empty_pages == [1, 2, 3]
    assert doc.text == "\f\f"


def test_a_few_empty_pages_do_not_flag_the_pdf(data_dir: Path) -> None:
    pdf = pdfium.PdfDocument((data_dir / "pdf" / "cr999_000999_2024_q3_report.pdf").read_bytes())
    width, height = pdf[0].get_size()
    pdf.new_page(width, height, index=3)  # becomes page 4
    pdf.new_page(width, height)  # appended: page 15
    buf = io.BytesIO()
    pdf.save(buf)
    doc = extract_pdf_text(buf.getvalue())
    assert doc.page_count == 15 and doc.empty_pages == [4, 15]
    assert not doc.no_text_layer
    assert doc.pages[3] == "" and doc.pages[4]


def test_title_from_metadata(data_dir: Path, extracted: dict[str, PdfText]) -> None:
    for name, doc in extracted.items():
        meta = pdfium.PdfDocument((data_dir / "pdf" / name).read_bytes()).get_metadata_dict()
        if meta.get("Title", "").strip():
            assert doc.title and doc.title in meta["Title"] and not doc.title.endswith(".pdf"), name
        else:
            assert doc.title is None, name


def minimal_pdf(extra_objects: list[bytes], trailer: str) -> bytes:
    """A one-page PDF written by hand (xref offsets computed), so tests can build broken variants."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        *extra_objects,
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def test_encrypted_pdf_is_a_clear_error() -> None:
    assert extract_pdf_text(minimal_pdf([], "")).no_text_layer  # the unencrypted variant opens
    # A user password is set (the /U entry does not match the empty password): PDFium cannot open it.
    security = b"<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"
    file_id = "<0123456789abcdef0123456789abcdef>"
    with pytest.raises(PdfError, match=r"encrypted.*decrypted copy"):
        extract_pdf_text(minimal_pdf([security], f"/Encrypt 4 0 R /ID [{file_id} {file_id}]"))


@pytest.mark.parametrize("cut", ["garbage", "truncated", "empty"])
def test_corrupt_pdf_is_a_clear_error(data_dir: Path, cut: str) -> None:
    real = (data_dir / "pdf" / "jinhua_600080_2025_h1_summary.pdf").read_bytes()
    data = {"garbage": b"<html>not a pdf</html>", "truncated": real[: len(real) // 2], "empty": b""}[cut]
    with pytest.raises(PdfError, match=r"not a readable PDF \(\d+ bytes\).*damaged, truncated or not a PDF"):
        extract_pdf_text(data)
    assert issubclass(PdfError, ValueError)


def test_extraction_from_threads_is_serialised(data_dir: Path) -> None:
    small = sorted(p for p in (data_dir / "pdf").glob("*.pdf") if p.stat().st_size < 300_000)[:3]
    assert len(small) == 3
    single = {p: extract_pdf_text(p.read_bytes()) for p in small}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: (p, extract_pdf_text(p.read_bytes())), small * 3))
    assert all(doc == single[p] for p, doc in results)


# extract.py's current extract_pdf (raw pages joined by form feeds), kept until the lead switches it over.


def test_pdf_pages_survive_and_threads_are_safe(data_dir: Path) -> None:
    """PDFium is not thread-safe: extraction from several threads at once must neither crash nor mix pages."""
    pdfs = sorted((data_dir / "pdf").rglob("*.pdf"))
    small = [p for p in pdfs if p.stat().st_size < 3_000_000][:3]
    assert small
    single = {p: extract_pdf(p.read_bytes()) for p in small}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: (p, extract_pdf(p.read_bytes())), small * 3))
    for p, ex in results:
        assert ex.text == single[p].text and ex.pages == single[p].pages
        assert ex.text.count("\f") == ex.pages - 1 and ex.extractor == "pypdfium2"


def test_not_a_pdf_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match="not a readable PDF"):
        extract_pdf(b"<html>not a pdf</html>")
