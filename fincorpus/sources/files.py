"""Local folders of HTML, text and PDF files, archived like fetched pages so provenance stays uniform."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fincorpus.sources.archive import WarcArchive
from fincorpus.sources.base import Capture, CrawlEvent
from fincorpus.sources.registry import SourceConfig

FILE_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".pdf": "application/pdf"}


class FilesReader:
    """Walk ``source.path`` in sorted order; each file becomes a WARC resource record and a Capture."""

    def __init__(self, source: SourceConfig, archive: WarcArchive, base_dir: Path) -> None:
        self.source = source
        self.archive = archive
        root = Path(source.path or "")
        self.root = root if root.is_absolute() else (base_dir / root)
        self.events: list[CrawlEvent] = []

    def run(self) -> Iterator[Capture]:
        if not self.root.is_dir():
            raise FileNotFoundError(f"source {self.source.id!r}: path {self.root} is not a folder")
        count = 0
        for file in sorted(p for p in self.root.rglob("*") if p.is_file()):
            rel = file.relative_to(self.root).as_posix()
            ctype = FILE_TYPES.get(file.suffix.lower())
            if ctype is None:
                self.events.append(CrawlEvent(rel, "not-document", f"unsupported file type {file.suffix!r}"))
                continue
            if count >= self.source.max_pages:
                self.events.append(CrawlEvent(rel, "skipped-limit", f"max_pages={self.source.max_pages}"))
                continue
            body = file.read_bytes()
            now = datetime.now(UTC)
            url = file.resolve().as_uri()
            rec = self.archive.write_resource(url=url, fetched_at=now, content_type=ctype, body=body)
            self.events.append(
                CrawlEvent(url, "fetched", ctype, None, now.isoformat(), {"raw_ref": rec.raw_ref})
            )
            count += 1
            yield Capture(
                source_id=self.source.id,
                url=url,
                final_url=url,
                status=200,
                content_type=ctype,
                headers={"content-type": ctype, "x-fincorpus-native-id": rel},
                fetched_at=now,
                raw_ref=rec.raw_ref,
                raw_sha256=rec.raw_sha256,
                warc_record_id=rec.record_id,
                discovered_via="file",
            )

    def close(self) -> None:
        pass
