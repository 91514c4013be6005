"""A one-file HTML report per snapshot: counts and distributions a reviewer reads before a model team uses it.

Charts are inline SVG drawn here (bars and histograms need nothing more), the page has no script and a
Content-Security-Policy that forbids every network load, so it opens the same offline, in a mail attachment or
from an audit archive. Sections whose input was not given (removed records, the previous tag) say so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup, escape

from fincorpus.catalog.stats import PII_KINDS, Batches, Hist, SnapshotStats, collect

REPORT_FILE = "report.html"
PALETTE = ("#3b6ea8", "#e08a2c", "#4f9a5b", "#c0504d", "#8064a2", "#4bacc6", "#9c8f3a", "#7f7f7f")
W = 640  # chart width in px


def _t(s: Any) -> str:
    return str(escape(str(s)))


def _short(label: str, width_px: int) -> str:
    """Cut a label to what fits in ``width_px`` (CJK characters count double); the full text stays in <title>."""
    out, used = "", 0.0
    for ch in label:
        used += 12 if ord(ch) > 0x2E80 else 6.5
        if used > width_px - 12:
            return out + "…"
        out += ch
    return out


def bar_chart(items: Sequence[tuple[str, int]], *, unit: str = "documents", label_width: int = 220) -> Markup:
    """Horizontal bars, one per item, value written at the end of the bar."""
    if not items:
        return Markup('<p class="none">nothing to show</p>')
    top = max(v for _, v in items) or 1
    row, plot = 22, W - label_width - 70
    h = row * len(items) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img">']
    for i, (label, v) in enumerate(items):
        y = 4 + i * row
        bw = max(1.0, plot * v / top) if v else 0
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_t(_short(label, label_width))}'
            f"<title>{_t(label)}</title></text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{bw:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
            f"<title>{_t(label)}: {v} {_t(unit)}</title></rect>"
            f'<text x="{label_width + bw + 4:.1f}" y="{y + 15}">{v}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_chart(
    rows: Sequence[tuple[str, Counter[str]]], keys: Sequence[str], label_width: int = 160
) -> Markup:
    """One horizontal bar per row, split by ``keys`` (e.g. documents per source split by licence class)."""
    if not rows:
        return Markup('<p class="none">nothing to show</p>')
    top = max(sum(c.values()) for _, c in rows) or 1
    row, plot = 24, W - label_width - 60
    legend_h = 20 * ((len(keys) + 2) // 3)
    h = row * len(rows) + legend_h + 12
    parts = [f'<svg class="chart" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img">']
    for i, (label, counts) in enumerate(rows):
        y = 4 + i * row
        x = float(label_width)
        parts.append(f'<text x="{label_width - 6}" y="{y + 16}" text-anchor="end">{_t(label)}</text>')
        for k_i, k in enumerate(keys):
            v = counts.get(k, 0)
            if not v:
                continue
            bw = plot * v / top
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row - 6}" '
                f'fill="{PALETTE[k_i % len(PALETTE)]}"><title>{_t(label)} / {_t(k)}: {v}</title></rect>'
            )
            x += bw
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 16}">{sum(counts.values())}</text>')
    ly = row * len(rows) + 14
    for k_i, k in enumerate(keys):
        lx, lyy = 10 + (k_i % 3) * 210, ly + 20 * (k_i // 3)
        parts.append(
            f'<rect x="{lx}" y="{lyy}" width="12" height="12" fill="{PALETTE[k_i % len(PALETTE)]}"/>'
            f'<text x="{lx + 16}" y="{lyy + 11}">{_t(k)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram_chart(h: Hist, *, xlabel: str) -> Markup:
    """Vertical bars over equal bins; log10 bins are labelled with the powers of ten."""
    n = len(h.counts)
    top = max(h.counts) or 1
    left, bottom, ph = 40, 34, 150
    bw = (W - left - 10) / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {ph + bottom + 10}" width="{W}" height="{ph + bottom + 10}">'
    ]
    parts.append(f'<line x1="{left}" y1="{ph + 5}" x2="{W - 10}" y2="{ph + 5}" stroke="#555"/>')
    parts.append(f'<text x="4" y="14">{top}</text><text x="4" y="{ph + 5}">0</text>')
    step = (h.hi - h.lo) / n
    for i, c in enumerate(h.counts):
        lo = h.lo + i * step
        lab = f"10^{lo:g}" if h.log10 else f"{lo:.2g}"
        bh = ph * c / top
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{ph + 5 - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="{PALETTE[0]}">'
            f"<title>{_t(lab)}–: {c}</title></rect>"
        )
        if n <= 12 or i % 2 == 0:
            parts.append(f'<text x="{x + 2:.1f}" y="{ph + 20}" class="tick">{_t(lab)}</text>')
    parts.append(f'<text x="{left}" y="{ph + bottom + 6}" class="tick">{_t(xlabel)}</text></svg>')
    return Markup("".join(parts))


TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>fincorpus snapshot {{ tag }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", sans-serif; margin: 2em auto;
       max-width: 60em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; }
th { background: #f3f3f3; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart text { font-size: 12px; fill: #222; } svg.chart text.tick { font-size: 10px; fill: #555; }
.none { color: #a33; } .meta td:first-child { color: #555; } code { font-size: .9em; }
</style>
</head>
<body>
<h1>fincorpus snapshot <code>{{ tag }}</code></h1>
<table class="meta">
<tr><td>snapshot id</td><td>{{ snapshot_id }}</td></tr>
<tr><td>documents</td><td>{{ st.documents }}</td></tr>
<tr><td>fetched between</td><td>{{ span(st.fetched) }}</td></tr>
<tr><td>published between</td><td>{{ span(st.published) }}</td></tr>
<tr><td>manifest</td><td>{{ manifest_line }}</td></tr>
<tr><td>report written</td><td>{{ generated }}</td></tr>
<tr><td>inputs not given</td><td>{{ missing or "none" }}</td></tr>
</table>

<h2 id="sources">Documents per source and licence class</h2>
{{ stacked_chart(source_rows, licence_keys) }}
<table><tr><th>source</th>{% for k in licence_keys %}<th>{{ k }}</th>{% endfor %}<th>total</th></tr>
{% for sid, c in source_rows %}<tr><td>{{ sid }}</td>{% for k in licence_keys %}<td class="n">{{ c.get(k, 0) }}</td>
{% endfor %}<td class="n">{{ c.values()|sum }}</td></tr>{% endfor %}
</table>
<p>Allowed uses: {% for u, n in usage %}{{ u }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}
(a document counts once for every use its licence and opt-outs allow).</p>

<h2 id="removed">Removal reasons</h2>
{% if st.removed is none %}<p class="none">Removed records were not given to the report: counts of documents
dropped by quality, dedup and licensing are not shown.</p>
{% else %}
<p>{{ st.removed.records }} removed records (kept in the catalog with their stage and reason).</p>
{{ bar_chart(removed_stages, unit="records") }}
<table><tr><th>stage</th><th>reason (values masked)</th><th>records</th></tr>
{% for (stage, reason), n in removed_reasons %}<tr><td>{{ stage }}</td><td>{{ reason }}</td><td class="n">{{ n }}</td></tr>
{% endfor %}</table>
{% endif %}

<h2 id="quality">Quality and finance score</h2>
{% for name, label in hist_names %}<h3>{{ label }}</h3>{{ histogram_chart(st.hists[name], xlabel=label) }}
{% if st.hists[name].missing %}<p>{{ st.hists[name].missing }} documents without this score.</p>{% endif %}
{% endfor %}

<h2 id="dedup">Duplicate clusters</h2>
{% if cluster_sizes %}{{ bar_chart(cluster_sizes, unit="clusters", label_width=120) }}{% else %}
<p>No document in this snapshot belongs to a duplicate cluster.</p>{% endif %}
{% if st.removed is none %}<p class="none">Removed records not given: cluster sizes count only the kept
documents.</p>{% else %}<p>Duplicates removed by relation: {% for r, n in st.removed.duplicates.most_common() %}{{ r }}
{{ n }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.</p>{% endif %}

<h2 id="pii">Personal information</h2>
<table><tr><th>kind</th><th>findings (masked in the text)</th><th>documents</th></tr>
{% for k in pii_kinds %}<tr><td>{{ k }}</td><td class="n">{{ st.pii_found.get(k, 0) }}</td>
<td class="n">{{ st.pii_documents.get(k, 0) }}</td></tr>{% endfor %}</table>
<p>Highest JR/T 0171-2020 class per document: {% for c, n in st.pii_max_class|dictsort %}{{ c }} {{ n }}
{%- if not loop.last %}, {% endif %}{% else %}none found{% endfor %}.</p>

<h2 id="optout">Opt-outs and crawling permissions</h2>
<table><tr><th>source</th><th>robots.txt read</th><th>robots.txt unreachable</th><th>AI crawler disallowed</th>
<th>TDM reserved</th><th>noai</th><th>AI reservation</th><th>training excluded</th></tr>
{% for sid, s in sources %}<tr><td>{{ sid }}</td><td class="n">{{ s.robots_checked }}</td>
<td class="n">{{ s.robots_unreachable }}</td><td class="n">{{ s.ai_disallowed }}</td><td class="n">{{ s.tdm_reserved }}</td>
<td class="n">{{ s.noai }}</td><td class="n">{{ s.ai_reserved }}</td><td class="n">{{ s.opted_out }}</td></tr>{% endfor %}
</table>
{{ bar_chart(optouts, label_width=320) }}

<h2 id="diff">Changes against the previous tag</h2>
{% if st.diff is none %}<p class="none">No previous tag was given: the diff is not shown.</p>{% else %}
<p>Against <code>{{ st.diff.previous_tag }}</code> ({{ st.diff.previous_documents }} documents):</p>
{{ bar_chart(diff_rows, label_width=160) }}
{% for name, ids in diff_examples %}{% if ids %}<p>{{ name }} (first {{ ids|length }}):
{% for i in ids %}<code>{{ i }}</code> {% endfor %}</p>{% endif %}{% endfor %}
{% endif %}

<h2 id="runs">Runs, extractors and configurations</h2>
<table><tr><th>run</th><th>documents</th><th>sources</th><th>fetched between</th><th>configurations</th></tr>
{% for rid, r in runs %}<tr><td><code>{{ rid }}</code></td><td class="n">{{ r.documents }}</td>
<td>{{ r.sources|sort|join(", ") }}</td><td>{{ span(r.fetched) }}</td><td class="n">{{ r.configs|length }}</td></tr>
{% endfor %}</table>
<p>Extractors: {% for e, n in st.extractors.most_common() %}{{ e }} ({{ n }}){% if not loop.last %}, {% endif %}
{% endfor %}.</p>
</body>
</html>
"""

