"""Prefect entry points: ingest, reprocess and publish flows, and scheduled deployments from a sources file.

The logic lives in ``fincorpus.pipelines``; this file only decides what runs as a task: one crawl task per source
(threads: crawling waits on the network and on per-host delays), one processing task per shard and one finalising
task per part (the flow's task runner: worker processes on one machine, so CPU-bound cleaning uses every core),
one dedup task per run. Tasks exchange references (shard specs, part paths, counts), never rows.

Serve the schedules of a sources file with ``python flows.py serve SOURCES.yaml``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fincorpus.prefect_env import configure_prefect, fincorpus_home

configure_prefect(fincorpus_home())

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from fincorpus.pipelines import ingest as stages
from fincorpus.pipelines.publish import publish as publish_staged
from fincorpus.settings import dask_address
from fincorpus.sources.base import CrawlEvent, CrawlStopped
from fincorpus.sources.registry import load_sources


def workers() -> int:
    """Worker processes for processing tasks on this machine (FINCORPUS_WORKERS, default: CPU count)."""
    return max(1, int(os.environ.get("FINCORPUS_WORKERS") or os.cpu_count() or 1))


def task_runner() -> Any:
    """The flow's task runner: a dask.distributed cluster when FINCORPUS_DASK_ADDRESS is set (``tcp://...`` an
    existing one, ``local:N`` a LocalCluster of N worker processes), else a pool of worker processes on this
    machine (one thread when FINCORPUS_WORKERS=1)."""
    addr = dask_address()
    if addr:
        import cloudpickle
        from prefect_dask import DaskTaskRunner

        # the tasks travel by value: workers need the fincorpus package, not this file on their path
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        if addr.startswith("local:"):
            n = int(addr.split(":", 1)[1] or workers())
            return DaskTaskRunner(
                cluster_class="distributed.LocalCluster",
                cluster_kwargs={
                    "n_workers": n,
                    "threads_per_worker": 2,
                    "processes": True,
                    "dashboard_address": None,
                },
            )
        return DaskTaskRunner(address=addr)
    n = workers()
    return ThreadPoolTaskRunner(max_workers=1) if n == 1 else ProcessPoolTaskRunner(max_workers=n)


def crawl_runner(n_sources: int) -> Any:
    """Where crawl tasks run: on the cluster when there is one (per-host politeness holds through the shared
    catalog database), else in threads of this process (crawling waits on the network, not the CPU)."""
    if dask_address():
        return None
    return ThreadPoolTaskRunner(max_workers=max(1, n_sources))


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

    sources = stages.load_sources_for(sources_path, proxy)
    try:
        result = stages.crawl_source(sources, source_id, Path(home), progress=progress)
    except CrawlStopped as exc:  # a requested stop is an outcome, not a failure: no traceback in the log
        logger.info("%s: %s", source_id, exc)
        return {"source_id": source_id, "stopped": str(exc), "pass_ids": [], "outcomes": {}}
    logger.info(
        "%s: passes %s%s; %s",
        source_id,
        result.pass_ids,
        " (resumed)" if result.resumed else "",
        result.outcomes,
    )
    facts = result.facts()
    if facts["limit_hit"]:
        logger.info("%s: %s", source_id, facts["limit_hit"])
    return {"source_id": source_id, "pass_ids": result.pass_ids, "outcomes": result.outcomes, **facts}


@task(name="site-templates", cache_policy=NONE)
def templates_task(
    sources_path: str, proxy: str | None, home: str, run_id: str, source_id: str, pass_ids: list[str]
) -> dict[str, str]:
    return stages.templates_stage(sources_path, proxy, Path(home), run_id, source_id, pass_ids)


@task(name="process-shard", cache_policy=NONE)
def process_task(sources_path: str, proxy: str | None, home: str, run_id: str, shard: dict) -> dict:
    spec = stages.ShardSpec.from_json(shard)
    done = stages.existing_part(Path(home), run_id, spec)  # a resumed run keeps the parts it wrote
    ref = done or stages.process_shard(sources_path, proxy, Path(home), run_id, spec)
    return ref.to_json()


@task(name="dedup-run", cache_policy=NONE)
def dedup_task(home: str, run_id: str, parts: list[dict]) -> dict:
    ref = stages.dedup_stage(Path(home), run_id, [stages.PartRef.from_json(p) for p in parts])
    return {"decisions": ref.decisions, "stats": ref.stats, "order": ref.order}


@task(name="finalise-part", cache_policy=NONE)
def finalise_task(home: str, run_id: str, part: dict, dedup: dict) -> dict:
    ref = stages.finalise_part(Path(home), run_id, stages.PartRef.from_json(part), stages.DedupRef(**dedup))
    return ref.to_json()


@task(name="source-gate", cache_policy=NONE)
def gate_task(home: str, run_id: str | None = None, tag: str | None = None) -> list[dict]:
    """TC260 source gate: pre-assessment of a staged run's new sources, or post-verification of a tag."""
    from fincorpus.pipelines import gate

    done = gate.pre_assess_run(Path(home), run_id) if run_id else gate.post_verify(Path(home), str(tag))
    for r in done:
        get_run_logger().info("source gate %s %s: %s", r.source_id, r.stage, r.reason)
    return [
        {"source_id": r.source_id, "stage": r.stage, "decision": r.decision, "rate": r.rate} for r in done
    ]


