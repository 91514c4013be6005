"""Local folders of HTML, text and PDF files, archived like fetched pages so provenance stays uniform.

Files go through the same crawl state as web pages: a file whose bytes did not change since the last pass creates
no new version, and an interrupted pass resumes with the files it had not committed yet. The folder is walked in
sorted order without following symlinked folders; a symlinked file is taken only if it points inside the folder.
A file is found by its path, never by its URL (names such as ``年报 2024.txt`` or ``percent%41.txt`` are
percent-encoded in the ``file://`` URL), and one larger than ``max_document_bytes`` is skipped unread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fincorpus.sources.base import CrawlEvent, CrawlReport, ItemMeta
from fincorpus.sources.batch import Candidate, ReadFailed, RecordReader

FILE_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".pdf": "application/pdf"}


def walk_files(root: Path) -> Iterator[Path]:
    """Every entry under ``root`` that is a file or a symlink to one, in sorted order, streamed folder by folder."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        base = Path(dirpath)
        for d in dirnames:
            if (base / d).is_symlink():
                yield base / d  # reported (not followed) by the reader
        for name in sorted(filenames):
            yield base / name


def read_capped(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a regular file, opened without following a symlink swapped in since."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ReadFailed(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise ReadFailed(f"cannot read {path}: {exc.strerror or exc}") from None


class FilesReader(RecordReader):
    label = "file"

    def _prepare(self) -> None:
        root = Path(self.source.path or "")
        self.root = root if root.is_absolute() else (self.base_dir / root)

    def run(self) -> CrawlReport:
        if not self.root.is_dir():
            raise FileNotFoundError(f"source {self.source.id!r}: path {self.root} is not a folder")
        root = self.root.resolve()
        return self._run(self._candidate(root, seq, path) for seq, path in enumerate(walk_files(root), 1))

    def _candidate(self, root: Path, seq: int, path: Path) -> Candidate:
        rel = path.relative_to(root).as_posix()
        url = path.as_uri()
        ctype = FILE_TYPES.get(path.suffix.lower(), "")
        item = ItemMeta(native_id=rel)

        def early(outcome: str, detail: str) -> Candidate:
            return Candidate(url, seq, "file", ctype, 0, item=item, early=CrawlEvent(url, outcome, detail))

        target = path
        if path.is_symlink():
            target = path.resolve()
            if root not in target.parents:
                return early("skipped-outside", f"{rel}: symlink to {target}, outside the folder; not read")
            if target.is_dir():
                return early(
                    "skipped-outside", f"{rel}: symlinked folder, not followed (its target is walked)"
                )
        if not ctype:
            return early("not-document", f"unsupported file type {path.suffix!r}")
        try:
            size = target.stat().st_size
        except OSError as exc:
            return early("error", f"cannot stat {rel}: {exc.strerror or exc}")
        limit = self.source.max_document_bytes
        if size > limit:
            return early("skipped-size", f"{rel}: {size:,} bytes > max_document_bytes={limit:,}; not read")
        return Candidate(
            url,
            seq,
            "file",
            ctype,
            size,
            load=lambda: read_capped(target, limit),
            item=item,
            detail=ctype,
        )
