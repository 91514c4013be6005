"""Issue 14: the web crawler under hostile input (huge link lists, huge robots.txt, private targets), two crawlers
of one source, stop requests, unreachable hosts. Real servers on 127.0.0.1 only."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from fincorpus import locks
from fincorpus.fixture_server import FixtureServer
from fincorpus.sources.base import CrawlEvent, CrawlReport, CrawlStopped
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.netguard import literal_address, refuse_url_host
from fincorpus.sources.registry import CrawlerConfig, SourceConfig
from fincorpus.sources.web import WebCrawler
from tests.sites import ARTICLE, page, write_site
from tests.test_crawler import source


def run(
    home: Path,
    src: SourceConfig,
    cfg: CrawlerConfig,
    stop: threading.Event | None = None,
    progress: Callable[[CrawlEvent], None] | None = None,
) -> tuple[CrawlReport, str, CrawlState]:
    state = CrawlState(home)
    pass_id, resumed = state.open_pass(src.id)
    crawler = WebCrawler(src, cfg, home, state, pass_id, resumed=resumed, stop=stop, progress=progress)
    try:
        return crawler.run(), pass_id, state
    finally:
        crawler.close()


def test_page_with_many_links_is_bounded_and_the_cut_is_logged(tmp_path: Path, home: Path) -> None:
    links = "".join(f'<a href="/p/{i}.html">{i}</a>' for i in range(30_000))
    root = write_site(tmp_path / "sites", "a.test", {"index.html": f"<html><body>{links}</body></html>"})
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False, max_links_per_page=500)
        report, pass_id, state = run(home, source(max_pages=1), cfg)
    assert (
        state.frontier_size(pass_id) <= 502
    )  # the seed, at most 500 links from the page, robots sitemaps: none
    cut = [e for e in state.events(pass_id) if e.outcome == "links-cut"]
    assert len(cut) == 1 and "500 links queued" in cut[0].detail and "max_links_per_page=500" in cut[0].detail
    assert report.cut and "max_links_per_page=500" in report.cut[0]
    # the limit then stops the pass with one event, not one per URL left
    assert report.limit_hit and "queued URLs not fetched" in report.limit_hit
    assert len(state.events(pass_id)) < 30
    with sqlite3.connect(home / "catalog.db") as c:
        assert c.execute("SELECT COUNT(*) FROM crawl_event").fetchone()[0] < 30


def test_frontier_of_a_pass_is_capped(tmp_path: Path, home: Path) -> None:
    files = {f"{i}.html": page(str(i), ARTICLE, [f"/{i}-{j}.html" for j in range(50)]) for i in range(10)}
    files["index.html"] = page("首页", "", [f"/{i}.html" for i in range(10)])
    root = write_site(tmp_path / "sites", "a.test", files)
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False)
        _report, pass_id, state = run(home, source(max_queued=60, max_pages=11), cfg)
    assert state.frontier_size(pass_id) <= 60
    assert any("the pass's frontier is full (max_queued=60)" in e.detail for e in state.events(pass_id))


def test_huge_robots_txt_is_read_up_to_500_kib(tmp_path: Path, home: Path) -> None:
    filler = "# " + "x" * 1000 + "\n"
    robots = "User-agent: *\nDisallow: /early/\n" + filler * 2000 + "User-agent: *\nDisallow: /late/\n"
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "robots.txt": robots,
            "index.html": page("首页", "", ["/early/1.html", "/late/1.html"]),
            "early/1.html": page("e", ARTICLE),
            "late/1.html": page("l", ARTICLE),
        },
    )
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False)
        report, pass_id, state = run(home, source(), cfg)
        paths = [r["path"] for r in srv.requests]
    assert "/early/1.html" not in paths and "/late/1.html" in paths  # rules past 512,000 bytes are ignored
    robots_ev = next(e for e in state.events(pass_id) if e.outcome == "robots")
    assert "cut at 512,000 bytes" in robots_ev.detail
    assert any("robots.txt of a.test cut" in c for c in report.cut)


class _Plain(BaseHTTPRequestHandler):
    """A plain origin server (not a proxy): robots allows all, every page links to private targets."""

    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Plain.hits.append(self.path)
        body = b"User-agent: *\nAllow: /\n" if self.path == "/robots.txt" else page("t", ARTICLE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain" if self.path.endswith(".txt") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


def _server() -> tuple[ThreadingHTTPServer, int]:
    _Plain.hits = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Plain)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "localhost"])
def test_direct_requests_to_loopback_are_refused_unless_opted_in(home: Path, host: str) -> None:
    srv, port = _server()
    try:
        seed = f"http://{host}:{port}/"
        cfg = CrawlerConfig(delay_seconds=0, tdmrep=False, max_retries=0)
        report, pass_id, state = run(home, source(seeds=[seed], allow=[".*"]), cfg)
        assert _Plain.hits == []
        refused = [e for e in state.events(pass_id) if e.outcome == "refused-address"]
        assert len(refused) == 1 and "allow_private_network" in refused[0].detail and report.refused == 1
        if host == "127.0.0.1":  # the opt-in for intranet sources and tests
            report, pass_id, state = run(
                home / "optin", source(id="b", seeds=[seed], allow_private_network=True), cfg
            )
            assert report.stored == 1 and _Plain.hits == ["/robots.txt", "/"]
    finally:
        srv.shutdown()


def test_a_name_that_resolves_to_a_private_address_is_refused_after_resolution(home: Path) -> None:
    name = socket.gethostname()
    addrs = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if not any(refuse_url_host(a) for a in addrs):
        pytest.skip(f"{name} resolves to public addresses {addrs} on this machine")
    assert refuse_url_host(name) is None  # nothing in the name itself gives it away
    srv, port = _server()
    try:
        cfg = CrawlerConfig(delay_seconds=0, tdmrep=False, max_retries=0)
        _report, pass_id, state = run(home, source(seeds=[f"http://{name}:{port}/"]), cfg)
    finally:
        srv.shutdown()
    assert _Plain.hits == []
    refused = [e for e in state.events(pass_id) if e.outcome == "refused-address"]
    assert refused and f"{name} resolves to" in refused[0].detail


def test_links_and_redirects_to_private_addresses_are_refused_through_a_proxy(
    tmp_path: Path, home: Path
) -> None:
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "index.html": page(
                "首页", "", ["http://10.1.2.3/x.html", "http://169.254.169.254/latest/meta-data/", "/go.html"]
            ),
            "_redirects": "/go.html http://[::1]/admin 302\n",
        },
    )
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False)
        report, pass_id, state = run(home, source(allow=[".*"]), cfg)
        hosts = {r["host"] for r in srv.requests}
    assert hosts == {"a.test"}
    refused = {e.url: e.detail for e in state.events(pass_id) if e.outcome == "refused-address"}
    assert "10.1.2.3 is a private address" in refused["http://10.1.2.3/x.html"]
    assert "link-local" in refused["http://169.254.169.254/latest/meta-data/"]
    assert "redirected from http://a.test/go.html" in refused["http://[::1]/admin"]
    assert report.refused == 3


def test_literal_address_forms() -> None:
    assert str(literal_address("0x7f.1")) == "127.0.0.1"
    assert str(literal_address("017700000001")) == "127.0.0.1"
    assert literal_address("regulator.test") is None
    assert refuse_url_host("100.64.0.1") and refuse_url_host("0.0.0.0")
    assert refuse_url_host("8.8.8.8") is None and refuse_url_host("www.pbc.gov.cn") is None


def test_a_second_crawler_of_the_same_source_is_refused_with_one_line(tmp_path: Path, home: Path) -> None:
    root = write_site(tmp_path / "sites", "a.test", {"index.html": page("首页", ARTICLE)})
    state = CrawlState(home)
    held = state.crawl_lock("a", "ingest (another terminal)")
    try:
        with FixtureServer(root) as srv:
            cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False)
            with pytest.raises(locks.LockHeld) as exc:
                run(home, source(), cfg)
            assert srv.requests == []
    finally:
        held.release()
    msg = str(exc.value)
    assert "crawling source 'a' is held by pid" in msg and "\n" not in msg
    assert not list((home / "raw").rglob("*.warc.gz")) if (home / "raw").exists() else True


def test_stop_request_ends_the_crawl_within_seconds_and_the_pass_resumes(tmp_path: Path, home: Path) -> None:
    files = {f"{i}.html": page(str(i), ARTICLE) for i in range(40)}
    files["index.html"] = page("首页", "", [f"/{i}.html" for i in range(40)])
    root = write_site(tmp_path / "sites", "a.test", files)
    stop = threading.Event()
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0.15, tdmrep=False)
        threading.Timer(1.0, stop.set).start()
        with pytest.raises(CrawlStopped) as exc:
            run(home, source(), cfg, stop=stop)
        assert "run the same command again to resume" in str(exc.value)
        with sqlite3.connect(home / "catalog.db") as c:
            assert c.execute("SELECT state FROM crawl_pass").fetchone()[0] == "crawling"
        n_before = len(srv.requests)
        assert 3 <= n_before < 30  # stopped early: the whole site is 43 requests, 0.15 s apart
        _report, pass_id, state = run(home, source(), cfg.model_copy(update={"delay_seconds": 0}))
        bodies = [r["path"] for r in srv.requests if r["path"].endswith(".html") or r["path"] == "/"]
    assert len(list(state.captures([pass_id]))) == 41
    assert len(bodies) - len(set(bodies)) <= 1  # at most the URL in flight at the stop is fetched again


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_robots_txt_is_retried_when_the_connection_is_refused(home: Path) -> None:
    port = _free_port()
    servers: list[ThreadingHTTPServer] = []

    def start_late() -> None:
        _Plain.hits = []
        srv = ThreadingHTTPServer(("127.0.0.1", port), _Plain)
        srv.daemon_threads = True
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()

    def start_on_the_first_retry(ev: CrawlEvent) -> None:
        """The server starts when the crawler reports its first refused attempt (a fixed 0.3 s delay raced a
        loaded machine: the first attempt came after the server was up, and the test saw no refusal)."""
        if ev.outcome == "retry" and not servers:
            start_late()

    try:
        cfg = CrawlerConfig(delay_seconds=0, tdmrep=False, backoff_seconds=0.6, max_retries=3)
        report, pass_id, state = run(
            home,
            source(seeds=[f"http://127.0.0.1:{port}/"], allow_private_network=True),
            cfg,
            progress=start_on_the_first_retry,
        )
    finally:
        for srv in servers:
            srv.shutdown()
    outcomes = [e.outcome for e in state.events(pass_id)]
    assert outcomes[0] == "retry" and "robots" in outcomes
    assert report.stored == 1 and not report.unreachable and report.unreachable_hosts == []


def test_unreachable_source_is_reported(home: Path) -> None:
    port = _free_port()
    cfg = CrawlerConfig(delay_seconds=0, tdmrep=False, backoff_seconds=0.05, max_retries=2)
    report, pass_id, state = run(
        home, source(seeds=[f"http://127.0.0.1:{port}/"], allow_private_network=True), cfg
    )
    assert report.unreachable and report.requests == 3 and report.responses == 0
    assert report.unreachable_hosts == [f"127.0.0.1:{port}"]
    assert any("unreachable after 3 attempts" in e.detail for e in state.events(pass_id))


def test_unchanged_pages_do_not_count_against_max_pages(tmp_path: Path, home: Path) -> None:
    files = {f"{i}.html": page(str(i), ARTICLE) for i in range(5)}
    files["index.html"] = page("首页", "", [f"/{i}.html" for i in range(5)])
    root = write_site(tmp_path / "sites", "a.test", files)
    stored: list[str] = []
    limits = []
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0, tdmrep=False)
        for _ in range(3):
            report, pass_id, state = run(home, source(max_pages=3), cfg)
            stored += [c.final_url for c in state.captures([pass_id])]
            limits.append(bool(report.limit_hit))
            state.mark_staged([pass_id], "run")
        statuses = [r["status"] for r in srv.requests if r["path"] != "/robots.txt"]
    assert sorted(stored) == sorted(["http://a.test/"] + [f"http://a.test/{i}.html" for i in range(5)])
    assert limits == [True, False, False]  # the second pass continued: its 304s were free
    assert statuses.count(304) == 3 + 6  # pass 2 re-checks the 3 stored pages, pass 3 all 6


def test_run_pass_reports_for_every_kind(tmp_path: Path, home: Path) -> None:
    from fincorpus.sources.passes import run_pass
    from fincorpus.sources.registry import SourcesFile

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("一份通知：各机构按期报送材料。", encoding="utf-8")
    port = _free_port()
    sf = SourcesFile(
        crawler=CrawlerConfig(delay_seconds=0, tdmrep=False, max_retries=0),
        sources=[
            source(id="down", seeds=[f"http://127.0.0.1:{port}/"], allow_private_network=True),
            SourceConfig(
                id="f", name="f", kind="files", path=str(folder), licence="unknown", legal_basis="t"
            ),
        ],
    )
    down = run_pass(sf, "down", home)
    assert (
        down.report.unreachable
        and down.outcomes == {"error": 1, "skipped-robots": 1}
        and down.crawled_passes == [down.pass_id]
    )
    files = run_pass(sf, "f", home)
    assert files.report.stored == 1 and not files.report.unreachable and files.outcomes == {"fetched": 1}
