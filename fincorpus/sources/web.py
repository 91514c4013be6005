"""Polite web crawling for one source: robots.txt first, every byte archived, every decision logged.

No URL is requested unless the source's allow/deny patterns and the host's robots.txt (for our product
token) permit it; redirects are followed by hand so each hop passes the same checks.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import lxml.etree
import lxml.html
from protego import Protego

from fincorpus.sources.archive import WarcArchive
from fincorpus.sources.base import Capture, CrawlEvent
from fincorpus.sources.registry import CrawlerConfig, SourceConfig

DOCUMENT_TYPES = ("text/html", "application/xhtml+xml", "application/pdf", "text/plain")
XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml")
FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")


class BodyTooLarge(Exception):
    pass


def normalize_url(url: str) -> str:
    """Drop the fragment and default port, lower-case scheme and host; keep path and query as given."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    )
    path = parts.path or "/"
    return f"{parts.scheme.lower()}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding with a hard cap on the decompressed size (gzip bombs)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {enc!r}")
    wbits = 16 + zlib.MAX_WBITS if "gzip" in enc else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    out = d.decompress(body, limit + 1)
    if len(out) > limit:
        raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
    return out


def feed_item_links(root: lxml.etree._Element) -> list[str]:
    """Item links of RSS 2.0, RSS 1.0 (RDF) and Atom feeds, in feed order.

    (trafilatura's feed reader filters links through courlan heuristics that drop valid ones, e.g. some hosts
    and file types, so items are read directly.)
    """
    links: list[str] = []
    for item in root.iter("{*}item", "item"):
        link = item.find("{*}link") if item.find("link") is None else item.find("link")
        if link is not None and link.text and link.text.strip():
            links.append(link.text.strip())
    for entry in root.iter("{*}entry"):
        for link in entry.iter("{*}link"):
            if link.get("href") and link.get("rel", "alternate") == "alternate":
                links.append(link.get("href"))
                break
    return list(dict.fromkeys(links))


@dataclass
class _Response:
    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    wire_body: bytes
    body: bytes
    fetched_at: datetime

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class HostPolicy:
    """robots.txt per host (RFC 9309 via protego) and the per-host delay."""

    def __init__(self, cfg: CrawlerConfig) -> None:
        self.cfg = cfg
        self._robots: dict[str, tuple[Protego | None, bool, str]] = {}
        self._last_request: dict[str, float] = {}

    def wait_turn(self, host: str, robots_delay: float | None) -> None:
        delay = max(self.cfg.delay_seconds, robots_delay or 0.0)
        last = self._last_request.get(host)
        if last is not None:
            remaining = last + delay - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
        self._last_request[host] = time.monotonic()

    def known(self, host: str) -> bool:
        return host in self._robots

    def set_robots(self, host: str, rules: Protego | None, allow_all: bool, sha256: str) -> None:
        self._robots[host] = (rules, allow_all, sha256)

    def decision(self, url: str) -> tuple[bool, str]:
        rules, allow_all, sha = self._robots[host_of(url)]
        if rules is None:
            return allow_all, f"robots.txt {'absent' if allow_all else 'unreachable'} (sha256 {sha[:12]})"
        ok = rules.can_fetch(url, self.cfg.robots_token)
        return ok, f"robots.txt sha256 {sha[:12]} {'allows' if ok else 'disallows'} {self.cfg.robots_token}"

    def crawl_delay(self, host: str) -> float | None:
        rules = self._robots.get(host, (None, True, ""))[0]
        return rules.crawl_delay(self.cfg.robots_token) if rules is not None else None

    def sitemaps(self, host: str) -> list[str]:
        rules = self._robots.get(host, (None, True, ""))[0]
        return list(rules.sitemaps) if rules is not None else []


