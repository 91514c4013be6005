"""The ``fincorpus`` command: sources, ingest, publish, snapshots, pull, verify, show, demo.

Every failure the user can fix is one line on stderr naming what, where and what to do, with exit code 2;
nothing is written to the catalog before the input has been checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fincorpus.catalog.store import CatalogError
from fincorpus.dedup.index import IndexConfigError
from fincorpus.locks import LockHeld
from fincorpus.prefect_env import configure_prefect, fincorpus_home, prefect_api
from fincorpus.schema import SchemaError
from fincorpus.sources.archive import RawRefError
from fincorpus.sources.base import CrawlStopped
from fincorpus.sources.registry import SourcesError, load_sources

app = typer.Typer(
    help="Build the Shanghai financial corpus: crawl, clean, deduplicate, licence-tag, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="Check and list the sources declared in a sources file.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")

console = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
USER_ERRORS = (
    SourcesError,
    CatalogError,
    RawRefError,
    SchemaError,
    IndexConfigError,
    LockHeld,
    FileNotFoundError,
    NotADirectoryError,
    ValueError,
)

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Corpus home (catalog, warehouse, raw WARCs). Default: $FINCORPUS_HOME or ./fincorpus-home",
    ),
]
SourcesOpt = Annotated[Path, typer.Option("--sources", "-s", help="Sources YAML file")]
DaskOpt = Annotated[
    str | None,
    typer.Option(
        "--dask-address",
        help="Run tasks on a dask.distributed cluster: tcp://scheduler:8786, or local:N for N local workers "
        "(default: $FINCORPUS_DASK_ADDRESS, else worker processes on this machine)",
    ),
]


def _use_dask(address: str | None) -> None:
    """--dask-address is FINCORPUS_DASK_ADDRESS for this command (read when flows.py is imported)."""
    if address:
        if not (address.startswith(("tcp://", "tls://")) or address.startswith("local:")):
            raise CatalogError(f"--dask-address {address!r}: use tcp://host:port or local:N")
        os.environ["FINCORPUS_DASK_ADDRESS"] = address


def user_errors(fn: F) -> F:
    """Turn expected failures into one clear line and exit code 2 instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            fail(str(exc))
        except CrawlStopped as exc:
            err.print(f"[bold yellow]stopped:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err.print(
                "[bold yellow]interrupted:[/] crawl state and finished shards are saved; run the same command "
                "again to resume",
                highlight=False,
            )
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int = 2) -> None:
    """One line on stderr (the message's brackets are text, not markup) and the exit code."""
    err.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"fincorpus {version('fincorpus')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Build the Shanghai financial corpus: crawl, clean, deduplicate, licence-tag, publish."""


def _home(home: Path | None) -> Path:
    """The corpus home for a command that writes; FINCORPUS_HOME is set for flows and worker processes."""
    h = fincorpus_home(home)
    os.environ["FINCORPUS_HOME"] = str(h)
    configure_prefect(h)
    return h


def _existing_home(home: Path | None) -> Path:
    """The corpus home for a command that only reads: it must exist (a mistyped --home is an error)."""
    from fincorpus.settings import catalog_is_sqlite

    h = fincorpus_home(home)
    if catalog_is_sqlite(h) and not (h / "catalog.db").is_file():
        raise CatalogError(
            f"no corpus at {h} (no catalog.db); check --home / FINCORPUS_HOME, or create one with "
            "`fincorpus ingest` and `fincorpus publish`"
        )
    return h