HISTS = (
    ("finance_score", "finance score (0–1)"),
    ("length_chars", "text length in characters (log scale)"),
    ("cjk_share", "share of CJK characters"),
    ("punct_end_share", "share of lines ending in punctuation"),
    ("dup_line_frac", "share of repeated lines"),
)


def _span(s: Any) -> str:
    if s.first is None:
        return "unknown"
    return f"{s.first:%Y-%m-%d %H:%M} – {s.last:%Y-%m-%d %H:%M} UTC"


def render_report(
    st: SnapshotStats, *, tag: str, snapshot_id: int | str | None, manifest: dict[str, Any] | None = None
) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    missing = []
    if st.removed is None:
        missing.append("removed records")
    if st.diff is None:
        missing.append("previous tag")
    licence_keys = [k for k, _ in st.licences.most_common()]
    sources = sorted(st.sources.items(), key=lambda kv: -kv[1].documents)
    d = st.diff
    if manifest:
        signer = manifest.get("signer") or {}
        manifest_line = (
            f"{len(manifest.get('files', []))} files, signed by {signer.get('public_key_fingerprint', 'nobody')}"
            " (check with `fincorpus verify`)"
        )
    else:
        manifest_line = "written after this report, listing it with its hashes: check with `fincorpus verify`"
    return env.from_string(TEMPLATE).render(
        tag=tag,
        snapshot_id=snapshot_id if snapshot_id is not None else "unknown",
        st=st,
        span=_span,
        manifest_line=manifest_line,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        missing=", ".join(missing),
        stacked_chart=stacked_chart,
        bar_chart=bar_chart,
        histogram_chart=histogram_chart,
        source_rows=[(sid, s.licences) for sid, s in sources],
        licence_keys=licence_keys,
        usage=st.usage.most_common(),
        removed_stages=st.removed.by_stage.most_common() if st.removed else [],
        removed_reasons=st.removed.by_reason.most_common(40) if st.removed else [],
        hist_names=HISTS,
        cluster_sizes=[(f"size {k}", v) for k, v in sorted(st.cluster_sizes().items())],
        pii_kinds=PII_KINDS,
        sources=sources,
        optouts=st.optout_reasons.most_common(12),
        diff_rows=[
            ("added", d.added),
            ("removed", d.removed),
            ("text changed", d.changed),
            ("unchanged", d.unchanged),
        ]
        if d
        else [],
        diff_examples=[
            ("added", d.added_examples),
            ("removed", d.removed_examples),
            ("changed", d.changed_examples),
        ]
        if d
        else [],
        runs=sorted(st.runs.items()),
    )


def write_report(
    folder: Path,
    *,
    tag: str,
    snapshot_id: int | str | None = None,
    data: Batches | None = None,
    removed: Batches | None = None,
    previous: tuple[str, Batches] | None = None,
    stats: SnapshotStats | None = None,
    out: Path | None = None,
) -> Path:
    """Write ``report.html`` into a pulled ``folder`` (or to ``out``); data is read from the folder's Parquet.

    ``removed`` and ``previous`` are optional (see :func:`fincorpus.catalog.stats.collect`); pass ``stats`` when
    they were already collected for the cards. The manifest line is filled when ``folder/manifest.json`` exists.
    """
    st = stats or collect(data if data is not None else folder, removed=removed, previous=previous)
    manifest = None
    mpath = folder / "manifest.json"
    if mpath.is_file():
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    path = out or folder / REPORT_FILE
    path.write_text(render_report(st, tag=tag, snapshot_id=snapshot_id, manifest=manifest), encoding="utf-8")
    return path
