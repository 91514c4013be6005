"""PII detection: recall on injected identifiers, false positives on real numeric text, speed; next to a naive
regex baseline (the seven patterns most Chinese cleaning scripts use: no check digits, no boundaries).

1. Recall: real texts (cnews, freeze announcements, laws) cut to ~1.5 KB, only chunks with no finding of their
   own, get GENERATED valid identifiers injected (seeded): >= 2,000 per kind, in varied formats and contexts.
   A hit is a finding of the right kind with exactly the injected span. Precision counts every other finding.
2. False positives: find_pii on the original announcements and the text layer of every PDF in shared/data/pdf.
   Numeric token = maximal run of ASCII digits joined by single ',', '.' or '-' between digits
   (``1,234,567.89`` and ``2024-01-31`` are one token each). Every finding is printed with its kind and 20
   characters of context each side, for review; the JSON holds counts only. Reviewed findings are listed in
   REVIEWED by a hash of (source, kind, matched text), never the text: a finding not in REVIEWED counts as wrong.
3. Speed: find+mask docs/s on ~1.5 KB documents (UTF-8 bytes), ours then the baseline, same process.

Run: .venv/bin/python bench/pii.py   (writes bench/results/pii.json)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pypdfium2 as pdfium

from fincorpus.cleaning.pii import PII_KINDS, PiiFinding, find_pii, luhn_ok, mask_pii

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
SEED = 20240131
PER_KIND = 2100
CHUNK_BYTES = 1500

# ---------------------------------------------------------------------------------------------------------------
# Reviewed findings on real text: sha1(source|kind|matched)[:12] -> verdict ("ok" = a real identifier that the
# policy masks, e.g. an institution's landline or e-mail; "wrong" = not an identifier). Filled in by reading the
# printed list; see the module docstring.
# Review of the current list (2024 run): every finding is an institution's published contact: the board office /
# securities representative landlines and mailboxes in announcements and reports, a broker's branch phones and
# research mailboxes. All are real identifiers the policy masks (see fincorpus/cleaning/pii.py); none is a figure.
REVIEWED: dict[str, str] = {
    "3fdc3279ab26": "ok",  # announcement: contact landline (Beijing)
    "c664b1ceec32": "ok",  # announcement: contact landline (Yantai, 7-digit local)
    "0345b5176b83": "ok",  # broker note: Shanghai office landline
    "b5fa2bff5181": "ok",  # broker note: Beijing office landline
    "d45e39104eb2": "ok",  # broker note: Shenzhen office landline
    "49f2a91c25e2": "ok",  # broker note: research mailbox
    "7fadf2798a72": "ok",  # broker note: research mailbox
    "a93d479d04b0": "ok",  # broker note: research mailbox
    "e51de0dffeb8": "ok",  # half-year summary: investor-relations mailbox
    "d303559ec233": "ok",  # half-year summary: securities representative landline
    "886e163a4619": "ok",  # half-year summary: investor-relations mailbox
    "727c53d73dfb": "ok",  # bank annual report: board office phone "(0755)…"
    "d59b827684dd": "ok",  # bank annual report: board office fax "(0755)…"
    "b7342be03a7f": "ok",  # bank annual report: board office mailbox
}

# ---------------------------------------------------------------------------------------------------------------
# Baseline: the usual regex list (no checksums, no digit-run boundaries).
BASELINE = {
    "id_card": re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"),
    "mobile": re.compile(r"1[3-9]\d{9}"),
    "landline": re.compile(r"0\d{2,3}-?\d{7,8}"),
    "bank_card": re.compile(r"\d{16,19}"),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    "ip": re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
    "passport": re.compile(r"[EG]\d{8}"),
}


def baseline_find(text: str) -> list[PiiFinding]:
    found = [PiiFinding(k, m.start(), m.end(), "") for k, p in BASELINE.items() for m in p.finditer(text)]
    found.sort(key=lambda f: (f.start, -f.end))
    out: list[PiiFinding] = []
    for f in found:
        if not out or f.start >= out[-1].end:
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Generators of valid identifiers


PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52]
PROVINCES += [53, 54, 61, 62, 63, 64, 65]
MOBILE_PREFIXES = ["130", "133", "135", "136", "138", "139", "147", "150", "152", "158", "166", "173", "177"]
MOBILE_PREFIXES += ["180", "182", "186", "187", "189", "191", "198", "199"]
AREA_CODES = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0755", "0571", "0512"]
AREA_CODES += ["0731", "0871", "0411", "0532", "0591", "0898", "0951", "0991", "0371", "0311"]
MAIL_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "gmail.com",
    "foxmail.com",
    "example.com.cn",
    "abc-fund.cn",
]


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def gen_id(rng: random.Random) -> str:
    region = f"{rng.choice(PROVINCES)}{rng.randint(1, 30):02d}{rng.randint(1, 40):02d}"
    born = date(1930, 1, 1) + timedelta(days=rng.randrange(80 * 365))
    if rng.random() < 0.1:  # first-generation 15-digit ID
        return region + born.strftime("%y%m%d") + digits(rng, 3)
    body = region + born.strftime("%Y%m%d") + digits(rng, 3)
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    s = body + check
    if rng.random() < 0.1:
        return f"{s[:6]} {s[6:14]} {s[14:]}"
    return s.lower() if check == "X" and rng.random() < 0.3 else s


def gen_mobile(rng: random.Random) -> str:
    m = rng.choice(MOBILE_PREFIXES) + digits(rng, 8)
    style = rng.randrange(7)
    return [
        m,
        m,
        f"{m[:3]} {m[3:7]} {m[7:]}",
        f"{m[:3]}-{m[3:7]}-{m[7:]}",
        f"+86 {m}",
        f"+86-{m[:3]}-{m[3:7]}-{m[7:]}",
        f"(+86){m}",
    ][style]


def gen_landline(rng: random.Random) -> str:
    area = rng.choice(AREA_CODES)
    n = 8 if len(area) == 3 or rng.random() < 0.6 else 7
    local = str(rng.randint(2, 8)) + digits(rng, n - 1)
    split = f"{local[:4]} {local[4:]}" if n == 8 else f"{local[:3]} {local[3:]}"
    style = rng.randrange(7)
    return [
        f"{area}-{local}",
        f"({area}){local}",
        f"（{area}）{local}",
        f"{area} {split}",
        f"{area}{local}",
        f"{area}-{local}-{rng.randint(1, 9999)}",
        f"{area}-{split.replace(' ', '-')}",
    ][style]


def luhn_complete(prefix: str, n: int, rng: random.Random) -> str:
    body = prefix + digits(rng, n - len(prefix) - 1)
    return next(body + c for c in "0123456789" if luhn_ok(body + c))


def gen_card(rng: random.Random) -> str:
    card = luhn_complete("62" + str(rng.randint(1, 8)) + digits(rng, 3), rng.choice((16, 19)), rng)
    style = rng.randrange(4)
    if style == 2:
        return " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    if style == 3:
        return "-".join(card[i : i + 4] for i in range(0, len(card), 4))
    return card


def gen_email(rng: random.Random) -> str:
    names = ["zhang", "wang", "li", "liu", "chen", "yang", "zhao", "huang", "zhou", "wu", "xu", "sun", "ma"]
    local = (
        rng.choice(names) + rng.choice(["", ".", "_"]) + rng.choice([*names, digits(rng, rng.randint(2, 6))])
    )
    if rng.random() < 0.2:
        local = digits(rng, rng.randint(6, 11))  # QQ-number mailboxes
    return f"{local}@{rng.choice(MAIL_DOMAINS)}"


def gen_ip(rng: random.Random) -> str:
    return ".".join(
        str(x) for x in (rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    )


def gen_passport(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return "E" + str(rng.randint(1, 9)) + digits(rng, 7)
    if r < 0.8:
        return "E" + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + digits(rng, 7)
    return "G" + str(rng.randint(1, 9)) + digits(rng, 7)


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "id_card": gen_id,
    "mobile": gen_mobile,
    "landline": gen_landline,
    "bank_card": gen_card,
    "email": gen_email,
    "ip": gen_ip,
    "passport": gen_passport,
}

# Contexts: {x} is the identifier. Unlabelled forms put it straight next to Chinese text or punctuation.
LABELS = {
    "id_card": [
        "身份证号：{x}",
        "身份证号码为{x}",
        "（身份证号：{x}）",
        "公民身份号码{x}，",
        "证件号码: {x}",
    ],
    "mobile": ["手机：{x}", "联系电话{x}", "（手机号码：{x}）", "请拨打{x}咨询", "电话 {x}"],
    "landline": ["电话：{x}", "联系电话{x}", "传真：{x}", "（办公电话：{x}）", "座机 {x}"],
    "bank_card": ["银行卡号：{x}", "收款账号{x}", "（卡号：{x}）", "开户行及账号：{x}", "借记卡 {x}"],
    "email": ["电子邮箱：{x}", "邮箱{x}", "（E-mail：{x}）", "联系邮箱 {x}。", "发送至{x}"],
    "ip": ["IP地址：{x}", "登录IP {x}", "服务器地址{x}", "（访问IP：{x}）", "来源 IP:{x}"],
    "passport": ["护照号码：{x}", "护照号{x}", "（护照：{x}）", "持中国护照，号码{x}", "passport no. {x}"],
}
BARE = ["{x}", "，{x}，", "（{x}）", "：{x}。", "为{x}的", "“{x}”"]


def wrap(kind: str, ident: str, rng: random.Random) -> str:
    weak_passport = kind == "passport" and ident[1].isalpha()
    if weak_passport or rng.random() < 0.6:
        return rng.choice(LABELS[kind]).format(x=ident)
    return rng.choice(BARE).format(x=ident)


# ---------------------------------------------------------------------------------------------------------------
# Real text


def trim_utf8(text: str, nbytes: int = CHUNK_BYTES) -> str:
    return text.encode("utf-8")[:nbytes].decode("utf-8", errors="ignore")


def chunks(text: str, nbytes: int = CHUNK_BYTES) -> list[str]:
    """Consecutive ~nbytes UTF-8 pieces (cut at character boundaries); short tails dropped."""
    raw = text.encode("utf-8")
    pieces = (raw[i : i + nbytes].decode("utf-8", errors="ignore") for i in range(0, len(raw), nbytes))
    return [p for p in pieces if len(p) >= 100]


def load_texts() -> dict[str, list[str]]:
    cnews = [
        json.loads(x)["text"] for x in (DATA / "texts/cnews/cnews_500.jsonl").read_text("utf-8").splitlines()
    ]
    freeze = [
        json.loads(x)["Doc"]
        for x in (DATA / "texts/announcements_cfee/FREEZE_Data.json").read_text("utf-8").splitlines()
        if x.strip()
    ]
    laws = [p.read_text("utf-8") for p in sorted((DATA / "texts/laws").rglob("*.md"))]
    pdfs = {}
    for p in sorted((DATA / "pdf").glob("*.pdf")):
        doc = pdfium.PdfDocument(p)
        pdfs[p.stem] = "\f".join(page.get_textpage().get_text_range() for page in doc)
        doc.close()
    return {
        "cnews": cnews,
        "announcements": freeze,
        "laws": laws,
        **{f"pdf:{k}": [v] for k, v in pdfs.items()},
    }


# ---------------------------------------------------------------------------------------------------------------
# 1. Recall / precision on injected texts


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def make_injected(hosts: list[str], rng: random.Random) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """Documents with 3 injections each; returns (text, [(kind, start, end)])."""
    jobs = [k for k in PII_KINDS for _ in range(PER_KIND)]
    rng.shuffle(jobs)
    docs = []
    next_host = itertools.cycle(hosts)
    for j in range(0, len(jobs), 3):
        cuts: list[int] = []
        while len(cuts) < 3:  # hosts that are mostly ASCII (tables, English) are passed over
            host = next(next_host)
            # insertion points that do not glue the identifier onto an ASCII word or number of the host
            cuts = [
                c
                for c in rng.sample(range(1, len(host)), 40)
                if not (_ascii_alnum(host[c - 1]) or _ascii_alnum(host[c]))
            ]
        text, spans, pos = [], [], 0
        out_len = 0
        for kind, cut in zip(jobs[j : j + 3], sorted(cuts[:3]), strict=False):
            ident = GENERATORS[kind](rng)
            snippet = wrap(kind, ident, rng)
            text.append(host[pos:cut])
            out_len += cut - pos
            k = snippet.index(ident)
            spans.append((kind, out_len + k, out_len + k + len(ident)))
            text.append(snippet)
            out_len += len(snippet)
            pos = cut
        text.append(host[pos:])
        docs.append(("".join(text), spans))
    return docs


def score_injected(docs: list[tuple[str, list[tuple[str, int, int]]]], finder: Callable) -> dict:
    hit, miss, fp = Counter(), Counter(), Counter()
    for text, spans in docs:
        found = {(f.kind, f.start, f.end) for f in finder(text)}
        for s in spans:
            (hit if s in found else miss)[s[0]] += 1
        for f in found - set(spans):
            fp[f[0]] += 1
    per_kind = {
        k: {
            "injected": hit[k] + miss[k],
            "recall": round(hit[k] / max(1, hit[k] + miss[k]), 4),
            "false_pos": fp[k],
        }
        for k in PII_KINDS
    }
    tp, nfp = sum(hit.values()), sum(fp.values())
    return {
        "per_kind": per_kind,
        "precision": round(tp / max(1, tp + nfp), 4),
        "recall": round(tp / max(1, tp + sum(miss.values())), 4),
    }


def show_misses(docs: list[tuple[str, list[tuple[str, int, int]]]], limit: int = 15) -> None:
    shown = 0
    for text, spans in docs:
        found = {(f.kind, f.start, f.end) for f in find_pii(text)}
        for kind, a, b in spans:
            if (kind, a, b) not in found and shown < limit:
                print(f"  MISS {kind:9s} {text[max(0, a - 8) : b + 8]!r}")
                shown += 1


# ---------------------------------------------------------------------------------------------------------------
# 1b. Hard negatives: generated look-alikes that must stay untouched


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def gen_uscc(rng: random.Random) -> str:
    """A valid USCC; half of them all digits in the first 17 chars (the ones that can resemble an ID)."""
    org = digits(rng, 9) if rng.random() < 0.5 else "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    body = (
        rng.choice("159")
        + rng.choice("123")
        + f"{rng.choice(PROVINCES)}{rng.randint(1, 20):02d}{rng.randint(1, 30):02d}"
        + org
    )
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def gen_bad_id(rng: random.Random) -> str:
    good = gen_id(rng).replace(" ", "")
    while len(good) != 18:
        good = gen_id(rng).replace(" ", "")
    wrong = rng.choice([c for c in "0123456789X" if c != good[-1].upper()])
    return good[:-1] + wrong


def gen_bad_card(rng: random.Random) -> str:
    card = luhn_complete("62" + digits(rng, 4), rng.choice((16, 19)), rng)
    return card[:-1] + str((int(card[-1]) + rng.randint(1, 9)) % 10)


NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "uscc_labelled": lambda r: f"统一社会信用代码：{gen_uscc(r)}",
    "uscc_bare": lambda r: f"（{gen_uscc(r)}）",
    "stock_code": lambda r: f"股票代码：{r.choice(['600', '601', '000', '002', '300', '688'])}{digits(r, 3)}",
    "stock_list": lambda r: " ".join(
        r.choice(["600", "000", "300"]) + digits(r, 3) for _ in range(r.randint(2, 4))
    ),
    "amount_commas": lambda r: f"{r.randint(1, 999)},{digits(r, 3)},{digits(r, 3)}.{digits(r, 2)}元",
    "amount_plain": lambda r: (
        f"{r.randint(1, 9)}{digits(r, r.randint(6, 11))}{r.choice(['.00元', '元', '万元', '股', '%'])}"
    ),
    "date": lambda r: r.choice(
        ["{y}{m:02d}{d:02d}", "{y}-{m:02d}-{d:02d}", "{y}.{m:02d}.{d:02d}", "{y}年{m}月{d}日"]
    ).format(y=r.randint(1990, 2025), m=r.randint(1, 12), d=r.randint(1, 28)),
    "date_range": lambda r: (
        f"{r.randint(2000, 2025)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}-{r.randint(2000, 2030)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
    ),
    "notice_no": lambda r: r.choice(
        ["公告编号：{y}-{n:03d}", "临{y}-{n:03d}", "编号：临{y}-{n:03d}号"]
    ).format(y=r.randint(2010, 2025), n=r.randint(1, 150)),
    "id_bad_check": lambda r: f"身份证号：{gen_bad_id(r)}",
    "card_bad_luhn": lambda r: f"卡号：{gen_bad_card(r)}",
    "service_400_800": lambda r: f"客服热线：{r.choice(['400', '800'])}-{digits(r, 3)}-{digits(r, 4)}",
    "section_no": lambda r: f"第{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}条",
    "version_no": lambda r: (
        f"版本v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 20)}.{r.randint(0, 99)}"
    ),
    "masked_id": lambda r: f"身份证号：{gen_id(r).replace(' ', '')[:6]}********{digits(r, 4)}",
    "masked_mobile": lambda r: f"手机：{r.choice(MOBILE_PREFIXES)}****{digits(r, 4)}",
    "long_digit_run": lambda r: f"账户余额编号{digits(r, r.randint(20, 30))}",
}


def hard_negatives(rng: random.Random, finder: Callable, n: int = 2000) -> dict[str, dict[str, float]]:
    """Each look-alike inside a host sentence; the rate of texts with any finding (lower is better)."""
    out = {}
    for name, gen in NEGATIVES.items():
        hit = sum(1 for _ in range(n) if finder(f"公司披露，{gen(rng)}，详见附件。"))
        out[name] = {"n": n, "flagged_rate": round(hit / n, 4)}
    return out


# ---------------------------------------------------------------------------------------------------------------
# 2. Real text


NUMERIC = re.compile(r"(?<![0-9])[0-9]+(?:[,.\-][0-9]+)*")


def finding_key(source: str, f: PiiFinding, text: str) -> str:
    return hashlib.sha1(f"{source}|{f.kind}|{text[f.start : f.end]}".encode()).hexdigest()[:12]


def real_text_fp(corpus: dict[str, list[str]], finder: Callable, verbose: bool) -> dict:
    rows = {}
    for source in ["announcements", *sorted(s for s in corpus if s.startswith("pdf:"))]:
        n_num, kinds, verdicts = 0, Counter(), Counter()
        for text in corpus[source]:
            n_num += sum(1 for _ in NUMERIC.finditer(text))
            for f in finder(text):
                kinds[f.kind] += 1
                key = finding_key(source.split(":")[0], f, text)
                verdict = REVIEWED.get(key, "unreviewed") if finder is find_pii else "unreviewed"
                verdicts[verdict] += 1
                if verbose:
                    ctx = text[max(0, f.start - 20) : f.end + 20].replace("\n", "⏎").replace("\r", "")
                    print(f"  [{key}] {verdict:10s} {f.kind:9s} {ctx}")
        wrong = verdicts["wrong"] + verdicts["unreviewed"]
        rows[source] = {
            "numeric_tokens": n_num,
            "findings": dict(kinds),
            "verdicts": dict(verdicts),
            "wrong_per_1000_numeric": round(1000 * wrong / max(1, n_num), 3),
        }
    n = sum(r["numeric_tokens"] for r in rows.values())
    wrong = sum(r["verdicts"].get("wrong", 0) + r["verdicts"].get("unreviewed", 0) for r in rows.values())
    return {
        "sources": rows,
        "numeric_tokens": n,
        "wrong_findings": wrong,
        "wrong_per_1000_numeric": round(1000 * wrong / max(1, n), 3),
    }


# ---------------------------------------------------------------------------------------------------------------
# 3. Speed


def speed(docs: list[str], finder: Callable, repeat: int = 3) -> float:
    def run() -> None:
        for d in docs:
            f = finder(d)
            mask_pii(d, f)

    run()  # warm
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return len(docs) / best


def main() -> None:
    rng = random.Random(SEED)
    corpus = load_texts()
    hosts = [c for src in ("cnews", "announcements", "laws") for t in corpus[src] for c in chunks(t)]
    clean_hosts = [h for h in hosts if not find_pii(h)]
    rng.shuffle(clean_hosts)
    injected = make_injected(clean_hosts, rng)
    print(
        f"hosts: {len(hosts)} chunks, {len(clean_hosts)} without findings; {len(injected)} injected documents"
    )

    ours_inj = score_injected(injected, find_pii)
    base_inj = score_injected(injected, baseline_find)
    print("\nRecall on injected identifiers (exact span and kind)")
    print(f"{'kind':10s} {'n':>6s} {'ours':>7s} {'base':>7s} {'our FP':>7s} {'base FP':>8s}")
    for k in PII_KINDS:
        o, b = ours_inj["per_kind"][k], base_inj["per_kind"][k]
        print(
            f"{k:10s} {o['injected']:6d} {o['recall']:7.4f} {b['recall']:7.4f} {o['false_pos']:7d} {b['false_pos']:8d}"
        )
    print(f"precision: ours {ours_inj['precision']}, baseline {base_inj['precision']}")
    show_misses(injected)

    neg_ours = hard_negatives(random.Random(SEED + 1), find_pii)
    neg_base = hard_negatives(random.Random(SEED + 1), baseline_find)
    print("\nHard negatives (generated look-alikes): share of texts with any finding")
    for name in NEGATIVES:
        print(
            f"  {name:18s} ours {neg_ours[name]['flagged_rate']:.4f}  baseline {neg_base[name]['flagged_rate']:.4f}"
        )

    print("\nFindings on real text (review list; hash, verdict, kind, context)")
    ours_real = real_text_fp(corpus, find_pii, verbose=True)
    base_real = real_text_fp(corpus, baseline_find, verbose=False)
    print(f"numeric tokens: {ours_real['numeric_tokens']}")
    for src, row in ours_real["sources"].items():
        b = base_real["sources"][src]
        print(
            f"  {src:40s} numeric {row['numeric_tokens']:7d} ours {sum(row['findings'].values()):4d} "
            f"{row['verdicts']} baseline {sum(b['findings'].values()):4d}"
        )
    print(
        f"wrongly masked per 1,000 numeric tokens: ours {ours_real['wrong_per_1000_numeric']} "
        f"(unreviewed count as wrong); baseline findings per 1,000: "
        f"{round(1000 * sum(sum(r['findings'].values()) for r in base_real['sources'].values()) / max(1, base_real['numeric_tokens']), 3)}"
    )

    speed_docs = [c for src in ("cnews", "announcements") for t in corpus[src] for c in chunks(t)]
    speed_docs += [c for s in corpus if s.startswith("pdf:") for c in chunks(corpus[s][0])]
    speed_docs = [d for d in speed_docs if len(d.encode("utf-8")) >= CHUNK_BYTES - 100]  # full pieces only
    rng.shuffle(speed_docs)
    speed_docs = speed_docs[:3000]
    ours_s = speed(speed_docs, find_pii)
    base_s = speed(speed_docs, baseline_find)
    avg_bytes = sum(len(d.encode()) for d in speed_docs) / len(speed_docs)
    print(
        f"\nspeed on {len(speed_docs)} docs of ~{avg_bytes:.0f} B: ours {ours_s:.0f} docs/s "
        f"({1e6 / ours_s:.1f} µs/doc), baseline {base_s:.0f} docs/s, ratio {ours_s / base_s:.2f}"
    )

    out = {
        "seed": SEED,
        "injected_documents": len(injected),
        "recall_injected": {"fincorpus": ours_inj, "naive_regex_baseline": base_inj},
        "hard_negatives": {"fincorpus": neg_ours, "naive_regex_baseline": neg_base},
        "real_text": {
            "fincorpus": ours_real,
            "naive_regex_baseline": {
                "numeric_tokens": base_real["numeric_tokens"],
                "findings": {s: r["findings"] for s, r in base_real["sources"].items()},
            },
            "numeric_token_definition": "maximal run of ASCII digits joined by single , . or - between digits",
        },
        "speed": {
            "documents": len(speed_docs),
            "avg_utf8_bytes": round(avg_bytes),
            "fincorpus_find_mask_docs_per_s": round(ours_s),
            "fincorpus_us_per_doc": round(1e6 / ours_s, 1),
            "baseline_find_mask_docs_per_s": round(base_s),
            "ratio": round(ours_s / base_s, 2),
            "note": "single process, best of 3; machine shared with other jobs, absolute numbers indicative",
        },
    }
    (REPO / "bench" / "results" / "pii.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
