"""Basic quality signals, computed first and decided second.

The scores go into the ``quality`` column whatever the decision, so thresholds can be changed and re-run
over a snapshot without re-extracting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class QualityScores(TypedDict):
    length_chars: int
    cjk_share: float


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FA1F or 0xF900 <= o <= 0xFAFF


def compute_quality(text: str) -> QualityScores:
    visible = [c for c in text if not c.isspace()]
    cjk = sum(1 for c in visible if _is_cjk(c))
    return {"length_chars": len(text), "cjk_share": round(cjk / len(visible), 4) if visible else 0.0}


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str = ""


@dataclass(frozen=True)
class QualityFilter:
    """Drop documents too short or with too little Chinese text to be corpus material."""

    min_chars: int
    min_cjk_share: float
    name: str = "quality.basic"

    def decide(self, scores: QualityScores) -> Decision:
        if scores["length_chars"] < self.min_chars:
            return Decision(False, f"length_chars={scores['length_chars']} < min_chars={self.min_chars}")
        if scores["cjk_share"] < self.min_cjk_share:
            return Decision(
                False, f"cjk_share={scores['cjk_share']:.3f} < min_cjk_share={self.min_cjk_share}"
            )
        return Decision(True)


def lang_of(scores: QualityScores) -> str:
    return "zh" if scores["cjk_share"] >= 0.3 else "und"
