"""HTML main-text extraction quality and speed on human ground truth, next to plain trafilatura in the same run.

Metric (text): each text is reduced to the multiset of its non-whitespace characters (Chinese has no word boundaries,
and a character multiset ignores line breaking and paragraph order, which no two annotators agree on).
    P = |ours ∩ truth| / |ours|      R = |ours ∩ truth| / |truth|      F1 = 2PR / (P + R)
where ∩ is multiset intersection. An empty output scores P = R = F1 = 0. "micro" sums the intersections and lengths
over a set's pages; "macro" averages the per-page numbers.

Sets (all read at run time from shared/data):
  cwced          35 real pages, human hand-extracted text, author and date (groundtruth/cwced)
  readability    4 pages, Readability.js expected output (a reference, not human truth)
  newspaper      1 page (bbc_zhongwen), newspaper's expected text
  trafilatura    4 pages with human must-appear ("with") / must-not-appear ("without") snippets, author and date
  sites-*        mirror pages whose body is a known source text: regulator laws (texts/laws; also 发布机构 and 文号
                 from the page's 信息索引 truth), finnews 快讯 (cnews), exchange announcements (CFEE)
Page type: accuracy of "list" vs "article" on html/index.jsonl (123 pages) and on the mirror's HTML pages.
Speed: docs/s over the 123 real pages, raw bytes in, text out, one method after the other in one process.

Methods: trafilatura-default = trafilatura.extract(raw bytes) with default settings (its own decoding; the baseline a
user would run); trafilatura-ourdecode = the same on fincorpus' decoding; fincorpus-previous = the extractor before
issue 4 (favor_recall on our decoding); fincorpus = decode_bytes + extract_html
(with per-host content selectors on the sites sets; "fincorpus-noselectors" shows what they add).

Run: .venv/bin/python bench/extraction.py [--data ../shared/data]. Writes bench/results/extraction.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import lxml.html
import trafilatura

REPO = Path(__file__).resolve().parent.parent
import sys  # noqa: E402

sys.path[:0] = [str(REPO)]  # bench.* from a plain checkout

from bench.provenance import provenance  # noqa: E402
from fincorpus.cleaning.decode import decode_bytes  # noqa: E402
from fincorpus.cleaning.extract import extract_html  # noqa: E402

_CST = timezone(timedelta(hours=8))
# The mirror's own templates (what the lead will put in each source's content_selectors).
SITE_SELECTORS = {
    "regulator.test": ["#zoom"],
    "finnews.test": ["//div[@id='artibody']"],
    "exchange.test": ["div.ann-body"],
}
SITES_SAMPLE = 40  # pages per mirror section besides the laws (keeps the run to a minute or two)


@dataclass
class Page:
    set: str
    file: Path
    url: str
    text: str | None = None  # truth or reference text
    with_snippets: list[str] = field(default_factory=list)
    without_snippets: list[str] = field(default_factory=list)
    author: str | None = None  # "" = truth says there is none
    date: str | None = None  # YYYY-MM-DD; "" = truth says there is none
    organ: str | None = None
    docno: str | None = None
    page_type: str | None = None


@dataclass
class Out:
    text: str
    author: str | None = None
    date: str | None = None
    page_type: str | None = None
    path: str | None = None
    issuing_body: str | None = None
    doc_number: str | None = None


# -- metric ------------------------------------------------------------------------------------------------------


def chars(text: str) -> Counter[str]:
    return Counter(c for c in text if not c.isspace())


def prf(ours: str, truth: str) -> tuple[int, int, int]:
    """(overlap, |ours|, |truth|) on non-whitespace character multisets."""
    a, b = chars(ours), chars(truth)
    return sum((a & b).values()), sum(a.values()), sum(b.values())


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def summarise(counts: list[tuple[int, int, int]]) -> dict[str, float]:
    ov, no, nt = (sum(c[i] for c in counts) for i in range(3))
    mp, mr = ov / no if no else 0.0, ov / nt if nt else 0.0
    per = [(o / n if n else 0.0, o / t if t else 0.0) for o, n, t in counts]
    return {
        "pages": len(counts),
        "micro_p": round(mp, 4),
        "micro_r": round(mr, 4),
        "micro_f1": round(f1(mp, mr), 4),
        "macro_p": round(sum(p for p, _ in per) / len(per), 4),
        "macro_r": round(sum(r for _, r in per) / len(per), 4),
        "macro_f1": round(sum(f1(p, r) for p, r in per) / len(per), 4),
    }


def _names(value: str | None) -> frozenset[str]:
    return frozenset(x for x in re.split(r"[\s,，、;；/|]+", value or "") if x)


def _day(value: str | None) -> str | None:
    m = re.search(r"(\d{4})[-/年.](\d{1,2})[-/月.](\d{1,2})", value or "")
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else None


# -- data --------------------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _html_text(html: str) -> str:
    return lxml.html.fromstring(html).text_content()


def _law_text(md: str) -> str:
    md = md.replace("<!-- INFO END -->", "")
    return re.sub(r"^#+\s*", "", md, flags=re.M)


def load_pages(data: Path) -> list[Page]:
    index = [json.loads(x) for x in _read(data / "html" / "index.jsonl").splitlines()]
    by_file = {e["file"]: e for e in index}
    pages: list[Page] = []
    gt = data / "groundtruth"
    for e in index:
        if e["site"] != "cwced":
            continue
        stem = Path(e["file"]).stem
        author = _read(gt / "cwced" / "author" / f"{stem}.txt").strip()
        date = _read(gt / "cwced" / "date" / f"{stem}.txt").strip()
        pages.append(
            Page(
                "cwced",
                data / e["file"],
                f"http://cwced.test/{stem}.html",
                text=_read(gt / "cwced" / "cleaned" / f"{stem}.txt"),
                # "UNKNOWN" = the annotator found none; a date field holding a name or nothing is unusable
                author="" if author == "UNKNOWN" else (author or None),
                date="" if date == "UNKNOWN" else _day(date),
            )
        )
    for e in index:
        g = e.get("groundtruth") or {}
        url = g.get("url") or f"http://{e['site']}.test/{Path(e['file']).name}"
        if "content_html" in g:
            meta = json.loads(_read(data / g["metadata"]))
            pages.append(
                Page(
                    "readability",
                    data / e["file"],
                    url,
                    text=_html_text(_read(data / g["content_html"])),
                    author=meta.get("byline"),
                )
            )
        elif e["site"] == "bbc_zhongwen" and "content" in g:
            pages.append(Page("newspaper", data / e["file"], url, text=_read(data / g["content"])))
        elif "snippets" in g:
            ev = json.loads(_read(data / g["snippets"]))
            pages.append(
                Page(
                    "trafilatura",
                    data / e["file"],
                    url,
                    with_snippets=ev.get("with", []),
                    without_snippets=ev.get("without", []),
                    author=ev.get("author") or "",
                    date=_day(ev.get("date")) or "",
                )
            )
    pages += _site_pages(data)
    for e in index:  # page type on every real page
        pages.append(
            Page("pagetype-html", data / e["file"], "http://x.test/" + e["file"], page_type=e["page_type"])
        )
    assert by_file
    return pages


def _site_pages(data: Path) -> list[Page]:
    sites = data / "sites"
    truth = [json.loads(x) for x in _read(sites / "truth.jsonl").splitlines()]
    cnews = {
        r["id"]: r["text"] for r in map(json.loads, _read(data / "texts/cnews/cnews_500.jsonl").splitlines())
    }
    cfee = {
        r["ID"]: r["Doc"]
        for r in map(json.loads, _read(data / "texts/announcements_cfee/FREEZE_Data.json").splitlines())
    }
    pages: list[Page] = []
    kuaixun = exchange = 0
    for r in truth:
        src = r.get("source") or ""
        if r["kind"] == "article" and r["host"] == "regulator.test" and src.startswith("texts/laws/"):
            shown = r.get("fields_shown") or {}
            pages.append(
                Page(
                    "sites-regulator",
                    sites / r["file"],
                    r["url"],
                    text=_law_text(_read(data / src)),
                    organ=shown.get("organ"),
                    docno=shown.get("docno"),
                )
            )
        elif r["path"].startswith("/kuaixun/") and r["kind"] == "article" and kuaixun < SITES_SAMPLE:
            kuaixun += 1
            pages.append(Page("sites-kuaixun", sites / r["file"], r["url"], text=cnews[src.split("#id=")[1]]))
        elif r["path"].startswith("/disclosure/") and exchange < SITES_SAMPLE:
            exchange += 1
            pages.append(Page("sites-exchange", sites / r["file"], r["url"], text=cfee[Path(r["path"]).stem]))
        if r["kind"] in ("article", "list") and r["file"].endswith((".html", ".htm", ".shtml")):
            pages.append(Page("pagetype-sites", sites / r["file"], r["url"], page_type=r["kind"]))
    return pages


# -- methods -----------------------------------------------------------------------------------------------------


def _trafilatura_json(content: bytes | str, url: str) -> Out:
    raw = trafilatura.extract(content, url=url, output_format="json", with_metadata=True)
    doc = json.loads(raw) if raw else {}
    return Out(doc.get("text") or "", doc.get("author"), _day(doc.get("date")))


def traf_default(raw: bytes, url: str, selectors: list[str]) -> Out:
    return _trafilatura_json(raw, url)


def traf_ourdecode(raw: bytes, url: str, selectors: list[str]) -> Out:
    return _trafilatura_json(decode_bytes(raw).text, url)


def previous(raw: bytes, url: str, selectors: list[str]) -> Out:
    """fincorpus before issue 4: bare_extraction(favor_recall=True) on our decoding, no selectors/fallback."""
    doc = trafilatura.bare_extraction(
        decode_bytes(raw).text,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_recall=True,
        deduplicate=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    date = getattr(doc, "date", None) if doc is not None else None
    return Out(
        (getattr(doc, "text", None) or "") if doc is not None else "",
        getattr(doc, "author", None),
        _day(date),
    )


def _fincorpus(raw: bytes, url: str, selectors: list[str]) -> Out:
    kwargs: dict[str, Any] = {"selectors": selectors} if selectors and _HAS_SELECTORS else {}
    ex = extract_html(decode_bytes(raw).text, url, **kwargs)
    day = ex.published_at.astimezone(_CST).date().isoformat() if ex.published_at else None
    return Out(
        ex.text,
        getattr(ex, "author", None),
        day,
        getattr(ex, "page_type", None),
        getattr(ex, "path", None),
        getattr(ex, "issuing_body", None),
        getattr(ex, "doc_number", None),
    )


_HAS_SELECTORS = "selectors" in inspect.signature(extract_html).parameters


def fincorpus(raw: bytes, url: str, selectors: list[str]) -> Out:
    return _fincorpus(raw, url, selectors)


def fincorpus_nosel(raw: bytes, url: str, selectors: list[str]) -> Out:
    return _fincorpus(raw, url, [])


METHODS: dict[str, Callable[[bytes, str, list[str]], Out]] = {
    "trafilatura-default": traf_default,
    "trafilatura-ourdecode": traf_ourdecode,
    "fincorpus-previous": previous,
    "fincorpus": fincorpus,
}


# -- scoring -----------------------------------------------------------------------------------------------------


def score_method(fn: Callable[[bytes, str, list[str]], Out], pages: list[Page]) -> dict[str, Any]:
    by_set: dict[str, list[tuple[Page, Out]]] = {}
    for p in pages:
        if p.set.startswith("pagetype") and fn not in (fincorpus,):
            continue
        host = p.url.split("/")[2]
        out = fn(p.file.read_bytes(), p.url, SITE_SELECTORS.get(host, []))
        by_set.setdefault(p.set, []).append((p, out))
    res: dict[str, Any] = {}
    for name, items in by_set.items():
        r: dict[str, Any] = {}
        with_text = [(p, o) for p, o in items if p.text is not None]
        if with_text:
            r.update(summarise([prf(o.text, p.text or "") for p, o in with_text]))
        snip = [(p, o) for p, o in items if p.with_snippets or p.without_snippets]
        if snip:
            found = [s in o.text for p, o in snip for s in p.with_snippets]
            absent = [s not in o.text for p, o in snip for s in p.without_snippets]
            r.update(
                pages=len(snip),
                with_found=round(sum(found) / len(found), 4),
                without_absent=round(sum(absent) / len(absent), 4),
            )
        authors = [(p, o) for p, o in items if p.author is not None]
        if authors:
            known = [(p, o) for p, o in authors if p.author]
            r["author_acc_known"] = _acc([_names(o.author) == _names(p.author) for p, o in known])
            r["author_none_when_unknown"] = _acc([not o.author for p, o in authors if not p.author])
        dates = [(p, o) for p, o in items if p.date is not None]
        if dates:
            r["date_acc_known"] = _acc([o.date == p.date for p, o in dates if p.date])
            r["date_none_when_unknown"] = _acc([not o.date for p, o in dates if not p.date])
        if any(p.organ for p, _ in items):
            r["issuing_body_acc"] = _acc([o.issuing_body == p.organ for p, o in items if p.organ])
        if any(p.docno for p, _ in items):
            r["doc_number_acc"] = _acc([o.doc_number == p.docno for p, o in items if p.docno])
            r["doc_number_none_when_absent"] = _acc([not o.doc_number for p, o in items if not p.docno])
        typed = [(p, o) for p, o in items if p.page_type]
        if typed:
            r["pages"] = len(typed)
            r["page_type_acc"] = _acc([(o.page_type or "article") == p.page_type for p, o in typed])
            lists = [o.page_type == "list" for p, o in typed if p.page_type == "list"]
            r["list_recall"] = _acc(lists)
            r["article_as_list"] = sum(o.page_type == "list" for p, o in typed if p.page_type == "article")
        paths = Counter(o.path for _, o in items if o.path)
        if paths:
            r["paths"] = dict(paths)
        res[name] = r
    return res


def _acc(flags: list[bool]) -> dict[str, Any] | None:
    return {"acc": round(sum(flags) / len(flags), 4), "n": len(flags)} if flags else None


def speed(fn: Callable[[bytes, str, list[str]], Out], files: list[Path], rounds: int = 2) -> float:
    """docs/s over the real pages: text only (the baseline without metadata, as a user would call it)."""
    raws = [f.read_bytes() for f in files]
    if fn is traf_default:
        call: Callable[[bytes], Any] = lambda raw: trafilatura.extract(raw)  # noqa: E731
    elif fn is traf_ourdecode:
        call = lambda raw: trafilatura.extract(decode_bytes(raw).text)  # noqa: E731
    else:
        call = lambda raw: fn(raw, "http://x.test/a.html", [])  # noqa: E731
    t0 = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            call(raw)
    return round(rounds * len(raws) / (time.perf_counter() - t0), 1)


# -- report ------------------------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    lines = [
        f"{'set':<16} {'method':<22} {'n':>4} {'microP':>7} {'microR':>7} {'microF1':>7} {'macroF1':>7}  extra"
    ]
    sets = sorted({s for m in results["methods"].values() for s in m["sets"]})
    for s in sets:
        for name, m in results["methods"].items():
            r = m["sets"].get(s)
            if not r:
                continue
            extra = []
            for k in (
                "with_found",
                "without_absent",
                "author_acc_known",
                "author_none_when_unknown",
                "date_acc_known",
                "date_none_when_unknown",
                "issuing_body_acc",
                "doc_number_acc",
                "page_type_acc",
                "list_recall",
                "article_as_list",
            ):
                v = r.get(k)
                if isinstance(v, dict):
                    extra.append(f"{k}={v['acc']:.2f}/{v['n']}")
                elif v is not None:
                    extra.append(f"{k}={v}")
            nums = " ".join(
                f"{r[k]:>7.3f}" if k in r else f"{'':>7}"
                for k in ("micro_p", "micro_r", "micro_f1", "macro_f1")
            )
            lines.append(f"{s:<16} {name:<22} {r.get('pages', 0):>4} {nums}  {' '.join(extra)}")
    lines.append("")
    for name, m in results["methods"].items():
        if m["docs_per_s"] is not None:
            lines.append(f"speed {name:<22} {m['docs_per_s']:>7.1f} docs/s  (123 real pages, text only)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    pages = load_pages(args.data.resolve())
    real = [
        args.data / e["file"] for e in map(json.loads, _read(args.data / "html/index.jsonl").splitlines())
    ]
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "trafilatura": trafilatura.__version__,
        "metric": "non-whitespace character multiset P/R/F1; micro = pooled over pages, macro = mean of pages",
        "methods": {},
    }
    methods = dict(METHODS)
    methods["fincorpus-noselectors"] = fincorpus_nosel
    for name, fn in methods.items():
        subset = [p for p in pages if p.set.startswith("sites-")] if fn is fincorpus_nosel else pages
        t0 = time.perf_counter()
        sets = score_method(fn, subset)
        results["methods"][name] = {
            "sets": sets,
            "docs_per_s": speed(fn, real) if fn is not fincorpus_nosel else None,
            "scoring_seconds": round(time.perf_counter() - t0, 1),
        }
    from bench.extraction_loso import format_table
    from bench.extraction_loso import run_parallel as run

    loso = run(args.data.resolve())
    results["leave_one_site_out"] = loso
    results["provenance"] = provenance()
    results["note"] = (
        "methods/sets above: the same shared pages that selectors and thresholds were tuned on (fincorpus uses "
        "the mirror's content selectors), optimistic; leave_one_site_out: no selectors, rule choice made on the "
        "other sites, site templates learned from the scored host's own pages (see bench/extraction_loso.py)"
    )
    out = REPO / "bench" / "results" / "extraction.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    print()
    print(format_table(loso))
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