RESUBMITS = 2


def _settled(fut: Any, again: Callable[[], Any], what: str) -> Any:
    """The result of a task future. A Dask worker lost mid-run (killed, out of memory) makes Dask run its tasks
    again, and prefect-dask can then hand back a state that never finishes (PENDING "NotReady" when a re-run
    dependency was not seen complete, or RUNNING): ``result()`` would raise ``UnfinishedRun``. Such a task is
    submitted again as a new task run, up to RESUBMITS times; every task here is idempotent (a shard keeps the part
    it already wrote, a crawl resumes). A task that really failed raises its own error at once."""
    for attempt in range(RESUBMITS + 1):
        fut.wait()
        state = fut.state
        if state.is_final() or attempt == RESUBMITS:
            return fut.result()
        get_run_logger().warning(
            "%s was left %s (%s), as after a lost worker: submitting it again (%d of %d)",
            what,
            state.name,
            state.message or "no message",
            attempt + 1,
            RESUBMITS,
        )
        fut = again()
    raise AssertionError("unreachable")


def _settle_shards(
    sources_path: str,
    proxy: str | None,
    home_s: str,
    run_id: str,
    tpls: list[tuple[Any, Callable[[], Any], str]],
    parts: list[tuple[Any, dict]],
) -> list[dict]:
    """The part references of a run's processing shards. The site templates are settled first, so a shard
    submitted again needs no dependency on a template task that a lost worker took with it."""
    for fut, again, sid in tpls:
        _settled(fut, again, f"site-templates {sid}")

    def resubmit(spec: dict) -> Callable[[], Any]:
        return lambda: process_task.submit(sources_path, proxy, home_s, run_id, spec)

    return [
        _settled(fut, resubmit(spec), f"process-shard {spec.get('key')}:{spec.get('position')}")
        for fut, spec in parts
    ]


def _finish(home_s: str, run_id: str, parts: list[dict], meta: dict, pass_ids: list[str]) -> dict[str, Any]:
    """Dedup, finalise and stage the run (inside the flow, on its task runner)."""
    dedup = _settled(
        dedup_task.submit(home_s, run_id, parts), lambda: dedup_task.submit(home_s, run_id, parts), "dedup"
    )

    def finalise(p: dict) -> Any:
        return finalise_task.submit(home_s, run_id, p, dedup)

    futures = [finalise(p) for p in parts]  # all submitted before any is waited on
    finals = [
        _settled(f, lambda p=p: finalise(p), f"finalise-part {p.get('name', '?')}")
        for f, p in zip(futures, parts, strict=True)
    ]
    staged = stages.stage_run(
        Path(home_s),
        run_id,
        [stages.FinalRef(**f) for f in finals],
        meta,
        pass_ids,
        stages.DedupRef(**dedup),
        [stages.PartRef.from_json(p) for p in parts],
    )
    # TC260 pre-assessment of the run's first-crawl sources, in the flow's process: the reports go under this
    # machine's home (HOME/compliance), which pulls read; a Dask worker's home is another machine's folder
    gate = gate_task(home_s, run_id)
    return {"run_id": run_id, "path": str(staged.path), **staged.summary, "gate": gate}


