"""Site templates learned from a host's own pages: lines repeated on most of them are navigation, not content.

A generic extractor keeps some of every site's furniture (footers such as "网站导航 · 意见反馈 ...", breadcrumbs
such as "企业服务首页 > 产经资讯 > ...", share bars, the site's disclaimer), and the furniture differs from site
to site, so no list of phrases written for the sites we know holds on the next one. What holds is that a
template repeats: web-scale pipelines (CCNet's line deduplication, RefinedWeb's and FineWeb's line filters)
drop lines that recur across many documents of a crawl. Here the unit is one host, so the template of a host
seen for the first time is learned from its own pages:

- ``learn(texts)`` counts, for every line (normalised: NFKC, no whitespace) and for every
  breadcrumb prefix ("首页 > 产经资讯 > ..." without its last, page-specific crumb), on how many pages it occurs
  (once a page). A line is template when it is on at least ``min_share`` of the pages (default: half) and on at
  least ``min_pages`` pages. Memory is bounded: at most ``max_pages`` pages are counted, and when more than
  ``max_keys`` distinct lines are held, the ones seen once are forgotten (they can no longer reach the share).
- ``apply(template, text)`` removes template lines and returns what it removed. Article text is protected: a
  template line in the middle of the text (not in a run of template lines touching its head or tail) goes only
  when it is short or has no sentence end, and never when it is a heading of a structured document (第一章 总则,
  第三条, 一、, 特此公告), which opens most pages of a statute or disclosure host, or a table row (cells
  separated by " | ": the header row of a disclosure table recurs on every announcement of its type). So a sentence that many pages share (the legal statement of an
  announcement, a disclaimer paragraph of a statute) stays unless it is part of the page frame.

The template is a small JSON-able value with a version and a stable sha256 (``SiteTemplate.sha256``): store it
with the run, and an auditor re-running cleaning with the same template gets the same text.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fincorpus.cleaning.quality import END_PUNCT

VERSION = 1
STEP = "boilerplate:site-template"

MIN_SHARE = 0.5  # on at least half of the host's pages: "most pages"
MIN_PAGES = 4  # and on at least this many (a host with 3 pages has no learnable template)
MAX_PAGES = 2000  # pages counted per host; more add nothing but time
MAX_KEYS = 200_000  # distinct line keys held while learning (bounded memory: ~20 MB)
MAX_LINE_CHARS = 400  # longer lines are content, never template
PROTECTED_CHARS = 20  # a template line in mid-text this long and ending a sentence is kept (shared prose)
SAMPLE_CHARS = 80  # text kept per template line for auditors

# Headings of structured documents repeat on most pages of a statute or disclosure host ("第一章 总则" opens
# nearly every law) and are content wherever they stand.
_STRUCTURE = re.compile(
    r"^(?:#+\s*)?(?:第[一二三四五六七八九十百千零〇\d]+[章节条编款项部]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|"
    r"目\s*录|总\s*则|附\s*则|分\s*则|特此公告|备查文件)"
)
_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Breadcrumb separators: 首页 > 产经资讯 > 正文, 首页 » 新闻, 当前位置：首页 / 通知公告
_CRUMB_SEP = re.compile(r"\s*(?:>|»|›|＞|→|/|\\)\s*")


def line_key(line: str) -> str:
    """The form in which lines are compared: NFKC (full-width to half-width), no whitespace or control
    characters, lower case. Digits are kept: with digit runs folded, the sentences of same-template
    announcements ("本次冻结股份 X 股，占总股本 Y%") would look alike on most pages of a disclosure host."""
    s = unicodedata.normalize("NFKC", line)
    s = _CONTROL.sub("", s)
    return _SPACE.sub("", s).lower()


def crumb_key(line: str) -> str | None:
    """For a breadcrumb-like line (two or more separators, short parts), the line without its last crumb:
    '企业服务首页 > 产经资讯 > 某篇文章' -> key of '企业服务首页>产经资讯>'. None for other lines."""
    stripped = line.strip()
    if len(stripped) > 120:
        return None
    parts = _CRUMB_SEP.split(stripped)
    if len(parts) < 3 or any(not p or len(p) > 40 for p in parts[:-1]):
        return None
    if sum(1 for p in parts[:-1] if not _DIGITS.fullmatch(p)) < 2:
        return None  # a date such as 2024/05/01, not a breadcrumb
    return "crumb:" + line_key(">".join(parts[:-1]) + ">")


def _fingerprint(key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class SiteTemplate:
    """The lines (fingerprints of their keys) that frame a host's pages, and how they were learned."""

    host: str
    pages: int  # pages learned from
    lines: dict[str, str] = field(default_factory=dict)  # fingerprint -> sample text (for auditors)
    min_share: float = MIN_SHARE
    min_pages: int = MIN_PAGES
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "host": self.host,
            "pages": self.pages,
            "min_share": self.min_share,
            "min_pages": self.min_pages,
            "lines": dict(sorted(self.lines.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteTemplate:
        if data.get("version") != VERSION:
            raise ValueError(
                f"site template for {data.get('host')!r} has version {data.get('version')!r}, "
                f"this fincorpus reads version {VERSION}: learn the template again"
            )
        return cls(
            host=str(data["host"]),
            pages=int(data["pages"]),
            lines={str(k): str(v) for k, v in data["lines"].items()},
            min_share=float(data["min_share"]),
            min_pages=int(data["min_pages"]),
        )

    @property
    def sha256(self) -> str:
        """Stable over runs and machines: the canonical JSON of the template."""
        blob = json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def __contains__(self, line: str) -> bool:
        if _fingerprint(line_key(line)) in self.lines:
            return True
        crumb = crumb_key(line)
        return crumb is not None and _fingerprint(crumb) in self.lines

    def __bool__(self) -> bool:
        return bool(self.lines)


class TemplateLearner:
    """Counts line keys over a host's pages, once per page, in bounded memory."""

    def __init__(
        self,
        host: str = "",
        *,
        min_share: float = MIN_SHARE,
        min_pages: int = MIN_PAGES,
        max_pages: int = MAX_PAGES,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.host = host
        self.min_share = min_share
        self.min_pages = min_pages
        self.max_pages = max_pages
        self.max_keys = max_keys
        self.pages = 0
        self.skipped = 0  # pages offered beyond max_pages
        self._df: Counter[str] = Counter()
        self._sample: dict[str, str] = {}

    def add(self, text: str | Sequence[str]) -> None:
        """One page: its extracted text, or its lines."""
        if self.pages >= self.max_pages:
            self.skipped += 1
            return
        self.pages += 1
        lines = text.split("\n") if isinstance(text, str) else text
        seen: set[str] = set()
        for line in lines:
            stripped = line.strip()
            if not stripped or len(stripped) > MAX_LINE_CHARS:
                continue
            for key in (line_key(stripped), crumb_key(stripped)):
                if not key or key in seen:
                    continue
                seen.add(key)
                fp = _fingerprint(key)
                self._df[fp] += 1
                if fp not in self._sample:
                    self._sample[fp] = stripped[:SAMPLE_CHARS]
        if len(self._df) > self.max_keys:
            self._prune()

    def _prune(self) -> None:
        """Forget the keys seen on one page only (lossy counting: a key first seen late can still be counted
        from then on, and one seen once early cannot reach half the pages of a large sample anyway)."""
        for fp in [fp for fp, n in self._df.items() if n <= 1]:
            del self._df[fp]
            self._sample.pop(fp, None)

    def template(self) -> SiteTemplate:
        need = max(self.min_pages, self.min_share * self.pages)
        lines = {fp: self._sample[fp] for fp, n in self._df.items() if n >= need}
        return SiteTemplate(self.host, self.pages, lines, self.min_share, self.min_pages)


def learn(texts: Iterable[str | Sequence[str]], host: str = "", **limits: Any) -> SiteTemplate:
    """The template of one host from its pages' extracted texts (or line lists); see TemplateLearner."""
    learner = TemplateLearner(host, **limits)
    for text in texts:
        learner.add(text)
    return learner.template()


def apply(template: SiteTemplate | None, text: str) -> tuple[str, list[str]]:
    """The text without the template's lines, and the removed lines in order.

    Lines in a run of template lines (blank lines do not break it) touching the head or the tail of the text go;
    a template line elsewhere goes only if it is short or does not end a sentence, so shared prose in the body
    stays.
    """
    if not template:
        return text, []
    lines = text.split("\n")
    drop = template_drops(template, lines)
    removed = [line.strip() for line, d in zip(lines, drop, strict=True) if d]
    if not removed:
        return text, []
    kept = "\n".join(line for line, d in zip(lines, drop, strict=True) if not d)
    return re.sub(r"\n{3,}", "\n\n", kept).strip(), removed


def template_drops(template: SiteTemplate, lines: Sequence[str]) -> list[bool]:
    """Per line: is it template and not protected? (``lines`` may be the text before a t2s conversion.)"""
    hit = [bool(line.strip()) and line.strip() in template for line in lines]
    drop = [False] * len(lines)
    for order in (range(len(lines)), range(len(lines) - 1, -1, -1)):
        for i in order:
            if not lines[i].strip():
                continue
            if not hit[i]:
                break
            drop[i] = True
    for i, line in enumerate(lines):
        if hit[i] and not drop[i]:
            stripped = line.strip()
            protected = bool(_STRUCTURE.match(stripped)) or " | " in stripped  # headings, table rows
            drop[i] = not protected and (len(stripped) < PROTECTED_CHARS or stripped[-1] not in END_PUNCT)
    return drop


_SECTION_OK = re.compile(r"^[A-Za-z][A-Za-z_-]{1,30}$")


def template_group(url: str) -> str:
    """Which pages share a template: the host and, where it names a section (/finance/, /kuaixun/), the first
    path segment, since one host often frames its sections differently (a news host's flash news and its
    reprinted articles). Numeric or dated segments (/2024/, /a123/) are not sections: the host alone."""
    rest = url.split("://", 1)[-1]
    host, _, path = rest.partition("/")
    first = path.split("/", 1)[0] if "/" in path else ""
    return f"{host.lower()}/{first}" if _SECTION_OK.match(first) else host.lower()
