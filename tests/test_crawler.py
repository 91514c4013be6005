import itertools
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

from fincorpus.fixture_server import FixtureServer
from fincorpus.sources.archive import read_raw
from fincorpus.sources.frontier import CrawlState
from fincorpus.sources.registry import CrawlerConfig, SourceConfig
from fincorpus.sources.web import WebCrawler, normalize_url
from tests.sites import ARTICLE, page, write_site


def source(**over: object) -> SourceConfig:
    base = {
        "id": "a",
        "name": "A",
        "kind": "web",
        "seeds": ["http://a.test/"],
        "licence": "unknown",
        "legal_basis": "test",
    }
    return SourceConfig.model_validate({**base, **over})


def crawl(root: Path, home: Path, src: SourceConfig, **cfg: object) -> tuple[list, list, list[dict]]:
    """One crawl pass through the fixture server: (captures, events, requests the server saw)."""
    with FixtureServer(root) as srv:
        state = CrawlState(home)
        pass_id, resumed = state.open_pass(src.id)
        config = CrawlerConfig(**{"proxy": srv.proxy_url, "delay_seconds": 0, **cfg})
        crawler = WebCrawler(src, config, home, state, pass_id, resumed=resumed)
        crawler.run()
        crawler.close()
        return list(state.captures([pass_id])), state.events(pass_id), list(srv.requests)


def test_normalize_url() -> None:
    assert normalize_url("HTTP://A.Test:80/x.html#frag") == "http://a.test/x.html"
    assert normalize_url("http://a.test") == "http://a.test/"
    assert normalize_url("https://a.test:8443/p?q=1") == "https://a.test:8443/p?q=1"


def test_robots_is_obeyed_on_links_and_redirect_hops(tmp_path: Path, home: Path) -> None:
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "robots.txt": "User-agent: *\nDisallow: /private/\n\nUser-agent: fincorpus\nDisallow: /private/\nDisallow: /only-us/\n",
            "index.html": page(
                "首页",
                "",
                ["/news/1.html", "/private/2.html", "/go.html", "/only-us/3.html", "http://b.test/x.html"],
            ),
            "news/1.html": page("新闻", ARTICLE),
            "private/2.html": page("内部", ARTICLE),
            "private/3.html": page("内部", ARTICLE),
            "only-us/3.html": page("x", ARTICLE),
            "_redirects": "/go.html /private/3.html 301\n",
        },
    )
    write_site(root, "b.test", {"x.html": page("b", ARTICLE)})
    captures, events, requests = crawl(root, home, source())
    paths = [r["path"] for r in requests]
    assert paths[0] == "/robots.txt"
    assert "/news/1.html" in paths and "/go.html" in paths
    assert not [p for p in paths if p.startswith(("/private/", "/only-us/"))]  # never requested
    assert not [r for r in requests if r["host"] == "b.test"]  # outside the source's hosts
    assert all(r["user_agent"].startswith("fincorpus/0.1") for r in requests)
    skipped = [e for e in events if e.outcome == "skipped-robots"]
    assert any("redirected from http://a.test/go.html" in e.detail for e in skipped)
    assert {c.final_url for c in captures} == {"http://a.test/", "http://a.test/news/1.html"}
    # every capture points at stored bytes
    for c in captures:
        assert read_raw(home, c.raw_ref).status == 200


