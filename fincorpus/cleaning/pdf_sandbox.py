"""PDF text extraction in a child process with an address-space limit and a wall-clock timeout.

PDFium runs in-process and allocates what a PDF asks for: a 2 MB flate bomb (a content stream inflating to 2 GiB)
took 3.4 GB, and under a 3 GiB limit PDFium aborted the whole process (SIGABRT). Here
:func:`fincorpus.cleaning.extract.extract_pdf` runs in a long-lived worker process whose ``RLIMIT_AS`` is set
for each PDF; a PDF that needs more memory, runs too long or crashes the parser costs that worker only, and the
caller gets an :class:`~fincorpus.cleaning.extract.ExtractionError` with the reason, like any unreadable PDF.

Workers are started on first use (``python -m fincorpus.cleaning.pdf_sandbox``, a clean interpreter: no fork of a
process with threads), reused for the next PDF, and replaced after a failure. Requests and answers are pickles
over the worker's stdin/stdout, framed by an 8-byte length. Threads may call :func:`extract_pdf_isolated`
concurrently; up to ``max_workers`` (default: CPU count) workers run at once.
"""

from __future__ import annotations

import atexit
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from fincorpus.cleaning.extract import Extracted, ExtractionError

GIB = 1 << 30
DEFAULT_MEMORY = GIB
DEFAULT_TIMEOUT = 60.0
_HEADER = struct.Struct("!Q")
_RECYCLE_RSS_SHARE = 0.5  # a worker whose RSS stays above this share of its limit after a PDF is replaced


def _size(n: int) -> str:
    return f"{n / GIB:g} GiB" if n >= GIB and n % (GIB // 4) == 0 else f"{n / (1 << 20):.0f} MiB"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class _Worker:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fincorpus.cleaning.pdf_sandbox", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self.maxrss = 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, body: bytes, limit: int, timeout: float) -> Extracted:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = pickle.dumps((limit, body), protocol=pickle.HIGHEST_PROTOCOL)
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write(_HEADER.pack(len(request)) + request)
            self.proc.stdin.flush()
            answer = _read_frame(self.proc.stdout, deadline)
        except (BrokenPipeError, EOFError, ConnectionResetError):
            raise self._died(limit) from None
        except TimeoutError:
            self.kill()
            raise ExtractionError(f"PDF parser timed out after {timeout:g} s") from None
        kind, value, rss = pickle.loads(answer)
        self.maxrss = rss
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "memory":
            raise ExtractionError(f"PDF parser exceeded {_size(limit)} memory limit ({value})")
        raise ExtractionError(value)

    def _died(self, limit: int) -> ExtractionError:
        """The worker ended without answering: reap it and say how (a signal, and whether memory ran out)."""
        status, rss_kb = self._reap()
        if status < 0:
            sig = -status
            near_limit = rss_kb * 1024 >= 0.6 * limit
            if near_limit and sig in (signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGTRAP):
                return ExtractionError(
                    f"PDF parser exceeded {_size(limit)} memory limit (crashed with signal {sig} "
                    f"({_signal_name(sig)}) at {rss_kb // 1024} MiB resident)"
                )
            return ExtractionError(f"PDF parser crashed with signal {sig} ({_signal_name(sig)})")
        return ExtractionError(f"PDF parser exited with status {status} without an answer")

    def _reap(self) -> tuple[int, int]:
        try:
            _, status, usage = os.wait4(self.proc.pid, 0)
        except ChildProcessError:
            return self.proc.wait(), 0
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self.proc.returncode = code
        return code, int(usage.ru_maxrss)

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        self._reap()
        for fh in (self.proc.stdin, self.proc.stdout):
            if fh is not None:
                fh.close()


def _read_frame(fh: BinaryIO, deadline: float) -> bytes:
    def read_exact(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fh], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fh.fileno(), n - len(out))
            if not chunk:
                raise EOFError
            out += chunk
        return bytes(out)

    (n,) = _HEADER.unpack(read_exact(_HEADER.size))
    return read_exact(n)


class _Pool:
    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 2
        self._idle: list[_Worker] = []
        self._busy = 0
        self._cond = threading.Condition()

    def take(self) -> _Worker:
        with self._cond:
            while not self._idle and self._busy >= self.max_workers:
                self._cond.wait()
            self._busy += 1
            while self._idle:
                w = self._idle.pop()
                if w.alive():
                    return w
                w.kill()
        try:
            return _Worker()
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise

    def give_back(self, w: _Worker, healthy: bool) -> None:
        if not healthy:
            w.kill()
        with self._cond:
            self._busy -= 1
            if healthy:
                self._idle.append(w)
            self._cond.notify()

    def shutdown(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()


_POOL = _Pool()
atexit.register(_POOL.shutdown)


def extract_pdf_isolated(
    body: bytes, *, max_memory_bytes: int = DEFAULT_MEMORY, timeout_s: float = DEFAULT_TIMEOUT
) -> Extracted:
    """:func:`~fincorpus.cleaning.extract.extract_pdf` in a worker limited to ``max_memory_bytes`` of address
    space and ``timeout_s`` seconds; the same :class:`Extracted`, or :class:`ExtractionError` with the reason:
    "PDF parser exceeded 1 GiB memory limit (...)", "PDF parser timed out after 60 s", "PDF parser crashed with
    signal 11 (SIGSEGV)", or extract_pdf's own message for an unreadable PDF."""
    worker = _POOL.take()
    healthy = False
    try:
        result = worker.run(body, max_memory_bytes, timeout_s)
        healthy = worker.alive() and worker.maxrss * 1024 < _RECYCLE_RSS_SHARE * max_memory_bytes
        return result
    except ExtractionError:
        healthy = worker.alive() and worker.maxrss * 1024 < _RECYCLE_RSS_SHARE * max_memory_bytes
        raise
    finally:
        _POOL.give_back(worker, healthy)


def shutdown_workers() -> None:
    """Stop idle workers now (they also stop when this process exits, or when their stdin closes)."""
    _POOL.shutdown()


# -- the worker process -----------------------------------------------------------------------------------------


def _current_rss_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    from fincorpus.cleaning.extract import extract_pdf

    signal.signal(
        signal.SIGINT, signal.SIG_IGN
    )  # Ctrl-C is the parent's to handle; it ends us by closing stdin
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (n,) = _HEADER.unpack(head)
        limit, body = pickle.loads(stdin.read(n))
        answer: tuple[str, Any, int]
        try:
            if limit:
                resource.setrlimit(
                    resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
                )
            try:
                answer = ("ok", extract_pdf(body), 0)
            finally:
                resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        except MemoryError as exc:
            answer = ("memory", f"MemoryError: {exc}" if str(exc) else "MemoryError", 0)
        except ExtractionError as exc:
            answer = ("error", str(exc), 0)
        except (
            Exception
        ) as exc:  # a parser bug must not end the worker's loop: report it as this PDF's failure
            answer = ("error", f"PDF parser failed: {type(exc).__name__}: {exc}", 0)
        del body
        answer = (answer[0], answer[1], _current_rss_kb())
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        # Answers go to a private copy of stdout; anything a library prints goes to stderr instead.
        proto = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        _serve(sys.stdin.buffer, proto)
    else:
        raise SystemExit(
            "usage: python -m fincorpus.cleaning.pdf_sandbox --worker (started by extract_pdf_isolated)"
        )
