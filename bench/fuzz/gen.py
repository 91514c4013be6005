"""Deterministic fuzz inputs: input ``i`` of run ``seed`` is rebuilt from ``random.Random(f"{seed}:{i}")`` alone.

So a crashing input is saved as its recipe (seed, index, the generator's steps), never as a copy of a shared
page: ``python bench/fuzz/run.py --replay SEED:INDEX`` rebuilds it from the same shared data. Inputs made only of
generated material (``Input.shared`` False) may also be saved as bytes.

Material: windows of the real pages of shared/data/html and the mirror hosts (bytes, in their own encodings),
windows of the real texts (laws, cnews, announcements), generated Chinese text (simplified, traditional,
full-width forms), numbers shaped like IDs, bank cards and phone numbers (valid check digits or one digit off),
HTML fragments (deep nesting, broken and unclosed tags, huge attributes, tables in tables, entities), the charsets
Chinese pages use (GBK, GB18030, Big5, UTF-8, UTF-16) with right, wrong or missing declarations, and random
bytes; then mutations (flips, cuts, splices, repeats, control characters, lone surrogates).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

SIMPLIFIED = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞"
TRADITIONAL = "這個們來時說國會為與學對經發後開關長門問間現實種東銀證務債權險監總財產帳戶號碼"
FULLWIDTH = "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫａｂｃｘｙｚ，。；：！？（）「」《》【】、　％＋－＠．"
PUNCT = "，。、；：？！“”‘’（）《》【】—…·"
NOISE = "\x00\x01\x07\x08\x0b\x0c\x0e\x1b\x7f\x85\x9f\u200b\u200e\u2028\u2029\ufeff\ufffd\ue000\U0001f600\u0301\u3000\xa0\r\t\f"
LABELS = (
    "身份证号：",
    "手机：",
    "电话：",
    "卡号：",
    "账号",
    "联系电话",
    "护照号码：",
    "IP地址：",
    "邮箱：",
    "统一社会信用代码：",
    "",
)
WORDS = (
    "版权所有",
    "未经授权不得转载",
    "来源：新华社",
    "责任编辑：张三",
    "分享到：",
    "【打印】【关闭】",
    "上一篇",
    "第一章 总则",
    "第三条",
    "特此公告",
    "证券代码：600000 证券简称：浦发银行 公告编号：临2024-012",
    "首页 > 新闻 > 正文",
    "一、",
    "（二）",
    "3、",
    "本公司董事会及全体董事保证本公告内容不存在任何虚假记载。",
    "2024年5月1日",
    "| a | b |",
    "|---|---|",
)
CHARSETS = (
    "utf-8",
    "gb18030",
    "gbk",
    "gb2312",
    "big5",
    "utf-16",
    "utf-16-le",
    "latin-1",
    "cp1251",
    "shift_jis",
)
DECLARED = (
    "utf-8",
    "gbk",
    "gb2312",
    "GB18030",
    "big5",
    "iso-8859-1",
    "x-unknown",
    "utf8",
    "",
    "windows-1252",
    "utf-16",
    "euc-kr",
    '"gbk"',
    "gbk;",
)
TAGS = (
    "div",
    "p",
    "span",
    "table",
    "tr",
    "td",
    "th",
    "ul",
    "li",
    "a",
    "b",
    "font",
    "article",
    "section",
    "br",
    "h1",
    "h2",
    "pre",
    "blockquote",
    "script",
    "style",
    "noscript",
    "iframe",
    "form",
    "select",
    "option",
    "svg",
    "math",
    "template",
    "textarea",
    "title",
    "head",
    "body",
    "html",
    "meta",
    "img",
    "tbody",
    "dl",
    "dd",
)


@dataclass
class Input:
    kind: str  # bytes | text | pdf
    data: bytes | str
    shared: bool  # built from shared (third-party) material: never saved, only its recipe
    recipe: list[str] = field(default_factory=list)
    content_type: str | None = None  # bytes: text/html | text/plain | application/json, with a charset or not


@lru_cache(maxsize=1)
def _pages() -> list[Path]:
    pages = sorted((DATA / "html").glob("*/*.htm*"))
    sites = DATA / "sites"
    pages += sorted(p for p in sites.rglob("*.html") if not p.name.startswith("_"))[::7]
    return pages


@lru_cache(maxsize=1)
def _texts() -> list[str]:
    out: list[str] = []
    for p in sorted((DATA / "texts" / "laws").glob("**/*.md"))[:60]:
        out.append(p.read_text(encoding="utf-8", errors="replace"))
    lines = (DATA / "texts" / "cnews" / "cnews_500.jsonl").read_text(encoding="utf-8").splitlines()
    out += [json.loads(x)["text"] for x in lines[::5]]
    lines = (
        (DATA / "texts" / "announcements_cfee" / "FREEZE_Data.json").read_text(encoding="utf-8").splitlines()
    )
    out += [json.loads(x)["Doc"] for x in lines[::20]]
    return out


@lru_cache(maxsize=1)
def _pdfs() -> list[tuple[str, bytes]]:
    # The 296-page annual report needs several seconds by itself; the per-input time limit is for the others.
    return [
        (p.name, p.read_bytes()) for p in sorted((DATA / "pdf").glob("*.pdf")) if p.stat().st_size < 1_000_000
    ]


@lru_cache(maxsize=256)
def _page_bytes(i: int) -> bytes:
    return _pages()[i].read_bytes()


# -- numbers -----------------------------------------------------------------------------------------------------

_ID_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id18(rng: random.Random, valid: bool = True) -> str:
    region = rng.choice(("110101", "310104", "440305", "320102", "510107", "990000"))
    born = f"{rng.randint(1890, 2030):04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
    body = region + born + f"{rng.randint(0, 999):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_W, strict=True)) % 11]
    if not valid:
        check = rng.choice("0123456789X")
    return body + check


def luhn_card(rng: random.Random, valid: bool = True) -> str:
    prefix = rng.choice(("62", "4", "51", "9558", "2221", "60", "35"))
    n = rng.choice((16, 17, 18, 19))
    body = prefix + "".join(rng.choice("0123456789") for _ in range(n - len(prefix) - 1))
    total = 0
    for i, c in enumerate(reversed(body + "0")):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    check = (10 - total % 10) % 10
    return body + str(check if valid else (check + 1) % 10)


def number_like(rng: random.Random) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        s = id18(rng, rng.random() < 0.7)
    elif kind == 1:
        s = luhn_card(rng, rng.random() < 0.7)
    elif kind == 2:
        s = rng.choice(("13", "15", "18", "19", "17", "14", "12")) + "".join(
            rng.choice("0123456789") for _ in range(9)
        )
    elif kind == 3:
        s = (
            rng.choice(("010", "021", "0755", "0571", "400", "800"))
            + rng.choice(("-", " ", "", "—"))
            + "".join(rng.choice("0123456789") for _ in range(rng.choice((7, 8, 9))))
        )
    elif kind == 4:
        s = ".".join(str(rng.randint(0, 300)) for _ in range(rng.choice((3, 4, 5))))
    elif kind == 5:
        s = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(18))
    elif kind == 6:
        s = rng.choice(("E", "G", "P", "EA", "S", "D")) + "".join(
            rng.choice("0123456789") for _ in range(rng.choice((7, 8)))
        )
    elif kind == 7:
        user = "".join(rng.choice("abcxyz019._%+-") for _ in range(rng.randint(1, 12)))
        s = f"{user}@{rng.choice(('qq.com', 'a-b.cn', 'x.y.z.com.cn', '-.cn', 'a'))}"
    elif kind == 8:
        s = "".join(rng.choice("0123456789 -") for _ in range(rng.randint(7, 60)))
    else:
        s = rng.choice(("(010)", "（+86）", "+86 ", "+", "(2024)")) + "".join(
            rng.choice("0123456789 ") for _ in range(rng.randint(7, 14))
        )
    if rng.random() < 0.2:  # grouped 4-4-4-4, 3-4-4 or 6-8-4
        step = rng.choice((3, 4, 6))
        s = rng.choice((" ", "-")).join(s[i : i + step] for i in range(0, len(s), step))
    if rng.random() < 0.15:  # full-width digits
        s = s.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
    return rng.choice(LABELS) + s + rng.choice(("", "元", "万股", "。", "号", "%", ".00", ",5", "X", "8"))


# -- text --------------------------------------------------------------------------------------------------------


def synthetic_text(rng: random.Random, n: int) -> str:
    out: list[str] = []
    size = 0
    while size < n:
        r = rng.random()
        if r < 0.45:
            out.append("".join(rng.choices(SIMPLIFIED, k=rng.randint(1, 40))))
        elif r < 0.55:
            out.append("".join(rng.choices(TRADITIONAL, k=rng.randint(1, 20))))
        elif r < 0.62:
            out.append("".join(rng.choices(FULLWIDTH, k=rng.randint(1, 12))))
        elif r < 0.72:
            out.append(rng.choice(PUNCT))
        elif r < 0.78:
            out.append(rng.choice(("\n", "\n\n", "\n\n\n\n", " ", "\u3000\u3000", "\t", "\r\n", "\f")))
        elif r < 0.85:
            out.append(number_like(rng))
        elif r < 0.91:
            out.append(rng.choice(WORDS))
        elif r < 0.96:
            out.append(
                "".join(
                    rng.choice("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;:!?()-_/|<>&#")
                    for _ in range(rng.randint(1, 30))
                )
            )
        else:
            out.append(rng.choice(NOISE))
        size += len(out[-1])
    return "".join(out)


def real_text(rng: random.Random, recipe: list[str]) -> str:
    texts = _texts()
    i = rng.randrange(len(texts))
    t = texts[i]
    a = rng.randrange(max(1, len(t)))
    b = min(len(t), a + rng.choices((50, 300, 1000, 3000, 8000), (20, 30, 30, 15, 5))[0])
    recipe.append(f"text[{i}][{a}:{b}]")
    return t[a:b]


def mutate_text(rng: random.Random, t: str, recipe: list[str]) -> str:
    for _ in range(rng.choice((0, 1, 1, 2, 3, 6))):
        op = rng.randrange(9)
        pos = rng.randrange(len(t) + 1)
        if op == 0:
            t = t[:pos] + synthetic_text(rng, rng.randint(1, 40)) + t[pos:]
        elif op == 1 and t:
            t = t[:pos] + t[pos + rng.randint(1, 100) :]
        elif op == 2 and t:
            seg = t[pos : pos + rng.randint(1, 30)]
            t = t[:pos] + seg * rng.choice((2, 10, 200)) + t[pos:]
        elif op == 3:
            t = t[:pos] + rng.choice(NOISE) * rng.randint(1, 5) + t[pos:]
        elif op == 4:
            t = t[:pos] + number_like(rng) + t[pos:]
        elif op == 5:
            t = t[:pos] + rng.choice(WORDS) + "\n" + t[pos:]
        elif op == 6:
            t = t.replace("\n", rng.choice(("", "\n\n\n", "\r", " \n ", "\f")))
        elif op == 7:
            t = t.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}) if rng.random() < 0.5 else t.upper()
        else:
            t = (
                t[:pos] + rng.choice(("\ud800", "\udfff", "\udc80")) + t[pos:]
            )  # lone surrogates (JSON can hold them)
        recipe.append(f"mutate-text:{op}@{pos}")
    return t


def gen_text(rng: random.Random) -> Input:
    recipe: list[str] = []
    shared = rng.random() < 0.5
    if shared:
        t = real_text(rng, recipe)
    else:
        n = rng.choices((0, 1, 10, 80, 400, 1500, 5000, 20000), (3, 3, 12, 25, 30, 17, 8, 2))[0]
        t = synthetic_text(rng, n)
        recipe.append(f"synthetic:{n}")
    if rng.random() < 0.15:
        t = "\f".join(mutate_text(rng, t, recipe) for _ in range(rng.randint(2, 8)))  # PDF-like pages
        recipe.append("pages")
    t = mutate_text(rng, t, recipe)
    return Input("text", t, shared, recipe)


# -- HTML --------------------------------------------------------------------------------------------------------


def html_fragment(rng: random.Random, recipe: list[str], depth: int = 0) -> str:
    r = rng.random()
    if r < 0.05:
        n = rng.choice((50, 300, 1000, 5000))
        tag = rng.choice(("div", "span", "table", "font", "p", "b", "li"))
        recipe.append(f"nest:{tag}x{n}")
        return f"<{tag}>" * n + synthetic_text(rng, 200) + (f"</{tag}>" * n if rng.random() < 0.7 else "")
    if r < 0.1:
        n = rng.choices((1000, 20_000, 100_000, 400_000), (50, 30, 15, 5))[0]
        recipe.append(f"huge-attr:{n}")
        return f"<div class=\"{'x' * n}\" data-a='{synthetic_text(rng, 50)}'>{synthetic_text(rng, 300)}</div>"
    if r < 0.2:
        rows = rng.randint(1, 30)
        cols = rng.randint(1, 12)
        cell = lambda: synthetic_text(rng, rng.choice((2, 10, 300)))  # noqa: E731
        inner = "".join(
            "<tr>" + "".join(f"<td>{cell()}</td>" for _ in range(cols)) + "</tr>" for _ in range(rows)
        )
        if rng.random() < 0.3:
            inner = f"<tr><td><table>{inner}</table></td></tr>"
        recipe.append(f"table:{rows}x{cols}")
        return f"<table>{inner}</table>"
    if r < 0.3:
        recipe.append("broken")
        parts = []
        for _ in range(rng.randint(1, 40)):
            tag = rng.choice(TAGS)
            parts.append(
                rng.choice(
                    (
                        f"<{tag}",
                        f"<{tag}>",
                        f"</{tag}>",
                        f"<{tag} a='",
                        f"<{tag}/>",
                        "<!--",
                        "-->",
                        "<![CDATA[",
                        "]]>",
                        "<!DOCTYPE",
                        "&#xD800;",
                        "&#0;",
                        "&#x110000;",
                        "&nbsp;",
                        "&",
                        "<?xml version='1.0' encoding='gbk'?>",
                        "<",
                        ">",
                        synthetic_text(rng, 20),
                    )
                )
            )
        return "".join(parts)
    if depth < 3 and r < 0.6:
        tag = rng.choice(TAGS)
        kids = "".join(html_fragment(rng, recipe, depth + 1) for _ in range(rng.randint(1, 5)))
        attr = rng.choice(("", ' class="content"', ' id="zoom"', ' style="display:none"', ' href="/a.html"'))
        return f"<{tag}{attr}>{kids}</{tag}>"
    return synthetic_text(rng, rng.choice((5, 40, 200, 1500)))


def wrap_page(rng: random.Random, body: str, charset: str | None) -> str:
    meta = f'<meta charset="{charset}">' if charset is not None else ""
    title = synthetic_text(rng, rng.choice((0, 10, 60)))
    if rng.random() < 0.2:
        return body
    return f"<html><head>{meta}<title>{title}</title></head><body>{body}</body></html>"


# -- bytes -------------------------------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, b: bytes, recipe: list[str]) -> bytes:
    data = bytearray(b)
    for _ in range(rng.choice((0, 1, 1, 2, 4, 16))):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 2 and data:
            del data[pos : pos + rng.randint(1, 64)]
        elif op == 3:
            data = data[:pos]  # truncated (mid-character)
        elif op == 4 and data:
            seg = bytes(data[pos : pos + rng.randint(1, 50)])
            data[pos:pos] = seg * rng.choice((2, 20, 500))
        else:
            data[pos:pos] = rng.choice(
                (
                    b"\xef\xbb\xbf",
                    b"\xff\xfe",
                    b"\xfe\xff",
                    b"\x00" * 8,
                    b"\xa1\xa1",
                    b"\x81\x30",
                    b"\xe4\xb8",
                )
            )
        recipe.append(f"mutate-bytes:{op}@{pos}")
    return bytes(data)


def encode(rng: random.Random, text: str, recipe: list[str]) -> bytes:
    cs = rng.choice(CHARSETS)
    recipe.append(f"encode:{cs}")
    return text.encode(cs, errors=rng.choice(("replace", "ignore", "xmlcharrefreplace")))


def gen_bytes(rng: random.Random) -> Input:
    recipe: list[str] = []
    r = rng.random()
    shared = False
    ctype_kind = rng.choice(("text/html", "text/html", "text/html", "text/plain", "application/json"))
    if r < 0.35:  # a window of a real page, in its own bytes
        pages = _pages()
        i = rng.randrange(len(pages))
        raw = _page_bytes(i)
        a = rng.randrange(len(raw)) if rng.random() < 0.7 else 0
        b = min(len(raw), a + rng.choices((200, 2000, 8000, 30000, 200_000), (25, 35, 25, 12, 3))[0])
        recipe.append(f"page[{pages[i].relative_to(DATA)}][{a}:{b}]")
        body = raw[a:b]
        shared = True
    elif r < 0.7:  # generated HTML, encoded and declared rightly or wrongly
        charset = rng.choice((*DECLARED, None))
        text = wrap_page(rng, html_fragment(rng, recipe), charset)
        if rng.random() < 0.3:
            text = mutate_text(rng, text, recipe)
        body = encode(rng, text, recipe)
    elif r < 0.85:  # a real text encoded in a Chinese charset
        text = real_text(rng, recipe)
        shared = True
        if ctype_kind == "text/html":
            text = wrap_page(
                rng, "<p>" + text.replace("\n", "</p><p>") + "</p>", rng.choice((*DECLARED, None))
            )
        body = encode(rng, text, recipe)
    elif r < 0.95:
        body = encode(rng, synthetic_text(rng, rng.choice((10, 200, 3000))), recipe)
    else:
        n = rng.choice((0, 1, 7, 100, 5000))
        body = rng.randbytes(n)
        recipe.append(f"random-bytes:{n}")
    body = mutate_bytes(rng, body, recipe)
    if ctype_kind == "application/json" and rng.random() < 0.7:
        body = json.dumps(
            {"data": {"content": body.decode("utf-8", "replace"), "title": "t", "date": "2024-01-02"}},
            ensure_ascii=rng.random() < 0.5,
        ).encode()
        if rng.random() < 0.2:
            body = body.replace(b'"t"', b'"\\ud800x"')
        recipe.append("json")
    declared = rng.choice((None, None, "utf-8", "gbk", "big5", "x-bogus", "gb2312"))
    ctype = ctype_kind + (f"; charset={declared}" if declared else "")
    return Input("bytes", body, shared, recipe, ctype)


def gen_pdf(rng: random.Random) -> Input:
    pdfs = _pdfs()
    i = rng.randrange(len(pdfs))
    name, raw = pdfs[i]
    recipe = [f"pdf[{name}]"]
    r = rng.random()
    if r < 0.3:
        cut = rng.randrange(len(raw))
        raw = raw[:cut]
        recipe.append(f"truncate:{cut}")
    elif r < 0.8:
        data = bytearray(raw)
        for _ in range(rng.choice((1, 5, 50, 500))):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        raw = bytes(data)
        recipe.append("byte-flips")
    else:
        data = bytearray(raw)
        a = rng.randrange(len(data))
        seg = bytes(data[a : a + rng.randint(10, 5000)])
        b = rng.randrange(len(data))
        data[b:b] = seg
        raw = bytes(data)
        recipe.append(f"splice:{a}->{b}")
    return Input("pdf", raw, True, recipe, "application/pdf")


def generate(seed: int, index: int, pdf_every: int = 500) -> Input:
    rng = random.Random(f"{seed}:{index}")
    if pdf_every and index % pdf_every == pdf_every - 1:
        return gen_pdf(rng)
    return gen_bytes(rng) if rng.random() < 0.5 else gen_text(rng)
