"""Prefect entry points: ingest and publish flows, and scheduled deployments from a sources file.

The logic lives in ``fincorpus.pipelines``; this file only decides what runs as a task, per source and per
shard of captures. Serve the schedules of a sources file with ``python flows.py serve SOURCES.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fincorpus.prefect_env import configure_prefect, fincorpus_home

configure_prefect(fincorpus_home())

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from fincorpus.catalog.store import CorpusCatalog
from fincorpus.pipelines import ingest as stages
from fincorpus.pipelines.publish import publish as publish_staged
from fincorpus.sources.base import Capture, CrawlEvent
from fincorpus.sources.registry import SourcesFile, load_sources

SHARD_SIZE = 200


def _load(sources_path: str, proxy: str | None) -> SourcesFile:
    sources = load_sources(sources_path)
    if proxy:
        crawler = sources.crawler.model_copy(update={"proxy": proxy})
        sources = sources.model_copy(update={"crawler": crawler})
    return sources


@task(name="crawl-source", cache_policy=NONE)
def crawl_task(
    sources_path: str, proxy: str | None, source_id: str, home: str, run_id: str
) -> dict[str, Any]:
    logger = get_run_logger()
    counts = {"fetched": 0}

    def progress(ev: CrawlEvent) -> None:
        if ev.outcome == "fetched":
            counts["fetched"] += 1
            if counts["fetched"] % 100 == 0:
                logger.info("%s: %d responses fetched", source_id, counts["fetched"])
        elif ev.outcome in ("skipped-robots", "error"):
            logger.info("%s: %s %s (%s)", source_id, ev.outcome, ev.url, ev.detail)

    sources = _load(sources_path, proxy)
    result = stages.crawl_source(sources, source_id, Path(home), run_id, progress=progress)
    outcomes: dict[str, int] = {}
    for ev in result.events:
        outcomes[ev.outcome] = outcomes.get(ev.outcome, 0) + 1
    logger.info("%s: %d captures; %s", source_id, len(result.captures), outcomes)
    return {"source_id": source_id, "captures": [c.to_json() for c in result.captures], "outcomes": outcomes}


@task(name="process-shard", cache_policy=NONE)
def process_task(
    sources_path: str, proxy: str | None, home: str, run_id: str, captures: list[dict]
) -> list[dict]:
    sources = _load(sources_path, proxy)
    caps = [Capture.from_json(c) for c in captures]
    return list(stages.process_captures(caps, sources, Path(home), run_id))


@task(name="dedup-licence-stage", cache_policy=NONE)
def finish_task(home: str, run_id: str, rows: list[dict], meta: dict) -> dict[str, Any]:
    home_p = Path(home)
    known = {**CorpusCatalog(home_p).current_hashes(), **stages.pending_hashes(home_p)}
    finished = stages.finish_rows(rows, known)
    staged = stages.stage_rows(home_p, run_id, finished, meta)
    return {"run_id": run_id, "path": str(staged.path), **staged.summary}


@flow(name="fincorpus-ingest", log_prints=True)
def ingest_flow(
    sources_path: str,
    source_ids: list[str] | None = None,
    home: str | None = None,
    proxy: str | None = None,
) -> dict[str, Any]:
    """Crawl the chosen sources (all enabled ones by default), clean, deduplicate, tag and stage one run."""
    home_s = str(fincorpus_home(home))
    sources = _load(sources_path, proxy)
    ids = source_ids or [s.id for s in sources.sources if s.enabled]
    for sid in ids:
        if not sources.get(sid).enabled:
            raise ValueError(f"source {sid!r} is disabled: {sources.get(sid).disabled_reason}")
    run_id = stages.new_run_id()
    crawls = [crawl_task.submit(sources_path, proxy, sid, home_s, run_id) for sid in ids]
    shard_futures = []
    crawl_outcomes: dict[str, dict[str, int]] = {}
    for fut in crawls:
        res = fut.result()
        crawl_outcomes[res["source_id"]] = res["outcomes"]
        for part in stages.shard(res["captures"], SHARD_SIZE):
            shard_futures.append(process_task.submit(sources_path, proxy, home_s, run_id, part))
    rows = [row for fut in shard_futures for row in fut.result()]
    meta = {"sources_path": str(Path(sources_path).resolve()), "source_ids": ids, "crawl": crawl_outcomes}
    summary = finish_task(home_s, run_id, rows, meta)
    summary["crawl"] = crawl_outcomes
    return summary


@flow(name="fincorpus-publish")
def publish_flow(
    tag: str, home: str | None = None, force: bool = False, allow_empty: bool = False
) -> dict[str, Any]:
    """Commit every staged run to the catalog and tag the snapshot."""
    res = publish_staged(fincorpus_home(home), tag, force=force, allow_empty=allow_empty)
    return {
        "tag": res.tag.tag,
        "snapshot_id": res.tag.snapshot_id,
        "documents": res.tag.documents,
        "removed": res.tag.removed,
        "runs": res.runs,
        "documents_added": res.documents_added,
        "removed_added": res.removed_added,
    }


def deployments(sources_path: str) -> list[Any]:
    """One scheduled ingest deployment per enabled source that declares a cron ``schedule``."""
    sources = load_sources(sources_path)
    path = str(Path(sources_path).resolve())
    return [
        ingest_flow.to_deployment(
            name=f"ingest-{s.id}",
            cron=s.schedule,
            parameters={"sources_path": path, "source_ids": [s.id]},
            tags=["fincorpus", s.kind, s.licence],
        )
        for s in sources.sources
        if s.enabled and s.schedule
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        from prefect import serve

        serve(*deployments(sys.argv[2]))
    else:
        print("usage: python flows.py serve SOURCES.yaml", file=sys.stderr)
        sys.exit(2)
