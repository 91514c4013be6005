"""Issue 3: a hostile server is crawled to the end, each failure recorded, memory bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from fincorpus.pipelines.ingest import process_capture
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import CrawlerConfig, SourceConfig, SourcesFile
from fincorpus.sources.web import WebCrawler, retry_after_seconds
from tests import hostile


def test_retry_after_forms() -> None:
    from datetime import UTC, datetime

    assert retry_after_seconds("7") == 7.0
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon") is None


def test_hostile_server_is_crawled_to_the_end(home: Path) -> None:
    srv, proxy = hostile.start()
    cfg = CrawlerConfig(
        proxy=proxy,
        delay_seconds=0,
        timeout_seconds=1.0,
        max_seconds_per_request=2.0,
        max_body_bytes=1_000_000,
        max_retries=2,
        backoff_seconds=0.2,
        max_retry_after_seconds=10,
        tdmrep=False,
    )
    src = SourceConfig(
        id="h", name="H", kind="web", seeds=["http://hostile.test/"], licence="unknown", legal_basis="t"
    )
    state = CrawlState(home)
    pass_id, _ = state.open_pass("h")
    tracemalloc.start()
    try:
        WebCrawler(src, cfg, home, state, pass_id).run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        hostile.HostileHandler.stop.set()
        srv.shutdown()
    assert peak < 40_000_000, (
        f"peak Python memory {peak / 1e6:.0f} MB"
    )  # 20 MB bomb and endless bodies were cut off

    events = state.events(pass_id)
    by_url: dict[str, list[str]] = {}
    for e in events:
        by_url.setdefault(e.url.removeprefix("http://hostile.test"), []).append(f"{e.outcome}: {e.detail}")
    captured = {c.final_url.removeprefix("http://hostile.test") for c in state.captures([pass_id])}

    # recovered after retries
    assert "/burst.html" in captured and hostile.HostileHandler.hits["/burst.html"] == 3
    assert "/ratelimited.html" in captured and any(
        "retry: HTTP 429" in x for x in by_url["/ratelimited.html"]
    )
    # failed, recorded, crawl went on
    assert any("gave up after 3 attempts" in x for x in by_url["/slow.html"])
    assert any("max_body_bytes" in x for x in by_url["/endless.html"])
    assert any("max_seconds_per_request" in x or "gave up" in x for x in by_url["/trickle.html"])
    assert any("decompressed body exceeds" in x for x in by_url["/bomb.html"])
    assert any("redirect loop" in x for x in by_url["/loop-a.html"])
    assert any("gave up" in x for x in by_url["/truncated.html"])
    assert any("exceeds max_retry_after_seconds" in x for x in by_url["/retry-forever.html"])
    assert hostile.HostileHandler.hits["/retry-forever.html"] == 1
    assert any("http-error: HTTP 404" in x for x in by_url["/missing.html"])
    assert {"/ok.html", "/nocharset.html", "/wrongcharset.html"} <= captured
    assert state.frontier_counts(pass_id) == {"done": len(hostile.PATHS) + 2}  # + home page + the loop-b hop

    sources = SourcesFile(crawler=cfg, sources=[src])
    for c in state.captures([pass_id]):
        if c.final_url.endswith(("/nocharset.html", "/wrongcharset.html")):
            row = process_capture(c, sources, home, "r")
            assert row["charset"] == "gb18030" and "央行今日开展逆回购操作" in row["text"], row[
                "charset_source"
            ]
