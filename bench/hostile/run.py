"""Peak memory of the hostile inputs of issue 14, each in a fresh process, on loopback only.

Scenarios (inputs generated in a temporary folder and deleted afterwards; nothing is committed):

- ``links``:  a page with 1,000,000 links (~30 MB) crawled through the fixture server (a forward proxy on 127.0.0.1)
- ``robots``: a 48 MB robots.txt in front of one page
- ``bigfile``: a `files` source holding one 2 GB file (sparse) next to a small one
- ``bomb``:   a 2 MB PDF whose content stream inflates to 2 GiB, extracted in process (``--mode direct``, what
              ingest did before) or through the sandbox (``--mode isolated``, 1 GiB limit)

For each: peak RSS of the process (``os.wait4``; the PDF worker's own peak is reported beside it), wall time,
catalog database size and crawl-log rows. ``--code DIR`` runs the scenario against another checkout (e.g. the
commit before the fix, unpacked with ``git archive``), so before and after are measured by the same script.

Run: `.venv/bin/python bench/hostile/run.py [--code DIR] [--only links,robots] [--mode isolated]`.
Writes bench/results/hostile.json (or --out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))  # benchmeta; fincorpus itself comes from PYTHONPATH (--code first)

SCENARIOS = ("links", "robots", "bigfile", "bomb")
ARTICLE = (
    "<html><head><title>{n}</title></head><body><article><p>第{n}篇：" + "公司董事会审议通过年度报告。" * 20
)


def serve(folder: Path, port_file: Path) -> None:
    """A forward-proxy-style origin for one host: files of ``folder`` streamed from disk, /p/N.html generated."""
    import shutil as sh
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # otherwise every response waits ~40 ms for a delayed ACK

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            file = folder / ("index.html" if path in ("/", "/index.html") else path.lstrip("/"))
            if path.startswith("/p/"):
                body = (ARTICLE.format(n=path[3:].split(".")[0]) + "</p></article></body></html>").encode()
                self._head(200, len(body), "text/html; charset=utf-8")
                self.wfile.write(body)
            elif file.is_file() and file.parent == folder:
                self._head(200, file.stat().st_size, "text/plain" if file.suffix == ".txt" else "text/html")
                with open(file, "rb") as fh:
                    sh.copyfileobj(fh, self.wfile, 1 << 20)
            else:
                self._head(404, 0, "text/plain")

        def _head(self, status: int, length: int, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(length))
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    port_file.write_text(str(srv.server_address[1]))
    srv.serve_forever()


class _server_process:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> str:
        port_file = self.folder.parent / "port"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve",
                str(self.folder),
                "--work",
                str(port_file),
            ]
        )
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                return f"http://127.0.0.1:{port_file.read_text()}"
            time.sleep(0.05)
        raise RuntimeError("test server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


def _sources_yaml(path: Path, body: str) -> Path:
    path.write_text("sources:\n" + body, encoding="utf-8")
    return path


def inner(scenario: str, work: Path, mode: str) -> dict:
    """Runs in the measured process; imports whichever fincorpus is first on PYTHONPATH."""
    from fincorpus.pipelines.ingest import crawl_source
    from fincorpus.sources.registry import load_sources

    home = work / "home"
    facts: dict = {}
    if scenario in ("links", "robots"):
        from tests.hostile import many_links_page

        site = work / "sites" / "h.test"
        site.mkdir(parents=True)
        if scenario == "links":
            facts["page_bytes"] = many_links_page(site / "index.html", 1_000_000)
            (site / "robots.txt").write_text("User-agent: *\nAllow: /\n")
        else:
            with open(site / "robots.txt", "w") as fh:
                fh.write("User-agent: *\nDisallow: /private/\n")
                line = "Disallow: /" + "x" * 80 + "/\n"
                while fh.tell() < 48_000_000:
                    fh.write(line * 1000)
            facts["robots_bytes"] = (site / "robots.txt").stat().st_size
            (site / "index.html").write_text("<html><body><p>一页正文。</p></body></html>", encoding="utf-8")
        src = _sources_yaml(
            work / "s.yaml",
            "  - {id: h, name: h, kind: web, seeds: ['http://h.test/'], licence: unknown, legal_basis: t}\n",
        )
        with _server_process(site) as proxy:  # its own process: the server's memory is not the crawler's
            sf = load_sources(src)
            crawler = sf.crawler.model_copy(update={"proxy": proxy, "delay_seconds": 0, "tdmrep": False})
            res = crawl_source(sf.model_copy(update={"crawler": crawler}), "h", home)
        facts["outcomes"] = res.outcomes
    elif scenario == "bigfile":
        folder = work / "folder"
        folder.mkdir()
        with open(folder / "big.txt", "wb") as fh:
            fh.truncate(2_000_000_000)  # sparse: no disk used
        (folder / "small.txt").write_text("一份小文件：公司公告正文。", encoding="utf-8")
        src = _sources_yaml(
            work / "s.yaml",
            "  - {id: f, name: f, kind: files, path: folder, licence: unknown, legal_basis: t}\n",
        )
        try:
            res = crawl_source(load_sources(src), "f", home)
            facts["outcomes"] = res.outcomes
        except MemoryError as exc:
            facts["failed"] = f"MemoryError {exc}"
    else:
        import resource

        from tests.hostile import flate_bomb_pdf

        facts["pdf_bytes"] = flate_bomb_pdf(work / "bomb.pdf", 2 << 30)
        body = (work / "bomb.pdf").read_bytes()
        t0 = time.perf_counter()
        try:
            if mode == "isolated":
                from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated

                r = extract_pdf_isolated(body, max_memory_bytes=1 << 30, timeout_s=60)
            else:
                from fincorpus.cleaning.extract import extract_pdf

                r = extract_pdf(body)
            facts["result"] = f"extracted {r.pages} pages"
        except Exception as exc:
            facts["result"] = f"{type(exc).__name__}: {exc}"
        facts["extract_seconds"] = round(time.perf_counter() - t0, 1)
        facts["worker_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    if (home / "catalog.db").exists():
        import sqlite3

        facts["catalog_db_mb"] = round((home / "catalog.db").stat().st_size / 1e6, 1)
        with sqlite3.connect(home / "catalog.db") as c:
            facts["crawl_events"] = c.execute("SELECT COUNT(*) FROM crawl_event").fetchone()[0]
            facts["frontier_rows"] = c.execute("SELECT COUNT(*) FROM crawl_frontier").fetchone()[0]
    raw = home / "raw"
    if raw.exists():
        facts["warc_mb"] = round(sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6, 1)
    return facts


def measure(scenario: str, code: Path, mode: str, timeout: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"fincorpus-hostile-{scenario}-"))
    out = work / "facts.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), str(REPO)])}
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--inner",
        scenario,
        "--work",
        str(work),
        "--mode",
        mode,
    ]
    t0 = time.perf_counter()
    err_file = work / "stderr.txt"
    with open(out, "w") as fo, open(err_file, "w") as fe:
        proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=fo, stderr=fe, start_new_session=True)

    def kill_group() -> None:  # the scenario and the test server it started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)

    killed = threading.Timer(timeout, kill_group)
    killed.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killed.cancel()
        proc.returncode = 0
    seconds = time.perf_counter() - t0
    kill_group()
    err = err_file.read_text(errors="replace")
    result: dict = {
        "scenario": scenario,
        "mode": mode if scenario == "bomb" else None,
        "peak_rss_mb_with_children": round(usage.ru_maxrss / 1024),
        "seconds": round(seconds, 1),
        "exit": (-os.WTERMSIG(status)) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
    }
    if seconds >= timeout:
        result["killed"] = f"still running after {timeout:.0f} s: killed (figures are up to then)"
    try:
        result.update(json.loads(out.read_text()))
    except (OSError, json.JSONDecodeError):
        result["stderr_tail"] = err.strip().splitlines()[-3:]
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose fincorpus is measured")
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument("--mode", default="isolated", choices=["isolated", "direct"])
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "hostile.json")
    ap.add_argument("--inner", choices=SCENARIOS)
    ap.add_argument("--serve", type=Path)
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.work)
        return
    if args.inner:
        facts = inner(args.inner, args.work, args.mode)
        # VmHWM of this process (ru_maxrss would carry the parent's peak across exec)
        status = Path("/proc/self/status").read_text().splitlines()
        hwm = next(int(x.split()[1]) for x in status if x.startswith("VmHWM"))
        facts["self_peak_rss_mb"] = round(hwm / 1024)
        print(json.dumps(facts, ensure_ascii=False))
        return
    from benchmeta import machine

    rows = []
    for scenario in args.only.split(","):
        row = measure(scenario, args.code.resolve(), args.mode, args.timeout)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
    result = {"machine": machine(), "code": str(args.code.resolve()), "scenarios": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
