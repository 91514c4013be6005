"""Deterministic Chinese near-duplicate benchmark, generated at run time from the shared real data.

Nothing here is stored in the repo: `build(data_dir)` reads ../shared/data and returns the benchmark in memory.
Every random choice uses a fixed seed, so the same data directory always gives the same benchmark.

Sources (doc `kind` in brackets):

a. sites/truth.jsonl duplicate groups, main text extracted with trafilatura from the page bytes (PDFs skipped):
   reprints and their originals [site-reprint], byte-identical copies [site-copy], the collector's different captures
   of one article [site-capture] are duplicates; "template near-duplicate" announcements [site-template] are distinct
   documents whose pairs go to `template_pairs`. Groups of other law versions or natural near-duplicates are left
   out (laws are covered by b; the natural ones are ambiguous, see cnews below).
b. texts/laws version_group pairs [law-version]: two versions of one law are duplicates only if their
   5-character-shingle Jaccard (whitespace-free text) is >= 0.8 (LAW_VERSION_JACCARD), otherwise both are singletons.
   Amended laws below that line differ in substance, so merging them would lose text.
c. texts/announcements_cfee [cfee]: a few hundred equity-freeze announcements, chosen whole issuer by issuer; every
   pair of different announcements with shingle Jaccard >= 0.6 (TEMPLATE_JACCARD) is a template pair (must not
   merge). The announcements themselves are singletons.
d. synthetic edits of base texts from texts/cnews and texts/laws [synthetic-base]; every base gets one copy with a
   single edit [edit:<op>] and one with 2-3 edits [edit:combo], all in the base's group. Edit operations (EDITS):
     - header:   a source/editor line such as "来源：金融网 编辑：张三" (sometimes with "原标题：…") prepended
     - footer:   a disclaimer line such as "免责声明：本文仅供参考，不构成投资建议。" appended
     - ad:       one or two advertising lines ("【广告】…", "点击关注…") inserted at sentence/paragraph boundaries
     - drop:     one sentence (or, for multi-line texts, one paragraph line) deleted, never the first
     - punct:    full-width punctuation to half-width ("，"->",", "。"->".", "："->":", "（"->"(" …)
     - width:    ASCII digits and letters to full-width ("2020"->"２０２０"), or back if already full-width
     - s2t:      simplified -> traditional characters (OpenCC s2t)
   The header/footer/ad wording is written for this benchmark, not taken from the data.
e. singletons: unused cnews texts [cnews-single], unused laws [law-single], and real news pages from the mirror
   that are in no duplicate group [site-single].

Hygiene: one underlying record is used at most once across sources (a site page wrapping a law or cnews text
takes that record out of the pools), and cnews texts with any natural neighbour in cnews (shingle Jaccard >= 0.3,
e.g. templated product-price news) are left out, so unlabelled near-duplicates cannot hide among the singletons.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240611
LAW_VERSION_JACCARD = 0.8
TEMPLATE_JACCARD = 0.6
CNEWS_NEIGHBOUR_JACCARD = 0.3
N_CFEE = 300
N_CNEWS_BASES = 250
N_LAW_BASES = 50
MIN_CHARS = 80
EDITS = ["header", "footer", "ad", "drop", "punct", "width", "s2t"]


@dataclass(frozen=True)
class Doc:
    id: str
    text: str
    group: str | None
    kind: str


@dataclass
class Benchmark:
    docs: list[Doc]
    template_pairs: list[tuple[str, str]] = field(default_factory=list)

    def true_labels(self) -> list[int]:
        """Cluster label per doc: shared non-null group -> same label, everything else its own label."""
        ids: dict[str, int] = {}
        out = []
        for i, d in enumerate(self.docs):
            key = d.group if d.group is not None else f"\0single:{i}"
            out.append(ids.setdefault(key, len(ids)))
        return out

    def summary(self) -> dict:
        kinds: dict[str, int] = defaultdict(int)
        for d in self.docs:
            kinds[d.kind] += 1
        sizes: dict[str, int] = defaultdict(int)
        for d in self.docs:
            if d.group is not None:
                sizes[d.group] += 1
        multi = [n for n in sizes.values() if n > 1]
        return {
            "docs": len(self.docs),
            "by_kind": dict(sorted(kinds.items())),
            "true_multi_doc_clusters": len(multi),
            "docs_in_multi_doc_clusters": sum(multi),
            "true_duplicate_pairs": sum(n * (n - 1) // 2 for n in multi),
            "template_pairs": len(self.template_pairs),
        }


def shingles(text: str, k: int = 5) -> set[str]:
    """Character k-shingles of whitespace-free text (the same definition the mirror's truth uses)."""
    t = re.sub(r"\s+", "", text)
    return {t[i : i + k] for i in range(max(1, len(t) - k + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if a or b else 1.0


def similar_pairs(items: dict[str, set[str]], threshold: float) -> list[tuple[str, str, float]]:
    """Exact all-pairs Jaccard >= threshold; sorting by size lets the size-ratio bound cut the inner loop."""
    order = sorted(items, key=lambda k: (len(items[k]), k))
    out = []
    for i, a in enumerate(order):
        sa = items[a]
        for b in order[i + 1 :]:
            sb = items[b]
            if len(sa) < threshold * len(sb):
                break
            j = jaccard(sa, sb)
            if j >= threshold:
                out.append((a, b, j))
    return out


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def _extract(path: Path) -> str | None:
    import trafilatura

    text = trafilatura.extract(_decode(path.read_bytes()))
    return text if text and len(text) >= MIN_CHARS else None


def _source_key(source: str | None) -> str | None:
    """Normalise a truth `source` to the pool keys used below (cnews:<id>, cfee:<ID>, law:<file>)."""
    if not source:
        return None
    if m := re.search(r"cnews_500\.jsonl#id=([^&\s]+)", source):
        return f"cnews:{m.group(1)}"
    if m := re.search(r"FREEZE_Data\.json#ID=([^&\s]+)", source):
        return f"cfee:{m.group(1)}"
    if source.startswith("texts/laws/"):
        return f"law:{source.split()[0]}"
    return None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


# ---------------------------------------------------------------- a. mirror sites

_DUP_WORDS = ("reprint", "byte-identical", "different capture")


def _site_kind(detail: str) -> str:
    if "byte-identical copy of" in detail:
        return "site-copy"
    return "site-capture" if "different capture" in detail else "site-reprint"


def _site_docs(data_dir: Path) -> tuple[list[Doc], list[tuple[str, str]], dict[str, str], list[Doc]]:
    """Duplicate-group docs, template pairs, used source key -> doc id, and singleton pages from the mirror."""
    rows = [json.loads(line) for line in (data_dir / "sites" / "truth.jsonl").open(encoding="utf-8")]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("dup_group") and r["kind"] == "article":
            groups[r["dup_group"]].append(r)
    docs: list[Doc] = []
    templates: list[tuple[str, str]] = []
    used: dict[str, str] = {}
    for gid in sorted(groups):
        members = groups[gid]
        details = [" ".join(m["dup_detail"] or []) for m in members]
        if all("template near-duplicate" in d for d in details):
            kind = "site-template"
        elif all(any(w in d for w in _DUP_WORDS) for d in details):
            kind = ""
        else:
            continue  # other law versions / natural near-duplicates
        kept = []
        for m, d in zip(members, details, strict=True):
            text = _extract(data_dir / "sites" / m["file"])
            if text is None:
                continue
            doc_id = f"site:{m['url'].removeprefix('http://')}"
            docs.append(Doc(doc_id, text, None if kind else gid, kind or _site_kind(d)))
            kept.append(doc_id)
            if key := _source_key(m.get("source")):
                used.setdefault(key, doc_id)
        if kind:
            templates += [(a, b) for i, a in enumerate(kept) for b in kept[i + 1 :]]
    singles = []
    for r in rows:
        src = r.get("source") or ""
        if r["kind"] == "article" and not r.get("dup_group") and src.startswith("html/"):
            text = _extract(data_dir / "sites" / r["file"])
            if text is not None:
                singles.append(Doc(f"site:{r['url'].removeprefix('http://')}", text, None, "site-single"))
    return docs, templates, used, singles


# ---------------------------------------------------------------- d. synthetic edits

_SITES = ["金融", "财经", "证券", "新华财经", "中国经济", "东方财讯", "每日金融", "理财之家"]
_NAMES = ["张三", "李四", "王五", "赵敏", "陈晨", "刘洋", "周婷", "孙磊"]
_DISCLAIMERS = [
    "免责声明：本文仅供参考，不构成投资建议。据此操作，风险自担。",
    "免责声明：本站转载此文出于传递更多信息之目的，并不意味着赞同其观点或证实其描述。",
    "声明：本文内容仅代表作者个人观点，与本网站无关。投资有风险，入市需谨慎。",
]
_ADS = [
    "【广告】扫码关注本站公众号，每日获取最新财经资讯。",
    "点击关注，领取新人专属理财福利！",
    "【推广】开户享低佣金，详情咨询在线客服。",
    "相关阅读：更多精彩内容请下载本站客户端。",
]
_PUNCT = str.maketrans(
    {
        "，": ",",
        "。": ".",
        "：": ":",
        "；": ";",
        "（": "(",
        "）": ")",
        "！": "!",
        "？": "?",
        "“": '"',
        "”": '"',
        "、": ",",
    }
)
_TO_FULL = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_FULL_TO = str.maketrans({v: k for k, v in _TO_FULL.items()})


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。！？!?])", text) if s]


def _units(text: str) -> tuple[list[str], str]:
    """Paragraph lines for multi-line texts, else sentences; with the joiner that puts them back together."""
    lines = text.split("\n")
    return (lines, "\n") if len([x for x in lines if x.strip()]) > 3 else (_sentences(text), "")


def apply_edit(op: str, text: str, rng: random.Random) -> str:
    if op == "header":
        line = f"来源：{rng.choice(_SITES)}网 编辑：{rng.choice(_NAMES)}"
        if rng.random() < 0.5:
            line += f"\n原标题：{_sentences(text)[0][:24]}"
        return f"{line}\n{text}"
    if op == "footer":
        return f"{text}\n{rng.choice(_DISCLAIMERS)}"
    if op == "ad":
        units, joiner = _units(text)
        for _ in range(rng.randint(1, 2)):
            units.insert(
                rng.randint(1, max(1, len(units))), ("\n" if not joiner else "") + rng.choice(_ADS) + "\n"
            )
        return joiner.join(units)
    if op == "drop":
        units, joiner = _units(text)
        nonempty = [i for i, u in enumerate(units) if u.strip() and i > 0]
        if nonempty:
            del units[rng.choice(nonempty)]
        return joiner.join(units)
    if op == "punct":
        return text.translate(_PUNCT)
    if op == "width":
        if any(c in text for c in _TO_FULL.values()):
            return text.translate(_FULL_TO)
        return "".join(_TO_FULL.get(c, c) for c in text)
    if op == "s2t":
        return _s2t().convert(text)
    raise ValueError(op)


_S2T = None


def _s2t():  # type: ignore[no-untyped-def]
    global _S2T
    if _S2T is None:
        import opencc

        _S2T = opencc.OpenCC("s2t")
    return _S2T


def _edited_copies(base_id: str, text: str, group: str, rng: random.Random) -> list[Doc]:
    single = rng.choice(EDITS)
    combo = rng.sample(EDITS, rng.randint(2, 3))
    out = [Doc(f"edit:{base_id}:{single}", apply_edit(single, text, rng), group, f"edit:{single}")]
    t = text
    for op in combo:
        t = apply_edit(op, t, rng)
    out.append(Doc(f"edit:{base_id}:{'+'.join(combo)}", t, group, "edit:combo"))
    return out


# ---------------------------------------------------------------- build


def _law_text(data_dir: Path, file: str) -> str:
    return (data_dir / file).read_text(encoding="utf-8").replace("<!-- INFO END -->", "").strip()


def _issuer(doc: str) -> str:
    m = re.search(r"(?:证券|股票)代码[:：]?\s*(\d{6})", doc)
    return m.group(1) if m else ""


def build(data_dir: Path) -> Benchmark:
    data_dir = Path(data_dir)
    rng = random.Random(SEED)
    docs, template_pairs, used, site_singles = _site_docs(data_dir)

    # b. laws
    laws = [json.loads(line) for line in (data_dir / "texts/laws/index.jsonl").open(encoding="utf-8")]
    law_text = {f"law:{x['file']}": _law_text(data_dir, x["file"]) for x in laws}
    versions: dict[str, list[str]] = defaultdict(list)
    for x in laws:
        if x.get("version_group"):
            versions[x["version_group"]].append(f"law:{x['file']}")
    in_version = {k for ks in versions.values() for k in ks}
    for vg in sorted(versions):
        keys = sorted(versions[vg])
        if any(k in used for k in keys):
            continue
        sh = [shingles(law_text[k]) for k in keys]
        dup = all(jaccard(sh[0], s) >= LAW_VERSION_JACCARD for s in sh[1:])
        docs += [Doc(k, law_text[k], f"lawv:{vg}" if dup else None, "law-version") for k in keys]
        used.update({k: k for k in keys})
    free_laws = sorted(k for k in law_text if k not in used and k not in in_version)

    # c. CFEE announcements, whole issuers at a time (template pairs are mostly within an issuer)
    cfee = {}
    for line in (data_dir / "texts/announcements_cfee/FREEZE_Data.json").open(encoding="utf-8"):
        r = json.loads(line)
        cfee[f"cfee:{r['ID']}"] = r["Doc"]
    by_issuer: dict[str, list[str]] = defaultdict(list)
    for k in sorted(cfee):
        if k not in used:
            by_issuer[_issuer(cfee[k])].append(k)
    issuers = sorted(i for i, ks in by_issuer.items() if i and len(ks) >= 2)
    rng.shuffle(issuers)
    chosen: list[str] = []
    for i in issuers:
        if len(chosen) >= N_CFEE:
            break
        chosen += by_issuer[i]
    docs += [Doc(k, cfee[k], None, "cfee") for k in chosen]
    key_to_doc = {k: k for k in chosen} | {k: v for k, v in used.items() if k.startswith("cfee:")}
    pairs = similar_pairs({k: shingles(cfee[k]) for k in key_to_doc}, TEMPLATE_JACCARD)
    template_pairs += [(key_to_doc[a], key_to_doc[b]) for a, b, _ in pairs]

    # cnews pool without texts that have natural neighbours
    cnews = {}
    for line in (data_dir / "texts/cnews/cnews_500.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        cnews[f"cnews:{r['id']}"] = r["text"]
    near = {
        k
        for a, b, _ in similar_pairs({k: shingles(t) for k, t in cnews.items()}, CNEWS_NEIGHBOUR_JACCARD)
        for k in (a, b)
    }
    pool = sorted(k for k in cnews if k not in used and k not in near)
    rng.shuffle(pool)
    rng.shuffle(free_laws)

    # d. synthetic edits
    bases = [(k, cnews[k]) for k in pool[:N_CNEWS_BASES]] + [
        (k, law_text[k]) for k in free_laws[:N_LAW_BASES]
    ]
    for k, text in bases:
        group = f"syn:{k}"
        docs.append(Doc(k, text, group, "synthetic-base"))
        docs += _edited_copies(k, text, group, rng)

    # e. singletons
    docs += [Doc(k, cnews[k], None, "cnews-single") for k in pool[N_CNEWS_BASES:]]
    docs += [Doc(k, law_text[k], None, "law-single") for k in free_laws[N_LAW_BASES:]]
    docs += site_singles

    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)), "duplicate doc ids"
    rng.shuffle(docs)
    template_pairs = sorted({tuple(sorted(p)) for p in template_pairs})  # type: ignore[misc]
    return Benchmark(docs=docs, template_pairs=template_pairs)


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    bench = build(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    print(json.dumps(bench.summary(), ensure_ascii=False, indent=1), f"{time.perf_counter() - t0:.1f}s")
