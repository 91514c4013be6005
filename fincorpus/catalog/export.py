"""Pull a tagged snapshot as Parquet files a model team loads with ``datasets``, plus a verifiable manifest.

The scan streams record batches with the licence, source and finance-score filters pushed into it (the usage
filter is exact per batch on top of a licence pushdown), so memory is bounded by a batch, not the snapshot.

Where the files go is guarded, because a pull writes into folders people own:

- the output is written into a fresh temporary folder beside ``--out`` and renamed into place, so a failed pull
  never leaves a half-written snapshot and never touches an existing folder;
- ``--out`` may not be, lie inside, or contain the corpus home, nor name a file or a symlink;
- ``--overwrite`` replaces only a folder that holds an earlier pull and nothing else (every file is one its
  manifest lists, or the pull's own README/manifest/report files): unknown files make the pull refuse, naming
  them. The earlier pull is moved aside, the new one renamed in, then the earlier one's own files are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, In

from fincorpus.catalog.manifest import MANIFEST, MANIFEST_FORMAT, UNLISTED
from fincorpus.catalog.pull_compliance import PullCompliance
from fincorpus.catalog.stats import Collector
from fincorpus.catalog.store import CatalogError, CorpusCatalog, TagInfo
from fincorpus.licensing import (
    CONTRACT_CLASS,
    LICENCE_CLASSES,
    USES,
    LicenceDecision,
    derive_usage,
    optouts_of_row,
)
from fincorpus.schema import DOCUMENT_SCHEMA
from fincorpus.storage import Storage

ROWS_PER_FILE = 50_000
# Files a pull writes besides the ones its manifest lists (the manifest, its signature and the signer's key).
PULL_FILES = tuple(sorted(UNLISTED))
GENERATOR = "fincorpus"  # marker of manifests written before signed manifests


@dataclass(frozen=True)
class Filters:
    usage: str | None = None
    licences: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    min_finance_score: float | None = None

    def check(self) -> None:
        if self.usage and self.usage not in USES:
            raise CatalogError(f"unknown usage {self.usage!r}; use one of {', '.join(USES)}")
        unknown = [c for c in self.licences if c not in LICENCE_CLASSES]
        if unknown:
            raise CatalogError(f"unknown licence class(es) {unknown}; use any of {sorted(LICENCE_CLASSES)}")
        if self.min_finance_score is not None and not 0.0 <= self.min_finance_score <= 1.0:
            raise CatalogError(f"--min-finance-score must be between 0 and 1, got {self.min_finance_score}")

    def expression(self) -> BooleanExpression | None:
        """What the Iceberg scan can prune by (file statistics, row groups)."""
        parts: list[BooleanExpression] = []
        classes = list(self.licences)
        if self.usage:
            # contract-licensed documents carry the uses of their own contract: never pruned by class
            allowing = [
                c.name for c in LICENCE_CLASSES.values() if self.usage in c.usage or c.name == CONTRACT_CLASS
            ]
            classes = [c for c in classes if c in allowing] if classes else allowing
            if not classes:
                classes = ["\x00none"]  # no class allows this use: nothing matches
        if classes:
            parts.append(In("licence_class", classes))
        if self.sources:
            parts.append(In("source_id", list(self.sources)))
        if self.min_finance_score is not None:
            parts.append(GreaterThanOrEqual("finance_score", float(self.min_finance_score)))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else And(*parts)

    def exact(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The per-row part the scan cannot do: ``usage`` is a list column."""
        if not self.usage or batch.num_rows == 0:
            return batch
        col = batch.column(batch.schema.get_field_index("usage"))
        flat = pc.list_flatten(col)
        parents = pc.list_parent_indices(col)
        rows = pc.unique(pc.filter(parents, pc.equal(flat, self.usage)))
        mask = pc.is_in(pa.array(range(batch.num_rows), pa.int64()), value_set=rows.cast(pa.int64()))
        return batch.filter(mask)

    def to_json(self) -> dict:
        return {
            "usage": self.usage,
            "licences": list(self.licences) or None,
            "sources": list(self.sources) or None,
            "min_finance_score": self.min_finance_score,
        }


@dataclass(frozen=True)
class PullResult:
    out: Path
    rows: int
    files: list[str]
    manifest: dict
    stats: dict = field(default_factory=dict)


