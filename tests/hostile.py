"""A hostile HTTP server for crawler fault tests (our own pages), acting as a forward proxy for hostile.test."""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

ARTICLE = "央行今日开展逆回购操作，维护银行体系流动性合理充裕。" * 6
PATHS = [
    "/burst.html",
    "/ratelimited.html",
    "/slow.html",
    "/endless.html",
    "/trickle.html",
    "/bomb.html",
    "/loop-a.html",
    "/nocharset.html",
    "/wrongcharset.html",
    "/truncated.html",
    "/missing.html",
    "/ok.html",
    "/retry-forever.html",
]


def _html(body: str) -> str:
    return f"<html><head><title>t</title></head><body><article><p>{body}</p></article></body></html>"


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    hits: ClassVar[Counter] = Counter()
    stop: ClassVar[threading.Event] = threading.Event()

    def log_message(self, *a: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {"Content-Type": "text/html; charset=utf-8"}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        n = HostileHandler.hits[path] = HostileHandler.hits[path] + 1
        page = _html(ARTICLE).encode()
        if path == "/robots.txt":
            return self._send(200, b"User-agent: *\nAllow: /\n", {"Content-Type": "text/plain"})
        if path in ("/", "/index.html"):
            links = "".join(f'<a href="{p}">{p}</a>' for p in PATHS)
            return self._send(200, f"<html><body>{links}</body></html>".encode())
        if path == "/burst.html":
            return self._send(500, b"busy") if n <= 2 else self._send(200, page)
        if path == "/ratelimited.html":
            return self._send(429, b"slow down", {"Retry-After": "1"}) if n == 1 else self._send(200, page)
        if path == "/retry-forever.html":
            return self._send(503, b"down", {"Retry-After": "3600"})
        if path == "/slow.html":
            time.sleep(2.5)
            return self._send(200, page)
        if path in ("/endless.html", "/trickle.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = (b"x" * 65536) if path == "/endless.html" else b"y"
            try:
                while not HostileHandler.stop.is_set():
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    if path == "/trickle.html":
                        time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if path == "/bomb.html":
            return self._send(
                200,
                gzip.compress(b"0" * 20_000_000),
                {"Content-Type": "text/html", "Content-Encoding": "gzip"},
            )
        if path == "/loop-a.html":
            return self._send(302, b"", {"Location": "/loop-b.html"})
        if path == "/loop-b.html":
            return self._send(302, b"", {"Location": "/loop-a.html"})
        if path == "/nocharset.html":
            return self._send(200, _html(ARTICLE).encode("gbk"), {"Content-Type": "text/html"})
        if path == "/wrongcharset.html":
            return self._send(200, _html(ARTICLE).encode("gbk"), {"Content-Type": "text/html; charset=utf-8"})
        if path == "/truncated.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(page[:300])
            self.close_connection = True
            return None
        if path == "/ok.html":
            return self._send(200, page)
        return self._send(404, b"not here")


def start() -> tuple[ThreadingHTTPServer, str]:
    HostileHandler.hits.clear()
    HostileHandler.stop.clear()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def flate_bomb_pdf(path: Path, inflated_bytes: int, level: int = 9) -> int:
    """Write a one-page PDF whose content stream inflates to ``inflated_bytes`` of spaces; returns the file size.

    Streamed: neither the inflated nor the compressed stream is held in memory. 2 GiB inflate from ~2 MB.
    """
    import zlib

    chunk = b" " * (1 << 20)
    gz = zlib.compressobj(level)
    with open(path, "wb") as fh:
        offsets: list[int] = []

        def obj(body: bytes) -> None:
            offsets.append(fh.tell())
            fh.write(body)

        fh.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        obj(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
        obj(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
        obj(
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << >> >>\nendobj\n"
        )
        offsets.append(fh.tell())
        fh.write(b"4 0 obj\n<< /Length 5 0 R /Filter /FlateDecode >>\nstream\n")
        start = fh.tell()
        left = inflated_bytes
        while left > 0:
            n = min(left, len(chunk))
            fh.write(gz.compress(chunk[:n]))
            left -= n
        fh.write(gz.flush())
        length = fh.tell() - start
        fh.write(b"\nendstream\nendobj\n")
        obj(f"5 0 obj\n{length}\nendobj\n".encode())
        xref = fh.tell()
        fh.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for off in offsets:
            fh.write(f"{off:010d} 00000 n \n".encode())
        fh.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
        return fh.tell()


def many_links_page(path: Path, links: int) -> int:
    """An HTML page with ``links`` distinct anchors (written in chunks); returns its size."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("<html><head><title>links</title></head><body>\n")
        for start in range(0, links, 10_000):
            fh.write(
                "".join(f'<a href="/p/{i}.html">{i}</a>\n' for i in range(start, min(start + 10_000, links)))
            )
        fh.write("</body></html>\n")
    return path.stat().st_size