class WebCrawler:
    """Breadth-first crawl of one web source. Iterate ``run()`` for captures; ``events`` keeps the log."""

    def __init__(
        self,
        source: SourceConfig,
        cfg: CrawlerConfig,
        archive: WarcArchive,
        *,
        client: httpx.Client | None = None,
        progress: Callable[[CrawlEvent], None] | None = None,
    ) -> None:
        self.source = source
        self.cfg = cfg
        self.archive = archive
        self.policy = HostPolicy(cfg)
        self.events: list[CrawlEvent] = []
        self._progress = progress
        self._client = client or httpx.Client(
            proxy=cfg.proxy,
            timeout=cfg.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"},
            trust_env=cfg.proxy is None,
        )
        self._seen: set[str] = set()
        self._queue: deque[tuple[str, int, str]] = deque()
        self._documents = 0

    # -- bookkeeping -------------------------------------------------------------------------------
    def _log(
        self, url: str, outcome: str, detail: str = "", status: int | None = None, **extra: object
    ) -> None:
        ev = CrawlEvent(url, outcome, detail, status, datetime.now(UTC).isoformat(), dict(extra))
        self.events.append(ev)
        if self._progress:
            self._progress(ev)

    def _enqueue(self, url: str, depth: int, via: str) -> None:
        url = normalize_url(url)
        if not url.startswith(("http://", "https://")) or url in self._seen:
            return
        self._seen.add(url)
        self._queue.append((url, depth, via))

    # -- HTTP ----------------------------------------------------------------------------------------
    def _request(self, url: str) -> _Response:
        host = host_of(url)
        self.policy.wait_turn(host, self.policy.crawl_delay(host))
        fetched_at = datetime.now(UTC)
        with self._client.stream("GET", url) as r:
            chunks: list[bytes] = []
            size = 0
            for chunk in r.iter_raw():
                size += len(chunk)
                if size > self.cfg.max_body_bytes:
                    raise BodyTooLarge(f"body exceeds max_body_bytes={self.cfg.max_body_bytes}")
                chunks.append(chunk)
            wire = b"".join(chunks)
            headers = list(r.headers.multi_items())
            resp = _Response(str(r.url), r.status_code, r.reason_phrase, headers, wire, b"", fetched_at)
        resp.body = decode_content(wire, resp.header("content-encoding"), self.cfg.max_body_bytes)
        return resp

    def _store(self, resp: _Response) -> tuple[str, str, str]:
        req_headers = [("User-Agent", self.cfg.user_agent), ("Host", host_of(resp.url))]
        rec = self.archive.write_exchange(
            url=resp.url,
            fetched_at=resp.fetched_at,
            request_headers=req_headers,
            status=resp.status,
            reason=resp.reason,
            response_headers=resp.headers,
            wire_body=resp.wire_body,
            decoded_body=resp.body,
        )
        return rec.raw_ref, rec.record_id, rec.raw_sha256

    def _ensure_robots(self, url: str) -> None:
        host = host_of(url)
        if self.policy.known(host):
            return
        robots_url = f"{urlsplit(url).scheme}://{host}/robots.txt"
        try:
            resp = self._request(robots_url)
        except (httpx.HTTPError, BodyTooLarge, ValueError) as exc:
            # RFC 9309 2.3.1.4: unreachable robots.txt means assume complete disallow.
            self.policy.set_robots(host, None, False, "-")
            self._log(robots_url, "error", f"robots.txt unreachable, host treated as disallowed: {exc}")
            return
        raw_ref, _, sha = self._store(resp)
        if 200 <= resp.status < 300:
            text = resp.body.decode("utf-8", errors="replace")
            self.policy.set_robots(host, Protego.parse(text), True, sha)
        elif 400 <= resp.status < 500:
            self.policy.set_robots(host, None, True, sha)  # 2.3.1.3: unavailable -> allowed
        else:
            self.policy.set_robots(host, None, False, sha)  # 2.3.1.4: server error -> disallowed
        self._log(robots_url, "robots", f"HTTP {resp.status}", resp.status, raw_ref=raw_ref, sha256=sha)
        for sm in self.policy.sitemaps(host):
            if self.source.allowed_url(normalize_url(sm)):
                self._enqueue(sm, 0, "robots-sitemap")

    def _permitted(self, url: str) -> tuple[bool, str, str]:
        if not self.source.allowed_url(url):
            return False, "skipped-pattern", "outside the source's allow/deny patterns"
        self._ensure_robots(url)
        ok, why = self.policy.decision(url)
        return ok, ("fetched" if ok else "skipped-robots"), why

    def _fetch_following(self, url: str) -> tuple[_Response, list[str]] | None:
        """GET with redirects followed by hand so that every hop is checked before it is requested."""
        chain: list[str] = []
        current = url
        for _ in range(self.cfg.max_redirects + 1):
            ok, outcome, why = self._permitted(current)
            if not ok:
                self._log(current, outcome, why + (f" (redirected from {chain[-1]})" if chain else ""))
                return None
            try:
                resp = self._request(current)
            except (httpx.HTTPError, BodyTooLarge, ValueError) as exc:
                self._log(current, "error", f"{type(exc).__name__}: {exc}")
                return None
            if resp.status in (301, 302, 303, 307, 308) and resp.header("location"):
                self._store(resp)
                chain.append(current)
                nxt = normalize_url(urljoin(current, resp.header("location") or ""))
                self._log(current, "redirect", f"{resp.status} -> {nxt}", resp.status)
                if nxt in chain:
                    self._log(nxt, "error", "redirect loop")
                    return None
                self._seen.add(nxt)
                current = nxt
                continue
            return resp, chain
        self._log(current, "error", f"more than {self.cfg.max_redirects} redirects")
        return None

    # -- discovery -------------------------------------------------------------------------------------
    def _discover_html(self, resp: _Response, depth: int) -> None:
        try:
            tree = lxml.html.fromstring(resp.body)
        except (lxml.etree.ParserError, ValueError):
            return
        base = resp.url
        for el in tree.iter("base"):
            if el.get("href"):
                base = urljoin(resp.url, el.get("href"))
                break
        for el in tree.iter("link"):
            if (el.get("type") or "").lower() in FEED_LINK_TYPES and el.get("href"):
                feed = normalize_url(urljoin(base, el.get("href")))
                if self.source.allowed_url(feed):
                    self._enqueue(feed, depth, "feed-link")
        if depth >= self.source.max_depth:
            return
        for el in tree.iter("a", "area"):
            href = (el.get("href") or "").strip()
            if not href or href.startswith(("javascript:", "mailto:", "tel:", "#")):
                continue
            link = normalize_url(urljoin(base, href))
            if link not in self._seen and self.source.allowed_url(link):
                self._enqueue(link, depth + 1, "link")

    def _discover_xml(self, resp: _Response, depth: int) -> bool:
        """Sitemaps (urlset / sitemapindex) and RSS/Atom feeds; returns False if it is neither."""
        try:
            root = lxml.etree.fromstring(
                resp.body, parser=lxml.etree.XMLParser(resolve_entities=False, no_network=True)
            )
        except lxml.etree.XMLSyntaxError:
            return False
        tag = lxml.etree.QName(root).localname.lower()
        if tag in ("urlset", "sitemapindex"):
            for loc in root.iter("{*}loc"):
                if loc.text and self.source.allowed_url(normalize_url(loc.text)):
                    self._enqueue(loc.text, depth, "sitemap")
            return True
        if tag in ("rss", "feed", "rdf"):
            for link in feed_item_links(root):
                link = normalize_url(urljoin(resp.url, link))
                if self.source.allowed_url(link):
                    self._enqueue(link, depth, "feed")
            return True
        return False

    # -- main loop ---------------------------------------------------------------------------------------
    def run(self) -> Iterator[Capture]:
        for url in self.source.seeds:
            self._enqueue(url, 0, "seed")
        for url in self.source.sitemaps:
            self._enqueue(url, 0, "sitemap")
        for url in self.source.feeds:
            self._enqueue(url, 0, "feed")
        while self._queue:
            url, depth, via = self._queue.popleft()
            if self._documents >= self.source.max_pages:
                self._log(url, "skipped-limit", f"max_pages={self.source.max_pages} reached")
                continue
            got = self._fetch_following(url)
            if got is None:
                continue
            resp, chain = got
            raw_ref, record_id, sha = self._store(resp)
            mtype = media_type(resp.header("content-type"))
            self._log(resp.url, "fetched", f"{mtype} via {via}", resp.status, raw_ref=raw_ref, depth=depth)
            if resp.status != 200:
                self._log(resp.url, "http-error", f"HTTP {resp.status}", resp.status)
                continue
            looks_xml = mtype in XML_TYPES or (mtype == "text/plain" and resp.body.lstrip()[:5] == b"<?xml")
            if looks_xml and self._discover_xml(resp, depth):
                continue
            if mtype not in DOCUMENT_TYPES:
                self._log(
                    resp.url, "not-document", f"content type {mtype or 'missing'} is not a document type"
                )
                continue
            if mtype in ("text/html", "application/xhtml+xml"):
                self._discover_html(resp, depth)
            self._documents += 1
            yield Capture(
                source_id=self.source.id,
                url=chain[0] if chain else url,
                final_url=normalize_url(resp.url),
                status=resp.status,
                content_type=mtype,
                headers={k.lower(): v for k, v in resp.headers},
                fetched_at=resp.fetched_at,
                raw_ref=raw_ref,
                raw_sha256=sha,
                warc_record_id=record_id,
                redirect_chain=tuple(chain),
                discovered_via=via,
            )

    def close(self) -> None:
        self._client.close()
