"""``finance_score``: how much a Chinese text is about finance, in [0, 1], at tens of microseconds a document.

Why this shape:
- Character n-grams, not words: Chinese has no spaces and a word segmenter (jieba, ~350k chars/s) alone would
  eat the whole per-document budget of the text path (1,500 docs/s/core).
- The n-grams are packed into exact 64-bit keys (16 bits a character) and looked up with numpy in a two-choice
  (cuckoo) hash table built at load time, so one document costs a handful of vectorised operations instead of a
  Python loop over its slices. Keys are exact: a lookup never confuses two n-grams.
- A logistic regression over a learned vocabulary of a few thousand informative n-grams (binary presence,
  L2-normalised over the vocabulary hits, so long and short texts are comparable), plus one more feature: the hit
  density of a small hand-written finance lexicon, which keeps the score sensible on wording the training
  data never used.
- Only the first ``max_chars`` characters are read: titles and openings say what a text is about, and the cost
  of a 30,000-character statute stays that of a news article.

Texts are expected after ``normalize_text`` (half-width digits and letters); ASCII is lower-cased, digits fold to
``0`` (``涨0.0%``), characters outside the BMP and NUL fold to U+FFFF, a code no n-gram of the vocabulary holds.

Texts shorter than ``MIN_CHARS`` non-space characters score 0.0: too short to say what they are about, and the
corpus filter should never keep a fragment for its topic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

STEP = "domain:finance_score"
MODEL_FORMAT = "fincorpus.finance_score"
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "finance_v2.json"
MIN_CHARS = 5  # fewer non-space characters than this score 0.0

_BITS = 16  # bits a character in a key: 4 characters fit in 64 bits
_FILL = 0xFFFF  # NUL and astral characters fold here; no vocabulary n-gram or lexicon term contains it
_MAX_ORDER = 4

# Hand-written (our own list of common finance terms, 1-4 characters; ASCII lower-cased at use). The lexicon's hit
# density is one feature of the model; the bench also scores with it alone as the baseline.
FINANCE_LEXICON: tuple[str, ...] = (
    # markets and instruments
    "股票", "证券", "基金", "债券", "期货", "期权", "股市", "股价", "股份", "股权", "a股", "港股", "美股", "b股",
    "大盘", "沪指", "深成指", "创业板", "科创板", "主板", "涨停", "跌停", "涨幅", "跌幅", "收盘", "开盘", "成交额",
    "成交量", "市值", "估值", "市盈率", "指数", "国债", "企业债", "公司债", "可转债", "票据", "外汇", "汇率", "汇市",
    "黄金", "衍生品", "理财", "信托", "资管", "私募", "公募", "净值", "基金经理", "资产管理", "交易所", "券商",
    "投资者", "机构投资", "资本市场", "金融市场", "债市",
    # banking, money and monetary policy
    "银行", "央行", "人民银行", "货币政策", "利率", "降准", "降息", "加息", "准备金", "信贷", "贷款", "存款", "储蓄",
    "利息", "收益率", "流动性", "杠杆", "违约", "信用", "征信", "支付", "清算", "结算", "人民币", "美元", "通胀",
    "cpi", "gdp", "金融", "融资", "再融资",
    # insurance
    "保险", "保费", "赔付", "再保险", "寿险", "财险", "险资",
    # company finance and disclosure
    "上市公司", "上市", "退市", "停牌", "复牌", "ipo", "招股", "募集", "募资", "发行", "承销", "增发", "定增",
    "配股", "回购", "分红", "派息", "股东", "董事会", "净利润", "营业收入", "营收", "利润", "亏损", "盈利", "毛利率",
    "现金流", "每股收益", "财报", "年报", "季报", "资产", "负债", "资本", "并购", "重组", "担保", "质押", "冻结",
    # regulation, tax and accounting
    "监管", "证监会", "银监会", "保监会", "银保监", "金融监管", "反洗钱", "洗钱", "非法集资", "集资", "财政",
    "税收", "纳税", "审计", "会计", "破产", "清偿", "投资", "资金",
)  # fmt: skip


class ModelFileError(ValueError):
    """A finance_score model file is missing, unreadable or does not match this code; the message says what."""


@dataclass(frozen=True)
class FeatureSpec:
    """How a text becomes features; stored in the model file and checked against this code at load time."""

    orders: tuple[int, ...] = (1, 2, 3)
    max_chars: int = 2000
    char_bits: int = _BITS
    term_weight: str = "binary"
    norm: str = "l2-over-vocabulary-hits"
    lexicon_feature: str = "log1p(lexicon hits per 100 chars)"
    folding: tuple[str, ...] = ("ascii-lower", "digits->0", "nul-and-astral->U+FFFF")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> FeatureSpec:
        try:
            spec = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except TypeError as exc:
            raise ModelFileError(f"{where}: feature_spec has fields this code does not know: {exc}") from exc
        fixed = cls(orders=spec.orders, max_chars=spec.max_chars)
        if (
            spec != fixed
            or not set(spec.orders) <= set(range(1, _MAX_ORDER + 1))
            or spec.max_chars < MIN_CHARS
        ):
            raise ModelFileError(
                f"{where}: feature_spec {spec.to_json()} is not one this code computes "
                f"(orders within 1-{_MAX_ORDER}, max_chars >= {MIN_CHARS}, other fields as in {fixed.to_json()}); "
                "retrain with `python -m fincorpus.cleaning.domain_train`"
            )
        return spec


def _fold_table() -> np.ndarray:
    """Code point -> folded code for the BMP, in one array so folding a text is one gather."""
    fold = np.arange(_FILL + 1, dtype=np.uint64)
    fold[0] = _FILL
    fold[ord("A") : ord("Z") + 1] += 32
    fold[ord("0") : ord("9") + 1] = ord("0")
    return fold


_FOLD = _fold_table()


def char_codes(text: str, max_chars: int) -> np.ndarray:
    """Folded codes (uint64) of the first ``max_chars`` characters, ready for key packing."""
    cp = np.frombuffer(text[:max_chars].encode("utf-32-le"), dtype=np.uint32)
    return _FOLD[np.minimum(cp, _FILL)]  # astral characters land on U+FFFF with NUL


def ngram_keys(codes: np.ndarray, orders: Iterable[int]) -> list[np.ndarray]:
    """Keys of all n-grams of each order (in the order asked), each n-gram packed 16 bits a character."""
    wanted = set(orders)
    out: dict[int, np.ndarray] = {}
    shift = np.uint64(_BITS)
    prev = codes
    for n in range(1, max(wanted, default=0) + 1):
        if n > 1:
            prev = (prev[:-1] << shift) | codes[n - 1 :] if prev.size > 1 else prev[:0]
        if n in wanted:
            out[n] = prev
    return [out[n] for n in orders]


def key_of(gram: str) -> int:
    """The key of one n-gram string, folded as texts are (so a lexicon entry matches what texts produce)."""
    codes = char_codes(gram, _MAX_ORDER + 1)
    if not 1 <= codes.size <= _MAX_ORDER:
        raise ValueError(f"n-gram {gram!r} must have 1-{_MAX_ORDER} characters")
    key = 0
    for c in codes.tolist():
        key = (key << _BITS) | c
    return key


def gram_of(key: int) -> str:
    """The n-gram string of a key (inverse of ``key_of`` up to folding)."""
    chars = []
    while key:
        chars.append(chr(key & _FILL))
        key >>= _BITS
    return "".join(reversed(chars))


def order_of(key: int) -> int:
    return (int(key).bit_length() + _BITS - 1) // _BITS


def lexicon_feature(hits: int, n_chars: int) -> float:
    return math.log1p(100.0 * hits / n_chars) if n_chars else 0.0


_MUL = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_MASK64 = (1 << 64) - 1


@dataclass
class KeyTable:
    """Cuckoo hash table from exact n-gram keys to per-entry values, looked up with numpy.

    Two halves, one hash function each; every key lives in exactly one half, so a lookup is one gather and one
    comparison over both candidate slots whatever the load, and never finds a key twice.
    """

    keys: np.ndarray  # uint64 key per slot over both halves, 0 = empty (no n-gram key is 0)
    entry: np.ndarray  # int64 entry id per slot, -1 = empty
    shift: np.uint64
    half: int

    @classmethod
    def build(cls, keys: Sequence[int]) -> KeyTable:
        bits = max(10, (4 * max(len(keys), 1) - 1).bit_length())  # each half at most 1/4 full
        for extra in range(4):
            table = cls._try_build(keys, bits + extra)
            if table is not None:
                return table
        raise RuntimeError(f"could not place {len(keys)} keys in a cuckoo table")  # pragma: no cover

    @classmethod
    def _try_build(cls, keys: Sequence[int], bits: int) -> KeyTable | None:
        half = 1 << bits
        table = cls(
            np.zeros(2 * half, np.uint64), np.full(2 * half, -1, np.int64), np.uint64(64 - bits), half
        )
        for entry, key in enumerate(keys):
            k, e, side = key, entry, 0
            for _ in range(100):
                slot = table._slot(k, side)
                k, table.keys[slot] = int(table.keys[slot]), k
                e, table.entry[slot] = int(table.entry[slot]), e
                if k == 0:
                    break
                side = 1 - side  # the evicted key moves to its slot in the other half
            else:
                return None
        return table

    def _slot(self, key: int, side: int) -> int:
        return ((key * int(_MUL[side])) & _MASK64) >> int(self.shift) | side * self.half

    def candidates(self, keys: np.ndarray) -> np.ndarray:
        """Both candidate slots of every key: first halves, then second halves."""
        first = ((keys * _MUL[0]) >> self.shift).view(np.int64)  # int64 indexes: uint64 ones take a slow path
        return np.concatenate((first, ((keys * _MUL[1]) >> self.shift).view(np.int64) + self.half))

    def slots_found(self, keys: np.ndarray) -> np.ndarray:
        """Slots of the keys present (one per occurrence)."""
        cand = self.candidates(keys)
        return cand[self.keys[cand] == np.concatenate((keys, keys))]


@dataclass
class FinanceScorer:
    """Logistic regression over n-gram presence and lexicon density; ``score`` is the probability of finance."""

    version: str
    spec: FeatureSpec
    vocab: dict[str, float]
    lexicon: tuple[str, ...]
    bias: float
    lexicon_weight: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vocab_keys = [key_of(g) for g in self.vocab]
        lex_keys = {key_of(t) for t in self.lexicon}
        bad = [g for g, k in zip(self.vocab, vocab_keys, strict=True) if order_of(k) not in self.spec.orders]
        if bad:
            raise ModelFileError(f"vocabulary n-grams {bad[:5]} are not of orders {self.spec.orders}")
        all_keys = list(dict.fromkeys([*vocab_keys, *sorted(lex_keys)]))
        self._table = KeyTable.build(all_keys)
        # Per-slot values, so a lookup's slots index them directly.
        entry = self._table.entry
        used = entry >= 0
        weight = np.zeros(len(all_keys))
        weight[: len(vocab_keys)] = list(self.vocab.values())  # vocabulary keys come first in all_keys
        self._slot_weight = np.where(used, weight[entry], 0.0)
        self._slot_vocab = used & (entry < len(vocab_keys))
        lex = np.array([k in lex_keys for k in all_keys], dtype=bool)
        self._slot_lex = used & lex[entry]
        self._orders = tuple(sorted(set(self.spec.orders) | {order_of(k) for k in lex_keys}))

    @classmethod
    def load(cls, path: Path | None = None) -> FinanceScorer:
        """Read a model file (default: the shipped ``models/finance_v2.json``)."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ModelFileError(
                f"finance_score model {path} not found; train one with "
                "`python -m fincorpus.cleaning.domain_train --data ../shared/data --out <path>`"
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"finance_score model {path} is not readable JSON: {exc}") from exc
        return cls.from_json(data, where=str(path))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "<model>") -> FinanceScorer:
        if not isinstance(data, Mapping) or data.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{where}: not a finance_score model (expected format {MODEL_FORMAT!r})")
        missing = {"version", "feature_spec", "vocab", "lexicon", "bias", "lexicon_weight"} - set(data)
        if missing:
            raise ModelFileError(f"{where}: model file lacks {sorted(missing)}")
        return cls(
            version=str(data["version"]),
            spec=FeatureSpec.from_json(data["feature_spec"], where),
            vocab={str(g): float(w) for g, w in data["vocab"].items()},
            lexicon=tuple(data["lexicon"]),
            bias=float(data["bias"]),
            lexicon_weight=float(data["lexicon_weight"]),
            metadata={k: v for k, v in data.items() if k not in {"vocab", "lexicon"}},
        )

    def margin(self, text: str) -> float | None:
        """The linear score (log-odds), or None for a text too short to score."""
        head = text[: self.spec.max_chars]
        n_chars = len(head) - sum(map(head.count, " \n\t\u3000"))
        if n_chars < MIN_CHARS:
            return None
        codes = char_codes(head, self.spec.max_chars)
        found = self._table.slots_found(np.concatenate(ngram_keys(codes, self._orders)))
        lex_hits = int(np.count_nonzero(self._slot_lex[found]))
        vocab = np.sort(found[self._slot_vocab[found]])
        linear = 0.0
        if vocab.size:
            vocab = vocab[np.concatenate(((True,), vocab[1:] != vocab[:-1]))]  # np.unique costs 5x more here
            linear = float(self._slot_weight[vocab].sum()) / math.sqrt(vocab.size)
        return self.bias + linear + self.lexicon_weight * lexicon_feature(lex_hits, len(head))

    def score(self, text: str) -> float:
        """Probability that the text is about finance, rounded to 4 decimals; 0.0 below ``MIN_CHARS``."""
        if not isinstance(text, str):
            raise TypeError(f"finance_score needs str, got {type(text).__name__}")
        m = self.margin(text)
        if m is None:
            return 0.0
        return round(1.0 / (1.0 + math.exp(-m)) if m > -700 else 0.0, 4)

    def score_many(self, texts: Iterable[str]) -> list[float]:
        return [self.score(t) for t in texts]


@lru_cache(maxsize=1)
def default_scorer() -> FinanceScorer:
    """The shipped model, loaded once per process."""
    return FinanceScorer.load()
