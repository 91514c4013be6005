"""Issue 14: PDF parsing in a child process with memory and time limits; one bad PDF costs that PDF only."""

from __future__ import annotations

import resource
import threading
from pathlib import Path

import pytest

from fincorpus.cleaning.extract import ExtractionError, extract_pdf
from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated
from tests.hostile import flate_bomb_pdf


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("bomb") / "bomb.pdf"
    flate_bomb_pdf(path, 600 << 20, level=1)  # inflates to 600 MiB from ~2 MB
    return path.read_bytes()


def test_real_pdfs_give_the_same_result_as_in_process(data_dir: Path) -> None:
    for pdf in sorted((data_dir / "pdf").glob("*.pdf"))[:3]:
        body = pdf.read_bytes()
        assert extract_pdf_isolated(body, max_memory_bytes=1 << 30, timeout_s=60) == extract_pdf(body)


def test_flate_bomb_is_stopped_by_the_memory_limit_and_the_caller_lives_on(
    bomb: bytes, data_dir: Path
) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ExtractionError, match=r"PDF parser exceeded 256 MiB memory limit"):
        extract_pdf_isolated(bomb, max_memory_bytes=256 << 20, timeout_s=60)
    assert (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000
    )  # KB: the bomb stayed outside
    pdf = min((data_dir / "pdf").glob("*.pdf"), key=lambda p: p.stat().st_size).read_bytes()
    assert extract_pdf_isolated(pdf, max_memory_bytes=1 << 30, timeout_s=60).pages  # a fresh worker took over


def test_slow_pdf_times_out(bomb: bytes) -> None:
    with pytest.raises(ExtractionError, match=r"^PDF parser timed out after 0.2 s$"):
        extract_pdf_isolated(bomb, max_memory_bytes=4 << 30, timeout_s=0.2)


def test_unreadable_pdf_keeps_its_own_message() -> None:
    with pytest.raises(ExtractionError, match="not a readable PDF"):
        extract_pdf_isolated(b"%PDF-1.4 broken", max_memory_bytes=1 << 30, timeout_s=30)


def test_threads_share_the_workers(data_dir: Path) -> None:
    pdfs = sorted((data_dir / "pdf").glob("*.pdf"), key=lambda p: p.stat().st_size)[:4]
    expected = {p.name: extract_pdf(p.read_bytes()).text for p in pdfs}
    got: dict[str, str] = {}

    def work(p: Path) -> None:
        got[p.name] = extract_pdf_isolated(p.read_bytes(), max_memory_bytes=1 << 30, timeout_s=60).text

    threads = [threading.Thread(target=work, args=(p,)) for p in pdfs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected
