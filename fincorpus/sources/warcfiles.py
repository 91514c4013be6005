"""WARC/WARC.gz files from elsewhere (e.g. Common Crawl extracts), filtered by the source's URL patterns.

Matching HTML/PDF/text responses are copied into our own archive (so every raw_ref stays under FINCORPUS_HOME)
and committed one record at a time; a resumed pass rescans the files and skips records it already committed.
robots.txt cannot be re-checked for captures made by someone else: the source's legal_basis must cover that.
"""

from __future__ import annotations

import glob
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from fincorpus.sources.archive import WarcArchive
from fincorpus.sources.base import CrawlEvent
from fincorpus.sources.frontier import Completion, CrawlState, stored_version
from fincorpus.sources.registry import SourceConfig
from fincorpus.sources.web import DOCUMENT_TYPES, media_type, normalize_url


def resolve_paths(patterns: list[str], base_dir: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base_dir / pattern)
        matches = sorted(Path(p) for p in glob.glob(full, recursive=True))
        if not matches:
            raise FileNotFoundError(f"no WARC file matches {pattern!r} (relative to {base_dir})")
        files += matches
    return files


class WarcFilesReader:
    def __init__(
        self, source: SourceConfig, home: Path, state: CrawlState, pass_id: str, base_dir: Path
    ) -> None:
        self.source = source
        self.state = state
        self.pass_id = pass_id
        self.files = resolve_paths(source.paths, base_dir)
        self.archive = WarcArchive(home, f"raw/{pass_id}/{source.id}-{state.segment(pass_id):03d}.warc.gz")

    def run(self) -> None:
        done = self.state.done_urls(self.pass_id)
        count = len(done)
        for path in self.files:
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh):
                    if record.rec_type != "response" or record.http_headers is None:
                        continue
                    url = normalize_url(record.rec_headers.get_header("WARC-Target-URI") or "")
                    status = int(record.http_headers.get_statuscode() or 0)
                    mtype = media_type(record.http_headers.get_header("Content-Type"))
                    if (
                        url in done
                        or status != 200
                        or mtype not in DOCUMENT_TYPES
                        or not self.source.allowed_url(url)
                    ):
                        continue
                    if count >= self.source.max_pages:
                        return
                    offset = record.offset if hasattr(record, "offset") else None
                    body = record.content_stream().read()
                    self.state.record(
                        self.pass_id,
                        self.source.id,
                        url,
                        "warc-file",
                        self._capture(path, record, url, mtype, body, offset),
                    )
                    done.add(url)
                    count += 1

    def _capture(
        self, path: Path, record, url: str, mtype: str, body: bytes, offset: int | None
    ) -> Completion:  # type: ignore[no-untyped-def]
        date = record.rec_headers.get_header("WARC-Date") or ""
        try:
            fetched_at = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            fetched_at = datetime.now(UTC)
        # Stored decoded: the original framing and content coding are not part of the copy.
        headers = [
            (k, v)
            for k, v in record.http_headers.headers
            if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
        ]
        rec = self.archive.write_exchange(
            url=url,
            fetched_at=fetched_at,
            request_headers=[
                ("X-Fincorpus-Origin", f"{path.name} {record.rec_headers.get_header('WARC-Record-ID')}")
            ],
            status=200,
            reason="OK",
            response_headers=headers,
            wire_body=body,
            decoded_body=body,
        )
        memory = self.state.page(self.source.id, url)
        sha = hashlib.sha256(body).hexdigest()
        origin = f"warc:{path.name}" + (f"#{offset}" if offset is not None else "")
        event = CrawlEvent(
            url,
            "fetched",
            f"{mtype} from {origin}",
            200,
            datetime.now(UTC).isoformat(),
            {"raw_ref": rec.raw_ref},
        )
        if memory is not None and memory.raw_sha256 == sha:
            return Completion("unchanged", [], [event], page=memory)
        return stored_version(
            source_id=self.source.id,
            url=url,
            content_type=mtype,
            headers={k.lower(): v for k, v in headers},
            fetched_at=fetched_at,
            record=rec,
            via=origin,
            memory=memory,
            event=event,
        )

    def close(self) -> None:
        self.archive.close()
