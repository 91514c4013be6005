"""Licence class per document, decided from evidence in the page with the source's declared class as the prior.

A source declares the class an operator knows in advance (``media-unknown`` for a news host); the page then
shows what it is: a list page, an attachment wrapper, a reprint that names its original, a forum thread, an
official document with its 文号 and issuing body, an explicit open licence. :func:`collect_evidence` gathers those
signals from what cleaning extracted (one typed :class:`Evidence`), :func:`decide_licence` applies the rules in a
fixed, documented order (docs/licensing.md) and returns a :class:`LicenceDecision` that records the class, the rule,
the evidence text or link, the prior and the version of the rules file. :func:`derive_usage` turns a decision into
the uses a pull may clear *at a given time*: opt-outs (TDMRep, noai, AI-crawler disallows), a source blocked by the
TC260 gate, and contract expiry are applied there, never baked into the class.

The patterns live in ``fincorpus/data/licence_rules.yaml`` (versioned); nothing here is keyed to a host name or
a URL path, so the rules carry over to sites they were not written on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import regex
import yaml
from pydantic import BaseModel, ConfigDict, Field

from fincorpus.cleaning.htmlscan import visible_markup_text

if TYPE_CHECKING:  # the registry imports this module; only type checkers need the reverse direction
    from fincorpus.sources.registry import ContractConfig, SourceConfig

USES = ("research", "train", "commercial", "redistribute")
CONTRACT_PREFIX = "contract:"
CONTRACT_CLASS = "contract-licensed"


@dataclass(frozen=True)
class DpiTuple:
    """The Data Provenance Initiative's licence facets (Longpre et al. 2023): use category, attribution, share-alike."""

    use: str  # commercial | non-commercial | academic-only | unspecified | custom
    attribution: bool
    share_alike: bool


@dataclass(frozen=True)
class LicenceClass:
    name: str
    usage: tuple[str, ...]
    meaning: str
    legal_basis: str = ""
    spdx: str = ""  # an SPDX id, or a LicenseRef-fincorpus-… id where SPDX has none
    dpi: DpiTuple = DpiTuple("unspecified", False, False)


LICENCE_CLASSES: dict[str, LicenceClass] = {
    c.name: c
    for c in (
        LicenceClass(
            "cn-art5-official",
            ("research", "train", "commercial", "redistribute"),
            "laws, regulations, official documents of state organs: not protected (PRC Copyright Law Art. 5)",
            "PRC Copyright Law Art. 5(1): laws, regulations, resolutions, decisions and orders of state organs, "
            "other documents of a legislative, administrative or judicial nature, and their official translations",
            "LicenseRef-fincorpus-PRC-Copyright-Art5",
            DpiTuple("commercial", False, False),
        ),
        LicenceClass(
            "exchange-asserted",
            ("research", "train"),
            "disclosures republished by an exchange that asserts rights over its compilation; no redistribution",
            "the exchange's terms of use over its disclosure platform; research and model training only",
            "LicenseRef-fincorpus-exchange-asserted",
            DpiTuple("non-commercial", True, False),
        ),
        LicenceClass(
            "media-unknown",
            ("research",),
            "news whose licence is not stated; research use only until a licence is cleared",
            "PRC Copyright Law Art. 24(1)(6): use of published works for study and scientific research",
            "LicenseRef-fincorpus-media-unknown",
        ),
        LicenceClass(
            "media-third-party-reprint",
            ("research",),
            "a portal's reprint of another publisher's text; rights stay with the original publisher",
            "PRC Copyright Law Art. 24(1)(6) for research; reprint rights (Art. 35) belong to the original publisher",
            "LicenseRef-fincorpus-media-third-party-reprint",
        ),
        LicenceClass(
            "open-licence",
            ("research", "train", "commercial", "redistribute"),
            "text under an explicit open licence (CC, ODC) named in the page or the source; its SPDX id is kept",
            "the licence named in the page (rel=license, meta, text) or in the source's legal_basis",
            "",  # the document's own SPDX id
            DpiTuple("commercial", True, False),
        ),
        LicenceClass(
            CONTRACT_CLASS,
            (),  # the contract's permitted uses
            "data delivered under a contract with a counterparty: the contract's uses until it expires",
            "the contract named by the source (licence: contract:<id>), its counterparty and expiry date",
            "",  # LicenseRef-fincorpus-contract-<id>
            DpiTuple("custom", False, False),
        ),
        LicenceClass(
            "unknown",
            (),
            "no licence information (lists, attachments, user posts, unverified copies): metadata only",
            "none: kept for audit and takedown, cleared for no use of the text",
            "LicenseRef-fincorpus-unknown",
        ),
    )
}