@flow(name="fincorpus-ingest", log_prints=True, task_runner=task_runner())
def ingest_flow(
    sources_path: str,
    source_ids: list[str] | None = None,
    home: str | None = None,
    proxy: str | None = None,
) -> dict[str, Any]:
    """Crawl (or resume) the chosen sources, then clean, deduplicate, tag and stage what changed as one run."""
    home_p = fincorpus_home(home)
    home_s = str(home_p)
    sources = stages.load_sources_for(sources_path, proxy)
    ids = source_ids or [s.id for s in sources.sources if s.enabled]
    for sid in ids:
        if not sources.get(sid).enabled:
            raise ValueError(f"source {sid!r} is disabled: {sources.get(sid).disabled_reason}")
    crawl_outcomes: dict[str, dict[str, int]] = {}
    pass_ids: list[str] = []
    parts: list[tuple[Any, dict]] = []  # (future, shard spec)
    tpls: list[tuple[Any, Callable[[], Any], str]] = []  # (future, how to submit it again, source id)
    run_id: str | None = None
    stopped: list[str] = []
    local_crawls = crawl_runner(len(ids))
    with local_crawls or contextlib.nullcontext():
        crawls = [
            local_crawls.submit(
                crawl_task, {"sources_path": sources_path, "proxy": proxy, "source_id": sid, "home": home_s}
            )
            if local_crawls is not None
            else crawl_task.submit(sources_path, proxy, sid, home_s)
            for sid in ids
        ]
        again = {
            fut.task_run_id: (lambda sid=sid: crawl_task.submit(sources_path, proxy, sid, home_s))
            for fut, sid in zip(crawls, ids, strict=True)
        }
        for fut in as_completed(crawls):
            res = fut.result() if local_crawls is not None else _settled(fut, again[fut.task_run_id], "crawl")
            if res.get("stopped"):
                stopped.append(res["stopped"])
                continue
            crawl_outcomes[res["source_id"]] = {
                **res["outcomes"],
                "limit_hit": res.get("limit_hit"),
                "unchanged_file_records": res.get("unchanged_file_records", 0),
                "unreachable": res.get("unreachable", False),
                "unreachable_hosts": res.get("unreachable_hosts", []),
                "cut": res.get("cut", []),
                "seconds": res.get("seconds"),
            }
            pass_ids += res["pass_ids"]
            if run_id is None:
                run_id, _ = stages.open_run(home_p, res["pass_ids"])
            stages.note_passes(home_p, run_id, res["pass_ids"])
            tpl_args = (sources_path, proxy, home_s, run_id, res["source_id"], res["pass_ids"])
            tpl = templates_task.submit(*tpl_args)
            tpls.append((tpl, lambda a=tpl_args: templates_task.submit(*a), res["source_id"]))
            for shard in stages.plan_pass_shards(home_p, res["pass_ids"], workers=workers()):
                spec = shard.to_json()
                fut = process_task.submit(sources_path, proxy, home_s, run_id, spec, wait_for=[tpl])
                parts.append((fut, spec))
    if (
        stopped
    ):  # every reader was asked to stop: the shards already running finish and are kept for the resume
        for p, _spec in parts:
            p.wait()
        return {"stopped": stopped, "run_id": run_id}
    if run_id is None:
        run_id, _ = stages.open_run(home_p, [])
    part_refs = _settle_shards(sources_path, proxy, home_s, run_id, tpls, parts)
    meta = {"sources_path": str(Path(sources_path).resolve()), "source_ids": ids, "crawl": crawl_outcomes}
    summary = _finish(home_s, run_id, part_refs, meta, sorted(set(pass_ids)))
    summary["crawl"] = crawl_outcomes
    return summary


@flow(name="fincorpus-reprocess", log_prints=True, task_runner=task_runner())
def reprocess_flow(
    sources_path: str, source_ids: list[str] | None = None, home: str | None = None
) -> dict[str, Any]:
    """Re-run extraction and every later stage on the latest stored version of each URL: no network."""
    home_p = fincorpus_home(home)
    home_s = str(home_p)
    sources = stages.load_sources_for(sources_path, None)
    ids = source_ids or [s.id for s in sources.sources if s.enabled]
    run_id = stages.new_run_id()
    stages.staging(home_p).write_json(f"{run_id}/plan.json", {"pass_ids": [], "kind": "reprocess"})
    shards = stages.plan_page_shards(home_p, [sources.get(s).id for s in ids], workers=workers())
    counts: dict[str, dict[str, int]] = {}
    for sh in shards:
        counts.setdefault(sh.key, {"stored": 0})
    tpls: list[tuple[Any, Callable[[], Any], str]] = []
    for sid in counts:
        args = (sources_path, None, home_s, run_id, sid, [])
        tpls.append((templates_task.submit(*args), lambda a=args: templates_task.submit(*a), sid))
    waits = [t for t, _, _ in tpls]
    futures: list[tuple[Any, dict]] = []
    for sh in shards:
        spec = sh.to_json()
        futures.append((process_task.submit(sources_path, None, home_s, run_id, spec, wait_for=waits), spec))
    parts = _settle_shards(sources_path, None, home_s, run_id, tpls, futures)
    for p, sh in zip(parts, shards, strict=True):
        counts[sh.key]["stored"] += p["rows"]
    meta = {"sources_path": str(Path(sources_path).resolve()), "source_ids": ids, "reprocess": True}
    summary = _finish(home_s, run_id, parts, meta, [])
    summary["crawl"] = counts
    return summary


@flow(name="fincorpus-publish")
def publish_flow(
    tag: str, home: str | None = None, force: bool = False, allow_empty: bool = False
) -> dict[str, Any]:
    """Commit every staged run to the catalog and tag the snapshot (one atomic commit)."""
    res = publish_staged(fincorpus_home(home), tag, force=force, allow_empty=allow_empty)
    # TC260 post-verification of the published sources
    gate = [] if res.already_done else gate_task(str(fincorpus_home(home)), tag=res.tag.tag)
    return {
        "gate": gate,
        "tag": res.tag.tag,
        "snapshot_id": res.tag.snapshot_id,
        "documents": res.tag.documents,
        "removed": res.tag.removed,
        "runs": res.runs,
        "documents_added": res.documents_added,
        "removed_added": res.removed_added,
        "recovered": res.recovered,
        "already_done": res.already_done,
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
