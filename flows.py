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
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import SourcesFile, load_sources

SHARD_SIZE = 200


def _load(sources_path: str, proxy: str | None) -> SourcesFile:
    sources = load_sources(sources_path)
    if proxy:
        crawler = sources.crawler.model_copy(update={"proxy": proxy})
        sources = sources.model_copy(update={"crawler": crawler})
    return sources


@task(name="crawl-source", cache_policy=NONE)
def crawl_task(sources_path: str, proxy: str | None, source_id: str, home: str) -> dict[str, Any]:
    logger = get_run_logger()
    counts = {"fetched": 0}

    def progress(ev: CrawlEvent) -> None:
        if ev.outcome in ("fetched", "not-modified"):
            counts["fetched"] += 1
            if counts["fetched"] % 100 == 0:
                logger.info("%s: %d responses", source_id, counts["fetched"])
        elif ev.outcome in ("skipped-robots", "error", "retry"):
            logger.info("%s: %s %s (%s)", source_id, ev.outcome, ev.url, ev.detail)

    result = stages.crawl_source(_load(sources_path, proxy), source_id, Path(home), progress=progress)
    logger.info(
        "%s: passes %s%s; %s",
        source_id,
        result.pass_ids,
        " (resumed)" if result.resumed else "",
        result.outcomes,
    )
    return {"source_id": source_id, "pass_ids": result.pass_ids, "outcomes": result.outcomes}


@task(name="process-shard", cache_policy=NONE)
def process_task(
    sources_path: str, proxy: str | None, home: str, run_id: str, captures: list[dict]
) -> list[dict]:
    sources = _load(sources_path, proxy)
    caps = [Capture.from_json(c) for c in captures]
    return list(stages.process_captures(caps, sources, Path(home), run_id))


@task(name="dedup-licence-stage", cache_policy=NONE)
def finish_task(home: str, run_id: str, rows: list[dict], meta: dict, pass_ids: list[str]) -> dict[str, Any]:
    home_p = Path(home)
    known = {**CorpusCatalog(home_p).current_hashes(), **stages.pending_hashes(home_p)}
    index = stages.near_index(home_p)
    try:
        finished = stages.finish_rows(rows, known, index)
    finally:
        index.close()
    stages.write_crawl_logs(home_p, run_id, pass_ids)
    staged = stages.stage_rows(home_p, run_id, finished, {**meta, "pass_ids": pass_ids})
    CrawlState(home_p).mark_staged(pass_ids, run_id)
    return {"run_id": run_id, "path": str(staged.path), **staged.summary}


@flow(name="fincorpus-ingest", log_prints=True)
def ingest_flow(
    sources_path: str,
    source_ids: list[str] | None = None,
    home: str | None = None,
    proxy: str | None = None,
) -> dict[str, Any]:
    """Crawl (or resume) the chosen sources, then clean, deduplicate, tag and stage what changed as one run."""
    home_s = str(fincorpus_home(home))
    sources = _load(sources_path, proxy)
    ids = source_ids or [s.id for s in sources.sources if s.enabled]
    for sid in ids:
        if not sources.get(sid).enabled:
            raise ValueError(f"source {sid!r} is disabled: {sources.get(sid).disabled_reason}")
    run_id = stages.new_run_id()
    crawls = [crawl_task.submit(sources_path, proxy, sid, home_s) for sid in ids]
    shard_futures = []
    crawl_outcomes: dict[str, dict[str, int]] = {}
    pass_ids: list[str] = []
    for fut in crawls:
        res = fut.result()
        crawl_outcomes[res["source_id"]] = res["outcomes"]
        pass_ids += res["pass_ids"]
        captures = [c.to_json() for c in stages.pass_captures(Path(home_s), res["pass_ids"])]
        for part in stages.shard(captures, SHARD_SIZE):
            shard_futures.append(process_task.submit(sources_path, proxy, home_s, run_id, part))
    rows = [row for fut in shard_futures for row in fut.result()]
    meta = {"sources_path": str(Path(sources_path).resolve()), "source_ids": ids, "crawl": crawl_outcomes}
    summary = finish_task(home_s, run_id, rows, meta, pass_ids)
    summary["crawl"] = crawl_outcomes
    return summary


@flow(name="fincorpus-reprocess", log_prints=True)
def reprocess_flow(
    sources_path: str, source_ids: list[str] | None = None, home: str | None = None
) -> dict[str, Any]:
    """Re-run extraction and every later stage on the latest stored version of each URL: no network."""
    home_s = str(fincorpus_home(home))
    sources = _load(sources_path, None)
    ids = source_ids or [s.id for s in sources.sources if s.enabled]
    run_id = stages.new_run_id()
    state = CrawlState(Path(home_s))
    shard_futures = []
    counts: dict[str, dict[str, int]] = {}
    for sid in ids:
        captures = [c.to_json() for c in state.current_pages(sources.get(sid).id)]
        counts[sid] = {"stored": len(captures)}
        for part in stages.shard(captures, SHARD_SIZE):
            shard_futures.append(process_task.submit(sources_path, None, home_s, run_id, part))
    rows = [row for fut in shard_futures for row in fut.result()]
    meta = {"sources_path": str(Path(sources_path).resolve()), "source_ids": ids, "reprocess": True}
    summary = finish_task(home_s, run_id, rows, meta, [])
    summary["crawl"] = counts
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