def filter_rows(
    table: pa.Table,
    usage: str | None,
    licences: list[str] | None,
    min_finance_score: float | None = None,
) -> pa.Table:
    """The pull filters applied to an in-memory table (tools and tests; pull itself streams)."""
    f = Filters(usage, tuple(licences or ()), (), min_finance_score)
    f.check()
    if licences:
        table = table.filter(pc.is_in(table["licence_class"], value_set=pa.array(licences)))
    if min_finance_score is not None:
        table = table.filter(pc.fill_null(pc.greater_equal(table["finance_score"], min_finance_score), False))
    batches = [f.exact(b) for b in table.to_batches()]
    return pa.Table.from_batches(batches, schema=table.schema) if batches else table


# -- where the output may go ------------------------------------------------------------------------------------


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def earlier_pull_files(out: Path) -> list[Path] | None:
    """The files of an earlier pull in ``out`` (None when ``out`` is not one, or holds anything else)."""
    manifest = out / MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or (
        data.get("format") != MANIFEST_FORMAT and data.get("generator") != GENERATOR
    ):
        return None
    listed = {f.get("name") for f in data.get("files", []) if isinstance(f, dict)} | set(PULL_FILES)
    found = [p for p in out.rglob("*") if p.is_file() or p.is_symlink()]
    if any(p.relative_to(out).as_posix() not in listed for p in found):
        return None
    return found


def check_out(home: Path, out: Path, overwrite: bool) -> Path:
    """Where a pull may write, as an absolute path; raises CatalogError (one line) otherwise."""
    raw = out
    if out.is_symlink():
        raise CatalogError(f"--out {raw} is a symbolic link; give the real folder it points to")
    out = out.resolve()
    home = home.resolve()
    if _inside(out, home) or _inside(home, out):
        raise CatalogError(
            f"--out {raw} is {'inside' if _inside(out, home) else 'a folder containing'} the corpus home {home}; "
            "pull into a folder outside it"
        )
    if out.exists() and not out.is_dir():
        raise CatalogError(f"--out {raw} is a file, not a folder; choose a folder path")
    if out == out.parent:
        raise CatalogError(f"--out {raw} is the root folder; choose a folder of its own")
    if _inside(Path.cwd().resolve(), out):
        raise CatalogError(f"--out {raw} is the current folder (or contains it); run the pull from elsewhere")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise CatalogError(f"{raw} exists and is not empty; choose another --out or pass --overwrite")
        if earlier_pull_files(out) is None:
            unknown = _unknown_files(out)
            raise CatalogError(
                f"--overwrite only replaces an earlier pull, and {raw} holds other files too"
                + (f" (e.g. {unknown})" if unknown else "")
                + "; choose another --out"
            )

    return out


def _unknown_files(out: Path) -> str:
    manifest = out / MANIFEST
    listed: set[str] = set(PULL_FILES)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        listed |= {f.get("name") for f in data.get("files", []) if isinstance(f, dict)}
    except (OSError, ValueError, AttributeError):
        pass
    for p in sorted(out.rglob("*")):
        if (p.is_file() or p.is_symlink()) and p.relative_to(out).as_posix() not in listed:
            return p.relative_to(out).as_posix()
    return ""


