"""`fincorpus maintain`: expire untagged snapshots, remove files no snapshot references. Tags are never touched.

Retention policy:

- a snapshot is expired only when no ref points at it (no tag, not the head of ``main``) and it is older than
  ``retain_days``; every tagged snapshot, and everything it references, stays readable;
- a file under the table's location is an orphan when no retained snapshot (its manifest list, manifests and
  data files) and no metadata file of the table's metadata log references it, and it is older than
  ``orphan_hours`` (files of a publish in flight are young; a publish also holds the publish lock, which
  maintain takes too). Orphans are what a publish killed before its commit leaves behind, and the data files of
  expired snapshots.

Only files inside the table's own folder are considered: nothing maintain did not create is ever deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.fs as pafs
from pyiceberg.manifest import ManifestFile
from pyiceberg.table.refs import SnapshotRefType

from fincorpus import locks
from fincorpus.catalog.store import CorpusCatalog
from fincorpus.sources.frontier import catalog_engine
from fincorpus.storage import filesystem


@dataclass
class MaintainReport:
    expired_snapshots: list[int] = field(default_factory=list)
    kept_snapshots: int = 0
    orphan_files: list[str] = field(default_factory=list)
    orphan_bytes: int = 0
    dry_run: bool = False


def _local(catalog: CorpusCatalog, location: str) -> str:
    """The path of a location inside its filesystem (absolute for a local warehouse, bucket/key on S3)."""
    _, _, path = catalog.table.io.parse_location(location, catalog.table.io.properties)
    return path


def referenced_files(catalog: CorpusCatalog, snapshot_ids: set[int] | None = None) -> set[str]:
    """Every file the retained snapshots (default: all) or the metadata log reference, under the current home.

    A data file counts when a retained snapshot holds it live; a file a snapshot only records as deleted belongs
    to its parent snapshot, which references it itself while it is retained.
    """
    table = catalog.table
    meta = table.metadata
    io = table.io
    refs: set[str] = {_local(catalog, table.metadata_location)}
    for entry in meta.metadata_log:
        refs.add(_local(catalog, entry.metadata_file))
    for snap in meta.snapshots:
        if snapshot_ids is not None and snap.snapshot_id not in snapshot_ids:
            continue
        refs.add(_local(catalog, snap.manifest_list))
        manifests: list[ManifestFile] = snap.manifests(io)
        for m in manifests:
            refs.add(_local(catalog, m.manifest_path))
            for entry in m.fetch_manifest_entry(io, discard_deleted=True):
                refs.add(_local(catalog, entry.data_file.file_path))
    return refs


def maintain(
    home: Path, retain_days: float = 7.0, orphan_hours: float = 1.0, dry_run: bool = False
) -> MaintainReport:
    report = MaintainReport(dry_run=dry_run)
    with locks.hold(catalog_engine(home), "publish", "fincorpus maintain", what="the publish lock"):
        catalog = CorpusCatalog(home, create=False)
        table = catalog.table
        protected = {
            r.snapshot_id
            for r in table.refs().values()
            if r.snapshot_ref_type in (SnapshotRefType.TAG, SnapshotRefType.BRANCH)
        }
        cutoff = (datetime.now(UTC) - timedelta(days=retain_days)).timestamp() * 1000
        expire = [
            s.snapshot_id
            for s in table.metadata.snapshots
            if s.snapshot_id not in protected and s.timestamp_ms < cutoff
        ]
        report.expired_snapshots = expire
        report.kept_snapshots = len(table.metadata.snapshots) - len(expire)
        if expire and not dry_run:
            table.maintenance.expire_snapshots().by_ids(expire).commit()
            catalog.refresh()
        # in a dry run, what the expiry would leave unreferenced is counted as if it had run
        keep_ids = {s.snapshot_id for s in catalog.table.metadata.snapshots} - set(expire if dry_run else ())
        refs = referenced_files(catalog, keep_ids)
        fs, base = filesystem(catalog.table.location().replace("s3a://", "s3://"))
        now = time.time()
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True)):
            if info.type != pafs.FileType.File or info.path in refs:
                continue
            mtime = info.mtime.timestamp() if info.mtime is not None else now
            if now - mtime < orphan_hours * 3600:
                continue
            report.orphan_files.append(info.path)
            report.orphan_bytes += int(info.size or 0)
            if not dry_run:
                fs.delete_file(info.path)
    return report
