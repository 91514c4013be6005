"""The functions under fuzz and what a valid output of each is: one ``Target`` per function.

A call ends in one of: ok, expected (a documented refusal: ExtractionError, MojibakeError, PdfError ...), crash
(any other exception), invalid (returned, but the output breaks the function's contract below) or slow (took over
the per-input limit). ``run_input`` pushes one input through every function that applies to its kind and returns
the outcomes; run.py counts them.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fincorpus.cleaning import boilerplate, normalize, pii, quality, structure
from fincorpus.cleaning import pdf as pdfmod
from fincorpus.cleaning.decode import Decoded, MojibakeError, decode_bytes, ensure_clean
from fincorpus.cleaning.extract import Extracted, ExtractionError, extract_html, extract_plain
from fincorpus.cleaning.pdf_sandbox import extract_pdf_isolated
from fincorpus.cleaning.textpath import TextResult, clean_text

from .gen import Input

URL = "http://fuzz.test/news/2024/a1.html"


# CPU and wall seconds spent inside the functions under test during the current call (checks not counted).
# CPU time decides "slow": the machine is shared, and wall time there measures the other processes too.
_CLOCK = [0.0, 0.0]


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        _CLOCK[0] += time.process_time() - c0
        _CLOCK[1] += time.perf_counter() - t0


class Invalid(AssertionError):
    """The function returned, but its output breaks the contract."""


def need(cond: bool, what: str) -> None:
    if not cond:
        raise Invalid(what)


def _utf8(s: str, what: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid(f"{what} is not encodable as UTF-8 ({exc.reason} at {exc.start})") from None


def _chars(s: str) -> Counter[str]:
    c = Counter(s)
    for k in [k for k in c if k.isspace()]:
        del c[k]
    return c


def _subset(a: Counter[str], b: Counter[str]) -> bool:
    return not (a - b)


# -- contracts ---------------------------------------------------------------------------------------------------

_SOURCES = {
    "http-header",
    "meta",
    "bom",
    "utf-8-valid",
    "chinese-candidate",
    "detected",
    "fallback",
    "fallback-after-mojibake",
}


def check_decoded(d: Decoded) -> None:
    need(isinstance(d.text, str) and isinstance(d.charset, str) and d.charset != "", "text/charset types")
    need(d.source in _SOURCES, f"unknown source {d.source!r}")
    need(isinstance(d.replaced, int) and d.replaced >= 0, f"replaced={d.replaced}")
    _utf8(d.text, "decoded text")


def check_extracted(e: Extracted) -> None:
    need(isinstance(e.text, str), "text not a str")
    _utf8(e.text, "extracted text")
    need(e.title is None or (isinstance(e.title, str) and e.title != ""), f"title {e.title!r}")
    if e.title:
        _utf8(e.title, "title")
    need(e.page_type in (None, "article", "list"), f"page_type {e.page_type!r}")
    need(e.published_at is None or e.published_at.tzinfo is not None, "naive published_at")
    for name in ("author", "issuing_body", "doc_number", "path"):
        v = getattr(e, name)
        need(v is None or isinstance(v, str), f"{name} {v!r}")


def check_quality(q: quality.QualityScores, text: str) -> None:
    keys = set(quality.QualityScores.__annotations__)
    need(set(q) == keys, f"quality keys {sorted(set(q) ^ keys)}")
    for k, v in q.items():
        need(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v), f"{k}={v!r}")
        if k in ("length_chars", "lines"):
            need(isinstance(v, int) and v >= 0, f"{k}={v}")
        else:
            need(0.0 <= v <= 1.0, f"{k}={v} outside [0, 1]")
    need(q["length_chars"] == len(text), "length_chars != len(text)")


def check_text_result(r: TextResult) -> None:
    _utf8(r.text, "cleaned text")
    need(normalize.normalize_text(r.text) == r.text or "[" in r.text, "cleaned text not normalised")
    need(r.lang in ("zh", "und"), f"lang {r.lang!r}")
    check_quality(r.quality, r.text)
    need(
        r.finance_score is None or (math.isfinite(r.finance_score) and 0 <= r.finance_score <= 1),
        f"finance_score {r.finance_score}",
    )
    need(set(r.pii) == {*pii.PII_KINDS, "max_class"}, "pii struct keys")
    need(all(isinstance(r.pii[k], int) and r.pii[k] >= 0 for k in pii.PII_KINDS), "pii counts")
    need(r.pii["max_class"] in (None, "C1", "C2", "C3"), "pii max_class")
    for s in r.steps:
        need(
            isinstance(s.get("step"), str) and (s.get("detail") is None or isinstance(s["detail"], str)),
            "steps",
        )
    for v in (r.rights_notice, r.original_source):
        need(v is None or isinstance(v, str), "notice/source type")


# -- the functions, as (name, call) ---------------------------------------------------------------------------


def t_normalize(t: str) -> str:
    out = timed(normalize.normalize_text, t)
    need(normalize.normalize_text(out) == out, "normalize_text is not idempotent")
    need("\r" not in out and "\n\n\n" not in out, "CR or 3 newlines left")
    need(not any(ord(c) < 32 and c not in "\n\t\f" for c in out), "control character left")
    _utf8(out, "normalised text")
    conv = timed(normalize.to_simplified, out)
    need(0 <= conv.traditional_share <= 1 and conv.changed_chars >= 0, "conversion figures")
    need(len(conv.text) == len(out) or conv.converted, "t2s changed text without converting")
    return out


def t_boilerplate(t: str, rng: random.Random) -> None:
    t = normalize.normalize_text(t)
    c = timed(boilerplate.clean_boilerplate, t, web_page=rng.random() < 0.5, as_written=t)
    kept = [x.strip() for x in c.text.split("\n") if x.strip()]
    src = iter([x.strip() for x in t.split("\n") if x.strip()])
    need(
        all(any(k == s for s in src) for k in kept), "boilerplate output lines are not a subsequence of input"
    )
    if c.rights_notice:
        lines = {x.strip() for x in t.split("\n")}
        need(all(n in lines for n in c.rights_notice.split("\n")), "notice not copied verbatim")
    need(all(v > 0 for v in c.removed.values()), "removed counts")


def t_pii(t: str) -> None:
    found = timed(pii.find_pii, t)
    last = 0
    for f in found:
        need(0 <= f.start < f.end <= len(t) and f.start >= last, f"finding {f} overlaps or out of bounds")
        need(f.kind in pii.PII_KINDS and f.jrt_class == pii.JRT0171_CLASS[f.kind], f"finding {f} kind")
        last = f.end
    masked = timed(pii.mask_pii, t, found)
    # every finding became its token, nothing else changed
    rebuilt, pos = [], 0
    for f in found:
        rebuilt += [t[pos : f.start], pii.MASK_TOKENS[f.kind]]
        pos = f.end
    need("".join([*rebuilt, t[pos:]]) == masked, "mask changed text outside findings")
    again = timed(pii.find_pii, masked)
    need(not again, f"masking is not idempotent: {[(f.kind, masked[f.start : f.end]) for f in again][:3]}")


def t_quality(t: str) -> None:
    check_quality(timed(quality.compute_quality, t), t)


def t_structure(t: str, rng: random.Random) -> None:
    title = t[: rng.choice((0, 8, 20, 60))] or None
    r = timed(structure.restore, t, title)
    need(_subset(_chars(r.text), _chars(t)), "structure.restore added characters")
    need(r.breaks >= 0 and r.table_rows >= 0, "structure counts")


def t_pdf_text(t: str) -> None:
    raw = t.split("\f")
    p = timed(pdfmod.clean_pages, raw, None)
    need(p.page_count == len(raw) and len(p.pages) == len(raw), "page count")
    need(all("\f" not in x for x in p.pages), "form feed inside a page")
    for page, src in zip(p.pages, raw, strict=True):
        need(_subset(_chars(page), _chars(src)), "clean_pages added characters")
    need(p.removed_lines >= 0 and all(1 <= n <= len(raw) for n in p.empty_pages), "pdf counts")


def t_clean_text(t: str, rng: random.Random) -> None:
    r = timed(clean_text, t, doc_type=rng.choice(quality.DOC_TYPES), pii_mode=rng.choice(("mask", "flag")))
    check_text_result(r)


def t_extract_plain(t: str) -> None:
    e = timed(extract_plain, t)
    need(e.text == t, "extract_plain changed the text")  # as given: normalize_text cleans it next
    need(e.title is None or (0 < len(e.title) <= 120 and "\n" not in e.title), f"title {e.title!r}")


def t_extract_html(t: str) -> Extracted | None:
    try:
        e = timed(extract_html, t, URL)
    except ExtractionError:
        return None
    check_extracted(e)
    return e


def t_decode(body: bytes, ctype: str | None) -> Decoded:
    d = timed(decode_bytes, body, ctype)
    check_decoded(d)
    try:
        timed(ensure_clean, d)
        need(d.mojibake is None, "ensure_clean passed a mojibake decoding")
    except MojibakeError:
        need(d.mojibake is not None, "ensure_clean raised on a clean decoding")
    return d


def t_notices(html: str) -> None:
    for n in timed(boilerplate.notices_in_html, html):
        need(isinstance(n, str) and 0 < len(n) <= boilerplate.MAX_NOTICE_CHARS, "notice length")


def t_pdf(body: bytes) -> None:
    try:
        e = timed(extract_pdf_isolated, body, timeout_s=30)
    except ExtractionError:
        return
    check_extracted(e)
    need(e.pages is not None and e.pages >= 0 and e.text.count("\f") == max(0, e.pages - 1), "pdf pages")


@dataclass
class Outcome:
    function: str
    status: str  # ok | crash | invalid | slow
    seconds: float
    detail: str = ""
    where: str = ""
    wall: float = 0.0


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if "/fincorpus/" in f.filename] or frames
    f = own[-1]
    return f"{f.filename.split('/fincorpus/')[-1]}:{f.lineno} {f.name}"


class Runner:
    def __init__(self, limit_s: float = 1.0, capture_every: int = 50) -> None:
        self.limit_s = limit_s
        self.capture_every = capture_every
        self._capture: CaptureHarness | None = None

    def warm_up(self) -> None:
        """One uncounted input of each kind: imports, the PDF worker's start and lazy models cost their first
        call up to 2 s, which is start-up, not the input's."""
        from .gen import generate

        for i in range(8):
            self.run_input(generate(0, i), 0)
        self.run_input(generate(0, 499, 500), 0)
        short = (
            "<html><body><div><a href='/1'>首页</a> <a href='/2'>新闻</a></div><p>短讯。</p>"
            + "<p>x</p>" * 200
        )
        extract_html(short + "</body></html>", URL)  # the recall fallback loads jusText's stoplists once

    def call(self, out: list[Outcome], name: str, fn: Callable[[], Any]) -> Any:
        _CLOCK[0] = _CLOCK[1] = 0.0
        try:
            value = fn()
            status, detail, where = "ok", "", ""
        except Invalid as exc:
            value, status, detail, where = None, "invalid", str(exc)[:300], _where(exc)
        except Exception as exc:  # a crash: anything the function does not document
            value, status, detail, where = (
                None,
                "crash",
                f"{type(exc).__name__}: {str(exc)[:300]}",
                _where(exc),
            )
        # the PDF sandbox parses in its own process: its CPU time is not ours, so wall time counts there
        cpu, wall = _CLOCK
        dt = wall if name.startswith("pdf_sandbox") else cpu
        if status == "ok" and dt > self.limit_s:
            status, detail = "slow", f"{dt:.2f} s ({wall:.2f} s wall)"
        out.append(Outcome(name, status, dt, detail, where, wall))
        return value

    def run_input(self, inp: Input, index: int) -> list[Outcome]:
        rng = random.Random(index)
        out: list[Outcome] = []
        if inp.kind == "pdf":
            assert isinstance(inp.data, bytes)
            self.call(out, "pdf_sandbox.extract_pdf_isolated", lambda: t_pdf(inp.data))  # type: ignore[arg-type]
            return out
        if inp.kind == "bytes":
            body = inp.data
            assert isinstance(body, bytes)
            d = self.call(out, "decode.decode_bytes", lambda: t_decode(body, inp.content_type))
            ctype = (inp.content_type or "").split(";")[0]
            if d is not None and d.mojibake is None and ctype != "application/json":
                if ctype == "text/html":
                    self.call(out, "boilerplate.notices_in_html", lambda: t_notices(d.text))
                    e = self.call(out, "extract.extract_html", lambda: t_extract_html(d.text))
                    text = e.text if e is not None else None
                else:
                    self.call(out, "extract.extract_plain", lambda: t_extract_plain(d.text))
                    text = d.text
                if text is not None:
                    self.call(out, "textpath.clean_text", lambda: t_clean_text(text, rng))
            if self.capture_every and index % self.capture_every == 0:
                self.call(out, "ingest.process_capture", lambda: self.capture().check(body, inp.content_type))
            return out
        t = inp.data
        assert isinstance(t, str)
        self.call(out, "normalize.normalize_text", lambda: t_normalize(t))
        self.call(out, "boilerplate.clean_boilerplate", lambda: t_boilerplate(t, rng))
        self.call(out, "pii.find_pii+mask_pii", lambda: t_pii(t))
        self.call(out, "quality.compute_quality", lambda: t_quality(t))
        self.call(out, "structure.restore", lambda: t_structure(t, rng))
        self.call(out, "pdf.clean_pages", lambda: t_pdf_text(t))
        self.call(out, "textpath.clean_text", lambda: t_clean_text(t, rng))
        self.call(out, "extract.extract_plain", lambda: t_extract_plain(t))
        if rng.random() < 0.3:
            self.call(out, "extract.extract_html", lambda: t_extract_html(t))
        return out

    def capture(self) -> CaptureHarness:
        if self._capture is None:
            self._capture = CaptureHarness()
        return self._capture