def _replace(tmp: Path, out: Path) -> None:
    """Rename the new pull into place; an earlier pull there is moved aside, then its own files removed."""
    if not out.exists():
        tmp.rename(out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        tmp.rename(out)
        return
    old_files = earlier_pull_files(out)
    if old_files is None:  # checked before writing; someone added files meanwhile
        raise CatalogError(f"{out} changed during the pull; the new pull is left in {tmp}")
    aside = out.with_name(f".{out.name}.replaced-{uuid.uuid4().hex[:8]}")
    out.rename(aside)
    tmp.rename(out)
    for f in sorted(aside.rglob("*"), reverse=True):
        if f.is_file() or f.is_symlink():
            f.unlink()
    for d in sorted((p for p in aside.rglob("*") if p.is_dir()), reverse=True):
        d.rmdir()
    aside.rmdir()


# -- the pull ---------------------------------------------------------------------------------------------------


def usage_now(batch: pa.RecordBatch, at: datetime | None = None) -> pa.RecordBatch:
    """``usage`` as of now for contract-licensed documents (a contract past its expiry no longer clears its uses);
    other documents keep the usage stored when they were published."""
    classes = batch.column(batch.schema.get_field_index("licence_class"))
    contract = pc.fill_null(pc.equal(classes, CONTRACT_CLASS), False)
    if not pc.any(contract).as_py():
        return batch
    rows = batch.to_pylist()
    at = at or datetime.now(UTC)
    usage = [
        derive_usage(LicenceDecision.from_row(r), optouts_of_row(r), at)
        if r["licence_class"] == CONTRACT_CLASS
        else r["usage"]
        for r in rows
    ]
    i = batch.schema.get_field_index("usage")
    return batch.set_column(i, batch.schema.field(i), pa.array(usage, batch.schema.field(i).type))


def stream_documents(catalog: CorpusCatalog, tag: str, filters: Filters) -> Iterator[pa.RecordBatch]:
    """Kept documents of ``tag`` that pass ``filters``, batch by batch, in the pull's schema, usage as of now."""
    names = DOCUMENT_SCHEMA.names
    for batch in catalog.batches(tag, status="kept", row_filter=filters.expression(), columns=names):
        for b in pa.Table.from_batches([batch]).select(names).cast(DOCUMENT_SCHEMA).to_batches():
            b = filters.exact(usage_now(b))
            if b.num_rows:
                yield b


def pull(
    home: Path,
    tag: str,
    out: Path | str,
    *,
    usage: str | None = None,
    licences: list[str] | None = None,
    sources: list[str] | None = None,
    min_finance_score: float | None = None,
    overwrite: bool = False,
    publisher: str | None = None,
    create_key: bool = True,
    include_taken_down: bool = False,
    destination: str | None = None,
    negative_list: Path | None = None,
) -> PullResult:
    """Write the snapshot, its cards, report, Croissant file and PROV record, and the signed manifest.

    The signer is ``FINCORPUS_SIGNER_CMD`` when set (an HSM or KMS), else the home's key, created on first use
    (``create_key``; ``fincorpus keys init`` makes it explicitly).
    """
    from fincorpus.catalog.publication import finish_snapshot_folder
    from fincorpus.signing import signer_for_home

    filters = Filters(usage, tuple(licences or ()), tuple(sources or ()), min_finance_score)
    filters.check()
    guard = PullCompliance.for_pull(  # compliance hook: takedowns, source gate, cross-border
        home,
        usage=usage,
        include_taken_down=include_taken_down,
        destination=destination,
        negative_list=negative_list,
    )
    catalog = CorpusCatalog(home, create=False)
    info = catalog.tag(tag)  # raises CatalogError on an unknown tag before anything is written
    remote = str(out).startswith(("s3://", "s3a://"))
    target: Storage | None = None
    if remote:
        target = Storage(str(out))
        old = check_remote_out(target, overwrite)
        out = Path(tempfile.mkdtemp(prefix="fincorpus-pull-")) / "snapshot"
        tmp = out
    else:
        out = check_out(home, Path(out), overwrite)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.pull-{uuid.uuid4().hex[:8]}")
    signer = signer_for_home(home, create_key=create_key)
    (tmp / "data").mkdir(parents=True)
    try:
        collector = Collector()  # the card and report statistics, gathered as the parts are written
        files, rows, by_licence, by_source = _write_parts(
            tmp,
            guard.stream(stream_documents(catalog, tag, filters)),  # compliance hook
            collector,
        )
        removed = catalog.batches(tag, status="removed", columns=REMOVED_COLUMNS)
        previous = _previous(catalog, info)
        guard.write(tmp)  # compliance hook: compliance.json, listed in the signed manifest
        publication = finish_snapshot_folder(
            tmp,
            tag=tag,
            snapshot_id=info.snapshot_id,
            filters={**filters.to_json(), **guard.filters()},  # compliance hook
            signer=signer,
            removed=removed,
            previous=previous,
            sources=_sources_of(home, info),
            publisher=publisher or os.environ.get("FINCORPUS_PUBLISHER"),
            published_at=info.committed_at,
            stats=collector.finish(removed=removed, previous=previous),
        )
        manifest = json.loads((tmp / MANIFEST).read_text(encoding="utf-8"))
        if target is not None:
            _upload(tmp, target, old)
        else:
            _replace(tmp, out)
    except BaseException:
        shutil.rmtree(
            tmp.parent if target is not None else tmp, ignore_errors=True
        )  # our own temporary folder
        raise
    where = target.uri if target is not None else str(out)
    if target is not None:
        shutil.rmtree(tmp.parent, ignore_errors=True)
    guard.after_pull(home, tag, where)  # compliance hook: --include-taken-down is logged (local or s3 --out)
    stats = {
        "by_licence": dict(by_licence),
        "by_source": dict(by_source),
        "publication": [line.replace(str(tmp), where) for line in publication.summary()],
        "compliance": guard.summary(),  # compliance hook
    }
    return PullResult(
        Path(where) if target is None else where, rows, [f["name"] for f in files], manifest, stats
    )  # type: ignore[arg-type]


def check_remote_out(target: Storage, overwrite: bool) -> list[str]:
    """An object-store --out: empty, or (with --overwrite) an earlier pull and nothing else; returns its files."""
    existing = target.list(recursive=True)
    if not existing:
        return []
    if not overwrite:
        raise CatalogError(f"{target.uri} is not empty; choose another --out or pass --overwrite")
    listed: set[str] = set(PULL_FILES)
    if MANIFEST in existing:
        data = target.read_json(MANIFEST)
        if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT:
            listed |= {f.get("name") for f in data.get("files", []) if isinstance(f, dict)}
    unknown = [n for n in existing if n not in listed]
    if MANIFEST not in existing or unknown:
        raise CatalogError(
            f"--overwrite only replaces an earlier pull, and {target.uri} holds other objects too"
            + (f" (e.g. {unknown[0]})" if unknown else "")
            + "; choose another --out"
        )
    return existing


def _upload(tmp: Path, target: Storage, old: list[str]) -> None:
    """Upload a finished pull: data and cards first, the signed manifest last; then the earlier pull's leftovers."""
    names = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    last = [n for n in names if n in PULL_FILES]
    for name in [n for n in names if n not in PULL_FILES] + sorted(last, key=lambda n: n == MANIFEST):
        target.upload(tmp / name, name)
    for name in old:
        if name not in names:
            target.remove(name)


REMOVED_COLUMNS = ("removed_stage", "removed_reason", "source_id", "duplicate_relation", "dedup_cluster")


def _previous(catalog: CorpusCatalog, info: TagInfo) -> tuple[str, Iterator[pa.RecordBatch]] | None:
    """The tag committed before ``info`` (by commit time): what the report's diff compares against."""
    earlier = [t for t in catalog.tags() if t.committed_at < info.committed_at and t.tag != info.tag]
    if not earlier:
        return None
    prev = earlier[-1]
    return prev.tag, catalog.batches(prev.tag, status="kept", columns=("doc_id", "text_sha256"))


def _sources_of(home: Path, info: TagInfo) -> Any:
    """The sources file the tag's newest run was ingested with, when it is still where it was."""
    from fincorpus.sources.registry import SourcesError, load_sources
    from fincorpus.storage import area

    store = area(home, "staging")  # not pipelines.ingest.staging: importing the pipeline costs seconds
    for run_id in reversed(info.runs):
        if store.is_file(f"{run_id}/run.json"):
            path = store.read_json(f"{run_id}/run.json").get("sources_path")
            if path and Path(path).is_file():
                try:
                    return load_sources(path)
                except SourcesError:
                    return None
    return None


def _counts(column: pa.Array) -> Counter[str]:
    return Counter({v["values"]: v["counts"] for v in pc.value_counts(column).to_pylist()})


def _write_parts(
    tmp: Path, batches: Iterator[pa.RecordBatch], collector: Collector
) -> tuple[list[dict], int, Counter, Counter]:
    written: list[Path] = []
    writer: pq.ParquetWriter | None = None
    in_file = rows = 0
    by_licence: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for batch in batches:
        collector.add(batch)
        by_licence.update(_counts(batch.column("licence_class")))
        by_source.update(_counts(batch.column("source_id")))
        start = 0
        while start < batch.num_rows:
            if writer is None:
                written.append(tmp / "data" / f"part-{len(written):05d}.parquet")
                writer = pq.ParquetWriter(
                    written[-1], DOCUMENT_SCHEMA, compression="zstd", compression_level=3
                )
                in_file = 0
            take = min(batch.num_rows - start, ROWS_PER_FILE - in_file)
            writer.write_batch(batch.slice(start, take))
            start += take
            in_file += take
            rows += take
            if in_file >= ROWS_PER_FILE:
                writer.close()
                writer = None
    if writer is not None:
        writer.close()
    if not written:  # an empty selection still gives a loadable, schema-true file
        written.append(tmp / "data" / "part-00000.parquet")
        pq.write_table(DOCUMENT_SCHEMA.empty_table(), written[-1], compression="zstd", compression_level=3)
    files = []
    n = len(written)
    for i, p in enumerate(written):
        final = p.with_name(f"train-{i:05d}-of-{n:05d}.parquet")
        os.replace(p, final)
        # rows, bytes and digests of these files are the signed manifest's (written last, from the files on disk)
        files.append({"name": final.relative_to(tmp).as_posix()})
    return files, rows, by_licence, by_source


def verify(out: Path, expected_key: bytes | str | Path | None = None) -> list[str]:
    """Problems found when checking a pulled folder offline (empty list = verified): signature, every file's
    SHA-256 and SM3, rows and schema, missing and extra files (``fincorpus.catalog.manifest.verify_folder``)."""
    from fincorpus.catalog.manifest import verify_folder

    return verify_folder(out, expected_key=expected_key).problems
