"""Source declarations: the YAML file an operator writes, validated before anything is fetched.

Errors name the file, the source and the field so that a bad file is fixed in one go, and a bad file never
reaches the crawler or the catalog.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import types
import typing
from dataclasses import fields, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from fincorpus.cleaning.quality import DOC_TYPES, Thresholds, thresholds_for
from fincorpus.licensing import CONTRACT_CLASS, CONTRACT_PREFIX, LICENCE_CLASSES, USES

SOURCE_ID_RE = r"^[a-z0-9_-]+$"


class SourcesError(ValueError):
    """The sources file cannot be used; the message says where and what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrawlerConfig(_Strict):
    user_agent: str = "fincorpus/0.1 (+https://github.com/fincorpus/fincorpus)"
    proxy: str | None = None
    delay_seconds: Annotated[float, Field(ge=0)] = 1.0
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    max_seconds_per_request: Annotated[float, Field(gt=0)] = 120.0  # also stops endless or trickling bodies
    max_body_bytes: Annotated[int, Field(gt=0)] = 50_000_000  # on the wire and after decompression
    # RFC 9309 2.5: a crawler may stop reading robots.txt after 500 KiB; the rest is ignored (and logged).
    max_robots_bytes: Annotated[int, Field(ge=512_000)] = 512_000
    max_links_per_page: Annotated[int, Field(gt=0)] = (
        5000  # links queued from one page; the rest is logged as cut
    )
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3  # for 5xx, 429, timeouts and broken connections
    backoff_seconds: Annotated[float, Field(ge=0)] = (
        2.0  # doubled per attempt unless Retry-After says otherwise
    )
    max_retry_after_seconds: Annotated[float, Field(ge=0)] = 300.0  # a longer Retry-After gives up on the URL
    max_crawl_delay_seconds: Annotated[float, Field(ge=0)] = 60.0  # cap on a robots.txt Crawl-delay
    # AI crawler product tokens whose Disallow in robots.txt is read as a reservation against training use.
    ai_tokens: list[str] = ["CCBot", "GPTBot", "Google-Extended"]
    ai_disallow_is_reservation: bool = True
    tdmrep: bool = True  # fetch /.well-known/tdmrep.json once per host

    @field_validator("user_agent")
    @classmethod
    def _agent_has_token(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+", v.strip()):
            raise ValueError(
                "must start with a product token such as 'fincorpus/0.1' (robots.txt groups match it)"
            )
        return v.strip()

    @property
    def robots_token(self) -> str:
        """The product token robots.txt groups are matched against (RFC 9309 section 2.2.1)."""
        return re.match(r"[A-Za-z0-9_-]+", self.user_agent).group(0)  # type: ignore[union-attr]


class QualityConfig(_Strict):
    """Quality thresholds per document type (defaults in fincorpus/cleaning/quality.py); scores are stored either way.

    ``min_chars``/``min_cjk_share`` at this level apply to every type (the form of the first release);
    ``doc_types`` overrides single limits of single types, e.g. ``doc_types: {news: {max_nav_line_share: 0.5}}``.
    """

    min_chars: Annotated[int, Field(ge=0)] | None = None
    min_cjk_share: Annotated[float, Field(ge=0, le=1)] | None = None
    doc_types: dict[str, dict[str, float | int | bool | None]] = {}

    @field_validator("doc_types")
    @classmethod
    def _known_limits(
        cls, v: dict[str, dict[str, float | int | bool | None]]
    ) -> dict[str, dict[str, float | int | bool | None]]:
        known = {f.name for f in fields(Thresholds)}
        for doc_type, limits in v.items():
            if doc_type not in DOC_TYPES:
                raise ValueError(f"unknown document type {doc_type!r}; use one of {', '.join(DOC_TYPES)}")
            unknown = sorted(set(limits) - known)
            if unknown:
                raise ValueError(f"{doc_type}: unknown limit(s) {unknown}; known: {', '.join(sorted(known))}")
        return v

    def thresholds(self, doc_type: str) -> Thresholds:
        base = thresholds_for(doc_type, self.doc_types)
        common = {
            k: v
            for k, v in (("min_chars", self.min_chars), ("min_cjk_share", self.min_cjk_share))
            if v is not None
        }
        explicit = self.doc_types.get(doc_type, {})
        return replace(base, **{k: v for k, v in common.items() if k not in explicit})


class DocTypeRule(_Strict):
    """A document type for the URLs of a source that match ``match`` (first match wins)."""

    match: str
    doc_type: Literal["official", "announcement", "news", "report", "forum"]

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        return _compile_all([v])[0]


class LicenceOverride(_Strict):
    """A licence class for the URLs of a source that match ``match`` (first match wins)."""

    match: str
    licence: str
    legal_basis: str

    @field_validator("match")
    @classmethod
    def _regex(cls, v: str) -> str:
        return _compile_all([v])[0]

    @field_validator("licence")
    @classmethod
    def _known_licence(cls, v: str) -> str:
        return _check_licence(v)


def _check_licence(v: str) -> str:
    if v.startswith(CONTRACT_PREFIX):
        if not re.match(SOURCE_ID_RE, v.removeprefix(CONTRACT_PREFIX)):
            raise ValueError(
                f"{v!r}: a contract licence is 'contract:<id>' with the id of an entry under 'contracts:'"
            )
        return v
    if v not in LICENCE_CLASSES or v == CONTRACT_CLASS:
        classes = sorted(c for c in LICENCE_CLASSES if c != CONTRACT_CLASS)
        raise ValueError(f"unknown licence class {v!r}; use one of {classes} or contract:<id>")
    return v


class ContractConfig(_Strict):
    """Data licensed under a contract: who granted it, which uses, until when (issue 11).

    A source refers to it as ``licence: contract:<id>``. After ``expires`` new pulls clear only ``after_expiry``
    (default: nothing); documents already pulled keep the usage their manifest recorded.
    """

    id: Annotated[str, Field(pattern=SOURCE_ID_RE)]
    counterparty: str
    uses: list[str]
    expires: date
    signed: date | None = None
    reference: str | None = None  # the contract's number or file, for auditors
    after_expiry: list[str] = []

    @field_validator("uses", "after_expiry")
    @classmethod
    def _known_uses(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(USES))
        if unknown:
            raise ValueError(f"unknown use(s) {unknown}; use any of {list(USES)}")
        return v


def _compile_all(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {p!r}: {exc}") from exc
    return patterns


class JsonApiConfig(_Strict):
    """A paginated JSON listing: where the items are, how an item gives its document URL, how to find the next page.

    Paths are dotted (``data.rows``); URLs may be relative to the API page. An item's URL comes from a field
    (``item_url``) or a template filled with the item's fields (``item_url_template: "/detail/{docId}.json"``). The
    next page comes from a field (``next``) or a template with ``{page}`` (``page_template``), followed until a page
    has no items or ``max_api_pages`` is reached.
    """

    start: list[str]
    items: str = "items"
    item_url: str | None = "url"
    item_url_template: str | None = None
    next: str | None = "next"
    page_template: str | None = None
    first_page: int = 1
    max_api_pages: Annotated[int, Field(gt=0)] = 1000
    title: str | None = "title"
    published: str | None = None
    native_id: str | None = None

    @field_validator("start")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one start URL")
        for url in v:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return v

    @field_validator("page_template")
    @classmethod
    def _page_placeholder(cls, v: str | None) -> str | None:
        if v is not None and "{page}" not in v:
            raise ValueError("must contain {page}")
        return v


class JsonDocumentConfig(_Strict):
    """JSON detail responses that are documents: which dotted field holds the HTML or text, title and date."""

    html: str | None = None
    text: str | None = None
    title: str | None = None
    published: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> JsonDocumentConfig:
        if bool(self.html) == bool(self.text):
            raise ValueError("give exactly one of 'html' or 'text' (the dotted path of the body field)")
        return self


class DatasetConfig(_Strict):
    """Rows of a Parquet/JSONL file, a folder of them, a `datasets` folder saved with save_to_disk, or a Hub name."""

    path: str | None = None  # file or folder, relative to the sources file
    hub: str | None = None  # a Hugging Face Hub dataset name (needs network at ingest time)
    split: str = "train"
    text: str = "text"  # column mapping: which column holds what
    id: str | None = None
    url: str | None = None
    title: str | None = None
    published: str | None = None

    @model_validator(mode="after")
    def _one_location(self) -> DatasetConfig:
        if bool(self.path) == bool(self.hub):
            raise ValueError("give exactly one of 'path' (local files) or 'hub' (a Hub dataset name)")
        return self


class SourceConfig(_Strict):
    id: Annotated[str, Field(pattern=SOURCE_ID_RE)]
    name: str
    kind: Literal["web", "files", "warc", "dataset"]
    enabled: bool = True
    disabled_reason: str | None = None
    seeds: list[str] = []
    sitemaps: list[str] = []
    feeds: list[str] = []
    json_api: JsonApiConfig | None = None
    json_document: JsonDocumentConfig | None = None  # JSON responses (not listing pages) that are documents
    headers: dict[str, str] = {}  # extra request headers, e.g. a Referer some disclosure sites require
    allow: list[str] = []
    deny: list[str] = []
    max_pages: Annotated[int, Field(gt=0)] = (
        2000  # new or changed documents per pass (unchanged ones are free)
    )
    max_depth: Annotated[int, Field(ge=0)] = 20
    # URLs one pass may queue (default 20 x max_pages, at least 10,000): a page or sitemap listing a million
    # URLs cannot grow the frontier without bound. What is cut is logged.
    max_queued: Annotated[int, Field(gt=0)] | None = None
    # Files, foreign WARC records and dataset rows larger than this are skipped with a record saying so.
    max_document_bytes: Annotated[int, Field(gt=0)] = 50_000_000
    # Loopback, private (RFC 1918, ULA), link-local and other non-public addresses are refused for every seed,
    # link and redirect, after DNS resolution, unless a source is an intranet source (or a test) and says so.
    allow_private_network: bool = False
    path: str | None = None  # files: a folder of .html/.htm/.txt/.pdf files
    paths: list[str] = []  # warc: WARC/WARC.gz files or glob patterns, relative to the sources file
    dataset: DatasetConfig | None = None  # dataset: where the rows are and which column is what
    licence: str
    legal_basis: str
    licence_overrides: list[LicenceOverride] = []
    schedule: str | None = None
    # Cleaning: which quality thresholds apply, where the main text is on known templates, what to do with PII.
    doc_type: Literal["official", "announcement", "news", "report", "forum"] = "news"
    doc_types: list[DocTypeRule] = []  # per-URL document types, e.g. PDFs of an exchange are reports
    content_selectors: list[str] = []  # XPath expressions tried before generic extraction
    pii: Literal["mask", "flag"] = "mask"  # flag: count findings but leave the text as published
    min_finance_score: Annotated[float, Field(ge=0, le=1)] | None = (
        None  # drop less finance-relevant documents
    )

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        return _compile_all(v)

    @field_validator("licence")
    @classmethod
    def _known_licence(cls, v: str) -> str:
        return _check_licence(v)

    @field_validator("content_selectors")
    @classmethod
    def _selectors(cls, v: list[str]) -> list[str]:
        if not v:
            return v
        from fincorpus.cleaning.extract import (
            check_selector,
        )  # trafilatura: imported only when selectors are used

        return [check_selector(s) for s in v]

    @field_validator("seeds", "sitemaps", "feeds")
    @classmethod
    def _http_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return v

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and len(v.split()) != 5:
            raise ValueError(f"{v!r} is not a 5-field cron expression such as '0 2 * * *'")
        return v

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceConfig:
        if self.kind == "web" and not (self.seeds or self.sitemaps or self.feeds or self.json_api):
            raise ValueError("a web source needs at least one of seeds, sitemaps, feeds or json_api")
        if self.kind == "files" and not self.path:
            raise ValueError("a files source needs 'path' (a folder of .html, .txt or .pdf files)")
        if self.kind == "warc" and not self.paths:
            raise ValueError("a warc source needs 'paths' (WARC files or glob patterns)")
        if self.kind == "dataset" and self.dataset is None:
            raise ValueError("a dataset source needs a 'dataset' block (path or hub, and the text column)")
        if not self.enabled and not self.disabled_reason:
            raise ValueError("a disabled source needs a disabled_reason")
        return self

    def licence_for(self, url: str) -> tuple[str, str]:
        """Licence class and legal basis for one URL of this source."""
        for rule in self.licence_overrides:
            if re.search(rule.match, url):
                return rule.licence, rule.legal_basis
        return self.licence, self.legal_basis

    def doc_type_for(self, url: str, content_type: str | None = None) -> str:
        """Document type of one URL: the first matching rule, else the source's; PDFs default to reports."""
        for rule in self.doc_types:
            if re.search(rule.match, url):
                return rule.doc_type
        if content_type == "application/pdf" and self.doc_type == "news":
            return "report"
        return self.doc_type

    @property
    def queue_limit(self) -> int:
        return self.max_queued if self.max_queued is not None else max(20 * self.max_pages, 10_000)

    def warnings(self) -> list[str]:
        """Legal but risky settings, for ``sources check`` and the start of an ingest."""
        out = []
        for p in self.allow:
            if not p.startswith(("^", "\\A")):
                out.append(
                    f"source {self.id!r}: allow pattern {p!r} is not anchored, so it matches anywhere in a URL "
                    "(a query string or another host's path); start it with ^ and the scheme and host, "
                    "e.g. '^https?://www\\.example\\.cn/'"
                )
        return out

    def allowed_url(self, url: str) -> bool:
        """Deny wins over allow; no allow patterns means every URL on the seed hosts."""
        if any(re.search(p, url) for p in self.deny):
            return False
        if self.allow:
            return any(re.search(p, url) for p in self.allow)
        if self.kind != "web":
            return True  # warc, files and dataset sources are bounded by their inputs
        starts = self.seeds + self.sitemaps + self.feeds + (self.json_api.start if self.json_api else [])
        hosts = {re.match(r"^https?://([^/]+)", s).group(1) for s in starts}  # type: ignore[union-attr]
        m = re.match(r"^https?://([^/]+)", url)
        return bool(m and m.group(1) in hosts)


class SourcesFile(_Strict):
    crawler: CrawlerConfig = CrawlerConfig()
    quality: QualityConfig = QualityConfig()
    contracts: list[ContractConfig] = []
    sources: list[SourceConfig]
    path: str = ""
    # model_copy shares private attributes: the key names the very objects hashed, so a copy with another
    # crawler or quality block misses the cache
    _config_hashes: dict[tuple[str, int, int, int], str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        seen: set[str] = set()
        for s in self.sources:
            if s.id in seen:
                raise ValueError(f"source id {s.id!r} is declared twice")
            seen.add(s.id)
        return self

    @model_validator(mode="after")
    def _contracts_exist(self) -> SourcesFile:
        ids = [c.id for c in self.contracts]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"contract id(s) {twice} declared twice")
        for s in self.sources:
            if s.licence.startswith(CONTRACT_PREFIX) and s.licence.removeprefix(CONTRACT_PREFIX) not in ids:
                raise ValueError(
                    f"source {s.id!r}: licence {s.licence!r} names no contract; declare it under 'contracts:' "
                    f"(known: {', '.join(ids) or 'none'})"
                )
        return self

    @property
    def contract_map(self) -> dict[str, ContractConfig]:
        """Contracts by id, the form :func:`fincorpus.licensing.decide_licence` takes."""
        return {c.id: c for c in self.contracts}

    def warnings(self) -> list[str]:
        return [w for s in self.sources for w in s.warnings()]

    def get(self, source_id: str) -> SourceConfig:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise SourcesError(f"{self.path}: no source with id {source_id!r}; known: {', '.join(self.ids())}")

    def ids(self) -> list[str]:
        return [s.id for s in self.sources]

    def config_sha256(self, source: SourceConfig) -> str:
        """Hash of everything that shapes this source's output, so a record says which config made it.

        The proxy is left out: it is how the bytes travelled, not what they are, and ``ingest --proxy`` (the demo's
        fixture server on a random port) would otherwise give every run its own hash, so ``fincorpus audit``
        could never match a record to its sources file.
        """
        key = (source.id, id(self.crawler), id(self.quality), id(source))
        cached = self._config_hashes.get(key)
        if cached is not None:
            return cached
        contract = None
        if source.licence.startswith(CONTRACT_PREFIX):
            c = self.contract_map.get(source.licence.removeprefix(CONTRACT_PREFIX))
            contract = c.model_dump(mode="json") if c is not None else None
        payload = {
            "crawler": self.crawler.model_dump(mode="json", exclude={"proxy"}),
            "quality": self.quality.model_dump(mode="json"),
            "source": source.model_dump(mode="json"),
            "contract": contract,  # a contract's uses and expiry shape the licence decision
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        self._config_hashes[key] = digest
        return digest


log = logging.getLogger("fincorpus.sources")


def _location(err: dict, raw: dict) -> str:
    loc = list(err["loc"])
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        sources = raw.get("sources") or []
        entry = sources[loc[1]] if loc[1] < len(sources) else {}
        sid = entry.get("id") if isinstance(entry, dict) else None
        where = f"source {sid!r}" if sid else f"source #{loc[1] + 1}"
        rest = ".".join(str(x) for x in loc[2:])
        return f"{where}, field {rest!r}" if rest else where
    return "field " + repr(".".join(str(x) for x in loc)) if loc else "top level"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``list[SourceConfig]`` or ``JsonApiConfig | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def known_keys(loc: tuple[Any, ...] | list[Any]) -> list[str] | None:
    """The keys allowed in the mapping at ``loc`` (a pydantic error location without its last part)."""
    model: type[BaseModel] = SourcesFile
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        sub = _model_in(info.annotation) if info is not None else None
        if sub is None:
            return None
        model = sub
    return [name for name in model.model_fields if not (model is SourcesFile and name == "path")]


def _suggestion(err: dict) -> str:
    loc = list(err["loc"])
    keys = known_keys(loc[:-1]) if loc else None
    if not keys:
        return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
    return f"unknown key; did you mean {close[0]!r}?" if close else f"unknown key; known: {', '.join(keys)}"


def _line_of(root: yaml.Node | None, loc: list[Any]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (the key itself for a mapping entry)."""
    node = root
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if getattr(key, "value", None) == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _yaml_error(p: Path, exc: yaml.YAMLError) -> SourcesError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    cmark = getattr(exc, "context_mark", None)
    extra = ""
    if context and cmark is not None and cmark is not mark:
        extra = f" ({context} at line {cmark.line + 1}, column {cmark.column + 1})"
    elif context:
        extra = f" ({context})"
    return SourcesError(
        f"{p}: {where}YAML syntax error: {problem}{extra}; fix the file and run `sources check` again"
    )


def load_sources(path: str | Path) -> SourcesFile:
    """Read and validate a sources file; raise SourcesError with file, line, source and field on any problem."""
    p = Path(path)
    if not p.is_file():
        raise SourcesError(f"{p}: no such file; pass --sources with the path of a sources YAML file")
    data = p.read_bytes()
    try:
        text_ = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourcesError(
            f"{p}: line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text_)
        tree = yaml.compose(text_)
    except yaml.YAMLError as exc:
        raise _yaml_error(p, exc) from None
    if not isinstance(raw, dict) or "sources" not in raw:
        raise SourcesError(f"{p}: expected a mapping with a 'sources:' list (see docs/sources.md)")
    try:
        sf = SourcesFile.model_validate({**raw, "path": str(p)})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = _suggestion(err)
            line = _line_of(tree, list(err["loc"]))
            problems.append(f"{'line ' + str(line) + ', ' if line else ''}{_location(err, raw)}: {msg}")
        raise SourcesError(f"{p}: " + "; ".join(problems)) from None
    for warning in sf.warnings():
        log.warning("%s: %s", p, warning)
    return sf
