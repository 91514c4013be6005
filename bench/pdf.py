"""PDF text extraction throughput and what cleaning removes, on the real PDFs of shared/data/pdf.

fincorpus: ``extract_pdf_text`` (pypdfium2 text, running headers/footers and page numbers removed, wrapped lines
           joined), also without line joining to show what joining costs.
baseline:  raw pypdfium2 ``get_text_range`` per page (what ``extract_pdf`` did before), same process, same run.
pypdf:     ``PdfReader.pages[i].extract_text()`` when pypdf is installed (it is not a dependency; skipped if absent).

Each method runs REPEAT times per file, interleaved with the others; the best time counts (the machine is shared and noisy).
Run: `.venv/bin/python bench/pdf.py [--data ../shared/data] [--repeat 5]`. Writes bench/results/pdf.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

from fincorpus.cleaning.pdf import extract_pdf_text, read_pdf_pages

REPO = Path(__file__).resolve().parent.parent


def raw_pypdfium2(data: bytes) -> list[str]:
    """The baseline: page texts straight from PDFium, nothing removed."""
    return read_pdf_pages(data)[0]


def raw_pypdf(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def best_seconds(fns: dict[str, Callable[[bytes], object]], data: bytes, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` runs per method, the methods interleaved so load changes hit them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(data)
            times[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in times.items()}


def measure(path: Path, repeat: int, with_pypdf: bool) -> dict:
    data = path.read_bytes()
    raw = raw_pypdfium2(data)
    ours = extract_pdf_text(data)
    unjoined = extract_pdf_text(data, join_lines=False)
    row = {
        "file": path.name,
        "pages": ours.page_count,
        "raw_chars": sum(len(p) for p in raw),
        "clean_chars": len(ours.text),
        "removed_lines": ours.removed_lines,
        "raw_lines": sum(len(p.splitlines()) for p in raw),
        "lines_after_join": sum(len(p.splitlines()) for p in ours.pages),
        "lines_before_join": sum(len(p.splitlines()) for p in unjoined.pages),
    }
    fns: dict[str, Callable[[bytes], object]] = {
        "s_baseline_pypdfium2": raw_pypdfium2,
        "s_fincorpus": extract_pdf_text,
        "s_fincorpus_no_join": lambda d: extract_pdf_text(d, join_lines=False),
    }
    if with_pypdf:
        fns["s_pypdf"] = raw_pypdf
        row["pypdf_chars"] = sum(len(p) for p in raw_pypdf(data))
    row.update(best_seconds(fns, data, repeat))
    return row


def pages_per_s(pages: int, seconds: float) -> float:
    return round(pages / seconds, 1) if seconds > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    pdfs = sorted((args.data / "pdf").glob("*.pdf"))
    if not pdfs:
        raise SystemExit(f"no PDFs under {args.data / 'pdf'}; pass --data pointing at shared/data")
    with_pypdf = importlib.util.find_spec("pypdf") is not None
    rows = [measure(p, args.repeat, with_pypdf) for p in pdfs]
    methods = ["s_baseline_pypdfium2", "s_fincorpus", "s_fincorpus_no_join"] + (
        ["s_pypdf"] if with_pypdf else []
    )
    total_pages = sum(r["pages"] for r in rows)
    total = {m: sum(r[m] for r in rows) for m in methods}
    result = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "repeat": args.repeat,
        "pypdf": "measured" if with_pypdf else "not installed: skipped",
        "total": {
            "files": len(rows),
            "pages": total_pages,
            **{m.replace("s_", "pages_per_s_", 1): pages_per_s(total_pages, s) for m, s in total.items()},
            "ratio_fincorpus_vs_baseline": round(total["s_baseline_pypdfium2"] / total["s_fincorpus"], 3),
            "removed_lines": sum(r["removed_lines"] for r in rows),
            "raw_chars": sum(r["raw_chars"] for r in rows),
            "clean_chars": sum(r["clean_chars"] for r in rows),
            "chars_kept": round(sum(r["clean_chars"] for r in rows) / sum(r["raw_chars"] for r in rows), 4),
            "lines_joined": sum(r["lines_before_join"] - r["lines_after_join"] for r in rows),
        },
        "files": [
            {
                **{k: v for k, v in r.items() if not k.startswith("s_")},
                **{m.replace("s_", "pages_per_s_", 1): pages_per_s(r["pages"], r[m]) for m in methods},
                "chars_kept": round(r["clean_chars"] / r["raw_chars"], 4) if r["raw_chars"] else None,
            }
            for r in rows
        ],
    }
    out = REPO / "bench" / "results" / "pdf.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(result, methods)
    print(f"\nwritten {out.relative_to(REPO)}")


def print_table(result: dict, methods: list[str]) -> None:
    cols = [m.replace("s_", "", 1) for m in methods]
    head = f"{'file':38} {'pages':>5} " + " ".join(f"{c[:16]:>16}" for c in cols)
    head += f" {'removed':>7} {'joined':>6} {'kept':>6}"
    print("pages/s per method; removed = header/footer/page-number lines; kept = clean chars / raw chars")
    print(head)
    for r in result["files"]:
        speeds = " ".join(f"{r[m.replace('s_', 'pages_per_s_', 1)]:>16}" for m in methods)
        joined = r["lines_before_join"] - r["lines_after_join"]
        print(
            f"{r['file'][:38]:38} {r['pages']:>5} {speeds} {r['removed_lines']:>7} {joined:>6} {r['chars_kept']:>6}"
        )
    t = result["total"]
    speeds = " ".join(f"{t[m.replace('s_', 'pages_per_s_', 1)]:>16}" for m in methods)
    print(
        f"{'TOTAL':38} {t['pages']:>5} {speeds} {t['removed_lines']:>7} {t['lines_joined']:>6} {t['chars_kept']:>6}"
    )
    print(f"fincorpus / baseline speed: {t['ratio_fincorpus_vs_baseline']}  (pypdf: {result['pypdf']})")


if __name__ == "__main__":
    main()
