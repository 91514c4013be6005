"""Load a local HTML file in headless Chromium (Debian's `chromium`) and collect console errors and a screenshot.

Talks the DevTools protocol over a websocket (the `websockets` package), so errors are events, not log lines
to parse. No network: the page is a file:// URL and background networking is switched off.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
    "--window-size=1100,900",
]


@dataclass
class PageLoad:
    errors: list[str] = field(default_factory=list)
    title: str = ""
    svg_count: int = 0
    screenshot: Path | None = None


def load_page(html: Path, workdir: Path, timeout: float = 60.0) -> PageLoad:
    """Open ``html`` in a fresh Chromium profile under ``workdir``; screenshot to ``workdir/<name>.png``."""
    from websockets.sync.client import connect

    assert CHROMIUM, "chromium is not installed (apt-get install chromium)"
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir))  # fresh: no stale port file
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        with urlopen(Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT"), timeout=10) as r:
            ws_url = json.loads(r.read())["webSocketDebuggerUrl"]
        result = PageLoad()
        ids = count(1)
        with connect(ws_url, max_size=64 << 20, open_timeout=10) as ws:

            def call(method: str, **params: Any) -> dict[str, Any]:
                i = next(ids)
                ws.send(json.dumps({"id": i, "method": method, "params": params}))
                while True:
                    msg = json.loads(ws.recv(timeout=timeout))
                    if msg.get("id") == i:
                        return msg.get("result", {})
                    _event(msg, result)

            for domain in ("Runtime", "Log", "Page"):
                call(f"{domain}.enable")
            call("Page.navigate", url=html.resolve().as_uri())
            loaded = False
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    msg = json.loads(ws.recv(timeout=1.0 if loaded else timeout))
                except TimeoutError:
                    break  # a quiet second after the load event: late errors would have arrived
                if msg.get("method") == "Page.loadEventFired":
                    loaded = True
                _event(msg, result)
            assert loaded, "the page never fired its load event"
            ev = call(
                "Runtime.evaluate",
                expression="[document.title, document.querySelectorAll('svg').length]",
                returnByValue=True,
            )
            result.title, result.svg_count = ev["result"]["value"]
            shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            result.screenshot = workdir / f"{html.stem}.png"
            result.screenshot.write_bytes(base64.b64decode(shot["data"]))
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _event(msg: dict[str, Any], result: PageLoad) -> None:
    method, p = msg.get("method"), msg.get("params", {})
    if method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        result.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
    elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        result.errors.append(
            "console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
        )
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        result.errors.append(f"log: {p['entry'].get('text')}")