# -- rules file -------------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UgcFamily(_Model):
    text: list[str] = []  # matched line by line against the page's visible text
    markup: list[str] = []  # matched against the HTML


class UgcRules(_Model):
    min_families: int = Field(ge=1)
    families: dict[str, UgcFamily]


class OfficialRules(_Model):
    statute_min_articles: int = Field(ge=1)
    state_organ_suffixes: list[str]
    not_state_organ: list[str]
    index_labels: list[str]
    min_index_labels: int = Field(ge=1)


class AttachmentRules(_Model):
    max_chars: int = Field(ge=1)
    patterns: list[str]


class OpenLicencePattern(_Model):
    pattern: str
    spdx: str


class LicenceRulesFile(_Model):
    version: str
    no_reprint: list[str]
    rights_reserved: list[str]
    reprint_with_attribution: list[str]
    reprint_statement: list[str]
    rights_disclaimer: list[str]
    ugc: UgcRules
    official: OfficialRules
    attachment: AttachmentRules
    open_licences: list[OpenLicencePattern]
    spdx_usage: dict[str, list[str]]
    restriction_usage: dict[str, list[str]]


def _any(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@dataclass(frozen=True)
class LicenceRules:
    """The compiled rules file. Load with :func:`load_rules`; pass a custom one to test or tune."""

    spec: LicenceRulesFile
    no_reprint: re.Pattern[str]
    rights_reserved: re.Pattern[str]
    reprint_with_attribution: re.Pattern[str]
    reprint_statement: tuple[re.Pattern[str], ...]
    rights_disclaimer: re.Pattern[str]
    ugc: dict[
        str, tuple[tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]]
    ]  # family -> (text, markup)
    attachment: re.Pattern[str]
    open_licences: tuple[tuple[re.Pattern[str], str], ...]

    @property
    def version(self) -> str:
        return self.spec.version

    @classmethod
    def from_spec(cls, spec: LicenceRulesFile) -> LicenceRules:
        unknown = sorted({u for uses in spec.spdx_usage.values() for u in uses} - set(USES))
        if unknown:
            raise ValueError(f"licence rules {spec.version}: unknown use(s) {unknown}; use {USES}")
        return cls(
            spec,
            _any(spec.no_reprint),
            _any(spec.rights_reserved),
            _any(spec.reprint_with_attribution),
            tuple(re.compile(p, re.M) for p in spec.reprint_statement),
            _any(spec.rights_disclaimer),
            {
                name: (
                    tuple(re.compile(p, re.M) for p in fam.text),
                    tuple(re.compile(p) for p in fam.markup),
                )
                for name, fam in spec.ugc.families.items()
            },
            _any(spec.attachment.patterns),
            tuple((re.compile(o.pattern), o.spdx) for o in spec.open_licences),
        )


def load_rules(path: str | None = None) -> LicenceRules:
    """The packaged rules file, or another one (same format) for tuning runs; validated and compiled."""
    if path is None:
        return default_rules()
    with open(path, encoding="utf-8") as fh:
        return LicenceRules.from_spec(LicenceRulesFile.model_validate(yaml.safe_load(fh)))


@lru_cache(maxsize=1)
def default_rules() -> LicenceRules:
    text = resources.files("fincorpus.data").joinpath("licence_rules.yaml").read_text(encoding="utf-8")
    return LicenceRules.from_spec(LicenceRulesFile.model_validate(yaml.safe_load(text)))


# -- evidence -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptOuts:
    """Reservations that remove training (and commercial) use at pull time; see :func:`derive_usage`."""

    tdm_reserved: bool = False
    noai: bool = False
    ai_reserved: bool = False
    reason: str | None = None
    training_blocked: str | None = (
        None  # the TC260 source gate's reason when the source is blocked for training
    )

    @property
    def reserved(self) -> bool:
        return self.tdm_reserved or self.noai or self.ai_reserved


@dataclass(frozen=True)
class OfficialSignals:
    statute_articles: int = 0  # lines starting 第…条
    index_labels: tuple[str, ...] = ()  # 信息索引 labels present on the page
    issuing_body: str | None = None
    doc_number: str | None = None
    state_organ: bool = False  # the issuing body is a state organ (not a company, exchange or association)