def _flows() -> Any:
    """Import flows.py only after the Prefect environment is set (it reads settings at import)."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import flows

    return flows


# -- sources ----------------------------------------------------------------------------------------------------


@sources_app.command("check")
@user_errors
def sources_check(sources: SourcesOpt) -> None:
    """Validate a sources file; exit 2 with the file, source and field of the first problems."""
    sf = load_sources(sources)
    enabled = sum(1 for s in sf.sources if s.enabled)
    for w in sf.warnings():
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    console.print(f"[green]ok[/] {escape(str(sources))}: {len(sf.sources)} sources ({enabled} enabled)")


@sources_app.command("list")
@user_errors
def sources_list(sources: SourcesOpt) -> None:
    """Show the sources of a sources file with kind, licence and schedule."""
    sf = load_sources(sources)
    t = Table("id", "name", "kind", "enabled", "licence", "schedule", "seeds / path", title=str(sources))
    for s in sf.sources:
        t.add_row(
            s.id,
            s.name,
            s.kind,
            "yes" if s.enabled else f"no: {s.disabled_reason}",
            s.licence,
            s.schedule or "-",
            ", ".join(s.seeds + s.sitemaps + s.feeds) or (s.path or "-"),
        )
    console.print(t)


# -- ingest / publish -----------------------------------------------------------------------------------------


def _print_ingest(summary: dict[str, Any]) -> None:
    """The per-source table, limits hit and unreachable sources, then the run line; exit 3 if nothing answered."""
    t = Table(
        "source",
        "fetched",
        "304",
        "same hash",
        "robots skip",
        "refused",
        "retries",
        "errors",
        "kept",
        title="ingest (per source)",
    )
    crawl = summary.get("crawl", {})
    for sid, o in crawl.items():
        t.add_row(
            sid,
            str(o.get("fetched", o.get("stored", 0))),
            str(o.get("not-modified", 0)),
            str(o.get("unchanged", 0) + o.get("unchanged_file_records", 0)),
            str(o.get("skipped-robots", 0)),
            str(o.get("refused-address", 0) + o.get("skipped-outside", 0)),
            str(o.get("retry", 0)),
            str(o.get("error", 0) + o.get("http-error", 0) + o.get("integrity", 0)),
            str(summary["by_source"].get(sid, 0)),
        )
    console.print(t)
    for sid, o in crawl.items():
        if o.get("limit_hit"):
            console.print(f"[yellow]limit:[/] {escape(sid)}: {escape(str(o['limit_hit']))}", highlight=False)
        if o.get("unreachable"):
            hosts = ", ".join(o.get("unreachable_hosts") or []) or "its hosts"
            console.print(
                f"[red]unreachable:[/] {escape(sid)}: no answer from {escape(hosts)}", highlight=False
            )
        for cut in (o.get("cut") or [])[:3]:
            console.print(f"[yellow]cut:[/] {escape(sid)}: {escape(str(cut))}", highlight=False)
    console.print(
        f"run [bold]{summary['run_id']}[/] staged: {summary['documents']} documents, {summary['removed']} removed "
        f"{summary['removed_by_stage']}, exact duplicates {summary['exact_duplicates']}, opted out of training "
        f"{summary['opted_out']}. Publish with `fincorpus publish --tag TAG`."
    )
    _print_gate(summary.get("gate") or [])
    web = [o for o in crawl.values() if "unreachable" in o]
    if web and all(o.get("unreachable") for o in web):
        fail(
            "no source could be reached (see the table above); check the network, --proxy or the seeds",
            code=3,
        )


def _stopped(summary: dict[str, Any]) -> None:
    """An ingest whose crawlers stopped on request: say so per source and exit 130 (nothing was staged)."""
    for line in summary.get("stopped") or []:
        err.print(f"[bold yellow]stopped:[/] {escape(line)}", highlight=False)
    if summary.get("stopped"):
        raise typer.Exit(130)


def _stop_on_interrupt() -> None:
    """First Ctrl-C (or SIGTERM): ask crawlers to stop between requests and save their state; second: abort."""
    import signal

    from fincorpus.sources.base import request_stop

    def handler(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and getattr(handler, "seen", False):
            raise KeyboardInterrupt
        handler.seen = True  # type: ignore[attr-defined]
        request_stop()
        err.print(
            "stopping: finishing the requests in flight and saving the crawl state (Ctrl-C again to abort)"
        )

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@app.command()
@user_errors
def ingest(
    sources: SourcesOpt,
    source_ids: Annotated[
        list[str] | None, typer.Argument(help="Source ids to crawl (default: all enabled)")
    ] = None,
    proxy: Annotated[
        str | None, typer.Option(help="Forward proxy for every request (overrides the file)")
    ] = None,
    dask_address: DaskOpt = None,
    home: HomeOpt = None,
) -> None:
    """Crawl, clean, deduplicate and licence-tag sources into a staged run (Prefect flow)."""
    _use_dask(dask_address)
    h = _home(home)
    sf = load_sources(sources)  # validate before starting Prefect
    for sid in source_ids or []:
        sf.get(sid)
    for w in sf.warnings():
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    _stop_on_interrupt()
    with prefect_api(h, warm=_flows):
        summary = _flows().ingest_flow(str(sources), source_ids or None, str(h), proxy)
    _stopped(summary)
    _print_ingest(summary)


@app.command()
@user_errors
def crawl(
    sources: SourcesOpt,
    source_ids: Annotated[list[str] | None, typer.Argument(help="Source ids (default: all enabled)")] = None,
    proxy: Annotated[
        str | None, typer.Option(help="Forward proxy for every request (overrides the file)")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Crawl (or resume crawling) without Prefect and without processing; the next ingest processes the result."""
    from fincorpus.pipelines.ingest import crawl_source

    h = fincorpus_home(home)
    sf = load_sources(sources)
    if proxy:
        sf = sf.model_copy(update={"crawler": sf.crawler.model_copy(update={"proxy": proxy})})
    ids = source_ids or [s.id for s in sf.sources if s.enabled]
    for sid in ids:
        sf.get(sid)
    _stop_on_interrupt()
    t = Table("source", "passes awaiting ingest", "resumed", "outcomes", title="crawl")
    for sid in ids:
        with console.status(f"crawling {sid} ..."):
            res = crawl_source(sf, sid, h)
        t.add_row(
            sid, ", ".join(res.pass_ids), "yes" if res.resumed else "no", escape(json.dumps(res.outcomes))
        )
        if res.report and res.report.limit_hit:
            console.print(f"[yellow]limit:[/] {escape(sid)}: {escape(res.report.limit_hit)}", highlight=False)
    console.print(t)


@app.command()
@user_errors
def reprocess(
    sources: SourcesOpt,
    source_ids: Annotated[list[str] | None, typer.Argument(help="Source ids (default: all enabled)")] = None,
    dask_address: DaskOpt = None,
    home: HomeOpt = None,
) -> None:
    """Re-run extraction and all later stages from the stored WARC records (no network); stages a new run."""
    _use_dask(dask_address)
    h = _home(home)
    sf = load_sources(sources)
    for sid in source_ids or []:
        sf.get(sid)
    with prefect_api(h, warm=_flows):
        summary = _flows().reprocess_flow(str(sources), source_ids or None, str(h))
    _print_ingest(summary)