class CaptureHarness:
    """process_capture on a real home: the bytes stored as a WARC record, a web source (HTML, text, JSON)."""

    def __init__(self) -> None:
        from fincorpus.sources.archive import WarcArchive
        from fincorpus.sources.registry import SourceConfig, SourcesFile

        self.tmp = tempfile.TemporaryDirectory(prefix="fincorpus-fuzz-")
        self.home = Path(self.tmp.name)
        self.archive = WarcArchive(self.home, "raw/fuzz/fuzz.warc.gz")
        src = SourceConfig.model_validate(
            {
                "id": "fuzz",
                "name": "Fuzz",
                "kind": "web",
                "seeds": ["http://fuzz.test/"],
                "licence": "unknown",
                "legal_basis": "fuzz",
                "json_document": {"html": "data.content", "title": "data.title", "published": "data.date"},
            }
        )
        self.sources = SourcesFile(sources=[src])
        self.n = 0

    def check(self, body: bytes, content_type: str | None) -> None:
        from fincorpus.pipelines.ingest import process_capture
        from fincorpus.schema import records_table
        from fincorpus.sources.base import Capture

        self.n += 1
        if self.n % 2000 == 0:  # keep the WARC small
            self.archive.close()
            (self.home / self.archive.relpath).unlink(missing_ok=True)
        ctype = content_type or "text/html"
        now = datetime(2026, 1, 1, tzinfo=UTC)
        url = f"http://fuzz.test/news/{self.n}.html"
        rec = self.archive.write_resource(url=url, fetched_at=now, content_type=ctype, body=body)
        cap = Capture(
            "fuzz",
            url,
            url,
            200,
            ctype.split(";")[0].strip(),
            {"content-type": ctype},
            now,
            rec.raw_ref,
            rec.raw_sha256,
            rec.record_id,
        )
        row = timed(process_capture, cap, self.sources, self.home, "fuzz-run")
        try:
            records_table([row], stage="fuzz")
        except Exception as exc:
            raise Invalid(f"record fails the schema: {type(exc).__name__}: {str(exc)[:200]}") from None
        need(row["status"] in ("kept", "removed"), "status")
        need(row["status"] == "kept" or bool(row.get("removed_reason")), "removed without reason")
