"""Pull a tagged snapshot as Parquet files a model team loads with ``datasets``, plus a verifiable manifest.

The output folder is written beside its final place and renamed into it, so a failed pull never leaves a
half-written snapshot that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fincorpus.catalog.store import CatalogError, CorpusCatalog
from fincorpus.licensing import LICENCE_CLASSES, USES
from fincorpus.schema import DOCUMENT_SCHEMA, SCHEMA_VERSION

ROWS_PER_FILE = 50_000


@dataclass(frozen=True)
class PullResult:
    out: Path
    rows: int
    files: list[str]
    manifest: dict


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def filter_rows(
    table: pa.Table, usage: str | None, licences: list[str] | None, min_finance_score: float | None = None
) -> pa.Table:
    if usage:
        if usage not in USES:
            raise CatalogError(f"unknown usage {usage!r}; use one of {', '.join(USES)}")
        keep = [usage in u for u in table["usage"].to_pylist()]
        table = table.filter(pa.array(keep, type=pa.bool_()))
    if licences:
        unknown = [c for c in licences if c not in LICENCE_CLASSES]
        if unknown:
            raise CatalogError(f"unknown licence class(es) {unknown}; use any of {sorted(LICENCE_CLASSES)}")
        table = table.filter(pc.is_in(table["licence_class"], value_set=pa.array(licences)))
    if min_finance_score is not None:
        if not 0.0 <= min_finance_score <= 1.0:
            raise CatalogError(f"--min-finance-score must be between 0 and 1, got {min_finance_score}")
        # documents scored before schema 3 have no score: they are left out rather than guessed
        keep = pc.fill_null(pc.greater_equal(table["finance_score"], min_finance_score), False)
        table = table.filter(keep)
    return table


def _card(tag: str, snapshot_id: int, table: pa.Table, filters: dict) -> str:
    by_licence = Counter(table["licence_class"].to_pylist())
    by_source = Counter(table["source_id"].to_pylist())
    lines = [
        f"# fincorpus snapshot `{tag}`",
        "",
        "Chinese financial texts crawled, cleaned, deduplicated and licence-tagged by fincorpus.",
        "",
        f"- snapshot id: {snapshot_id}",
        f"- documents: {table.num_rows}",
        f"- schema version: {SCHEMA_VERSION} (field meanings: docs/data-model.md in the fincorpus repository)",
        f"- filters applied at pull: {json.dumps(filters, ensure_ascii=False)}",
        f"- pulled at: {datetime.now(UTC).isoformat()}",
        "",
        "## Load",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("parquet", data_dir="<this folder>", split="train")',
        "```",
        "",
        "## Licence classes",
        "",
        "Respect each row's `usage` column: it lists the uses its licence class and opt-outs allow.",
        "",
        "| licence class | documents | allowed uses | meaning |",
        "|---|---|---|---|",
    ]
    for name, n in sorted(by_licence.items()):
        c = LICENCE_CLASSES.get(name)
        lines.append(f"| {name} | {n} | {', '.join(c.usage) if c else '?'} | {c.meaning if c else ''} |")
    lines += ["", "## Sources", "", "| source | documents |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in sorted(by_source.items())]
    lines += ["", "Verify the files against `manifest.json` (sha256 per file) before use."]
    return "\n".join(lines) + "\n"


def pull(
    home: Path,
    tag: str,
    out: Path,
    *,
    usage: str | None = None,
    licences: list[str] | None = None,
    min_finance_score: float | None = None,
    overwrite: bool = False,
) -> PullResult:
    catalog = CorpusCatalog(home)
    table = catalog.read(tag)  # raises CatalogError on an unknown tag before anything is written
    snapshot_id = next(t.snapshot_id for t in catalog.tags() if t.tag == tag)
    table = filter_rows(table, usage, licences, min_finance_score)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CatalogError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    n_files = max(1, -(-table.num_rows // ROWS_PER_FILE))
    files = []
    for i in range(n_files):
        name = f"data/train-{i:05d}-of-{n_files:05d}.parquet"
        part = table.slice(i * ROWS_PER_FILE, ROWS_PER_FILE).cast(DOCUMENT_SCHEMA)
        pq.write_table(part, tmp / name, compression="zstd", compression_level=3)
        files.append(
            {
                "name": name,
                "rows": part.num_rows,
                "bytes": (tmp / name).stat().st_size,
                "sha256": _sha256(tmp / name),
            }
        )
    filters = {"usage": usage, "licences": licences, "min_finance_score": min_finance_score}
    manifest = {
        "tag": tag,
        "snapshot_id": snapshot_id,
        "table": "fincorpus.documents",
        "schema_version": SCHEMA_VERSION,
        "rows": table.num_rows,
        "filters": filters,
        "created_at": datetime.now(UTC).isoformat(),
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    (tmp / "README.md").write_text(_card(tag, snapshot_id, table, filters), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return PullResult(out, table.num_rows, [f["name"] for f in files], manifest)


def verify(out: Path) -> list[str]:
    """Problems found when checking a pulled folder against its manifest (empty list = verified)."""
    problems = []
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        p = out / f["name"]
        if not p.is_file():
            problems.append(f"{f['name']}: missing")
        elif _sha256(p) != f["sha256"]:
            problems.append(f"{f['name']}: sha256 differs from manifest")
        elif pq.ParquetFile(p).metadata.num_rows != f["rows"]:
            problems.append(f"{f['name']}: row count differs from manifest")
    return problems