def test_sitemaps_feeds_and_redirect_chain(tmp_path: Path, home: Path) -> None:
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "robots.txt": "User-agent: *\nAllow: /\nSitemap: http://a.test/sitemap.xml\n",
            "index.html": page("首页", ""),
            "sitemap.xml": '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<sitemap><loc>http://a.test/sm-1.xml</loc></sitemap></sitemapindex>",
            "sm-1.xml": '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<url><loc>http://a.test/from-sitemap.html</loc><lastmod>2024-01-01</lastmod></url></urlset>",
            "rss.xml": '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://a.test/</link>'
            "<item><title>i</title><link>http://a.test/from-feed.html</link></item></channel></rss>",
            "atom.xml": '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            '<link rel="self" href="http://a.test/atom.xml"/><entry><title>e</title>'
            '<link href="/from-atom.html"/></entry></feed>',
            "from-atom.html": page("a", ARTICLE),
            "from-sitemap.html": page("s", ARTICLE),
            "from-feed.html": page("f", ARTICLE, ["/moved.html"]),
            "new.html": page("n", ARTICLE),
            "_redirects": "/moved.html /new.html 301\n",
        },
    )
    captures, _, _ = crawl(root, home, source(feeds=["http://a.test/rss.xml", "http://a.test/atom.xml"]))
    by_url = {c.final_url: c for c in captures}
    assert by_url["http://a.test/from-sitemap.html"].discovered_via == "sitemap"
    assert by_url["http://a.test/from-feed.html"].discovered_via == "feed"
    assert by_url["http://a.test/from-atom.html"].discovered_via == "feed"
    moved = by_url["http://a.test/new.html"]
    assert moved.url == "http://a.test/moved.html" and moved.redirect_chain == ("http://a.test/moved.html",)


class _Robots500(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Robots500.requests.append(self.path)
        self.send_response(500 if self.path.endswith("/robots.txt") else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: object) -> None:
        pass


def test_robots_server_error_means_disallow_all(home: Path) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Robots500)
    Thread(target=srv.serve_forever, daemon=True).start()
    try:
        state = CrawlState(home)
        pass_id, _ = state.open_pass("a")
        src = source(seeds=["http://c.test/"], allow=["^http://c\\.test/"])
        cfg = CrawlerConfig(proxy=f"http://127.0.0.1:{srv.server_address[1]}", delay_seconds=0)
        WebCrawler(src, cfg, home, state, pass_id).run()
    finally:
        srv.shutdown()
    assert _Robots500.requests == ["http://c.test/robots.txt"]
    assert list(state.captures([pass_id])) == []
    assert [e.outcome for e in state.events(pass_id)] == ["robots", "skipped-robots"]


def test_per_host_delay_and_limits(tmp_path: Path, home: Path) -> None:
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "index.html": page("首页", "", [f"/{i}.html" for i in range(5)] + ["/big.html"]),
            **{f"{i}.html": page(str(i), ARTICLE) for i in range(5)},
            "big.html": "x" * 5000,
        },
    )
    captures, events, _ = crawl(root, home, source(max_pages=3), tdmrep=False)
    assert len(captures) == 3
    # 7 documents, 3 allowed: one event for the 4 URLs the limit left unfetched, not one per URL (a page listing
    # a million URLs must not write a million log rows)
    limit = [e for e in events if e.outcome == "skipped-limit"]
    assert (
        len(limit) == 1
        and "max_pages=3" in limit[0].detail
        and "4 queued URLs not fetched" in limit[0].detail
    )
    t0 = time.monotonic()
    captures, events, requests = crawl(
        root, tmp_path / "home2", source(), delay_seconds=0.2, max_body_bytes=4000, tdmrep=False
    )
    elapsed = time.monotonic() - t0
    assert len(requests) == 8  # robots + home + 5 pages + big
    assert elapsed >= 0.2 * 7 * 0.95  # one request per host per delay
    assert any(e.outcome == "error" and "max_body_bytes" in e.detail for e in events)
    assert len(captures) == 6  # the oversized page failed, the crawl went on


