"""Polite, resumable web crawling for one source: robots.txt first, every byte archived, every decision logged.

No URL is requested unless the source's allow/deny patterns, the network guard (no loopback, private or
link-local targets: :mod:`fincorpus.sources.netguard`) and the host's robots.txt (for our product token) permit
it; redirects are followed by hand so each hop passes the same checks. The frontier and what each URL last
returned live in the catalog database (:mod:`fincorpus.sources.frontier`): one transaction per URL, so a killed
crawl resumes where it stopped, and a re-crawl sends conditional requests and stores only what changed.

Bounded against hostile input: robots.txt is read up to ``max_robots_bytes`` (RFC 9309: 500 KiB), links are taken
from a streaming parse up to ``max_links_per_page`` per page and ``max_queued`` per pass, and ``max_pages`` counts
new or changed documents only (304s and unchanged bodies are free), so a pass the limit stopped is continued by the
next one. What was cut is logged. A stop request (``fincorpus.sources.base.STOP``) is honoured between requests
and inside downloads; the pass stays open and resumes.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import lxml.etree
from courlan import normalize_url as courlan_normalize
from protego import Protego

from fincorpus.sources.archive import RawRefError, WarcArchive, read_raw
from fincorpus.sources.base import STOP, Capture, CrawlEvent, CrawlReport, CrawlStopped, ItemMeta
from fincorpus.sources.frontier import Completion, CrawlState, PageMemory, QueueItem
from fincorpus.sources.netguard import OPT_IN, AddressRefused, guarded_transport, refuse_url_host
from fincorpus.sources.policy import HostPolicy, HostRules, host_of, parse_tdmrep
from fincorpus.sources.registry import CrawlerConfig, JsonApiConfig, SourceConfig

DOCUMENT_TYPES = ("text/html", "application/xhtml+xml", "application/pdf", "text/plain")
JSON_TYPES = ("application/json", "text/json", "application/javascript")
XML_TYPES = ("application/xml", "text/xml", "application/rss+xml", "application/atom+xml")
FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
RETRY_STATUSES = (429, 500, 502, 503, 504)
TRANSIENT = (httpx.TimeoutException, httpx.TransportError)
SITEMAP_LINKS = 50_000  # the sitemaps protocol's own limit per file
Link = tuple[str, int, str, dict[str, Any]]


class BodyTooLarge(Exception):
    pass


class RequestTooSlow(Exception):
    pass


class _Stopped(Exception):
    """A stop was requested while waiting or downloading: the URL stays queued."""


def normalize_url(url: str) -> str:
    """courlan's normalisation (tracking parameters dropped, query sorted, host lower-cased, default port dropped),
    then no fragment and '/' for an empty path, so that one page has one URL in the frontier."""
    try:
        url = courlan_normalize(url.strip())
    except ValueError:
        url = url.strip()
    url, _ = urldefrag(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = (
        host if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    )
    path = parts.path or "/"
    return f"{parts.scheme.lower()}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_content(body: bytes, encoding: str | None, limit: int, *, truncate: bool = False) -> bytes:
    """Undo Content-Encoding with a hard cap on the decompressed size (gzip bombs); ``truncate`` keeps the first
    ``limit`` bytes instead of failing (robots.txt, of which only the first 500 KiB count)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {enc!r}")
    wbits = 16 + zlib.MAX_WBITS if "gzip" in enc else zlib.MAX_WBITS
    try:
        out = zlib.decompressobj(wbits).decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"corrupt {enc} body: {exc}") from exc
    if len(out) > limit and truncate:
        return out[:limit]
    if len(out) > limit:
        raise BodyTooLarge(f"decompressed body exceeds max_body_bytes={limit}")
    return out


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def feed_item_links(root: lxml.etree._Element) -> list[str]:
    """Item links of RSS 2.0, RSS 1.0 (RDF) and Atom feeds, in feed order.

    (trafilatura's feed reader filters links through courlan heuristics that drop valid ones, e.g. some hosts
    and file types, so items are read directly.)
    """
    links: list[str] = []
    for item in root.iter("{*}item", "item"):
        link = item.find("link") if item.find("link") is not None else item.find("{*}link")
        if link is not None and link.text and link.text.strip():
            links.append(link.text.strip())
    for entry in root.iter("{*}entry"):
        for link in entry.iter("{*}link"):
            if link.get("href") and link.get("rel", "alternate") == "alternate":
                links.append(link.get("href"))
                break
    return list(dict.fromkeys(links))