@dataclass(frozen=True)
class Evidence:
    """Everything the licence rules look at for one document, as found (the matched text is kept)."""

    url: str
    host: str
    prior: str
    prior_legal_basis: str
    content_type: str | None
    page_type: str | None
    doc_type: str | None
    title: str | None
    text_chars: int
    no_reprint: str | None = None
    rights_reserved: str | None = None
    reprint_with_attribution: str | None = None
    reprint_statement: str | None = None
    reprint_named: str | None = None  # the publisher a reprint statement names
    source_name: str | None = None  # the 来源 line's name (cleaning's original_source)
    source_link: str | None = None  # a 来源/原文链接 link to another site
    source_link_is_article: bool = False  # that link is a page, not a site's home page
    canonical_elsewhere: str | None = None  # <link rel=canonical> on another site
    rights_disclaimer: str | None = None
    open_licence: tuple[str, str, str] | None = None  # (spdx, where, matched text)
    official: OfficialSignals = OfficialSignals()
    ugc_markers: tuple[tuple[str, str], ...] = ()  # (family, matched text)
    ugc_declared: bool = False  # the source or URL rule declares doc_type forum
    attachment_only: str | None = None
    disclosure: str | None = None  # a listed-company disclosure marker (证券代码, 公告编号, 特此公告 …)
    optouts: OptOuts = OptOuts()

    @property
    def ugc_families(self) -> tuple[str, ...]:
        return tuple(sorted({f for f, _ in self.ugc_markers}))


# An article heading of a statute: at a line start or right after a sentence, not a citation ("第三条规定").
# Compiled with the regex module, which finds the required "第" first: the same matches as re (checked on 3,306
# texts of shared/data, 6,497 matches), 100x faster on a long text where re tries the lookbehind at every position.
_ARTICLE_LINE = regex.compile(
    r"(?:^|(?<=[。；;：:]))[ \t　]*第[一二三四五六七八九十百千零〇两\d]{1,6}条(?![规之的中所、，,款])",
    regex.M,
)
# Titles of pages about an official document rather than the document itself.
_NOT_THE_DOCUMENT = re.compile(r"解读|答记者问|记者会|发布会|图解|一图读懂|问答|专访|综述|评论|新闻|动态")
_DISCLOSURE = regex.compile(  # regex: same matches as re (4,468 on shared/data), 3x faster on a long text
    r"(?:证券|股票)(?:代码|简称)\s*[：:]|公告编号\s*[：:]|特此公告|董事会\s*(?:\n|$)|信息披露义务人"
)
# tag bodies stop at "<" and the rel value is bounded: linear on a page of unclosed "<a " (was 7.5 s for 20,000)
_LINK_REL_LICENSE = re.compile(
    r"""<(?:link|a)\s[^<>]*rel\s*=\s*["']?[^"'<>]{0,200}?\blicen[cs]e\b[^>]*>""", re.I
)
_META = re.compile(r"<meta\s[^>]*>", re.I)
_ATTR = re.compile(r"""([a-zA-Z:_.-]+)\s*=\s*["']([^"']*)["']""")
_LICENCE_META = ("license", "licence", "dc.rights", "dcterms.license", "dc.license", "rights", "copyright")
_SOURCE_META = ("source", "original-source", "dc.source", "article:source", "citation_source", "og:source")
_LICENCE_HINT = re.compile(
    r"(?i)creative\s*commons|知识共享|(?<![a-z0-9])CC[\s-]?(?:BY|0)(?![a-z0-9])|licen[cs]e|许可协议"
)
_SECOND_LEVEL = {"com", "net", "org", "gov", "edu", "ac", "co"}


def site_of(url_or_host: str) -> str:
    """The registrable part of a host (news.sina.com.cn -> sina.com.cn): pages of one site share it."""
    host = urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host
    labels = (host or "").lower().removeprefix("www.").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


