"""Local folders of HTML, text and PDF files, archived like fetched pages so provenance stays uniform.

Files go through the same crawl state as web pages: a file whose bytes did not change since the last pass creates
no new version, and an interrupted pass resumes with the files it had not committed yet.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from fincorpus.sources.archive import WarcArchive
from fincorpus.sources.base import CrawlEvent, ItemMeta
from fincorpus.sources.frontier import Completion, CrawlState, QueueItem, stored_version
from fincorpus.sources.registry import SourceConfig

FILE_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".pdf": "application/pdf"}


class FilesReader:
    def __init__(
        self,
        source: SourceConfig,
        home: Path,
        state: CrawlState,
        pass_id: str,
        base_dir: Path,
        *,
        resumed: bool = False,
    ) -> None:
        self.source = source
        self.state = state
        self.pass_id = pass_id
        self.resumed = resumed
        root = Path(source.path or "")
        self.root = root if root.is_absolute() else (base_dir / root)
        self.archive = WarcArchive(home, f"raw/{pass_id}/{source.id}-{state.segment(pass_id):03d}.warc.gz")

    def run(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"source {self.source.id!r}: path {self.root} is not a folder")
        files = sorted(p for p in self.root.rglob("*") if p.is_file())  # idempotent, see WebCrawler.run
        if files:
            self.state.enqueue(
                self.pass_id,
                [
                    (f.resolve().as_uri(), 0, "file", {"native_id": f.relative_to(self.root).as_posix()})
                    for f in files
                ],
            )
        count = self.state.documents_done(self.pass_id)
        while (item := self.state.next_item(self.pass_id)) is not None:
            self.state.complete(self.pass_id, self.source.id, item, self._handle(item, count))
            count += 1

    def _handle(self, item: QueueItem, count: int) -> Completion:
        now = datetime.now(UTC)
        path = Path(item.url.removeprefix("file://"))
        ctype = FILE_TYPES.get(path.suffix.lower())
        if ctype is None:
            return Completion(
                "not-document",
                [],
                [
                    CrawlEvent(
                        item.url, "not-document", f"unsupported file type {path.suffix!r}", at=now.isoformat()
                    )
                ],
            )
        if count >= self.source.max_pages:
            return Completion(
                "skipped-limit",
                [],
                [
                    CrawlEvent(
                        item.url, "skipped-limit", f"max_pages={self.source.max_pages}", at=now.isoformat()
                    )
                ],
            )
        try:
            body = path.read_bytes()
        except OSError as exc:
            return Completion("error", [], [CrawlEvent(item.url, "error", str(exc), at=now.isoformat())])
        memory = self.state.page(self.source.id, item.url)
        if memory is not None and memory.raw_sha256 == hashlib.sha256(body).hexdigest():
            return Completion(
                "unchanged",
                [],
                [
                    CrawlEvent(
                        item.url, "unchanged", "file bytes equal the stored version", at=now.isoformat()
                    )
                ],
                page=memory,
            )
        rec = self.archive.write_resource(url=item.url, fetched_at=now, content_type=ctype, body=body)
        event = CrawlEvent(item.url, "fetched", ctype, None, now.isoformat(), {"raw_ref": rec.raw_ref})
        return stored_version(
            source_id=self.source.id,
            url=item.url,
            content_type=ctype,
            headers={"content-type": ctype},
            fetched_at=now,
            record=rec,
            via="file",
            memory=memory,
            event=event,
            item=ItemMeta(native_id=item.meta.get("native_id")),
        )

    def close(self) -> None:
        self.archive.close()