@app.command()
@user_errors
def publish(
    tag: Annotated[str, typer.Option("--tag", "-t", help="Name for the new corpus version")],
    force: Annotated[
        bool, typer.Option(help="Move the tag if it exists (old snapshot stays in history)")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option(help="Tag the current state even if nothing is staged")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Commit all staged runs to the catalog and tag the snapshot."""
    from fincorpus.catalog.store import check_tag_name
    from fincorpus.pipelines.ingest import pending_runs

    check_tag_name(tag)
    h = _home(home)
    staged = pending_runs(h)
    if (
        h / "catalog.db"
    ).is_file() and not force:  # refuse before starting anything, unless there is work to finish
        from fincorpus.catalog.store import CorpusCatalog

        catalog = CorpusCatalog(h)
        committed = catalog.committed_runs()
        if tag in catalog.table.refs() and not any(committed.get(r) == tag for r in staged):
            catalog.check_tag_free(tag, force)
    from fincorpus.catalog.erasure import pending as takedowns_pending

    if not staged and not allow_empty and not takedowns_pending(h):  # a takedown alone is worth a snapshot
        raise CatalogError(
            "nothing staged to publish; run `fincorpus ingest` first (or pass --allow-empty to tag the current state)"
        )
    with prefect_api(h, warm=_flows):
        res = _flows().publish_flow(tag, str(h), force, allow_empty)
    if res["recovered"]:
        console.print(f"finished the interrupted publish of run(s) {', '.join(res['recovered'])}")
    if res["already_done"]:
        console.print(
            f"[bold]{res['tag']}[/] was already committed (snapshot {res['snapshot_id']}); nothing more to do"
        )
        return
    console.print(
        f"published [bold]{res['tag']}[/] (snapshot {res['snapshot_id']}): {res['documents']} documents, "
        f"{res['removed']} removed records; runs {', '.join(res['runs']) or 'none'}"
    )
    _print_gate(res.get("gate") or [])


@app.command("dedup-index")
@user_errors
def dedup_index(
    rebuild: Annotated[bool, typer.Option(help="Rebuild the near-duplicate index from the catalog")] = False,
    home: HomeOpt = None,
) -> None:
    """Show (or rebuild) the persistent near-duplicate index that new documents are checked against."""
    from fincorpus.pipelines.ingest import near_index
    from fincorpus.pipelines.publish import rebuild_near_index

    h = fincorpus_home(home)
    if rebuild:
        with console.status("rebuilding the near-duplicate index ..."):
            n = rebuild_near_index(h)
        console.print(f"rebuilt {h / 'near-index.sqlite'}: {n} documents")
        return
    index = near_index(h)
    try:
        console.print(
            f"{index.path}: {len(index)} documents, {index.cfg.bands} bands x {index.cfg.rows} rows"
        )
    finally:
        index.close()


@app.command()
@user_errors
def snapshots(home: HomeOpt = None) -> None:
    """List tagged corpus versions with their document counts."""
    from fincorpus.catalog.store import CorpusCatalog

    tags = CorpusCatalog(_existing_home(home), create=False).tags()
    if not tags:
        console.print("no tagged snapshots yet; run `fincorpus ingest` then `fincorpus publish --tag TAG`")
        return
    t = Table("tag", "snapshot id", "documents", "removed", "committed (UTC)")
    for info in tags:
        t.add_row(
            info.tag,
            str(info.snapshot_id),
            str(info.documents),
            str(info.removed),
            info.committed_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(t)


@app.command()
@user_errors
def pull(
    tag: Annotated[str, typer.Argument(help="Snapshot tag (see `fincorpus snapshots`)")],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Folder (or s3://bucket/prefix) to write Parquet files, manifest and cards into",
        ),
    ],
    usage: Annotated[
        str | None,
        typer.Option(help="Only documents allowed for this use: research|train|commercial|redistribute"),
    ] = None,
    licence: Annotated[list[str] | None, typer.Option(help="Only these licence classes (repeatable)")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only these source ids (repeatable)")] = None,
    min_finance_score: Annotated[
        float | None, typer.Option(help="Only documents whose finance_score is at least this (0-1)")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace an earlier pull in --out (a folder holding anything else is refused)"),
    ] = False,
    destination: Annotated[
        str | None,
        typer.Option(
            help="domestic (default) or cross-border: leave out categories the negative list excludes"
        ),
    ] = None,
    negative_list: Annotated[
        Path | None,
        typer.Option(help="Negative list YAML for --destination cross-border (default: Shanghai FTZ)"),
    ] = None,
    include_taken_down: Annotated[
        bool, typer.Option(help="Keep documents a takedown covers (legal team only; the pull is logged)")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Write a snapshot as datasets-loadable Parquet plus manifest.json and a dataset card."""
    from fincorpus.catalog.export import pull as do_pull

    res = do_pull(
        _existing_home(home),
        tag,
        out if out.startswith(("s3://", "s3a://")) else Path(out),
        usage=usage,
        licences=licence,
        sources=source,
        min_finance_score=min_finance_score,
        overwrite=overwrite,
        destination=destination,
        negative_list=negative_list,
        include_taken_down=include_taken_down,
    )
    console.print(f"pulled [bold]{tag}[/]: {res.rows} documents in {len(res.files)} file(s) -> {res.out}")
    for line in res.stats.get("compliance", []):  # takedowns, source gate, cross-border
        console.print(f"  {escape(line)}", highlight=False)
    for line in res.stats.get("publication", []):
        console.print(f"  {escape(line)}", highlight=False)
    console.print(f'load with: datasets.load_dataset("parquet", data_dir="{res.out}", split="train")')


@app.command()
@user_errors
def verify(
    folder: Annotated[Path, typer.Argument(help="A folder written by `fincorpus pull`")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help="The publisher's public key (PEM file) or its fingerprint sm3:...; pins who signed"
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Also check the snapshot id against this corpus home's catalog"),
    ] = None,
) -> None:
    """Check a pulled snapshot offline: SM2 signature, key, every file's SHA-256/SM3/rows/schema, no extra files."""
    from fincorpus.catalog.manifest import verify_folder

    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; pass a folder written by `fincorpus pull`")
    expected: str | Path | None = None
    if key is not None:
        expected = key if key.strip().startswith("sm3:") else Path(key)
        if isinstance(expected, Path) and not expected.is_file():
            raise FileNotFoundError(
                f"--key {key}: no such file; pass a public key PEM file or sm3:<fingerprint>"
            )
    tags = None
    if home is not None:
        if not (home / "catalog.db").is_file():
            raise FileNotFoundError(f"--home {home}: no catalog.db there; omit --home to verify without it")
        from fincorpus.catalog.store import CorpusCatalog

        tags = {t.tag: t.snapshot_id for t in CorpusCatalog(home).tags()}
    rep = verify_folder(folder, expected_key=expected, catalog_tags=tags)
    for line in rep.checked:
        console.print(f"[green]checked[/] {line}", highlight=False, soft_wrap=True)
    if rep.problems:
        for p in rep.problems:
            err.print(f"[red]mismatch:[/] {p}", highlight=False, soft_wrap=True)
        err.print(f"[bold red]NOT verified[/] {folder}: {len(rep.problems)} problem(s)", soft_wrap=True)
        raise typer.Exit(1)
    console.print(
        f"[green]verified[/] {folder}: signed manifest, every file matches", highlight=False, soft_wrap=True
    )
    if not rep.key_pinned:
        console.print(
            f"[yellow]note:[/] signed by {rep.fingerprint}; pass --key with the publisher's public key or "
            "fingerprint to check who signed it",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
@user_errors
def show(
    key: Annotated[str, typer.Argument(help="doc_id or URL")],
    tag: Annotated[str | None, typer.Option(help="Look in this snapshot (default: current state)")] = None,
    text: Annotated[bool, typer.Option(help="Print the full text too")] = False,
    home: HomeOpt = None,
) -> None:
    """Provenance of one document: where and when it was fetched, its licence, every step, raw bytes checked."""
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.sources.archive import read_raw

    h = _existing_home(home)
    table_name, rows = CorpusCatalog(h, create=False).find(key, tag)
    if not table_name:
        raise CatalogError(f"no document with doc_id or URL {key!r}" + (f" in tag {tag!r}" if tag else ""))
    row = rows.to_pylist()[-1]
    try:
        raw_body: bytes | None = read_raw(h, row["raw_ref"]).body
        ok = hashlib.sha256(raw_body).hexdigest() == row["raw_sha256"]
        raw_note = f"{len(raw_body)} bytes, sha256 {'[green]matches[/]' if ok else '[red]DOES NOT MATCH[/]'} raw_sha256"
    except RawRefError as exc:
        raw_body, ok = None, False
        raw_note = f"[red]unreadable:[/] {escape(str(exc))}"
    t = Table(
        show_header=False,
        title=f"{row['doc_id']} ({'in the corpus' if table_name == 'documents' else 'removed'})",
    )
    for field in (
        "url",
        "canonical_url",
        "title",
        "source_id",
        "fetched_at",
        "http_status",
        "content_type",
        "charset",
        "licence_class",
        "legal_basis",
        "usage",
        "tdm_reserved",
        "noai",
        "doc_type",
        "page_type",
        "author",
        "issuing_body",
        "doc_number",
        "original_source",
        "rights_notice",
        "finance_score",
        "duplicate_of",
        "duplicate_relation",
        "superseded_at",
        "raw_ref",
        "warc_record_id",
        "run_id",
        "config_sha256",
        "removed_stage",
        "removed_reason",
    ):
        if field in row and row[field] is not None:
            value = row[field]
            t.add_row(field, escape(f"{value:.4f}" if isinstance(value, float) else str(value)))
    if row.get("pii"):
        found = {k: v for k, v in row["pii"].items() if v and k != "max_class"}
        t.add_row(
            "pii", (f"{found} masked, highest class {row['pii']['max_class']}") if found else "none found"
        )
    t.add_row("raw bytes", raw_note)
    for i, step in enumerate(row["steps"], 1):
        t.add_row(f"step {i}", escape(f"{step['step']}" + (f": {step['detail']}" if step["detail"] else "")))
    console.print(t)
    if text and row.get("text"):
        console.print(row["text"], markup=False, highlight=False)
    if not ok:
        raise typer.Exit(1)


@app.command("diff")
@user_errors
def diff_cmd(
    a: Annotated[str, typer.Argument(help="Older tag")],
    b: Annotated[str, typer.Argument(help="Newer tag")],
    limit: Annotated[int, typer.Option(help="Documents listed per kind (0: counts only)")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Everything as JSON on stdout")] = False,
    home: HomeOpt = None,
) -> None:
    """Documents added, removed (with the removal reason) and changed between two tags, per source."""
    from fincorpus.catalog.diff import diff
    from fincorpus.catalog.store import CorpusCatalog

    catalog = CorpusCatalog(_existing_home(home), create=False)
    catalog.tag(a), catalog.tag(b)  # unknown tags are one-line errors
    d = diff(catalog, a, b)
    if as_json:
        print(
            json.dumps(
                {
                    "a": a,
                    "b": b,
                    "added": d.added,
                    "removed": d.removed,
                    "changed": d.changed,
                    "unchanged": d.unchanged,
                    "by_source": d.by_source(),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    t = Table("source", "added", "removed", "changed", title=f"{a} -> {b}")
    for src, c in d.by_source().items():
        t.add_row(src, str(c.get("added", 0)), str(c.get("removed", 0)), str(c.get("changed", 0)))
    console.print(t)
    console.print(
        f"{len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed, {d.unchanged} unchanged"
        + (f"; removal reasons: {d.removal_reasons()}" if d.removed else "")
    )
    for kind in ("added", "removed", "changed"):
        for r in getattr(d, kind)[:limit]:
            why = f"  ({r['removed_reason']})" if kind == "removed" else ""
            console.print(
                f"{kind:8} {r['source_id']:12} {escape(r['canonical_url'])}{escape(why)}", highlight=False
            )


@app.command()
@user_errors
def maintain(
    retain_days: Annotated[
        float, typer.Option(help="Expire untagged snapshots older than this many days (tagged ones: never)")
    ] = 7.0,
    orphan_hours: Annotated[
        float, typer.Option(help="Remove unreferenced files of the table older than this many hours")
    ] = 1.0,
    dry_run: Annotated[bool, typer.Option(help="Only report what would be removed")] = False,
    home: HomeOpt = None,
) -> None:
    """Expire untagged snapshots and remove files no retained snapshot references (tags stay readable)."""
    from fincorpus.catalog.maintain import maintain as do_maintain

    r = do_maintain(_existing_home(home), retain_days=retain_days, orphan_hours=orphan_hours, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} {len(r.expired_snapshots)} untagged snapshot(s) ({r.kept_snapshots} kept) and "
        f"{len(r.orphan_files)} unreferenced file(s), {r.orphan_bytes / 1e6:.1f} MB"
    )
    for f in r.orphan_files[:20]:
        console.print(f"  {escape(f)}", highlight=False)


@app.command("settings")
@user_errors
def settings_cmd(home: HomeOpt = None) -> None:
    """Where this corpus lives: the catalog database, the warehouse, the compute, the dedup index."""
    from fincorpus.settings import describe

    t = Table(show_header=False, title="fincorpus settings")
    for k, v in describe(fincorpus_home(home)).items():
        t.add_row(k, escape(v))
    console.print(t)


@app.command()
@user_errors
def migrate(home: HomeOpt = None) -> None:
    """Copy a catalog written by an earlier fincorpus (two tables) into the current one-table layout, tag by tag."""
    from fincorpus.catalog.migrate import migrate as do_migrate

    tags = do_migrate(_existing_home(home))
    console.print(
        f"migrated {len(tags)} tag(s): {', '.join(tags) or 'none'}; the earlier tables are left as they were"
    )


# -- demo ---------------------------------------------------------------------------------------------------------


def _default_data_dir() -> Path:
    env = os.environ.get("FINCORPUS_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parent.parent
    for cand in (repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if cand.is_dir():
            return cand
    return repo.parent / "shared" / "data"


@app.command()
@user_errors
def demo(
    data: Annotated[Path | None, typer.Option(help="shared/data folder (default: ../shared/data)")] = None,
    out: Annotated[Path, typer.Option(help="Where to pull the demo snapshot")] = Path("demo-snapshot"),
    dask_address: DaskOpt = None,
    home: HomeOpt = None,
) -> None:
    """Serve the mirror sites locally, crawl them, publish tag `demo`, pull it and summarise."""
    from fincorpus.catalog.export import pull as do_pull
    from fincorpus.fixture_server import FixtureServer

    data_dir = (data or _default_data_dir()).resolve()
    sites = data_dir / "sites"
    if not (sites / "truth.jsonl").is_file():
        err.print(
            f"[bold red]error:[/] no mirror sites at {sites} (expected shared/data/sites with truth.jsonl).\n"
            "Run the same job on your own sources file instead:\n"
            "  fincorpus sources check --sources my-sources.yaml\n"
            "  fincorpus ingest --sources my-sources.yaml\n"
            "  fincorpus publish --tag v1 && fincorpus pull v1 --out ./snapshot"
        )
        raise typer.Exit(2)
    _use_dask(dask_address)
    h = _home(home)
    started = time.monotonic()
    sources_file = Path(__file__).resolve().parent / "demo" / "sources.yaml"
    with prefect_api(h, warm=_flows):
        flows = _flows()
        with FixtureServer(sites, 0, h / "fixture-requests.jsonl") as server:
            console.print(f"fixture server for {sites} on {server.proxy_url}")
            summary = flows.ingest_flow(str(sources_file), None, str(h), server.proxy_url)
        _stopped(summary)
        _print_ingest(summary)
        res = flows.publish_flow("demo", str(h), True, False)
    pulled = do_pull(h, "demo", out, overwrite=True, publisher="fincorpus demo")
    wall = time.monotonic() - started
    t = Table("licence class", "documents", title="snapshot demo")
    for name, n in sorted(summary["by_licence"].items()):
        t.add_row(name, str(n))
    console.print(t)
    console.print(
        f"[bold green]demo done[/] in {wall:.0f} s: tag [bold]demo[/] = snapshot {res['snapshot_id']} with "
        f"{res['documents']} documents ({res['removed']} removed records, {summary['exact_duplicates']} exact "
        f"duplicates this run).\nSnapshot pulled to {pulled.out}; corpus home {h}."
    )
    for line in pulled.stats.get("publication", []):
        console.print(f"  {escape(line)}", highlight=False)
    console.print(f"check it with: fincorpus verify {escape(str(pulled.out))}", highlight=False)
    (h / "demo-summary.json").write_text(
        json.dumps({**summary, "publish": res, "wall_seconds": wall}, indent=2, default=str)
    )


# -- keys ---------------------------------------------------------------------------------------------------------

keys_app = typer.Typer(help="The SM2 key pair that signs snapshot manifests.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
@user_errors
def keys_init(
    replace: Annotated[
        bool,
        typer.Option(
            help="Move an existing key aside (renamed *.replaced-TIME, never deleted), make a new one"
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Create the SM2 signing key pair under HOME/keys (private key mode 0600; an existing key is kept)."""
    from fincorpus.signing import fingerprint, init_keys, load_public_key

    key, pub = init_keys(fincorpus_home(home), replace=replace)
    console.print(
        f"private key {key} (mode 0600; back it up, never share it)", highlight=False, soft_wrap=True
    )
    console.print(
        f"public key  {pub}\nfingerprint {fingerprint(load_public_key(pub))}", highlight=False, soft_wrap=True
    )


@keys_app.command("show")
@user_errors
def keys_show(home: HomeOpt = None) -> None:
    """Print the public key and fingerprint that new manifests are signed with (key file or external signer)."""
    from fincorpus.signing import fingerprint, public_key_pem, signer_for_home

    signer = signer_for_home(fincorpus_home(home))
    console.print(f"signer      {signer.description}", highlight=False, soft_wrap=True)
    console.print(
        f"signer id   {signer.signer_id}\nfingerprint {fingerprint(signer.public_key)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(public_key_pem(signer.public_key), end="", highlight=False, soft_wrap=True)


# -- report -------------------------------------------------------------------------------------------------------


@app.command()
@user_errors
def report(
    target: Annotated[
        str, typer.Argument(help="A tag in the catalog, or a folder written by `fincorpus pull`")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file to write (default ./report-TAG.html)")
    ] = None,
    previous: Annotated[
        str | None, typer.Option(help="Tag to diff against (default: the tag committed before TARGET)")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Static HTML report of a snapshot: sources, licences, removals, scores, duplicates, PII, opt-outs, diff."""
    from fincorpus.catalog.report import write_report

    folder = Path(target)
    from fincorpus.settings import catalog_is_sqlite

    h = fincorpus_home(home)
    catalog = None
    if not catalog_is_sqlite(h) or (h / "catalog.db").is_file():
        from fincorpus.catalog.store import CorpusCatalog

        catalog = CorpusCatalog(h)
    if folder.is_dir():
        mpath = folder / "manifest.json"
        manifest = json.loads(mpath.read_text(encoding="utf-8")) if mpath.is_file() else {}
        tag, snapshot_id, data = manifest.get("tag", folder.name), manifest.get("snapshot_id"), None
    elif catalog is not None:
        tag, folder = target, Path(".")
        data = catalog.read(tag)  # raises CatalogError naming the known tags
        snapshot_id = next(t.snapshot_id for t in catalog.tags() if t.tag == tag)
    else:
        raise FileNotFoundError(
            f"{target}: neither a pulled folder nor a tag (no catalog at {h}); pass --home"
        )
    tags = catalog.tags() if catalog is not None else []
    known = {t.tag for t in tags}
    removed = catalog.read(tag, "removed") if catalog is not None and tag in known else None
    if previous is None and tag in known:
        older = [t for t in sorted(tags, key=lambda t: t.committed_at) if t.tag != tag]
        older = [t for t in older if t.committed_at <= next(x.committed_at for x in tags if x.tag == tag)]
        previous = older[-1].tag if older else None
    prev = (previous, catalog.read(previous)) if catalog is not None and previous else None
    path = (out or Path(f"report-{tag}.html")).resolve()
    write_report(
        folder, tag=tag, snapshot_id=snapshot_id, data=data, removed=removed, previous=prev, out=path
    )
    console.print(f"report for [bold]{tag}[/] -> {path}", highlight=False, soft_wrap=True)
    if removed is None or prev is None:
        missing = [n for n, v in (("removed records", removed), ("previous tag", prev)) if v is None]
        console.print(
            f"not in the report (not available): {', '.join(missing)}", highlight=False, soft_wrap=True
        )


# -- audit --------------------------------------------------------------------------------------------------------


@app.command()
@user_errors
def audit(
    tag: Annotated[str, typer.Argument(help="Tag of the snapshot to audit")],
    removed: Annotated[bool, typer.Option("--removed", help="Audit the removed records too")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: $FINCORPUS_WORKERS or CPU count)")
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources", "-s", help="Sources file to re-run with instead of the one each run recorded"
        ),
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Audit only this source (repeatable)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Failures printed (all are in the report file)")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON on stdout")] = False,
    home: HomeOpt = None,
) -> None:
    """Re-check every document of a snapshot: raw bytes, re-run text, stored text, licence and opt-outs.

    Exit 0 when every document is verified, 1 otherwise; the report is also written to HOME/audits/.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from fincorpus.catalog.audit import CHECKS, OUTCOMES, audit_snapshot, write_report

    h = _existing_home(home)
    if sources is not None and not sources.is_file():
        raise FileNotFoundError(f"sources file {sources} does not exist; check --sources")
    columns = (
        TextColumn("audit {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=as_json, transient=True) as bar:
        task = bar.add_task(tag, total=None)
        rep = audit_snapshot(
            h,
            tag,
            include_removed=removed,
            workers=workers,
            sources=sources,
            source_ids=source or (),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if source and rep.documents == 0:
        raise CatalogError(f"tag {tag!r} has no documents of source(s) {', '.join(source)}; check --source")
    path = write_report(h, rep)
    data = rep.to_json()
    if as_json:
        print(json.dumps({**data, "report_file": str(path)}, ensure_ascii=False, indent=2))
        raise typer.Exit(0 if rep.ok else 1)
    t = Table("check", *OUTCOMES, title=f"audit {tag} (snapshot {rep.snapshot_id})")
    for c in CHECKS:
        t.add_row(c, *(str(data["by_check"][c][o]) for o in OUTCOMES))
    console.print(t)
    s = Table("source", "documents", "verified", "failed", "changed")
    for src, counts in data["by_source"].items():
        s.add_row(src, *(str(counts.get(k, 0)) for k in ("documents", "verified", "failed", "changed")))
    console.print(s)
    for f in rep.tally.failures[:limit]:
        console.print(
            escape(f"{f.outcome:7} {f.check:9} {f.doc_id} {f.url}: {f.reason}"),
            highlight=False,
            soft_wrap=True,
        )
    listed = len(rep.tally.failures) + rep.tally.not_listed
    if listed > limit:
        console.print(f"... {listed - limit} more in the report file", highlight=False)
    colour = "green" if rep.ok else "red"
    console.print(
        f"[bold {colour}]{rep.verified} of {rep.documents} documents verified ({rep.percent:.1f}%)[/] in "
        f"{rep.seconds:.1f} s ({rep.docs_per_second:.1f} documents/s, {rep.workers} workers); report "
        f"{escape(str(path))}",
        highlight=False,
        soft_wrap=True,
    )
    if not rep.ok:
        raise typer.Exit(1)


# -- compliance: takedown, source gate, QA (issue 11) --------------------------------------------------------------


def _print_gate(done: list[dict[str, Any]]) -> None:
    """One line per source the TC260 gate screened in this command (blocked ones in red)."""
    for r in done:
        colour = "red" if r["decision"] == "blocked" else "green"
        console.print(
            f"source gate: {escape(r['source_id'])} {r['stage']}: [{colour}]{r['decision']}[/] "
            f"({r['rate']:.2%} flagged); details: `fincorpus gate report {escape(r['source_id'])}`",
            highlight=False,
        )


takedown_app = typer.Typer(
    help="Take documents down (rights-holder request, PIPL Art. 47 deletion) and, with --purge, erase their bytes."
)
app.add_typer(takedown_app, name="takedown")


def _pii_value() -> str:
    """The personal-information value, from stdin when piped, else asked for without echo: never on argv."""
    if not sys.stdin.isatty():
        value = sys.stdin.readline().strip()
    else:
        value = typer.prompt(
            "personal-information value (not echoed, only its hash is kept)", hide_input=True
        )
    if not value.strip():
        raise ValueError("--pii-value: no value given on stdin or at the prompt")
    return value


@takedown_app.callback(invoke_without_command=True)
@user_errors
def takedown(
    ctx: typer.Context,
    doc_id: Annotated[str | None, typer.Option(help="A document id")] = None,
    url_pattern: Annotated[
        str | None, typer.Option(help="A URL glob (http://a.test/news/*) or re:<regular expression>")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Every document of a source (also later ones)")] = None,
    pii_value: Annotated[
        bool,
        typer.Option(
            "--pii-value", help="Documents holding a personal-information value, read from stdin or a prompt"
        ),
    ] = False,
    requester: Annotated[
        str | None, typer.Option(help="Who asked (identifiers in it are masked in the log)")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, as the request says")] = None,
    legal_basis: Annotated[
        str | None, typer.Option(help="rights-holder | pipl-art47 | court-order | operator")
    ] = None,
    purge: Annotated[
        bool, typer.Option(help="Also erase the bytes: rewrite data files, staged parts and WARC records")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Only show which documents the request covers")] = False,
    home: HomeOpt = None,
) -> None:
    """Take documents down: they leave the next snapshot and pulls of older tags; --purge erases their bytes."""
    if ctx.invoked_subcommand is not None:
        return
    from pydantic import ValidationError

    from fincorpus.catalog.erasure import take_down
    from fincorpus.takedown import TakedownRequest, pii_value_hash

    chosen = [(k, v) for k, v in (("doc_id", doc_id), ("url_pattern", url_pattern), ("source", source)) if v]
    if pii_value:
        chosen.append(("pii_hash", "?"))
    if len(chosen) != 1:
        raise ValueError("give exactly one of --doc-id, --url-pattern, --source, --pii-value (see --help)")
    missing = [
        n
        for n, v in (("--requester", requester), ("--reason", reason), ("--legal-basis", legal_basis))
        if not v
    ]
    if missing:
        raise ValueError(f"a takedown needs {', '.join(missing)}: who asked, why, and on which legal basis")
    kind, value = chosen[0]
    h = _existing_home(home)
    if kind == "pii_hash":
        value = pii_value_hash(_pii_value())
    try:
        req = TakedownRequest(
            kind=kind, value=value, requester=requester, reason=reason, legal_basis=legal_basis, purge=purge
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    from fincorpus.sources.scrub import ScrubError

    try:
        with console.status("finding the documents the request covers ..."):
            res = take_down(h, req, dry_run=dry_run)
    except ScrubError as exc:
        fail(f"purge stopped: {exc}; the takedown is logged, finish with `fincorpus takedown resume`")
    where = ", ".join(f"{k} {v}" for k, v in res.found_in.items()) or "nowhere yet"
    if res.entry is None:
        console.print(
            f"dry run: the request covers {len(res.doc_ids)} document(s) ({where}); nothing was changed"
        )
        for d in res.doc_ids[:20]:
            console.print(f"  {d}", highlight=False)
        return
    console.print(
        f"takedown [bold]{res.entry.request_id}[/] logged: {len(res.doc_ids)} document(s) ({where}), "
        f"legal basis {req.legal_basis}",
        highlight=False,
    )
    console.print(
        "they leave the next snapshot (`fincorpus publish --tag TAG`, allowed with nothing staged) and every pull "
        "of an older tag; re-crawls skip them",
        highlight=False,
    )
    if res.purge is not None:
        p = res.purge
        snaps = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(p.snapshots.items())) or "none"
        console.print(
            f"purge: snapshots replaced: {snaps}; {p.data_files_rewritten} data file(s) rewritten, "
            f"{len(p.files_removed)} file(s) removed, {len(p.staged_rewritten)} staged file(s) rewritten, "
            f"{len(p.warc_records)} WARC record(s) erased, {p.crawl_rows_scrubbed} crawl-state row(s) cleaned",
            highlight=False,
        )
        for u in p.outside_home:
            console.print(
                f"[yellow]outside the home:[/] {escape(u)} is a source's own input; remove it there",
                highlight=False,
            )
        if res.problems:
            fail("purge incomplete: " + "; ".join(res.problems[:3]) + "; run `fincorpus takedown resume`")


@takedown_app.command("list")
@user_errors
def takedown_list(home: HomeOpt = None) -> None:
    """The takedown log (hashes, who, when, why) and whether its hash chain holds."""
    from fincorpus.catalog.erasure import takedown_log
    from fincorpus.takedown import TakedownError, pending_purges

    log = takedown_log(_existing_home(home))
    entries = list(log.entries())
    if not entries:
        console.print(f"no takedowns logged ({log.path})")
        return
    t = Table("#", "at (UTC)", "request", "action", "kind", "legal basis", "documents", "purge", "requester")
    for e in entries:
        t.add_row(
            str(e.seq), e.at[:19], e.request_id[:12], e.action, e.kind, e.legal_basis, str(len(e.doc_ids)),
            "yes" if e.purge else "", escape(e.requester),
        )  # fmt: skip
    console.print(t)
    try:
        log.verify()
        console.print(f"hash chain of {log.path}: intact ({len(entries)} entries)", highlight=False)
    except TakedownError as exc:
        fail(str(exc))
    todo = pending_purges(log)
    if todo:
        console.print(f"[yellow]purges not finished:[/] {', '.join(todo)}; run `fincorpus takedown resume`")


@takedown_app.command("resume")
@user_errors
def takedown_resume(home: HomeOpt = None) -> None:
    """Finish purges that were interrupted or found bytes left."""
    from fincorpus.catalog.erasure import resume_purges

    done = resume_purges(_existing_home(home))
    if not done:
        console.print("no unfinished purge")
    for request_id, report, problems in done:
        state = "done" if not problems else "still incomplete: " + "; ".join(problems[:3])
        console.print(
            f"purge {request_id}: {state} ({len(report.warc_records)} WARC record(s), "
            f"{report.data_files_rewritten} data file(s))",
            highlight=False,
        )


gate_app = typer.Typer(help="The TC260-003 source gate: pre-assessment and post-verification reports.")
app.add_typer(gate_app, name="gate")


@gate_app.command("report")
@user_errors
def gate_report(
    source: Annotated[str | None, typer.Argument(help="One source (default: all)")] = None,
    home: HomeOpt = None,
) -> None:
    """Per source: the latest screen, its rate with the 95% interval, and whether training use is blocked."""
    from fincorpus.pipelines.gate import gate_dir, reports, training_blocks

    h = _existing_home(home)
    found = reports(h, source)
    if not found:
        console.print(
            f"no gate reports{' for ' + source if source else ''} in {gate_dir(h)}", highlight=False
        )
        return
    if source:
        for r in found:
            console.print(r.markdown(), highlight=False, markup=False)
        return
    t = Table("source", "stage", "decision", "flagged", "95% Wilson", "sample / documents", "at (UTC)")
    for r in found:
        t.add_row(
            r.source_id, r.stage, r.decision, f"{r.rate:.2%}", f"{r.wilson[0]:.2%}-{r.wilson[1]:.2%}",
            f"{r.sample_size} / {r.population}", r.at[:19],
        )  # fmt: skip
    console.print(t)
    for s, why in training_blocks(h).items():
        console.print(f"[red]blocked for training:[/] {escape(s)}: {escape(why)}", highlight=False)


@gate_app.command("assess")
@user_errors
def gate_assess(
    source: Annotated[list[str] | None, typer.Argument(help="Sources (default: the tag's or run's)")] = None,
    tag: Annotated[str | None, typer.Option(help="Post-verification over this tag's documents")] = None,
    run: Annotated[str | None, typer.Option(help="Pre-assessment over this staged run (again)")] = None,
    classifier: Annotated[
        str | None, typer.Option(help="A classifier as package.module:attribute (see docs/compliance.md)")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Screen sources again, e.g. with a classifier plugged in."""
    from fincorpus.pipelines import gate
    from fincorpus.safety import load_classifier

    if (tag is None) == (run is None):
        raise ValueError("give --tag TAG (post-verification) or --run RUN (pre-assessment)")
    h = _existing_home(home)
    clf = load_classifier(classifier) if classifier else None
    if tag:
        done = gate.post_verify(h, tag, source or None, classifier=clf)
    else:
        assert run is not None
        done = [
            r
            for r in gate.pre_assess_run(h, run, classifier=clf, again=True)
            if not source or r.source_id in source
        ]
    _print_gate(
        [{"source_id": r.source_id, "stage": r.stage, "decision": r.decision, "rate": r.rate} for r in done]
    )


QA_OUT = Path("qa")
qa_app = typer.Typer(help="Corpus QA samples (TC260-003 9.2): review sheets and the technical screen.")
app.add_typer(qa_app, name="qa")


def _share(value: str) -> float:
    v = value.strip()
    try:
        share = float(v[:-1]) / 100 if v.endswith("%") else float(v)
    except ValueError:
        raise ValueError(f"--technical {value!r}: give a share such as 10% or 0.1") from None
    if not 0 < share <= 1:
        raise ValueError(f"--technical {value!r}: the share must be above 0 and at most 100%")
    return share


@qa_app.command("sample")
@user_errors
def qa_sample(
    tag: Annotated[str, typer.Argument(help="Snapshot tag")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the review sheet (CSV, HTML)")
    ] = QA_OUT,
    manual: Annotated[
        int | None, typer.Option(help="Documents for people to review (TC260: at least 4000)")
    ] = None,
    technical: Annotated[
        str | None, typer.Option(help="Share to screen by keywords/classifier, e.g. 10%")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: random, recorded)")] = None,
    home: HomeOpt = None,
) -> None:
    """Draw the manual review sheet and/or run the technical screen; reports kept under HOME/qa/TAG."""
    from fincorpus.catalog.qa import sample

    h = _existing_home(home)
    res = sample(h, tag, out, manual=manual, technical=_share(technical) if technical else None, seed=seed)
    if res.manual is not None:
        m = res.manual
        console.print(
            f"review sheet: {m.size} of {m.population} documents (seed {m.seed}) -> {m.sheet_csv} "
            f"(read the texts in {m.sheet_html}); record it with `fincorpus qa record {m.sheet_csv}`",
            highlight=False,
            soft_wrap=True,
        )
    if res.technical is not None:
        r = res.technical
        console.print(f"technical screen: {r.verdict}: {r.reason}", highlight=False)
    console.print(f"kept in {res.kept_in}", highlight=False)


@qa_app.command("record")
@user_errors
def qa_record_cmd(
    sheet: Annotated[Path, typer.Argument(help="The filled review sheet (CSV)")],
    tag: Annotated[
        str | None, typer.Option(help="Tag (default: from the sample file beside the sheet)")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Read the reviewers' verdicts: pass rate with its 95% interval against 96%; kept under HOME/qa/TAG."""
    from fincorpus.catalog.qa import record
    from fincorpus.compliance import SheetError

    try:
        report, kept = record(_existing_home(home), sheet, tag)
    except SheetError as exc:
        raise ValueError(str(exc)) from None
    console.print(f"manual QA of {report.tag}: [bold]{report.verdict}[/]: {escape(report.reason)}")
    console.print(f"kept in {kept}", highlight=False)
    if report.verdict == "fail":
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