# Full-width Latin letters, digits, hyphen, full stop and the ideographic space: what a licence name is written
# in. Chinese punctuation (，：) stays, the patterns are written with it.
_WIDE = re.compile(r"[\u3000\uff0d\uff0e\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_SPACE_RUN = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def _fold(text: str) -> str:
    """Full-width forms to half-width (NFKC) so ＣＣ ＢＹ and CC BY match alike; Chinese characters unchanged."""
    return unicodedata.normalize("NFKC", text) if _WIDE.search(text) else text


def _chars(text: str) -> int:
    """Non-space characters."""
    return sum(map(len, text.split()))  # str.split and re's \s agree on every code point


def _visible_lines(html: str, limit: int = 300) -> list[str]:
    text = visible_markup_text(html)  # linear on unclosed blocks and stray "<"
    text = text.replace("&nbsp;", " ").replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<")
    lines = (line.strip() for line in _SPACE_RUN.sub(" ", text).split("\n"))
    return [line for line in lines if line and len(line) <= limit]


def _meta(html: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in _META.findall(html[:60000]):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        name = (attrs.get("name") or attrs.get("property") or "").strip().lower()
        if name and "content" in attrs:
            out.setdefault(name, attrs["content"])
    return out


def _first(pattern: re.Pattern[str], lines: Iterable[str]) -> str | None:
    """The first line (up to 300 characters) that the pattern matches; one search over the joined lines."""
    joined = lines if isinstance(lines, str) else "\n".join(lines)
    m = pattern.search(joined)
    if not m:
        return None
    start = joined.rfind("\n", 0, m.start()) + 1
    end = joined.find("\n", m.end())
    return joined[start : end if end >= 0 else len(joined)][:300]


def _open_licence(html: str | None, lines: Sequence[str], rules: LicenceRules) -> tuple[str, str, str] | None:
    candidates: list[tuple[str, str]] = []
    if html:
        candidates += [("rel=license", _fold(t)) for t in _LINK_REL_LICENSE.findall(html)]
        meta = _meta(html)
        candidates += [(f"meta {k}", _fold(meta[k])) for k in _LICENCE_META if k in meta]
    folded = (_fold(line) for line in lines)
    candidates += [("text", line) for line in folded if _LICENCE_HINT.search(line)]
    for where, value in candidates:
        for pattern, spdx in rules.open_licences:
            m = pattern.search(value)
            if m:
                return spdx, where, value[:300]
    return None


def _official(
    text: str,
    page_lines: Sequence[str],
    issuing_body: str | None,
    doc_number: str | None,
    rules: LicenceRules,
) -> OfficialSignals:
    spec = rules.spec.official
    joined = "\n".join(page_lines[:400])
    labels = tuple(label for label in spec.index_labels if re.search(re.escape(label) + r"\s*[：:]?", joined))
    organ = False
    if issuing_body:
        body = issuing_body.strip()
        organ = not any(w in body for w in spec.not_state_organ) and any(
            body.endswith(s) or s in body for s in spec.state_organ_suffixes
        )
    return OfficialSignals(len(_ARTICLE_LINE.findall(text)), labels, issuing_body, doc_number, organ)


def _ugc(html: str | None, page_text: str, rules: LicenceRules) -> tuple[tuple[str, str], ...]:
    """The first marker of each UGC family: text patterns on the visible text, markup patterns on the HTML."""
    found: list[tuple[str, str]] = []
    for family, (text_patterns, markup_patterns) in rules.ugc.items():
        hit = next((m for p in text_patterns if (m := p.search(page_text))), None)
        if hit is None and html is not None:
            hit = next((m for p in markup_patterns if (m := p.search(html))), None)
        if hit is not None:
            found.append((family, hit.group(0).strip()[:80]))
    return tuple(found)


def _attachment_only(text: str, page_type: str | None, rules: LicenceRules) -> str | None:
    """A page whose whole text is a title and an attachment link (the attachment itself is another document)."""
    if page_type == "list":
        return None
    if _chars(text) > rules.spec.attachment.max_chars:
        return None
    m = rules.attachment.search(text)
    return text.strip()[:200] if m else None


def collect_evidence(
    *,
    url: str,
    prior: str,
    prior_legal_basis: str,
    html: str | None,
    content_type: str | None,
    page_type: str | None,
    doc_type: str | None,
    title: str | None,
    text: str | None,
    rights_notice: str | None = None,
    original_source: str | None = None,
    original_url: str | None = None,
    rel_canonical: str | None = None,
    issuing_body: str | None = None,
    doc_number: str | None = None,
    optouts: OptOuts | None = None,
    declared_forum: bool = False,
    rules: LicenceRules | None = None,
) -> Evidence:
    """Collect the licence evidence of one document from what the processing stage already has.

    ``html`` is the decoded page (None for PDFs, plain text and dataset rows); ``text`` the cleaned main text;
    ``rights_notice`` the notices cleaning copied verbatim (one a line); ``original_source``/``original_url`` the
    来源 name and link; ``declared_forum`` is True when the source (or a URL rule) declares doc_type forum.
    """
    rules = rules or default_rules()
    text = text or ""
    host = urlsplit(url).hostname or ""
    notices = [n for n in (rights_notice or "").split("\n") if n.strip()]
    page_lines = _visible_lines(html) if html else [line for line in text.split("\n") if len(line) <= 300]
    notice_text = "\n".join(_fold(x) for x in notices + page_lines)
    statement = named = None
    for pattern in rules.reprint_statement:
        m = pattern.search(notice_text)
        if m:
            statement = _first(pattern, notice_text)
            named = (m.groupdict().get("name") or "").strip("：: ") or None
            break
    meta = _meta(html) if html else {}
    link = original_url
    if link is None:
        for key in _SOURCE_META:
            value = meta.get(key, "")
            if value.startswith(("http://", "https://")):
                link = value
                break
        source_name = original_source or next(
            (meta[k] for k in _SOURCE_META if k in meta and not meta[k].startswith("http")), None
        )
    else:
        source_name = original_source
    own = site_of(host)
    link_elsewhere = link if link and site_of(link) != own else None
    is_article = bool(link_elsewhere and (urlsplit(link_elsewhere).path or "/").strip("/"))
    canonical = rel_canonical if rel_canonical and site_of(rel_canonical) != own else None
    return Evidence(
        url=url,
        host=host,
        prior=prior,
        prior_legal_basis=prior_legal_basis,
        content_type=content_type,
        page_type=page_type,
        doc_type=doc_type,
        title=title,
        text_chars=_chars(text),
        no_reprint=_first(rules.no_reprint, notice_text),
        rights_reserved=_first(rules.rights_reserved, [_fold(n) for n in notices]),
        reprint_with_attribution=_first(rules.reprint_with_attribution, notice_text),
        reprint_statement=statement,
        reprint_named=named,
        source_name=source_name,
        source_link=link_elsewhere,
        source_link_is_article=is_article,
        canonical_elsewhere=canonical,
        rights_disclaimer=_first(rules.rights_disclaimer, notice_text),
        open_licence=_open_licence(html, page_lines, rules),
        official=_official(text, page_lines, issuing_body, doc_number, rules),
        ugc_markers=_ugc(html, "\n".join(page_lines), rules),
        ugc_declared=declared_forum,
        attachment_only=_attachment_only(text, page_type, rules) if html is not None else None,
        disclosure=(m.group(0) if (m := _DISCLOSURE.search(text)) else None),
        optouts=optouts or OptOuts(),
    )


def evidence_from_row(
    row: Mapping[str, Any],
    html: str | None,
    source: SourceConfig,
    rules: LicenceRules | None = None,
) -> Evidence:
    """:func:`collect_evidence` for a row built by the processing stage (the fields of fincorpus/schema.py)."""
    return collect_evidence(
        url=row["canonical_url"],
        prior=source.licence,
        prior_legal_basis=source.legal_basis,
        html=html,
        content_type=row.get("content_type"),
        page_type=row.get("page_type"),
        doc_type=row.get("doc_type"),
        title=row.get("title"),
        text=row.get("text"),
        rights_notice=row.get("rights_notice"),
        original_source=row.get("original_source"),
        original_url=row.get("original_url"),
        rel_canonical=row.get("rel_canonical"),
        issuing_body=row.get("issuing_body"),
        doc_number=row.get("doc_number"),
        optouts=OptOuts(
            bool(row.get("tdm_reserved")),
            bool(row.get("noai")),
            bool(row.get("ai_reserved")),
            row.get("optout_reason"),
        ),
        declared_forum=row.get("doc_type") == "forum",
        rules=rules,
    )


# -- decision -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceDecision:
    """One document's licence decision, stored with the document (column ``licence_decision``)."""

    licence_class: str
    usage: tuple[str, ...]  # before opt-outs, gate and contract expiry (see derive_usage)
    rule: str
    evidence: str | None
    evidence_link: str | None
    prior: str
    legal_basis: str
    rules_version: str
    spdx: str | None = None
    publisher: str | None = None
    contract_id: str | None = None
    contract_expires: datetime | None = None
    contract_after_expiry: tuple[str, ...] = ()
    restrictions: tuple[str, ...] = ()

    def to_struct(self) -> dict[str, Any]:
        """The value of the ``licence_decision`` column (fincorpus/schema.py LICENCE_DECISION_TYPE)."""
        return {
            "rule": self.rule,
            "evidence": self.evidence,
            "evidence_link": self.evidence_link,
            "prior": self.prior,
            "rules_version": self.rules_version,
            "spdx": self.spdx,
            "publisher": self.publisher,
            "contract_id": self.contract_id,
            "contract_expires": self.contract_expires,
            "contract_after_expiry": list(self.contract_after_expiry),
            "restrictions": list(self.restrictions),
            "usage_before_optouts": list(self.usage),
        }

    def row_fields(self) -> dict[str, Any]:
        """The row fields a decision sets; ``usage`` is derived separately by :func:`derive_usage`."""
        return {
            "licence_class": self.licence_class,
            "legal_basis": self.legal_basis,
            "licence_decision": self.to_struct(),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LicenceDecision:
        """Rebuild the decision of a stored row (at pull time); rows from before issue 11 get a prior-only one."""
        d = row.get("licence_decision") or {}
        klass = row["licence_class"]
        usage = d.get("usage_before_optouts")
        return cls(
            licence_class=klass,
            usage=tuple(usage if usage is not None else LICENCE_CLASSES[klass].usage),
            rule=d.get("rule") or "prior",
            evidence=d.get("evidence"),
            evidence_link=d.get("evidence_link"),
            prior=d.get("prior") or klass,
            legal_basis=row.get("legal_basis") or "",
            rules_version=d.get("rules_version") or "",
            spdx=d.get("spdx"),
            publisher=d.get("publisher"),
            contract_id=d.get("contract_id"),
            contract_expires=d.get("contract_expires"),
            contract_after_expiry=tuple(d.get("contract_after_expiry") or ()),
            restrictions=tuple(d.get("restrictions") or ()),
        )


def _ordered(uses: Iterable[str]) -> tuple[str, ...]:
    s = set(uses)
    return tuple(u for u in USES if u in s)


def _restrictions(ev: Evidence) -> tuple[str, ...]:
    out = []
    if ev.no_reprint:
        out.append("no-reprint")
    elif ev.reprint_with_attribution:
        out.append("reprint-with-attribution")
    if ev.rights_reserved:
        out.append("rights-reserved")
    return tuple(out)


def _capped(usage: Iterable[str], restrictions: Sequence[str], rules: LicenceRules) -> tuple[str, ...]:
    allowed = set(usage)
    for r in restrictions:
        cap = rules.spec.restriction_usage.get(r)
        if cap is not None:
            allowed &= set(cap)
    return _ordered(allowed)


def _as_datetime(d: date | datetime | None) -> datetime | None:
    if d is None or isinstance(d, datetime):
        return d
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _official_rule(ev: Evidence, rules: LicenceRules) -> tuple[str, str] | None:
    """(rule, evidence) when the page shows it is an official document of a state organ, else None."""
    o, spec = ev.official, rules.spec.official
    if ev.title and _NOT_THE_DOCUMENT.search(ev.title):
        return None
    if o.statute_articles >= spec.statute_min_articles:
        return "official.statute", f"{o.statute_articles} articles (第…条)" + (
            f"; {o.issuing_body}" if o.issuing_body else ""
        )
    if o.state_organ and o.doc_number:
        return "official.doc-number", f"{o.issuing_body} {o.doc_number}"
    if len(o.index_labels) >= spec.min_index_labels and (o.state_organ or o.doc_number):
        return "official.index", "信息索引: " + ", ".join(o.index_labels) + (
            f"; {o.issuing_body}" if o.issuing_body else ""
        )
    return None


def _why_not_official(ev: Evidence) -> str:
    o = ev.official
    return (
        f"{ev.title or ev.content_type or 'untitled'}: {o.statute_articles} articles (第…条), "
        f"文号 {o.doc_number or 'none'}, issuing body {o.issuing_body or 'none'}"
        f"{'' if o.state_organ else ' (not a state organ)' if o.issuing_body else ''}, "
        f"信息索引 labels {len(o.index_labels)}"
    )


def _reprint(ev: Evidence) -> tuple[str, str, str | None, str | None] | None:
    """(rule, evidence, link, publisher) when the page shows it reprints another publisher's text."""
    if ev.reprint_statement:
        publisher = (
            ev.reprint_named or ev.source_name or (site_of(ev.source_link) if ev.source_link else None)
        )
        return "reprint.statement", ev.reprint_statement, ev.source_link or ev.canonical_elsewhere, publisher
    if ev.source_link and ev.source_link_is_article:
        return (
            "reprint.source-link",
            f"来源：{ev.source_name or ''} {ev.source_link}".strip(),
            ev.source_link,
            (ev.source_name or site_of(ev.source_link)),
        )
    if ev.canonical_elsewhere and (ev.rights_disclaimer or ev.source_name):
        why = ev.rights_disclaimer or f"来源：{ev.source_name}"
        return (
            "reprint.canonical",
            why,
            ev.canonical_elsewhere,
            ev.source_name or site_of(ev.canonical_elsewhere),
        )
    return None


def _decision(
    ev: Evidence,
    klass: str,
    rule: str,
    evidence: str | None,
    legal_basis: str,
    rules: LicenceRules,
    *,
    link: str | None = None,
    publisher: str | None = None,
    spdx: str | None = None,
    usage: Iterable[str] | None = None,
    restrict: bool = True,
) -> LicenceDecision:
    restrictions = _restrictions(ev) if restrict else ()
    base = LICENCE_CLASSES[klass].usage if usage is None else tuple(usage)
    return LicenceDecision(
        licence_class=klass,
        usage=_capped(base, restrictions, rules),
        rule=rule,
        evidence=evidence,
        evidence_link=link,
        prior=ev.prior,
        legal_basis=legal_basis,
        rules_version=rules.version,
        spdx=spdx if spdx is not None else (LICENCE_CLASSES[klass].spdx or None),
        publisher=publisher,
        restrictions=restrictions,
    )


def _is_html(ev: Evidence) -> bool:
    return (ev.content_type or "text/html") in ("text/html", "application/xhtml+xml")


# Rows of a dataset source and JSON detail documents are documents of their source, not attachments.
_RECORD_TYPES = ("application/x-fincorpus-record+json", "application/json")


def _is_attachment(ev: Evidence) -> bool:
    """A binary file (PDF, office document) linked from a page, as opposed to a page, text or dataset row."""
    ctype = ev.content_type or "text/html"
    return ctype.startswith("application/") and not _is_html(ev) and ctype not in _RECORD_TYPES


def decide_licence(
    ev: Evidence,
    source: SourceConfig,
    *,
    contracts: Mapping[str, ContractConfig] | None = None,
    rules: LicenceRules | None = None,
) -> LicenceDecision:
    """The licence decision for one document: the first rule that applies, in the order of docs/licensing.md.

    override -> list page -> attachment wrapper -> explicit open licence -> contract -> reprint -> user posts ->
    official source needs an official document -> official text on a media site -> attachments on a media site ->
    the source's prior (with the restrictions its notices state).
    """
    rules = rules or default_rules()
    for override in source.licence_overrides:  # the operator's explicit URL rules stay final
        if re.search(override.match, ev.url):
            return _decision(ev, override.licence, "override", override.match, override.legal_basis, rules)
    if ev.page_type == "list":
        return _decision(
            ev,
            "unknown",
            "page.list",
            "page_type=list",
            "navigation or list page: no text of its own",
            rules,
            restrict=False,
        )
    if ev.attachment_only:
        return _decision(
            ev,
            "unknown",
            "page.attachment",
            ev.attachment_only,
            "attachment wrapper page: title and link only; the attachment is its own document",
            rules,
            restrict=False,
        )
    if ev.open_licence:
        spdx, where, matched = ev.open_licence
        return _decision(
            ev,
            "open-licence",
            f"open-licence.{where.split()[0]}",
            matched,
            f"explicit open licence {spdx} ({where})",
            rules,
            spdx=spdx,
            usage=rules.spec.spdx_usage.get(spdx, ("research",)),
            restrict=False,
        )
    if ev.prior.startswith(CONTRACT_PREFIX):
        return _contract_decision(ev, ev.prior.removeprefix(CONTRACT_PREFIX), contracts or {}, rules)
    official = _official_rule(ev, rules)
    if ev.prior == "cn-art5-official" and official:  # Art. 5 text stays free wherever it was copied from
        rule, why = official
        return _decision(
            ev,
            "cn-art5-official",
            rule,
            why,
            ev.prior_legal_basis,
            rules,
            publisher=ev.official.issuing_body,
            restrict=False,
        )
    reprint = _reprint(ev)
    if reprint:
        rule, why, link, publisher = reprint
        return _decision(
            ev,
            "media-third-party-reprint",
            rule,
            why,
            f"reprint of {publisher or 'another publisher'}: rights stay with the original publisher",
            rules,
            link=link,
            publisher=publisher,
        )
    if ev.ugc_declared or len(ev.ugc_families) >= rules.spec.ugc.min_families:
        why = (
            "doc_type forum (declared)"
            if ev.ugc_declared
            else "; ".join(f"{f}: {m}" for f, m in ev.ugc_markers)
        )
        return _decision(
            ev,
            "unknown",
            "ugc",
            why,
            "user-generated post: rights with its author, no licence information",
            rules,
            publisher=site_of(ev.host),
        )
    if ev.prior == "cn-art5-official":
        return _decision(
            ev,
            "unknown",
            "official.not-a-document",
            _why_not_official(ev),
            "on an official source but not an official document (news, interpretation, attachment, report)",
            rules,
        )
    if official and official[0] == "official.statute" and ev.prior == "media-unknown":
        return _decision(
            ev,
            "unknown",
            "official-text.unverified-copy",
            official[1],
            "official text on a non-government site without a source link: the copy cannot be verified",
            rules,
        )
    if ev.prior.startswith("media-") and _is_attachment(ev):
        return _decision(
            ev,
            "unknown",
            "media.attachment",
            ev.content_type,
            "a report or attachment on a media site: rights with its author, no licence information",
            rules,
            publisher=ev.source_name,
        )
    rule = "prior"
    if ev.prior == "exchange-asserted" and ev.disclosure:
        rule = "exchange.disclosure"
    elif ev.no_reprint:
        rule = "prior+notice.no-reprint"
    return _decision(
        ev,
        ev.prior,
        rule,
        ev.disclosure or ev.no_reprint,
        ev.prior_legal_basis,
        rules,
        publisher=ev.source_name,
    )


def _contract_decision(
    ev: Evidence, contract_id: str, contracts: Mapping[str, ContractConfig], rules: LicenceRules
) -> LicenceDecision:
    contract = contracts.get(contract_id)
    if (
        contract is None
    ):  # the sources file validator prevents this; a stored row may outlive its contract entry
        return _decision(
            ev, "unknown", "contract.missing", contract_id, f"contract {contract_id!r} is not declared", rules
        )
    d = _decision(
        ev,
        CONTRACT_CLASS,
        "contract",
        f"{contract.counterparty}, expires {contract.expires.isoformat()}",
        f"contract {contract.id} with {contract.counterparty}"
        + (f" ({contract.reference})" if contract.reference else ""),
        rules,
        publisher=contract.counterparty,
        spdx=f"LicenseRef-fincorpus-contract-{contract.id}",
        usage=contract.uses,
        restrict=False,
    )
    return replace(
        d,
        contract_id=contract.id,
        contract_expires=_as_datetime(contract.expires),
        contract_after_expiry=_ordered(contract.after_expiry),
    )


# -- usage at pull time ---------------------------------------------------------------------------------------------


def derive_usage(
    decision: LicenceDecision | str,
    optouts: OptOuts | None = None,
    at: datetime | None = None,
    **flags: bool,
) -> list[str]:
    """The uses a pull may clear at time ``at`` (default now).

    * a contract past its expiry keeps only its ``after_expiry`` uses (default none): new pulls stop clearing it;
    * a TDM reservation, noai or an AI-crawler disallow removes training and commercial use, except for
      contract-licensed data (the counterparty licensed it expressly);
    * a source the TC260 gate blocked loses training use whatever its class.

    ``decision`` may also be a bare class name (``tdm_reserved=True`` etc. as keywords), the form of the first
    release, for rows stored before issue 11.
    """
    if isinstance(decision, str):
        decision = LicenceDecision(
            decision, LICENCE_CLASSES[decision].usage, "prior", None, None, decision, "", ""
        )
        optouts = optouts or OptOuts(
            **{k: v for k, v in flags.items() if k in ("tdm_reserved", "noai", "ai_reserved")}
        )
    optouts = optouts or OptOuts()
    usage = list(decision.usage)
    if decision.contract_expires is not None:
        now = at or datetime.now(UTC)
        if now >= decision.contract_expires:
            usage = [u for u in usage if u in decision.contract_after_expiry]
    if optouts.reserved and decision.licence_class != CONTRACT_CLASS:
        usage = [u for u in usage if u not in ("train", "commercial")]
    if optouts.training_blocked:
        usage = [u for u in usage if u != "train"]
    return list(_ordered(usage))


def optouts_of_row(row: Mapping[str, Any], training_blocked: str | None = None) -> OptOuts:
    return OptOuts(
        bool(row.get("tdm_reserved")),
        bool(row.get("noai")),
        bool(row.get("ai_reserved")),
        row.get("optout_reason"),
        training_blocked,
    )


def tag_licence(row: dict, legal_basis: str | None = None, at: datetime | None = None) -> dict:
    """Set ``usage`` from the row's stored decision (or its bare class) and opt-outs; record the step."""
    if legal_basis is not None and not row.get("licence_decision"):
        row["legal_basis"] = legal_basis
    decision = LicenceDecision.from_row(row)
    row["usage"] = derive_usage(decision, optouts_of_row(row), at)
    detail = f"{row['licence_class']} ({decision.rule}) -> usage {','.join(row['usage']) or 'none'}"
    if row.get("optout_reason"):
        detail += f" (training excluded: {row['optout_reason']})"
    row["steps"].append({"step": "licence", "detail": detail})
    return row


def class_legend() -> list[dict[str, Any]]:
    """One entry per class for manifests and docs: uses, legal basis, SPDX id, DPI tuple."""
    return [
        {
            "class": c.name,
            "usage": list(c.usage),
            "meaning": c.meaning,
            "legal_basis": c.legal_basis,
            "spdx": c.spdx or None,
            "dpi": {"use": c.dpi.use, "attribution": c.dpi.attribution, "share_alike": c.dpi.share_alike},
        }
        for c in LICENCE_CLASSES.values()
    ]


__all__ = [
    "CONTRACT_CLASS",
    "LICENCE_CLASSES",
    "USES",
    "Evidence",
    "LicenceClass",
    "LicenceDecision",
    "LicenceRules",
    "OptOuts",
    "collect_evidence",
    "decide_licence",
    "derive_usage",
    "evidence_from_row",
    "load_rules",
    "tag_licence",
]