def dotted(data: Any, path: str | None) -> Any:
    if path is None:
        return None
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def json_api_links(
    api: JsonApiConfig, page_url: str, body: bytes, depth: int, page_no: int | None = None
) -> tuple[list[Link], str]:
    """Document links (with listing metadata) and the next page of one JSON API page; detail says what was found."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], f"not JSON: {exc}"
    items = dotted(data, api.items)
    if not isinstance(items, list):
        return [], f"no list at {api.items!r}"
    links: list[Link] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if api.item_url_template:
            try:
                url = api.item_url_template.format(**item)
            except (KeyError, IndexError, ValueError):
                continue
        else:
            url = dotted(item, api.item_url)
        if not isinstance(url, str) or not url:
            continue
        meta = {
            "title": _str(dotted(item, api.title)),
            "published": _str(dotted(item, api.published)),
            "native_id": _str(dotted(item, api.native_id)),
        }
        links.append(
            (
                normalize_url(urljoin(page_url, url)),
                depth + 1,
                "api-item",
                {k: v for k, v in meta.items() if v},
            )
        )
    nxt = None
    if api.page_template:
        page = page_no if page_no is not None else api.first_page
        if items and page - api.first_page + 1 < api.max_api_pages:
            nxt = api.page_template.format(page=page + 1)
            links.append((normalize_url(urljoin(page_url, nxt)), depth, "api", {"api_page": page + 1}))
    else:
        nxt = dotted(data, api.next)
        if isinstance(nxt, str) and nxt:
            links.append((normalize_url(urljoin(page_url, nxt)), depth, "api", {}))
        else:
            nxt = None
    return links, f"{len(items)} items" + (", next page" if nxt else "")


def _item_meta(meta: dict[str, Any]) -> ItemMeta | None:
    fields = {k: meta[k] for k in ("title", "published", "native_id") if meta.get(k)}
    return ItemMeta(**fields) if fields else None


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


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

    def header_map(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers}


@dataclass
class _Outcome:
    """What handling one queue item produced, before it is committed."""

    events: list[CrawlEvent] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    page_cap: int = 0  # links this page may still queue (set by discovery)
    cut_page: int = 0  # links not queued: the page's cap was reached
    cut_queue: int = 0  # links not queued: the pass's frontier is full
    unread: bool = False  # the page was not parsed to its end (cap reached)


class _LinkTarget:
    """lxml parser target collecting <base>, <link>, <a> and <area> start tags: links without building a tree, so a
    page of a million anchors costs the links kept, not a million elements."""

    def __init__(self) -> None:
        self.tags: list[tuple[str, dict[str, str]]] = []

    def start(self, tag: str, attrib: Any) -> None:
        if tag in ("a", "area", "base", "link"):
            self.tags.append((tag, dict(attrib)))

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def comment(self, text: str) -> None:
        pass

    def close(self) -> None:
        return None


class WebCrawler:
    """Crawl one web source in one pass. ``run()`` returns when the frontier is empty."""

    def __init__(
        self,
        source: SourceConfig,
        cfg: CrawlerConfig,
        home: Path,
        state: CrawlState,
        pass_id: str,
        *,
        resumed: bool = False,
        client: httpx.Client | None = None,
        progress: Callable[[CrawlEvent], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.cfg = cfg
        self.home = home
        self.state = state
        self.pass_id = pass_id
        self.resumed = resumed
        self.policy = HostPolicy(cfg)
        self._progress = progress
        self._stop = stop if stop is not None else STOP
        self.report = CrawlReport(source.id, pass_id)
        self.archive = WarcArchive(home, f"raw/{pass_id}/{source.id}-{state.segment(pass_id):03d}.warc.gz")
        # Without a proxy, connections go through the network guard (checked resolution); a proxy resolves itself.
        direct = cfg.proxy is None and not source.allow_private_network
        self._client = client or httpx.Client(
            proxy=cfg.proxy,
            timeout=cfg.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate", **source.headers},
            trust_env=cfg.proxy is None,
            transport=guarded_transport() if direct else None,
        )
        self._documents = state.stored_in_pass(pass_id)  # max_pages counts new or changed documents only
        self._queued: set[str] = set()
        self._queued_total = state.frontier_size(pass_id)

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _event(
        self, out: _Outcome, url: str, outcome: str, detail: str = "", status: int | None = None, **extra: Any
    ) -> None:
        ev = CrawlEvent(url, outcome, detail, status, datetime.now(UTC).isoformat(), dict(extra))
        out.events.append(ev)
        if self._progress:
            self._progress(ev)

    def _link(
        self, out: _Outcome, url: str, depth: int, via: str, meta: dict[str, Any] | None = None
    ) -> None:
        url = normalize_url(url)
        if url in self._queued and not meta:
            return  # already sent to the frontier by this process (the database dedups across resumes)
        if not (url.startswith(("http://", "https://")) and self.source.allowed_url(url)):
            return
        if url not in self._queued:
            if self._queued_total >= self.source.queue_limit:
                out.cut_queue += 1
                return
            if out.page_cap and len(out.links) >= out.page_cap:
                out.cut_page += 1
                return
            self._queued_total += 1
        self._queued.add(url)
        out.links.append((url, depth, via, meta or {}))

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped()

    # -- HTTP ----------------------------------------------------------------------------------------------------
    def _request(
        self, url: str, extra_headers: dict[str, str] | None = None, *, truncate_at: int | None = None
    ) -> _Response:
        """GET with the body capped (``truncate_at``: keep that many bytes instead of failing, for robots.txt)."""
        host = host_of(url)
        delay = self.policy.delay_for(host)
        if (
            delay > 0
        ):  # the slot schedule lives in the catalog database, so it holds across sources and workers
            while (wait := self.state.reserve_host(host, delay)) > 0:
                self._wait(wait)
        if self._stop.is_set():
            raise _Stopped()
        limit = truncate_at or self.cfg.max_body_bytes
        fetched_at = datetime.now(UTC)
        started = time.monotonic()
        self.report.requests += 1
        with self._client.stream("GET", url, headers=extra_headers or None) as r:
            self.report.responses += 1
            chunks: list[bytes] = []
            size = 0
            for chunk in r.iter_raw():
                if self._stop.is_set():
                    raise _Stopped()
                size += len(chunk)
                if size > limit and truncate_at is not None:
                    chunks.append(chunk[: len(chunk) - (size - limit)])
                    break
                if size > limit:
                    raise BodyTooLarge(f"body exceeds max_body_bytes={self.cfg.max_body_bytes}")
                if time.monotonic() - started > self.cfg.max_seconds_per_request:
                    raise RequestTooSlow(
                        f"body not complete after max_seconds_per_request={self.cfg.max_seconds_per_request}"
                    )
                chunks.append(chunk)
            wire = b"".join(chunks)
            resp = _Response(
                str(r.url),
                r.status_code,
                r.reason_phrase,
                list(r.headers.multi_items()),
                wire,
                b"",
                fetched_at,
            )
        resp.body = decode_content(
            wire, resp.header("content-encoding"), limit, truncate=truncate_at is not None
        )
        return resp

    def _store(self, resp: _Response, extra_headers: dict[str, str] | None = None) -> tuple[str, str, str]:
        req_headers = [
            ("User-Agent", self.cfg.user_agent),
            ("Host", host_of(resp.url)),
            *self.source.headers.items(),
        ]
        req_headers += list((extra_headers or {}).items())
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

    def _ensure_host(self, url: str, out: _Outcome) -> None:
        """robots.txt (and tdmrep.json) of the URL's host, fetched once per pass and archived."""
        host = host_of(url)
        if self.policy.known(host):
            return
        scheme = urlsplit(url).scheme
        robots_url = f"{scheme}://{host}/robots.txt"
        resp = self._fetch_robots(robots_url, host, out)
        if resp is None:
            return
        raw_ref, _, sha = self._store(resp)
        body = resp.body
        detail = f"HTTP {resp.status}"
        if len(body) >= self.cfg.max_robots_bytes:
            cut = f"robots.txt of {host} cut at {self.cfg.max_robots_bytes:,} bytes (RFC 9309 2.5); the rest ignored"
            detail += f"; {cut}"
            self.report.note_cut(cut)
        if 200 <= resp.status < 300:
            rules = HostRules(Protego.parse(body.decode("utf-8", errors="replace")), True, sha)
        elif 400 <= resp.status < 500:
            rules = HostRules(None, True, sha)  # 2.3.1.3: unavailable -> allowed
        else:
            rules = HostRules(None, False, sha)  # 2.3.1.4: server error -> disallowed
        self.policy.set_rules(host, rules)
        self._event(out, robots_url, "robots", detail, resp.status, raw_ref=raw_ref, sha256=sha)
        for sm in self.policy.sitemaps(host)[:SITEMAP_LINKS]:
            self._link(out, sm, 0, "robots-sitemap")
        if self.cfg.tdmrep:
            tdm_url = f"{scheme}://{host}/.well-known/tdmrep.json"
            if self.policy.allowed(tdm_url)[0]:
                try:
                    tdm = self._request(tdm_url, truncate_at=self.cfg.max_robots_bytes)
                except (httpx.HTTPError, BodyTooLarge, RequestTooSlow, ValueError, AddressRefused) as exc:
                    self._event(out, tdm_url, "error", f"tdmrep.json: {exc}")
                    return
                ref, _, _ = self._store(tdm)
                rules_ = parse_tdmrep(tdm.body) if tdm.status == 200 else []
                self.policy.set_tdm(host, rules_)
                self._event(
                    out, tdm_url, "tdmrep", f"HTTP {tdm.status}, {len(rules_)} rules", tdm.status, raw_ref=ref
                )

    def _fetch_robots(self, robots_url: str, host: str, out: _Outcome) -> _Response | None:
        """robots.txt, retried on connection failures and timeouts (a refused connection is often a restart);
        None when the host stays unreachable or is refused: its rules are then set here."""
        why = ""
        for attempt in range(self.cfg.max_retries + 1):
            try:
                return self._request(robots_url, truncate_at=self.cfg.max_robots_bytes)
            except AddressRefused as exc:
                reason = f"{exc}; {OPT_IN}"
                self.policy.set_rules(host, HostRules(None, False, "-", refused=reason))
                self.report.refused += 1
                self._event(out, robots_url, "refused-address", reason)
                return None
            except (*TRANSIENT, RequestTooSlow) as exc:
                why = f"{type(exc).__name__}: {exc}"
            except (BodyTooLarge, ValueError, httpx.HTTPError) as exc:
                why = f"{type(exc).__name__}: {exc}"
                break
            if attempt < self.cfg.max_retries:
                wait = self.cfg.backoff_seconds * (2**attempt)
                self._event(
                    out, robots_url, "retry", f"robots.txt: {why}; attempt {attempt + 1}, next in {wait:.1f}s"
                )
                self._wait(wait)
        # RFC 9309 2.3.1.4: unreachable robots.txt means assume complete disallow.
        self.policy.set_rules(host, HostRules(None, False, "-"))
        if host not in self.report.unreachable_hosts:
            self.report.unreachable_hosts.append(host)
        self._event(
            out,
            robots_url,
            "error",
            f"robots.txt unreachable after {attempt + 1} attempts, host treated as disallowed: {why}",
        )
        return None

    def _permitted(self, url: str, out: _Outcome) -> tuple[bool, str, str]:
        if not self.source.allowed_url(url):
            return False, "skipped-pattern", "outside the source's allow/deny patterns"
        from fincorpus.catalog.erasure import crawl_blocked  # takedown hook

        if (hold := crawl_blocked(self.home, self.source.id, url)) is not None:
            return False, "skipped-takedown", f"covered by takedown {hold.request_id}; not fetched"
        if not self.source.allow_private_network:
            refused = refuse_url_host(urlsplit(url).hostname or "")
            if refused:
                self.report.refused += 1
                return False, "refused-address", f"{refused}; {OPT_IN}"
        self._ensure_host(url, out)
        ok, why = self.policy.allowed(url)
        if not ok and self.policy.refused(host_of(url)):
            return False, "refused-address", why
        return ok, ("fetched" if ok else "skipped-robots"), why

    # -- discovery ---------------------------------------------------------------------------------------------------
    def _discover_html(self, body: bytes, page_url: str, depth: int, out: _Outcome) -> None:
        """Links of an HTML page from a streaming parse, fed in chunks and stopped once the page's cap is reached."""
        target = _LinkTarget()
        parser = lxml.etree.HTMLParser(target=target, no_network=True)
        base: str | None = None
        seen = 0
        follow = depth < self.source.max_depth
        step = 1 << 16
        for i in range(0, len(body), step):
            try:
                parser.feed(body[i : i + step])
            except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
                break
            tags, target.tags = target.tags, []
            for tag, attrs in tags:
                href = (attrs.get("href") or "").strip()
                if not href:
                    continue
                if tag == "base":
                    base = base or urljoin(page_url, href)
                    continue
                seen += 1
                where = base or page_url
                if tag == "link":
                    rel = (attrs.get("rel") or "").lower().split()
                    if (attrs.get("type") or "").lower() in FEED_LINK_TYPES:
                        self._link(out, urljoin(where, href), depth, "feed-link")
                    elif "canonical" in rel:
                        self._link(out, urljoin(where, href), depth, "canonical")
                elif follow and not href.startswith(("javascript:", "mailto:", "tel:", "#")):
                    self._link(out, urljoin(where, href), depth + 1, "link")
            if out.cut_page or out.cut_queue or seen > 20 * out.page_cap:
                out.unread = i + step < len(body)
                break
        with contextlib.suppress(lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
            parser.close()

    def _discover_xml(self, body: bytes, page_url: str, depth: int, out: _Outcome) -> bool:
        """Sitemaps (urlset / sitemapindex) and RSS/Atom feeds; returns False if it is neither."""
        try:
            root = lxml.etree.fromstring(
                body, parser=lxml.etree.XMLParser(resolve_entities=False, no_network=True)
            )
        except lxml.etree.XMLSyntaxError:
            return False
        tag = lxml.etree.QName(root).localname.lower()
        if tag in ("urlset", "sitemapindex"):
            for url_el in root.iter("{*}url", "{*}sitemap"):
                loc = url_el.find("{*}loc")
                lastmod = url_el.find("{*}lastmod")
                if loc is not None and loc.text:
                    meta = {"published": lastmod.text.strip()} if lastmod is not None and lastmod.text else {}
                    self._link(out, loc.text, depth, "sitemap", meta)
            return True
        if tag in ("rss", "feed", "rdf"):
            for link in feed_item_links(root):
                self._link(out, urljoin(page_url, link), depth, "feed")
            return True
        return False

    def _discover(self, body: bytes, mtype: str, page_url: str, item: QueueItem, out: _Outcome) -> bool:
        """Queue what a body links to; True if the body was a listing only (API page, sitemap, feed)."""
        try:
            return self._discover_bounded(body, mtype, page_url, item, out)
        finally:
            self._log_cut(out, page_url)

    def _log_cut(self, out: _Outcome, page_url: str) -> None:
        if not (out.cut_page or out.cut_queue or out.unread):
            return
        parts = [f"{len(out.links)} links queued"]
        if out.cut_page:
            parts.append(f"{out.cut_page} more not queued (max_links_per_page={out.page_cap})")
        if out.cut_queue:
            parts.append(
                f"{out.cut_queue} not queued: the pass's frontier is full (max_queued={self.source.queue_limit})"
            )
        if out.unread:
            parts.append("the rest of the page was not parsed")
        detail = "; ".join(parts)
        self.report.note_cut(f"{page_url}: {detail}")
        self._event(out, page_url, "links-cut", detail)

    def _discover_bounded(
        self, body: bytes, mtype: str, page_url: str, item: QueueItem, out: _Outcome
    ) -> bool:
        out.page_cap = self.cfg.max_links_per_page
        if item.via == "api" and self.source.json_api is not None:
            links, detail = json_api_links(
                self.source.json_api, page_url, body, item.depth, item.meta.get("api_page")
            )
            for url, depth, via, meta in links:
                self._link(out, url, depth, via, meta)
            self._event(out, page_url, "api-page", detail)
            return True
        looks_xml = mtype in XML_TYPES or (mtype == "text/plain" and body.lstrip()[:5] == b"<?xml")
        if looks_xml:
            out.page_cap = max(self.cfg.max_links_per_page, SITEMAP_LINKS)
            if self._discover_xml(body, page_url, item.depth, out):
                return True
            out.page_cap = self.cfg.max_links_per_page
        if mtype in ("text/html", "application/xhtml+xml"):
            self._discover_html(body, page_url, item.depth, out)
        return False

    # -- one URL ---------------------------------------------------------------------------------------------------------
    def _handle(self, item: QueueItem, out: _Outcome | None = None, *, fresh: bool = False) -> Completion:
        """Fetch one URL; ``fresh`` drops the validators (the stored copy a 304 would point at is unreadable)."""
        out = out or _Outcome()
        url = item.url
        chain: list[str] = list(item.meta.get("redirect_chain", []))
        ok, outcome, why = self._permitted(url, out)
        if not ok:
            self._event(out, url, outcome, why + (f" (redirected from {chain[-1]})" if chain else ""))
            return Completion(outcome, out.links, out.events)
        memory = self.state.page(self.source.id, url)
        conditional: dict[str, str] = {}
        if memory is not None and memory.etag and not fresh:
            conditional["If-None-Match"] = memory.etag
        if memory is not None and memory.last_modified and not fresh:
            conditional["If-Modified-Since"] = memory.last_modified
        try:
            resp = self._request(url, conditional)
        except AddressRefused as exc:
            self.report.refused += 1
            self._event(out, url, "refused-address", f"{exc}; {OPT_IN}")
            return Completion("refused-address", out.links, out.events)
        except (httpx.TimeoutException, httpx.TransportError, RequestTooSlow) as exc:
            return self._retry_or_fail(item, out, f"{type(exc).__name__}: {exc}", None)
        except (BodyTooLarge, ValueError, httpx.HTTPError) as exc:
            self._event(out, url, "error", f"{type(exc).__name__}: {exc}")
            return Completion("error", out.links, out.events)
        if resp.status in RETRY_STATUSES:
            self._store(resp, conditional)
            return self._retry_or_fail(item, out, f"HTTP {resp.status}", resp)
        if resp.status in (301, 302, 303, 307, 308) and resp.header("location"):
            return self._redirect(item, resp, chain, conditional, out)
        mtype = media_type(resp.header("content-type"))
        if resp.status == 304 and memory is not None:
            self._store(resp, conditional)
            try:
                body = read_raw(self.home, memory.capture.raw_ref).body
            except RawRefError as exc:  # the stored copy is damaged: fetch the page again, unconditionally
                self._event(out, resp.url, "integrity", f"stored copy unreadable, fetched again: {exc}", 304)
                return self._handle(item, _Outcome(events=out.events), fresh=True)
            self._event(out, resp.url, "not-modified", "304: validators matched", 304)
            self._discover(body, memory.capture.content_type, memory.capture.final_url, item, out)
            return Completion("not-modified", out.links, out.events, page=memory)
        raw_ref, record_id, sha = self._store(resp, conditional)
        self._event(
            out,
            resp.url,
            "fetched",
            f"{mtype or 'no content type'} via {item.via}",
            resp.status,
            raw_ref=raw_ref,
        )
        if resp.status != 200:
            self._event(out, resp.url, "http-error", f"HTTP {resp.status}", resp.status)
            return Completion("http-error", out.links, out.events)
        headers = resp.header_map()
        capture = Capture(
            source_id=self.source.id,
            url=chain[0] if chain else url,  # the URL first requested
            final_url=normalize_url(resp.url),
            status=resp.status,
            content_type=mtype,
            headers=headers,
            fetched_at=resp.fetched_at,
            raw_ref=raw_ref,
            raw_sha256=sha,
            warc_record_id=record_id,
            redirect_chain=tuple(chain),
            discovered_via=item.via,
            version=memory.version + 1 if memory else 1,
            previous_raw_ref=memory.capture.raw_ref if memory else None,
            access=self.policy.decision(resp.url, headers),
            item=_item_meta(item.meta),
        )
        unchanged = memory is not None and memory.raw_sha256 == sha
        # Listings (API pages, sitemaps, feeds) are remembered too, so a re-crawl asks for them conditionally.
        page = (
            PageMemory(memory.version, sha, headers.get("etag"), headers.get("last-modified"), memory.capture)
            if unchanged and memory is not None
            else PageMemory(capture.version, sha, headers.get("etag"), headers.get("last-modified"), capture)
        )
        if self._discover(resp.body, mtype, resp.url, item, out):
            return Completion("listing", out.links, out.events, page=replace(page, listing=True))
        is_json_doc = self.source.json_document is not None and mtype in JSON_TYPES
        if mtype not in DOCUMENT_TYPES and not is_json_doc:
            self._event(
                out, resp.url, "not-document", f"content type {mtype or 'missing'} is not a document type"
            )
            return Completion("not-document", out.links, out.events)
        if unchanged:
            self._event(out, resp.url, "unchanged", "body hash equals the stored version", resp.status)
            return Completion("unchanged", out.links, out.events, page=page)
        return Completion("document", out.links, out.events, capture=capture, page=page)

    def _redirect(
        self, item: QueueItem, resp: _Response, chain: list[str], conditional: dict[str, str], out: _Outcome
    ) -> Completion:
        """A redirect completes its URL and queues the target as a URL of its own, carrying the chain.

        The target then passes the same pattern and robots checks before it is requested, and a target that is
        also linked directly is fetched once, not once per path that leads to it.
        """
        self._store(resp, conditional)
        chain = [*chain, item.url]
        nxt = normalize_url(urljoin(item.url, resp.header("location") or ""))
        self._event(out, item.url, "redirect", f"{resp.status} -> {nxt}", resp.status)
        if nxt in chain:
            self._event(out, nxt, "error", "redirect loop: " + " -> ".join([*chain, nxt]))
            return Completion("error", out.links, out.events)
        if len(chain) > self.cfg.max_redirects:
            self._event(
                out, nxt, "error", f"more than {self.cfg.max_redirects} redirects: " + " -> ".join(chain)
            )
            return Completion("error", out.links, out.events)
        out.links.append((nxt, item.depth, item.via, {**item.meta, "redirect_chain": chain}))
        return Completion("redirect", out.links, out.events)

    def _retry_or_fail(self, item: QueueItem, out: _Outcome, why: str, resp: _Response | None) -> Completion:
        wait = self.cfg.backoff_seconds * (2**item.attempts)
        retry_after = retry_after_seconds(resp.header("retry-after")) if resp is not None else None
        if retry_after is not None:
            if retry_after > self.cfg.max_retry_after_seconds:
                self._event(
                    out,
                    item.url,
                    "error",
                    f"{why}; Retry-After {retry_after:.0f}s exceeds max_retry_after_seconds",
                )
                return Completion("error", out.links, out.events)
            wait = retry_after
        status = resp.status if resp is not None else None
        if item.attempts >= self.cfg.max_retries:
            self._event(out, item.url, "error", f"{why}; gave up after {item.attempts + 1} attempts", status)
            return Completion("error", out.links, out.events)
        self._event(
            out, item.url, "retry", f"{why}; attempt {item.attempts + 1}, next in {wait:.1f}s", status
        )
        return Completion("retry", out.links, out.events, retry_at=time.time() + wait)

    # -- main loop ------------------------------------------------------------------------------------------------------
    def run(self) -> CrawlReport:
        """Crawl until the frontier is empty or ``max_pages`` new or changed documents are stored.

        Raises :class:`fincorpus.locks.LockHeld` when another process crawls this source, and
        :class:`~fincorpus.sources.base.CrawlStopped` when a stop was requested (the pass stays open).
        """
        lock = self.state.crawl_lock(self.source.id)
        try:
            self._crawl()
        finally:
            lock.release()
        return self.report

    def _crawl(self) -> None:
        # Always (re)queue the starting points: already-seen URLs are ignored, and a pass killed between its
        # creation and its first commit must not resume with an empty frontier.
        out = _Outcome()
        for url in self.source.seeds:
            self._link(out, url, 0, "seed")
        for url in self.source.sitemaps:
            self._link(out, url, 0, "sitemap")
        for url in self.source.feeds:
            self._link(out, url, 0, "feed")
        for url in self.source.json_api.start if self.source.json_api else []:
            self._link(out, url, 0, "api")
        self.state.enqueue(self.pass_id, out.links)
        while not self._stop.is_set():
            item = self.state.next_item(self.pass_id, stop=self._stop)
            if item is None:
                break
            if self._documents >= self.source.max_pages:
                self._limit_reached(item)
                break
            try:
                done = self._handle(item)
            except _Stopped:
                break  # the URL in flight stays queued
            self.state.complete(self.pass_id, self.source.id, item, done)
            if done.outcome == "document":
                self._documents += 1
                self.report.stored += 1
            elif done.outcome in ("not-modified", "unchanged"):
                self.report.unchanged += 1
        if self._stop.is_set():
            self.report.stopped = True
            raise CrawlStopped(self.report)
        self.state.finish_pass(self.pass_id)

    def _limit_reached(self, item: QueueItem) -> None:
        """One event for every URL the limit leaves unfetched (not one per URL), and the report says so."""
        left = self.state.close_queue(self.pass_id, "skipped-limit")
        n = self.source.max_pages
        self.report.limit_hit = (
            f"max_pages={n} new or changed documents stored; {left} queued URLs not fetched "
            f"(first {item.url}); the next ingest continues from there"
        )
        self.state.log(
            self.pass_id,
            [CrawlEvent(item.url, "skipped-limit", self.report.limit_hit, at=datetime.now(UTC).isoformat())],
        )

    def close(self) -> None:
        self._client.close()
        self.archive.close()
