"""Find and mask personal identifiers in Chinese financial text.

Why a hand-written scanner: the whole text path must keep ~1,500 docs/s/core, so one regular expression finds
*candidate* numeric tokens (>= 7 digits, optional single space/dash separators, optional "(010)" / "(+86)" / "+"
prefix) and cheap Python checks decide what each candidate is. Check digits do most of the work (ID: ISO 7064
MOD 11-2; bank card: Luhn; USCC: GB 32100-2015 MOD 31), plausibility (birth date, region, issuer and mobile
prefixes) and a few context words decide the rest. Scores first, decisions second: every check is a separate,
tested predicate.

A digit run is matched whole: no finding starts or ends inside a longer run of ASCII digits/letters, or next to
a decimal point/thousands comma followed by a digit (so ``13812345678.00元`` is an amount, not a phone). Chinese
characters and full-width punctuation are boundaries (``身份证号：110…`` and ``（0755）…`` are found).
Full-width digits/letters are folded (1:1, offsets unchanged) before scanning, so the scanner also works on text
that was not normalised. Context = the 24 characters before a candidate (Chinese puts the label first):
* a bare 11-digit mobile or 15-digit old ID followed by a unit (元, 万, 股, %…) is an amount, unless a phone/ID
  label precedes it;
* an 18-digit run with an ID's province and birth date but a wrong check digit is an ID typo, not a bank card,
  unless a card label (卡号, 账号…) precedes it; a valid ID starting 62 that passes Luhn is a card only with such
  a label;
* grouped 4-4-4-4 card numbers need the UnionPay 62 prefix or a card label (PDF tables produce such groups);
* an IPv4 address needs >= 7 digits or an IP label (section numbers such as 3.1.2.1 are dotted too);
* a 15-digit run after 注册号/执照/代码/编号/账号 (12 characters) is a registration/tax/account number.
Limits: a comma right after a number followed by a digit is read as a thousands separator ("…4057,7" is not
masked); bare local numbers, names, addresses and QQ numbers are out of scope.

Deliberately NOT masked:
* 400/800 service numbers (``400-820-8820``): organisational hotlines, never personal; no area code, so the
  landline rule does not fire. Bare 7-8 digit local numbers without area code are not masked either: they are
  indistinguishable from dates (20240131) and figures.
* Stock codes (6 digits), notice numbers (``临2025-012``), dates, amounts, table figures: too short or failing
  every format/check below.
* Unified social credit codes (统一社会信用代码): an all-digit USCC can look like an ID number; a token passing
  the USCC check is never a bank card, and is not an ID when a USCC label is nearby.
* Already partially masked identifiers (``3201**********1234``, ``138****5678``): the ``*`` breaks the digit
  run, so they stay as published; they no longer identify anyone.
* Weak passport forms (P/S/D + 7 digits, E + letter + 7 digits) need a 护照/passport label nearby.

Institutional landlines and e-mail addresses in reports *are* masked: the text gives no reliable way to tell a
company switchboard from a person's number, and masking an organisation's number costs little.

JR/T 0171-2020 (个人金融信息保护技术规范) §4.2 classes, as applied here:
* C3, user authentication information (passwords, CVN2, biometrics): none of our kinds; we do not see them.
* C2, information that identifies a person and their financial situation: payment account numbers and their
  equivalents, i.e. ID and passport numbers (证件类识别标识), bank card numbers and mobile numbers (all named in
  §4.2 C2 a). E-mail is C2 too: it is a common account login name (C2 b) and identifies a person (C2 g).
  A landline is C2 under "other information that identifies a specific subject, such as a home address" (C2 g):
  a home number pins down a household as an address does.
* C1, lower-risk information not covered by C2/C3 (C1 c): IP addresses. They identify a network endpoint, not a
  person, unless combined with an operator's records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

STEP = "pii:mask"

PII_KINDS: tuple[str, ...] = ("id_card", "mobile", "landline", "bank_card", "email", "ip", "passport")

# See the module docstring for the JR/T 0171-2020 §4.2 reasoning behind each class.
JRT0171_CLASS: dict[str, str] = {
    "id_card": "C2",
    "mobile": "C2",
    "landline": "C2",
    "bank_card": "C2",
    "email": "C2",
    "ip": "C1",
    "passport": "C2",
}

MASK_TOKENS: dict[str, str] = {
    "id_card": "[身份证号]",
    "mobile": "[手机号]",
    "landline": "[固定电话]",
    "bank_card": "[银行卡号]",
    "email": "[电子邮箱]",
    "ip": "[IP地址]",
    "passport": "[护照号]",
}


@dataclass(frozen=True, slots=True)
class PiiFinding:
    kind: str
    start: int
    end: int
    jrt_class: str


# ---------------------------------------------------------------------------------------------------------------
# Validators (exported, tested)

# GB/T 2260 province-level codes: the first two digits of every resident ID (71 Taiwan, 81/82 HK/Macau, 83 for
# residence permits of Taiwan residents).
_PROVINCES = frozenset(
    str(p)
    for p in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52)
) | frozenset(str(p) for p in (53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83))
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_DIGITS = frozenset("0123456789")


def _need_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} expects a str, got {type(value).__name__}: pass the text, not bytes or None")
    return value


def _valid_date(y: int, m: int, d: int, today: date | None = None) -> bool:
    """A birth date that exists and lies between 1900-01-01 and today."""
    if y < 1900 or not 1 <= m <= 12 or not 1 <= d <= 31:
        return False
    try:
        born = date(y, m, d)
    except ValueError:
        return False
    return born <= (today or date.today())


def valid_id18(s: str, today: date | None = None) -> bool:
    """18-char resident ID: province code, real birth date (1900..today), ISO 7064 MOD 11-2 check char."""
    _need_str(s, "valid_id18")
    if len(s) != 18 or not s[:17].isascii() or not s[:17].isdigit() or s[17] not in "0123456789Xx":
        return False
    if s[:2] not in _PROVINCES or not _valid_date(int(s[6:10]), int(s[10:12]), int(s[12:14]), today):
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == s[17].upper()


def valid_id15(s: str) -> bool:
    """15-digit first-generation ID (issued until 1999): province code, county part not '00', YYMMDD of 19YY.

    No check digit exists, so the county rule matters: business registration and tax numbers also start with a
    region code, usually province/city level (``310000…``), which a person's ID never carries.
    """
    _need_str(s, "valid_id15")
    if len(s) != 15 or not s.isascii() or not s.isdigit():
        return False
    return (
        s[:2] in _PROVINCES
        and s[4:6] != "00"
        and _valid_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))
    )


def valid_uscc(s: str) -> bool:
    """18-char unified social credit code (GB 32100-2015): authority/type codes, alphabet, MOD 31 check char."""
    _need_str(s, "valid_uscc")
    s = s.upper()
    if len(s) != 18 or s[0] not in "123456789ANY" or s[1] not in "123456789" or not s[2:8].isdigit():
        return False
    values = [_USCC_VALUE.get(c, -1) for c in s]
    if min(values) < 0:
        return False
    check = (31 - sum(v * w for v, w in zip(values, _USCC_WEIGHTS, strict=False)) % 31) % 31
    return values[17] == check


def luhn_ok(s: str) -> bool:
    """Luhn (ISO/IEC 7812) check over a digit string; separators are not accepted."""
    _need_str(s, "luhn_ok")
    if not s or not s.isascii() or not s.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(s)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# ---------------------------------------------------------------------------------------------------------------
# Per-kind plausibility

# Mobile network prefixes assigned by MIIT (1[3-9]x), including data-only and virtual-operator ranges.
_MOBILE_PREFIXES = frozenset(
    [f"13{d}" for d in range(10)]
    + ["145", "146", "147", "148", "149"]
    + ["150", "151", "152", "153", "155", "156", "157", "158", "159"]
    + ["162", "165", "166", "167"]
    + ["170", "171", "172", "173", "174", "175", "176", "177", "178"]
    + [f"18{d}" for d in range(10)]
    + [f"19{d}" for d in range(10)]
)
# Issuer prefixes that a card number in Chinese text plausibly starts with (UnionPay 62/60/65-era debit, Visa 4,
# Mastercard 51-55, JCB 35, ICBC/ABC legacy 9558/9559). Mastercard 2221-2720 needs a card label: glued table
# figures in PDFs ("2300882018…") start with 2 far more often than real cards do.
_CARD_PREFIXES = ("62", "60", "4", "51", "52", "53", "54", "55", "35", "9558", "9559")
# A bare 11/13/15-digit figure followed by one of these is an amount or a count, not a phone or an old ID.
_UNIT_AFTER = frozenset("元万亿千百股份%‰美港欧英手张笔户倍个吨")
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

_CARD_WORDS = ("卡", "账号", "帐号", "账户", "帐户", "card", "Card", "CARD")
_USCC_WORDS = ("信用代码", "社会信用", "统一代码", "注册号", "执照")
_ID15_BLOCK_WORDS = ("注册号", "执照", "代码", "编号", "账号", "帐号", "账户", "帐户", "税务", "登记号")
_ID_WORDS = ("身份", "证件", "证号")
_PHONE_WORDS = (
    "电话",
    "手机",
    "联系",
    "致电",
    "拨打",
    "热线",
    "短信",
    "微信",
    "Tel",
    "TEL",
    "tel",
    "Mobile",
    "mobile",
)
_PASSPORT_WORDS = ("护照", "passport", "Passport", "PASSPORT")
_IP_WORDS = ("IP", "ip", "Ip", "地址", "服务器", "主机", "登录", "登陆", "访问")
_CONTEXT_CHARS = 24


# Where the context of a value stops: a mask token, an earlier number of 7+ digits, an e-mail's "@".
_CONTEXT_STOP = re.compile(
    "|".join(re.escape(t) for t in MASK_TOKENS.values()) + r"|[0-9]{7,}|@[A-Za-z0-9.\-]*"
)


_TOKENS = tuple(MASK_TOKENS.values())
_LONGEST_TOKEN = max(map(len, _TOKENS))


def _context_has(text: str, start: int, words: tuple[str, ...], chars: int = _CONTEXT_CHARS) -> bool:
    """Whether one of words occurs in the chars characters before start (labels precede values in Chinese).

    The context ends at the value before this one (an identifier, or the token that masked it): a label belongs
    to the value right after it ("电话：E1234567 卡号：6222…"), and without the stop masking would not be
    idempotent. A mask token is shorter than the number it replaced, so the window of the masked text would reach
    a label further back ("联系电话" before a passport), and the tokens themselves hold label words ("[手机号]").
    """
    lo = max(0, start - chars)
    before = text[lo:start]
    if not any(w in before for w in words):
        return False
    # stops are looked for a token's length further back: a window starting inside "[护照号]" must still stop
    ends = [m.end() for m in _CONTEXT_STOP.finditer(text, max(0, lo - _LONGEST_TOKEN), start)]
    if ends:
        before = text[max(lo, ends[-1]) : start]
    return any(w in before for w in words)


def _id_shaped(d: str) -> bool:
    """Province code and a real birth date where an 18-digit ID has them (check digit not considered)."""
    return (
        d[:2] in _PROVINCES and d[6:14].isdigit() and _valid_date(int(d[6:10]), int(d[10:12]), int(d[12:14]))
    )


def _valid_mobile(d: str) -> bool:
    return len(d) == 11 and d[:3] in _MOBILE_PREFIXES


def _area_code_ok(area: str) -> bool:
    """010 and 02x are 3-digit codes; every other area code is 0 + 3 digits (0[3-9]xx)."""
    if len(area) == 3:
        return area == "010" or area[:2] == "02"
    return len(area) == 4 and area[1] in "3456789"


def _valid_landline(area: str, local: str) -> bool:
    if not _area_code_ok(area) or local[:1] not in "23456789":
        return False
    return len(local) == 8 if len(area) == 3 else len(local) in (7, 8)


def _split_landline(d: str) -> tuple[str, str]:
    """Area code and local number of an unseparated landline (010/02x are the only 3-digit codes)."""
    cut = 3 if d[:3] == "010" or d[:2] == "02" else 4
    return d[:cut], d[cut:]


# ---------------------------------------------------------------------------------------------------------------
# Scanner

# Candidates: a digit followed by >= 6 digits/spaces/dashes. Kept this loose on purpose (a single class run is
# the fastest thing `re` scans); the structure (groups, separators, prefixes) is read in Python.
_CANDIDATE = re.compile(r"[0-9][0-9 \-]{6,}")
_GROUP = re.compile(r"[0-9]+")
_PAREN_PREFIX = re.compile(r"[(（]\+?([0-9]{2,4})[)）][ \-]?\Z")
# IPv4: search the literal-first middle ".o.o." (fast), then match the full address around it.
_IP_HINT = re.compile(r"\.[0-9]{1,3}\.[0-9]{1,3}\.")
_IP_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IP_FULL = re.compile(rf"{_IP_OCTET}(?:\.{_IP_OCTET}){{3}}(?![0-9A-Za-z]|\.[0-9])")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9])"
)
_WIDE = re.compile("[\uff0b\uff10-\uff19\uff20-\uff3a\uff41-\uff5a]")
_FOLD = str.maketrans(
    {
        cp: cp - 0xFEE0
        for cp in [0xFF0B, *range(0xFF10, 0xFF1A), *range(0xFF20, 0xFF3B), *range(0xFF41, 0xFF5B)]
    }
)


def _left_ok(text: str, i: int) -> bool:
    """True when position i does not continue an ASCII alnum run, a decimal number or a dashed code.

    A mask token counts as the value it replaced ("a@b.cn-138…" masked is "[电子邮箱]-138…"): otherwise masking
    would turn a run that continued a value into a free-standing one and a second masking would find it."""
    if i == 0:
        return True
    c = text[i - 1]
    if c in _ASCII_ALNUM:
        return False
    return not (c in ".,-" and i >= 2 and (text[i - 2] in _ASCII_ALNUM or _token_ends(text, i - 1)))


def _right_ok(text: str, j: int) -> bool:
    """True when position j does not continue an ASCII alnum run or a decimal/thousands number (a mask token
    after the separator counts as the value it replaced, see _left_ok)."""
    if j >= len(text):
        return True
    c = text[j]
    if c in _ASCII_ALNUM:
        return False
    return not (
        c in ".,-" and j + 1 < len(text) and (text[j + 1] in _ASCII_ALNUM or _token_starts(text, j + 1))
    )


def _token_ends(text: str, j: int) -> bool:
    return text[j - 1] == "]" and any(text.endswith(t, 0, j) for t in _TOKENS)


def _token_starts(text: str, i: int) -> bool:
    return text[i] == "[" and any(text.startswith(t, i) for t in _TOKENS)


def _amount_after(text: str, i: int, j: int, labels: tuple[str, ...]) -> bool:
    """A unit right after the run text[i:j] (元, 万, 股, %…) and no label before it: an amount or a count,
    e.g. 15000000000元; "手机：13812345678万" is still a phone."""
    return j < len(text) and text[j] in _UNIT_AFTER and not _context_has(text, i, labels)


def _single_kind(text: str, d: str, start: int, end: int) -> str | None:
    """Kind of one unseparated digit run d (already known to be bounded), or None."""
    n = len(d)
    if n == 18:
        if valid_uscc(d):
            if _context_has(text, start, _USCC_WORDS) or not valid_id18(d):
                return None
            return "id_card"
        if valid_id18(d):
            card_label = d[:2] == "62" and _context_has(text, start, _CARD_WORDS)
            return "bank_card" if card_label and luhn_ok(d) else "id_card"
        if d[-1] in "Xx" or (_id_shaped(d) and not _context_has(text, start, _CARD_WORDS)):
            return None  # an ID with a typo'd check digit is not a bank card unless a label says so
    elif n == 15:
        ok = (
            valid_id15(d)
            and not _amount_after(text, start, end, _ID_WORDS)
            and (_context_has(text, start, _ID_WORDS) or not _context_has(text, start, _ID15_BLOCK_WORDS, 12))
        )
        return "id_card" if ok else None
    elif n == 11:
        if d[0] == "1":
            return (
                "mobile" if _valid_mobile(d) and not _amount_after(text, start, end, _PHONE_WORDS) else None
            )
        if d[0] == "0":
            return "landline" if _valid_landline(*_split_landline(d)) else None
        return None
    elif n == 12:
        return "landline" if d[0] == "0" and _valid_landline(*_split_landline(d)) else None
    elif n == 13:
        return (
            "mobile"
            if d[:2] == "86" and _valid_mobile(d[2:]) and not _amount_after(text, start, end, _PHONE_WORDS)
            else None
        )
    if 16 <= n <= 19 and _card_ok(text, d, start, grouped=False):
        return "bank_card"
    return None


def _card_ok(text: str, d: str, start: int, grouped: bool) -> bool:
    if not luhn_ok(d) or valid_uscc(d):
        return False
    if d.startswith(_CARD_PREFIXES):
        # Space/dash-grouped runs of 4 also come from PDF tables; outside UnionPay ask for a label.
        return not grouped or d[:2] == "62" or _context_has(text, start, _CARD_WORDS)
    return 2221 <= int(d[:4]) <= 2720 and _context_has(text, start, _CARD_WORDS)


_LOCAL_SHAPES = ([7], [8], [3, 4], [4, 4])
_MOBILE_SHAPES = ([11], [3, 4, 4], [3, 8])


def _landline_shape(lens: list[int]) -> int | None:
    """Number of local groups when lens (without the area code) is a local number plus optional extension."""
    if lens in _LOCAL_SHAPES:
        return len(lens)
    if len(lens) > 1 and 1 <= lens[-1] <= 5 and lens[:-1] in _LOCAL_SHAPES:
        return len(lens) - 1  # trailing extension: 021-12345678-8001
    return None


def _grouped_kind(text: str, ds: list[str], start: int) -> str | None:
    """Kind of a separator-joined token made of digit groups ds (token bounded on both sides), or None."""
    lens = [len(g) for g in ds]
    if ds[0] == "86" and lens[1:] in _MOBILE_SHAPES and _valid_mobile("".join(ds[1:])):
        return "mobile"
    if lens in _MOBILE_SHAPES and _valid_mobile("".join(ds)):
        return "mobile"
    if ds[0][0] == "0" and lens[0] in (3, 4):
        k = _landline_shape(lens[1:])
        if k and _valid_landline(ds[0], "".join(ds[1 : 1 + k])):
            return "landline"
    if lens == [6, 8, 4] and valid_id18("".join(ds)):
        return "id_card"
    four_groups = len(ds) in (4, 5) and lens[:4] == [4, 4, 4, 4] and (len(ds) == 4 or lens[4] <= 3)
    return "bank_card" if four_groups and _card_ok(text, "".join(ds), start, grouped=True) else None


def _prefixed_kind(ds: list[str], inner: str) -> str | None:
    """'(+86)138…', '+86 138…' or '(010)1234 5678': the prefix decides between mobile and landline."""
    lens = [len(g) for g in ds]
    if inner == "86":
        return "mobile" if lens in _MOBILE_SHAPES and _valid_mobile("".join(ds)) else None
    k = _landline_shape(lens)
    return "landline" if k and _valid_landline(inner, "".join(ds[:k])) else None


def _prefix(text: str, s: int) -> tuple[int, str]:
    """Start and content of a '+' or '(010)'/'（+86）' prefix glued before position s; (s, '') if none."""
    if s == 0:
        return s, ""
    if text[s - 1] == "+":
        return s - 1, "+"
    if text[s - 1] in ")）" or (s >= 2 and text[s - 1] in " -" and text[s - 2] in ")）"):
        m = _PAREN_PREFIX.search(text, max(0, s - 9), s)
        if m:
            return m.start(), m.group(1)
    return s, ""


def _passport(text: str, s: int, e: int, digits: str) -> PiiFinding | None:
    """Letters glued before a 7-8 digit run: E12345678, EA1234567, G12345678 (P/S/D forms need a label)."""
    k = s
    while k > 0 and s - k < 2 and "A" <= text[k - 1] <= "Z":
        k -= 1
    if k == s or not _left_ok(text, k) or not _right_ok(text, e):
        return None
    letters = text[k:s]
    n = len(digits)
    labelled = _context_has(text, k, _PASSPORT_WORDS)
    if letters in ("E", "G") and n == 8:
        # An 8-digit date after a letter is a contract/document code more often than a passport.
        y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:])
        looks_dated = 1980 <= y <= date.today().year + 10 and _valid_date(y, m, d, date(y + 1, 1, 1))
        ok = labelled or not looks_dated
    else:
        weak_form = (len(letters) == 2 and letters[0] == "E" and letters[1] not in "IO" and n == 7) or (
            letters in ("P", "S", "D") and n in (7, 8)
        )
        ok = weak_form and labelled
    return PiiFinding("passport", k, e, JRT0171_CLASS["passport"]) if ok else None


def _window_kind(text: str, ds: list[str], s: int, e: int, prefix: tuple[int, str]) -> tuple[str, int] | None:
    """Kind and start of the groups ds spanning text[s:e] (bounded), with an optional glued prefix."""
    start, inner = prefix
    if inner == "+":
        kind = _grouped_kind(text, ds, start) if len(ds) > 1 else _single_kind(text, ds[0], start, e)
        if kind == "mobile" and (ds[0] == "86" or (len(ds) == 1 and ds[0][:2] == "86")):
            return kind, start
    elif inner:
        kind = _prefixed_kind(ds, inner)
        if kind is not None:
            return kind, start
    # no prefix, or an unrelated one such as "(2024)" or "+1": judge the number on its own
    kind = _single_kind(text, ds[0], s, e) if len(ds) == 1 else _grouped_kind(text, ds, s)
    return (kind, s) if kind is not None else None


def _token_findings(text: str, spans: list[tuple[int, int]], out: list[PiiFinding]) -> None:
    """Classify one token: digit groups joined by single spaces/dashes (plus a glued prefix or trailing X)."""
    s, e = spans[0][0], spans[-1][1]
    ds = [text[a:b] for a, b in spans]
    if e < len(text) and text[e] in "Xx" and [len(g) for g in ds] in ([17], [6, 8, 3]):
        e += 1  # ID check character X: 17 digits + X, or 6-8-3 digits + X
        ds[-1] += text[e - 1]
        spans[-1] = (spans[-1][0], e)
    prefix = _prefix(text, s)
    left_ok = _left_ok(text, prefix[0]) if prefix[1] else _left_ok(text, s)
    right_ok = _right_ok(text, e)
    # Longest window of groups first, left to right: the whole token, or parts of it, e.g. "2024 13812345678"
    # in a PDF line or "027-82819699 13986049920 027-59507035" in an advert.
    i, last = 0, len(spans) - 1
    while i <= last:
        for j in range(min(last, i + 4), i - 1, -1):  # no format has more than 5 groups
            if (i == 0 and not left_ok) or (j == last and not right_ok):
                continue
            a, b = spans[i][0], spans[j][1]
            found = _window_kind(text, ds[i : j + 1], a, b, prefix if i == 0 else (a, ""))
            if found is not None:
                out.append(PiiFinding(found[0], found[1], b, JRT0171_CLASS[found[0]]))
                i = j
                break
        else:
            if i == 0 and last == 0 and 7 <= len(ds[0]) <= 8 and s > 0 and "A" <= text[s - 1] <= "Z":
                passport = _passport(text, s, e, ds[0])
                if passport is not None:
                    out.append(passport)
        i += 1


def _candidate_findings(text: str, s: int, e: int, out: list[PiiFinding]) -> None:
    """Split a candidate run into tokens at double separators (' - ', '  ') and classify each."""
    token: list[tuple[int, int]] = []
    for m in _GROUP.finditer(text, s, e):
        if token and m.start() - token[-1][1] > 1:
            if sum(b - a for a, b in token) >= 7:
                _token_findings(text, token, out)
            token = []
        token.append(m.span())
    if sum(b - a for a, b in token) >= 7:
        _token_findings(text, token, out)


def _ip_findings(text: str, out: list[PiiFinding]) -> None:
    """IPv4 with octets 0-255, not part of a longer dotted number; section numbers (3.1.2.1) are excluded by
    asking for >= 7 digits or an IP label nearby."""
    for m in _IP_HINT.finditer(text):
        a = m.start()
        while a > 0 and m.start() - a < 3 and text[a - 1] in _DIGITS:
            a -= 1
        if a == m.start() or (a > 0 and (text[a - 1] in _ASCII_ALNUM or text[a - 1] == ".")):
            continue
        full = _IP_FULL.match(text, a)
        if full is None:
            continue
        b = full.end()
        if b - a - 3 >= 7 or _context_has(text, a, _IP_WORDS):
            out.append(PiiFinding("ip", a, b, JRT0171_CLASS["ip"]))


def find_pii(text: str) -> list[PiiFinding]:
    """All personal identifiers in text: non-overlapping, sorted by start, offsets into text as given."""
    _need_str(text, "find_pii")
    if _WIDE.search(text):
        text = text.translate(_FOLD)  # 1:1 code points, so offsets stay valid for the original
    found: list[PiiFinding] = []
    for m in _CANDIDATE.finditer(text):
        _candidate_findings(text, m.start(), m.end(), found)
    if "." in text:
        _ip_findings(text, found)
    if "@" in text:
        found.extend(
            PiiFinding("email", m.start(), m.end(), JRT0171_CLASS["email"]) for m in _EMAIL.finditer(text)
        )
    if len(found) > 1:
        found.sort(key=lambda f: (f.start, -f.end))
    result: list[PiiFinding] = []
    for f in found:
        if not result or f.start >= result[-1].end:
            result.append(f)
    return result


def mask_pii(text: str, findings: list[PiiFinding] | None = None) -> str:
    """Replace each finding by its readable token (``[手机号]``…); findings default to ``find_pii(text)``."""
    _need_str(text, "mask_pii")
    if findings is None:
        findings = find_pii(text)
    parts: list[str] = []
    pos = 0
    for f in findings:
        if f.kind not in MASK_TOKENS:
            raise ValueError(f"mask_pii: unknown PII kind {f.kind!r} in {f}; expected one of {PII_KINDS}")
        if f.start < pos or f.end > len(text) or f.end <= f.start:
            raise ValueError(
                f"mask_pii: finding {f} overlaps the previous one or lies outside the text (length {len(text)}); "
                "pass the sorted, non-overlapping list find_pii returned for this same text"
            )
        parts.append(text[pos : f.start])
        parts.append(MASK_TOKENS[f.kind])
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def pii_counts(findings: list[PiiFinding]) -> dict[str, int]:
    """Findings per kind, every kind present (0 if none), for the document's processing record."""
    counts = dict.fromkeys(PII_KINDS, 0)
    for f in findings:
        if f.kind not in counts:
            raise ValueError(f"pii_counts: unknown PII kind {f.kind!r}; expected one of {PII_KINDS}")
        counts[f.kind] += 1
    return counts
