"""Corpus QA samples (TC260-003 9.2) of a tag, with the reports kept beside the snapshot in the home.

``fincorpus qa sample TAG`` writes the tag's documents (kept, minus what a takedown covers: what a pull would give)
as a working Parquet folder with the columns QA reads, then runs :func:`fincorpus.compliance.qa_sample_manual`
(the review sheet goes to ``--out``, where reviewers work) and :func:`fincorpus.compliance.qa_technical`.
Everything that is the record of the QA lives in ``<home>/qa/<tag>/``: the sample (``qa-manual-<seed>.json``),
the technical report, and, after ``fincorpus qa record SHEET``, a copy of the filled sheet and the manual report.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fincorpus.compliance import (
    MANUAL_MIN,
    QaReport,
    QaSample,
    SheetError,
    qa_record,
    qa_sample_manual,
    qa_technical,
    write_qa_report,
)
from fincorpus.schema import RECORD_SCHEMA

QA_DIR = "qa"
COLUMNS = ("doc_id", "source_id", "licence_class", "canonical_url", "title", "text")


def qa_dir(home: Path, tag: str) -> Path:
    return home / QA_DIR / tag


def _materialise(home: Path, tag: str, folder: Path) -> int:
    """The tag's documents as QA sees them, streamed into ``folder/data``; returns how many."""
    from fincorpus.catalog.erasure import denylist
    from fincorpus.catalog.store import CorpusCatalog

    catalog = CorpusCatalog(home, create=False)
    catalog.tag(tag)  # unknown tag: one line naming the known ones
    holds = denylist(home)
    (folder / "data").mkdir(parents=True)
    schema = pa.schema([RECORD_SCHEMA.field(c) for c in COLUMNS])
    n = 0
    with pq.ParquetWriter(folder / "data" / "part-00000.parquet", schema) as w:
        for b in catalog.batches(tag, columns=COLUMNS):
            t = pa.Table.from_batches([b]).select(list(COLUMNS)).cast(schema)
            if holds:
                keep = [
                    holds.hold_for(d, s) is None
                    for d, s in zip(
                        t.column("doc_id").to_pylist(), t.column("source_id").to_pylist(), strict=True
                    )
                ]
                t = t.filter(pa.array(keep, pa.bool_()))
            w.write_table(t)
            n += t.num_rows
    return n


@dataclass
class SampleResult:
    manual: QaSample | None
    technical: QaReport | None
    kept_in: Path


def sample(
    home: Path,
    tag: str,
    out: Path,
    *,
    manual: int | None = None,
    technical: float | None = None,
    seed: int | None = None,
) -> SampleResult:
    """The review sheet of ``manual`` documents into ``out`` and/or the technical screen of a ``technical`` share;
    the sample and reports into ``<home>/qa/<tag>/``. The seed is drawn at random unless given (recorded)."""
    if manual is None and technical is None:
        raise ValueError(
            "give --manual N (documents for people to review) and/or --technical SHARE (e.g. 10%)"
        )
    if manual is not None and manual < 1:
        raise ValueError(f"--manual {manual}: give a number of documents, e.g. {MANUAL_MIN}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    keep = qa_dir(home, tag)
    keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fincorpus-qa-"))
    try:
        _materialise(home, tag, work)
        got_manual = got_tech = None
        if manual is not None:
            got_manual = qa_sample_manual(work, out, n=manual, seed=seed, tag=tag)
            shutil.copy2(Path(out) / f"qa-manual-{seed}.json", keep / f"qa-manual-{seed}.json")
        if technical is not None:
            got_tech = qa_technical(work, fraction=technical, seed=seed, tag=tag)
            write_qa_report(got_tech, keep)
        return SampleResult(got_manual, got_tech, keep)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # our own working copy


def record(home: Path, sheet: Path, tag: str | None = None) -> tuple[QaReport, Path]:
    """Read a filled review sheet; the report and a copy of the sheet are kept in ``<home>/qa/<tag>/``.

    The tag comes from the sample file written beside the sheet (``qa-manual-<seed>.json``) unless given.
    """
    if not sheet.is_file():
        raise FileNotFoundError(
            f"{sheet}: no such review sheet; give the CSV written by `fincorpus qa sample`"
        )
    if tag is None:
        meta = sheet.with_suffix(".json")
        if not meta.is_file():
            raise SheetError(f"{sheet}: no {meta.name} beside it naming the tag; pass --tag TAG")
        tag = json.loads(meta.read_text(encoding="utf-8")).get("tag")
        if not tag:
            raise SheetError(f"{meta}: names no tag; pass --tag TAG")
    report = qa_record(sheet, tag=tag)
    keep = qa_dir(home, tag)
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sheet, keep / sheet.name)
    write_qa_report(report, keep)
    return report, keep