def test_json_api_with_page_and_item_templates_and_json_documents(tmp_path: Path, home: Path) -> None:
    """The shape of NFRA-style sites: numbered list pages, items that give an id, JSON detail documents."""
    import json

    from fincorpus.pipelines.ingest import process_capture
    from fincorpus.sources.registry import SourcesFile

    body = "<p>" + "为进一步规范银行保险机构关联交易行为，防范关联交易风险，制定本办法。" * 3 + "</p>"
    files = {
        "robots.txt": "User-agent: *\nAllow: /\n",
        "api/list-1.json": json.dumps(
            {"data": {"rows": [{"docId": 11, "docTitle": "办法一"}, {"docId": 12, "docTitle": "办法二"}]}}
        ),
        "api/list-2.json": json.dumps({"data": {"rows": [{"docId": 13, "docTitle": "办法三"}]}}),
        "api/list-3.json": json.dumps({"data": {"rows": []}}),
    }
    for i in (11, 12, 13):
        files[f"detail/{i}.json"] = json.dumps(
            {
                "data": {
                    "docClob": body,
                    "docTitle": f"文件{i}",
                    "publishDate": f"2024-03-0{i - 10} 10:00:00",
                }
            },
            ensure_ascii=False,
        )
    root = write_site(tmp_path / "sites", "nfra.test", files)
    src = source(
        seeds=[],
        json_api={
            "start": ["http://nfra.test/api/list-1.json"],
            "items": "data.rows",
            "item_url": None,
            "item_url_template": "/detail/{docId}.json",
            "next": None,
            "page_template": "/api/list-{page}.json",
            "title": "docTitle",
            "native_id": "docId",
        },
        json_document={"html": "data.docClob", "title": "data.docTitle", "published": "data.publishDate"},
    )
    captures, events, requests = crawl(root, home, src, tdmrep=False)
    assert sorted(c.final_url for c in captures) == [
        f"http://nfra.test/detail/{i}.json" for i in (11, 12, 13)
    ]
    assert [r["path"] for r in requests if r["path"].startswith("/api/")] == [
        f"/api/list-{n}.json" for n in (1, 2, 3)
    ]
    assert sum(1 for e in events if e.outcome == "api-page") == 3
    sources = SourcesFile(crawler=CrawlerConfig(), sources=[src])
    row = process_capture(next(c for c in captures if c.final_url.endswith("/12.json")), sources, home, "r")
    assert row["title"] == "办法二"  # the listing's title wins over the detail's
    assert "规范银行保险机构关联交易行为" in row["text"] and row["extractor"] == "trafilatura+json"
    assert row["native_id"] == "12" and row["published_at"].isoformat() == "2024-03-02T02:00:00+00:00"


def test_host_delay_holds_across_sources_and_threads(tmp_path: Path, home: Path) -> None:
    """Two sources on one host, crawled at the same time, still send one request per delay to that host."""
    from threading import Thread as T

    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "index.html": page("首页", "", [f"/{i}.html" for i in range(4)]),
            **{f"{i}.html": page(str(i), ARTICLE) for i in range(4)},
        },
    )
    with FixtureServer(root) as srv:
        cfg = CrawlerConfig(proxy=srv.proxy_url, delay_seconds=0.25, tdmrep=False)

        def run(sid: str) -> None:
            state = CrawlState(home)
            pass_id, _ = state.open_pass(sid)
            WebCrawler(source(id=sid), cfg, home, state, pass_id).run()

        threads = [T(target=run, args=(sid,)) for sid in ("one", "two")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stamps = sorted(r["ts"] for r in srv.requests)
    assert len(stamps) == 12  # 2 x (robots + home + 4 pages)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # Slots are claimed before each request; the server sees arrivals, which thread scheduling can shift by a few
    # tens of ms under load. Without shared slots two crawlers interleave with gaps of about a millisecond.
    assert min(gaps) >= 0.25 * 0.5, gaps
    assert stamps[-1] - stamps[0] >= 11 * 0.25 * 0.95, gaps


def test_url_normalisation_and_rel_canonical(tmp_path: Path, home: Path) -> None:
    from fincorpus.pipelines.ingest import rel_canonical

    assert normalize_url("http://a.test/p?b=2&a=1&utm_source=wx#top") == "http://a.test/p?a=1&b=2"
    html = '<html><head><link rel="canonical" href="/news/1.html?utm_medium=x"></head></html>'
    assert rel_canonical(html, "http://a.test/m/1.html") == "http://a.test/news/1.html"
    assert rel_canonical("<html></html>", "http://a.test/") is None
    root = write_site(
        tmp_path / "sites",
        "a.test",
        {
            "index.html": '<html><head><link rel="canonical" href="/canon.html"></head><body>x</body></html>',
            "canon.html": page("c", ARTICLE),
        },
    )
    captures, _, _ = crawl(root, home, source(), tdmrep=False)
    assert {c.discovered_via for c in captures} == {"seed", "canonical"}
