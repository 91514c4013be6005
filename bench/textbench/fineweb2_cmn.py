"""datatrove's FineWeb-2 filter set for Mandarin Chinese (cmn_Hani), built from the published config values.

Where the numbers come from (read from the public repositories, not guessed):

- Per-language thresholds: huggingface/fineweb-2 `configs/cmn_Hani.yml`. Three stored versions of that file exist:
  c7004ff (no language_score), baedee4 (adds language_score 0.692, same thresholds) and 05e6729 (language_score
  0.692, retuned thresholds). Commit dates are not in the stored index; 05e6729 is taken as the current one because
  it is the only version that changes the thresholds after language_score was added (the other order would need a
  revert). Both sets are here; `CMN_HANI` (05e6729) is the default, `CMN_HANI_C7004FF` the earlier one.
- Pipeline-level settings: huggingface/fineweb-2 `fineweb-2-pipeline.py` (commit 7ee60b3), step 5 "language
  specific filtering": GopherRepetitionFilter with paragraph and line-character checks disabled (0),
  FineWebQualityFilter with short_line_thr=999 (disabled) and char_duplicates_ratio=0.1, GopherQualityFilter with
  min_stop_words=2 and datatrove's defaults for everything the config does not set; C4 filters are not applied.
- Word tokeniser: datatrove `assets/tokenizer_assignment.csv` maps cmn_Hani to SpaCyTokenizer("zh"), which
  `utils/word_tokenizers.py` configures with spaCy's jieba segmenter (needs `spacy` and `jieba`, no model download).

Left out on purpose: the GlotLID language filter (language_score >= 0.692) needs a fastText model from the HF hub,
and the MinHash dedup and PII/FTFY "final touches" are not filters. Every document here is Chinese already, so the
language step would only add the model's cost, which makes this baseline faster than the real pipeline, not slower.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LANGUAGE = "cmn_Hani"
CONFIG_REPO = "huggingface/fineweb-2"
CONFIG_PATH = "configs/cmn_Hani.yml"
PIPELINE_PATH = "fineweb-2-pipeline.py"

# fineweb-2-pipeline.py, step 5: the same for every language.
CHAR_DUPLICATES_RATIO = 0.1  # FineWebQualityFilter; FineWeb English used 0.01
SHORT_LINE_THR = 999  # FineWebQualityFilter short-line check disabled
MIN_STOP_WORDS = 2  # GopherQualityFilter
DISABLED = 0  # dup_para_frac, dup_line_char_frac, dup_para_char_frac of GopherRepetitionFilter

# Wikipedia-derived stopwords of configs/cmn_Hani.yml (identical in all three stored versions; the file writes
# them as \u escapes). Traditional forms (於 為 與 後) are part of the published list.
STOPWORDS: tuple[str, ...] = (
    "的", "年", "在", "月", "是", "和", "日", "了", "於", "·", "為",
    "有", "被", "人", "中", "为", "他", "與", "後", "也", "而", "由",
)  # fmt: skip


@dataclass(frozen=True)
class Thresholds:
    """One version of configs/cmn_Hani.yml (field names as in the YAML)."""

    commit: str
    dup_line_frac: float
    top_n_grams: tuple[tuple[int, float], ...]
    dup_n_grams: tuple[tuple[int, float], ...]
    line_punct_thr: float
    new_line_ratio: float
    min_avg_word_length: int
    max_avg_word_length: int
    max_non_alpha_words_ratio: float
    language_score: float | None  # GlotLID threshold: recorded, not applied (see module docstring)
    stopwords: tuple[str, ...] = STOPWORDS


CMN_HANI = Thresholds(
    commit="05e6729567a5df985fbd814e862c48f796feb09f",
    dup_line_frac=0.287,
    top_n_grams=((2, 0.256), (3, 0.201), (4, 0.171)),
    dup_n_grams=((5, 0.198), (6, 0.182), (7, 0.167), (8, 0.154), (9, 0.14), (10, 0.127)),
    line_punct_thr=0.106,
    new_line_ratio=0.178,
    min_avg_word_length=1,
    max_avg_word_length=5,
    max_non_alpha_words_ratio=0.735,
    language_score=0.692,
)

# c7004ff99c429b3f242d489288cc6b5d10081f99; baedee44633384b26d433b68f88cb73cc0915d1a has the same thresholds
# plus language_score 0.692.
CMN_HANI_C7004FF = Thresholds(
    commit="c7004ff99c429b3f242d489288cc6b5d10081f99",
    dup_line_frac=0.314,
    top_n_grams=((2, 0.111), (3, 0.122), (4, 0.132)),
    dup_n_grams=((5, 0.221), (6, 0.197), (7, 0.177), (8, 0.162), (9, 0.149), (10, 0.139)),
    line_punct_thr=0.19,
    new_line_ratio=0.233,
    min_avg_word_length=1,
    max_avg_word_length=5,
    max_non_alpha_words_ratio=0.735,
    language_score=None,
)

CONFIGS: dict[str, Thresholds] = {"05e6729": CMN_HANI, "c7004ff": CMN_HANI_C7004FF}


@dataclass(frozen=True)
class Verdict:
    """Outcome for one document: kept, or the first filter and reason that dropped it."""

    kept: bool
    filter: str | None = None
    reason: str | None = None


def _require_datatrove() -> None:
    try:
        import datatrove  # noqa: F401
        import jieba  # noqa: F401
        import spacy  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"the FineWeb-2 baseline needs datatrove, spacy and jieba ({e.name} is missing): "
            ".venv/bin/pip install datatrove spacy jieba"
        ) from e


def build_filters(cfg: Thresholds = CMN_HANI) -> list:
    """The three filters of fineweb-2-pipeline.py step 5, in pipeline order, as datatrove objects."""
    _require_datatrove()
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return [
        GopherRepetitionFilter(
            language=LANGUAGE,
            dup_para_frac=DISABLED,
            dup_line_char_frac=DISABLED,
            dup_para_char_frac=DISABLED,
            dup_line_frac=cfg.dup_line_frac,
            top_n_grams=cfg.top_n_grams,
            dup_n_grams=cfg.dup_n_grams,
        ),
        FineWebQualityFilter(
            language=LANGUAGE,
            short_line_thr=SHORT_LINE_THR,
            char_duplicates_ratio=CHAR_DUPLICATES_RATIO,
            line_punct_thr=cfg.line_punct_thr,
            new_line_ratio=cfg.new_line_ratio,
        ),
        GopherQualityFilter(
            language=LANGUAGE,
            max_avg_word_length=cfg.max_avg_word_length,
            min_avg_word_length=cfg.min_avg_word_length,
            stop_words=list(cfg.stopwords),
            max_non_alpha_words_ratio=cfg.max_non_alpha_words_ratio,
            min_stop_words=MIN_STOP_WORDS,
        ),
    ]


def warm_up(filters: Sequence) -> None:
    """Load jieba's dictionary and spaCy's blank zh pipeline once, so timings measure filtering only."""
    run_direct(filters, ["预热文本：这是一段用于加载分词词典的句子。\n第二行也在这里。"])


def run_direct(filters: Sequence, texts: Iterable[str]) -> list[Verdict]:
    """Call `filter.filter(doc)` per document, stopping at the first drop, as the pipeline chain does."""
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import get_filter_result

    out: list[Verdict] = []
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        verdict = Verdict(kept=True)
        for f in filters:
            ok, reason = get_filter_result(f.filter(doc))
            if not ok:
                verdict = Verdict(kept=False, filter=type(f).__name__, reason=reason)
                break
        out.append(verdict)
    return out


def run_pipeline(filters: Sequence, texts: Iterable[str]) -> list[str]:
    """Chain the steps' `run()` generators as datatrove's executor does (stats and timing included); kept ids."""
    from datatrove.data import Document

    stream = (Document(text=t, id=str(i)) for i, t in enumerate(texts))
    for f in filters:
        stream = f.run(stream)
    return [d.id for d in stream]


def clear_word_cache() -> None:
    """datatrove memoises the last 5 word splits (shared by the three filters); clear it between timed runs."""
    from datatrove.utils.text import split_into_parts

    split_into_parts.cache_clear()
