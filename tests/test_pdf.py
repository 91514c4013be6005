from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fincorpus.cleaning.extract import ExtractionError, extract_pdf


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
    import pytest

    with pytest.raises(ExtractionError, match="not a readable PDF"):
        extract_pdf(b"<html>not a pdf</html>")
