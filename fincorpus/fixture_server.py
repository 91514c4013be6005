"""Serve the offline mirror sites (``shared/data/sites``) on 127.0.0.1 as an HTTP forward proxy.

A crawler configured with ``proxy: http://127.0.0.1:PORT`` asks for ``http://regulator.test/...`` and gets
``sites/regulator.test/...``. ``_headers`` and ``_redirects`` (Netlify format) are honoured, control files are
never served, unknown hosts get 502 (nothing leaves the machine), and every request is logged as JSON lines so
tests can prove what reached the server.

Run: ``python -m fincorpus.fixture_server --root ../shared/data/sites --port 8899 --log requests.jsonl``
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".shtml": "text/html",
    ".json": "application/json",
    ".xml": "application/xml",
    ".atom": "application/atom+xml",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
}


@dataclass(frozen=True)
class HeaderRule:
    pattern: str
    headers: tuple[tuple[str, str], ...]

    def matches(self, path: str) -> bool:
        # Netlify: '*' matches any run of characters including '/'; the rest is literal; whole path must match.
        regex = "^" + ".*".join(re.escape(part) for part in self.pattern.split("*")) + "$"
        return re.match(regex, path) is not None


def parse_headers_file(text: str) -> list[HeaderRule]:
    rules: list[HeaderRule] = []
    pattern: str | None = None
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if pattern is not None:
                rules.append(HeaderRule(pattern, tuple(current)))
            pattern, current = line.strip(), []
        elif pattern is not None and ":" in line:
            name, value = line.strip().split(":", 1)
            current.append((name.strip(), value.strip()))
    if pattern is not None:
        rules.append(HeaderRule(pattern, tuple(current)))
    return rules


def parse_redirects_file(text: str) -> dict[str, tuple[str, int]]:
    rules: dict[str, tuple[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            rules[parts[0]] = (parts[1], int(parts[2]) if len(parts) > 2 else 301)
    return rules


class SiteMirror:
    """The files and control rules of every host under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"fixture root {self.root} is not a folder (expected shared/data/sites)")
        self.hosts = {p.name for p in self.root.iterdir() if p.is_dir()}
        self.header_rules: dict[str, list[HeaderRule]] = {}
        self.redirects: dict[str, dict[str, tuple[str, int]]] = {}
        for host in self.hosts:
            h = self.root / host / "_headers"
            r = self.root / host / "_redirects"
            self.header_rules[host] = parse_headers_file(h.read_text(encoding="utf-8")) if h.exists() else []
            self.redirects[host] = parse_redirects_file(r.read_text(encoding="utf-8")) if r.exists() else {}

    def resolve(self, host: str, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        if host not in self.hosts:
            return 502, [("Content-Type", "text/plain")], f"no fixture host {host!r}\n".encode()
        if path in self.redirects[host]:
            target, status = self.redirects[host][path]
            return status, [("Location", target)], b""
        rel = path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        file = (self.root / host / rel).resolve()
        if (
            self.root / host not in file.parents
            or any(part.startswith("_") for part in Path(rel).parts)
            or not file.is_file()
        ):
            return 404, [("Content-Type", "text/plain")], b"not found\n"
        headers: list[tuple[str, str]] = [
            ("Content-Type", CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream"))
        ]
        for rule in self.header_rules[host]:
            if rule.matches(path):
                for name, value in rule.headers:
                    if name.lower() == "content-type":
                        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                    headers.append((name, value))
        body = file.read_bytes()
        # Validators like a real static server, so conditional re-crawls can be tested.
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        headers += [("ETag", etag), ("Last-Modified", formatdate(file.stat().st_mtime, usegmt=True))]
        return 200, headers, body


class _Handler(BaseHTTPRequestHandler):
    server: FixtureHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # otherwise every response stalls ~40 ms on delayed ACK

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _target(self) -> tuple[str, str]:
        if self.path.startswith(("http://", "https://")):
            parts = urlsplit(self.path)
            return (parts.hostname or "").lower(), unquote(parts.path or "/")
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        path = unquote(urlsplit(self.path).path or "/")
        if host not in self.server.mirror.hosts:
            first, _, rest = path.lstrip("/").partition("/")
            if first in self.server.mirror.hosts:  # path-prefix mode: /<host>/...
                return first, "/" + rest
        return host, path

    def _serve(self, with_body: bool) -> None:
        host, path = self._target()
        status, headers, body = self.server.mirror.resolve(host, path)
        etag = dict((k.lower(), v) for k, v in headers).get("etag")
        if status == 200 and etag and self.headers.get("If-None-Match") == etag:
            status, body = 304, b""
            headers = [(k, v) for k, v in headers if k.lower() in ("etag", "last-modified")]
        self.server.record(
            {
                "ts": time.time(),
                "method": self.command,
                "host": host,
                "path": path,
                "url": f"http://{host}{path}",
                "status": status,
                "user_agent": self.headers.get("User-Agent", ""),
            }
        )
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._serve(True)

    def do_HEAD(self) -> None:
        self._serve(False)


class FixtureHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], mirror: SiteMirror, log_path: Path | None) -> None:
        super().__init__(addr, _Handler)
        self.mirror = mirror
        self.log_path = log_path
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")


class FixtureServer:
    """The fixture server in a background thread, for tests and the demo."""

    def __init__(self, root: Path, port: int = 0, log_path: Path | None = None) -> None:
        self.httpd = FixtureHTTPServer(("127.0.0.1", port), SiteMirror(root), log_path)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self) -> list[dict]:
        return self.httpd.requests

    def start(self) -> FixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def requests_matching(requests: list[dict], host: str, pattern: str = "*") -> list[dict]:
    return [r for r in requests if r["host"] == host and fnmatch.fnmatch(r["path"], pattern)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="the sites folder (shared/data/sites)")
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--log", type=Path, default=None, help="append every request as a JSON line here")
    args = ap.parse_args()
    server = FixtureServer(args.root, args.port, args.log)
    print(f"serving {args.root} as a forward proxy on {server.proxy_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.httpd.serve_forever()


if __name__ == "__main__":
    main()
