"""The text path: every cleaning step that works on text alone, in order, with what each step did recorded.

normalise (NFC, half-width letters/digits, whitespace) -> traditional to simplified (OpenCC, only when the text
is traditional) -> boilerplate lines out, rights notices kept -> PII masked -> quality scores -> finance score.

It computes and records; it does not decide. The pipeline applies the per-document-type thresholds to the
stored scores (so a snapshot can be re-filtered without re-running this), and the benchmark in
bench/text_speed.py times exactly this function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fincorpus.cleaning import boilerplate, normalize, pii, sitetemplate
from fincorpus.cleaning.domain import FinanceScorer, default_scorer
from fincorpus.cleaning.quality import QualityScores, compute_quality, lang_of


@dataclass(frozen=True)
class TextResult:
    text: str
    lang: str
    quality: QualityScores
    finance_score: float | None
    pii: dict[
        str, int | str | None
    ]  # the schema's pii struct: counts per kind and the highest JR/T 0171 class
    rights_notice: str | None
    original_source: str | None
    steps: list[dict[str, str | None]] = field(default_factory=list)
    template_lines: list[str] = field(default_factory=list)  # lines the host's site template removed


def pii_struct(findings: Sequence[pii.PiiFinding]) -> dict[str, int | str | None]:
    counts: dict[str, int | str | None] = dict(pii.pii_counts(list(findings)))
    classes = sorted({f.jrt_class for f in findings})
    counts["max_class"] = classes[-1] if classes else None
    return counts


def clean_text(
    text: str,
    *,
    page_notices: Sequence[str] = (),
    doc_type: str = "news",
    pii_mode: str = "mask",
    scorer: FinanceScorer | None = None,
    site_template: sitetemplate.SiteTemplate | None = None,
) -> TextResult:
    """Clean one extracted text; ``page_notices`` are rights notices found around the main text of its page,
    ``doc_type`` says whether web-page furniture (menus, related-link lists) may be trimmed, ``site_template``
    is the template learned from the host's pages (sitetemplate.learn over their extracted texts), if any."""
    steps: list[dict[str, str | None]] = []
    text = normalize.normalize_text(text)
    steps.append({"step": normalize.STEP, "detail": None})
    as_written = text
    conversion = normalize.to_simplified(text)
    if conversion.converted:
        text = conversion.text
        steps.append(
            {
                "step": normalize.T2S_STEP,
                "detail": f"{conversion.changed_chars} characters converted "
                f"(traditional share {conversion.traditional_share:.3f})",
            }
        )
    cleaned = boilerplate.clean_boilerplate(
        text,
        list(page_notices),
        web_page=doc_type in ("news", "forum"),
        as_written=as_written,
        site_template=site_template,
    )
    text = cleaned.text
    steps.append({"step": boilerplate.STEP, "detail": cleaned.detail})
    if site_template:
        steps.append(
            {
                "step": sitetemplate.STEP,
                "detail": f"{site_template.host} template {site_template.sha256[:16]} "
                f"({site_template.pages} pages, {len(site_template.lines)} lines): "
                f"{len(cleaned.template_lines)} lines removed",
            }
        )
    findings = pii.find_pii(text)
    if findings:
        if pii_mode == "mask":
            text = pii.mask_pii(text, findings)
        kinds = ", ".join(f"{k}={v}" for k, v in pii.pii_counts(findings).items() if v)
        steps.append({"step": pii.STEP if pii_mode == "mask" else "pii:flag", "detail": kinds})
    scores = compute_quality(text)
    scorer = scorer or default_scorer()
    finance = scorer.score(text) if text else None
    steps.append({"step": "quality:scores", "detail": None})
    steps.append({"step": f"domain:finance_score {scorer.version}", "detail": None})
    return TextResult(
        text=text,
        lang=lang_of(scores),
        quality=scores,
        finance_score=finance,
        pii=pii_struct(findings),
        rights_notice=cleaned.rights_notice,
        original_source=cleaned.original_source,
        steps=steps,
        template_lines=cleaned.template_lines,
    )
