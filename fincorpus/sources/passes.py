"""One crawl pass of one source, whatever its kind: the reader chosen, run, the pass closed, the facts returned.

``fincorpus.pipelines.ingest.crawl_source`` builds its ``CrawlResult`` from :func:`run_pass`; the command line and
the flows read the same :class:`~fincorpus.sources.base.CrawlReport` (limit hit, stop, unreachable hosts, cuts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fincorpus.sources.base import CrawlEvent, CrawlReport
from fincorpus.sources.dataset import DatasetReader
from fincorpus.sources.files import FilesReader
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import SourcesFile
from fincorpus.sources.warcfiles import WarcFilesReader
from fincorpus.sources.web import WebCrawler

Reader = WebCrawler | FilesReader | WarcFilesReader | DatasetReader


@dataclass
class PassOutcome:
    source_id: str
    pass_id: str
    resumed: bool
    report: CrawlReport
    crawled_passes: list[str]  # crawled, not yet staged passes of the source (this one included)
    outcomes: dict[str, int]  # crawl-log events per outcome over those passes, counted in the database


def make_reader(
    sources: SourcesFile,
    source_id: str,
    home: Path,
    state: CrawlState,
    pass_id: str,
    *,
    resumed: bool = False,
    progress: Callable[[CrawlEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> Reader:
    source = sources.get(source_id)
    base_dir = Path(sources.path).resolve().parent if sources.path else Path.cwd()
    if source.kind == "web":
        return WebCrawler(
            source, sources.crawler, home, state, pass_id, resumed=resumed, progress=progress, stop=stop
        )
    if source.kind == "files":
        return FilesReader(source, home, state, pass_id, base_dir, resumed=resumed, stop=stop)
    if source.kind == "warc":
        return WarcFilesReader(source, home, state, pass_id, base_dir, stop=stop)
    return DatasetReader(source, home, state, pass_id, base_dir, stop=stop)


def run_pass(
    sources: SourcesFile,
    source_id: str,
    home: Path,
    *,
    progress: Callable[[CrawlEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> PassOutcome:
    """Run (or resume) a crawl pass of one source and close it.

    Raises :class:`fincorpus.locks.LockHeld` when another process crawls the source (nothing was fetched) and
    :class:`~fincorpus.sources.base.CrawlStopped` when a stop was requested (the pass stays open and resumes).
    """
    state = CrawlState(home)
    pass_id, resumed = state.open_pass(source_id)
    reader = make_reader(
        sources, source_id, home, state, pass_id, resumed=resumed, progress=progress, stop=stop
    )
    try:
        report = reader.run()
    finally:
        reader.close()
    state.finish_pass(pass_id)
    passes = state.crawled_passes(source_id)
    return PassOutcome(source_id, pass_id, resumed, report, passes, state.outcome_counts(passes))
