"""Measuring licence decisions against the mirror's truth: agreement per class and per host, and a
leave-one-host-out run that tunes the rules' limits on the other hosts before scoring each one.

Used by tests/test_licensing_mirror.py (the acceptance figure) and bench/licence_agreement.py (the report). The
decisions are made exactly as the processing stage makes them: every stored capture of a crawled home goes through
:func:`fincorpus.pipelines.ingest.process_capture`, its page is decoded again for the markup signals, and
:func:`fincorpus.licensing.decide_licence` decides.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fincorpus.licensing import (
    LicenceDecision,
    LicenceRules,
    decide_licence,
    default_rules,
    evidence_from_row,
)
from fincorpus.sources.registry import SourcesFile

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Item:
    """One processed capture: its row (cleaning's fields) and decoded page, ready for the licence rules."""

    row: dict[str, Any]
    html: str | None
    source_id: str


def processed_items(home: Path, sources: SourcesFile, source_ids: Iterable[str] | None = None) -> list[Item]:
    """Every current capture of the home's sources, processed by the pipeline's own processing stage."""
    from fincorpus.cleaning.decode import decode_bytes
    from fincorpus.pipelines.ingest import process_capture
    from fincorpus.sources.archive import read_raw
    from fincorpus.sources.frontier import CrawlState

    state = CrawlState(home)
    items: list[Item] = []
    for sid in source_ids or sources.ids():
        for capture in state.current_pages(sid):
            row = process_capture(capture, sources, home, "licence-eval")
            html = None
            if capture.content_type in HTML_TYPES:
                body = read_raw(home, capture.raw_ref).body
                html = decode_bytes(body, capture.headers.get("content-type")).text
            items.append(Item(row, html, sid))
    return items


def decide_items(
    items: Sequence[Item], sources: SourcesFile, rules: LicenceRules | None = None
) -> list[LicenceDecision]:
    out = []
    for it in items:
        src = sources.get(it.source_id)
        out.append(
            decide_licence(
                evidence_from_row(it.row, it.html, src, rules),
                src,
                contracts=sources.contract_map,
                rules=rules,
            )
        )
    return out


@dataclass
class Agreement:
    documents: int
    agree: int
    by_class: dict[str, tuple[int, int]]  # truth class -> (agree, documents)
    by_host: dict[str, tuple[int, int]]
    confusions: dict[str, int] = field(default_factory=dict)  # "truth -> decided (rule)" -> count

    @property
    def rate(self) -> float:
        return self.agree / self.documents if self.documents else 0.0

    def class_rate(self, klass: str) -> float:
        a, n = self.by_class[klass]
        return a / n if n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "agree": self.agree,
            "rate": round(self.rate, 4),
            "by_class": {
                k: {"agree": a, "documents": n, "rate": round(a / n, 4)}
                for k, (a, n) in sorted(self.by_class.items())
            },
            "by_host": {
                k: {"agree": a, "documents": n, "rate": round(a / n, 4)}
                for k, (a, n) in sorted(self.by_host.items())
            },
            "confusions": dict(sorted(self.confusions.items(), key=lambda kv: -kv[1])),
        }


def agreement(
    items: Sequence[Item],
    decisions: Sequence[LicenceDecision],
    truth: Mapping[str, Mapping[str, Any]],
    *,
    hosts: Iterable[str] | None = None,
    only: set[str] | None = None,
) -> Agreement:
    """Compare decisions with truth's ``expected_licence_class`` (documents truth knows; optionally some hosts, or
    only the canonical URLs in ``only``)."""
    wanted = set(hosts) if hosts is not None else None
    cls: dict[str, list[int]] = {}
    host: dict[str, list[int]] = {}
    conf: Counter[str] = Counter()
    n = ok = 0
    for it, d in zip(items, decisions, strict=True):
        url = it.row["canonical_url"]
        t = truth.get(url)
        if (
            t is None
            or (wanted is not None and t["host"] not in wanted)
            or (only is not None and url not in only)
        ):
            continue
        expected = t["expected_licence_class"]
        good = d.licence_class == expected
        n += 1
        ok += good
        for table, key in ((cls, expected), (host, t["host"])):
            table.setdefault(key, [0, 0])
            table[key][0] += good
            table[key][1] += 1
        if not good:
            conf[f"{expected} -> {d.licence_class} ({d.rule})"] += 1
    return Agreement(
        n, ok, {k: (a, b) for k, (a, b) in cls.items()}, {k: (a, b) for k, (a, b) in host.items()}, dict(conf)
    )


# The limits of the rules file that a tuning run may move; the shipped values are the first of each list.
GRID: dict[str, tuple[int, ...]] = {
    "statute_min_articles": (3, 2, 5, 8),
    "ugc_min_families": (2, 1, 3),
    "attachment_max_chars": (200, 100, 400),
}


def rules_with(
    base: LicenceRules, statute_min_articles: int, ugc_min_families: int, attachment_max_chars: int
) -> LicenceRules:
    spec = base.spec
    spec = spec.model_copy(
        update={
            "official": spec.official.model_copy(update={"statute_min_articles": statute_min_articles}),
            "ugc": spec.ugc.model_copy(update={"min_families": ugc_min_families}),
            "attachment": spec.attachment.model_copy(update={"max_chars": attachment_max_chars}),
        }
    )
    return LicenceRules.from_spec(spec)


def leave_one_host_out(
    items: Sequence[Item], sources: SourcesFile, truth: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """For each host: pick the grid point with the best agreement on the other hosts (ties: the shipped values),
    then score the held-out host with it. Returns the chosen limits and both figures per host."""
    base = default_rules()
    combos = list(itertools.product(*GRID.values()))
    decided = {c: decide_items(items, sources, rules_with(base, *c)) for c in combos}
    hosts = sorted(
        {truth[it.row["canonical_url"]]["host"] for it in items if it.row["canonical_url"] in truth}
    )
    folds: dict[str, Any] = {}
    total_ok = total_n = 0
    for held in hosts:
        others = [h for h in hosts if h != held]
        best = max(
            combos, key=lambda c: (agreement(items, decided[c], truth, hosts=others).rate, c == combos[0])
        )
        scored = agreement(items, decided[best], truth, hosts=[held])
        total_ok += scored.agree
        total_n += scored.documents
        folds[held] = {
            "chosen": dict(zip(GRID, best, strict=True)),
            "held_out": scored.to_json(),
            "shipped": agreement(items, decided[combos[0]], truth, hosts=[held]).to_json(),
        }
    return {
        "folds": folds,
        "pooled_held_out": {
            "agree": total_ok,
            "documents": total_n,
            "rate": round(total_ok / total_n, 4) if total_n else 0.0,
        },
    }
