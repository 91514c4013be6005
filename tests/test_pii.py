"""PII detection and masking: validators, every kind positive and negative, USCC vs ID, masking, real text.

All identifiers are generated here (valid by construction) and placed in invented sentences; real text is read
from the shared data at run time.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from datetime import date
from pathlib import Path

import pytest

from fincorpus.cleaning.pii import (
    JRT0171_CLASS,
    MASK_TOKENS,
    PII_KINDS,
    STEP,
    PiiFinding,
    find_pii,
    luhn_ok,
    mask_pii,
    pii_counts,
    valid_id18,
    valid_uscc,
)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def make_id(region: str = "330106", born: str = "19850412", seq: str = "271") -> str:
    body = region + born + seq
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def make_uscc(body17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return body17 + USCC_ALPHABET[(31 - total % 31) % 31]


def luhn_complete(body: str) -> str:
    return next(body + c for c in "0123456789" if luhn_ok(body + c))


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in find_pii(text)]


ID = make_id()
CARD16 = luhn_complete("622848012345678")
CARD19 = luhn_complete("621700123456789012")


# --- validators ---------------------------------------------------------------------------------------------


def test_valid_id18_checks_digit_date_and_region() -> None:
    assert valid_id18(ID)
    wrong = ID[:-1] + ("0" if ID[-1] != "0" else "1")
    assert not valid_id18(wrong)
    x_ids = [make_id(seq=f"{n:03d}") for n in range(200) if make_id(seq=f"{n:03d}").endswith("X")]
    assert x_ids and all(valid_id18(s) and valid_id18(s.lower()) for s in x_ids)
    assert not valid_id18(make_id(born="19900230"))  # 30 February
    assert not valid_id18(make_id(born="18991231"))  # before 1900
    assert not valid_id18(make_id(born=f"{date.today().year + 1}0101"))  # future
    assert not valid_id18(make_id(region="990106"))  # no such province
    assert not valid_id18(ID[:17])


def test_valid_uscc_and_luhn() -> None:
    uscc = make_uscc("91330106MA2GL0R5K")
    assert valid_uscc(uscc) and valid_uscc(uscc.lower())
    assert not valid_uscc(uscc[:-1] + ("0" if uscc[-1] != "0" else "1"))
    assert not valid_uscc(make_uscc("91330106MA2GL0R5K").replace("M", "I"))  # I is not in the alphabet
    assert luhn_ok(CARD16) and luhn_ok(CARD19)
    assert not luhn_ok(CARD16[:-1] + str((int(CARD16[-1]) + 1) % 10))
    assert not luhn_ok("") and not luhn_ok("6228 4801")


def test_validators_reject_non_strings_clearly() -> None:
    with pytest.raises(TypeError, match="expects a str"):
        valid_id18(110101199003071234)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="find_pii expects a str"):
        find_pii(b"13812345678")  # type: ignore[arg-type]


# --- positives, per kind ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"借款人张某（身份证号：{ID}）未按期还款。", [("id_card", ID)]),
        (f"当事人{ID}于当日到场", [("id_card", ID)]),
        (f"证件号码 {ID[:6]} {ID[6:14]} {ID[14:]}。", [("id_card", f"{ID[:6]} {ID[6:14]} {ID[14:]}")]),
        ("老身份证号330106850412271，", [("id_card", "330106850412271")]),
        ("请联系王经理，手机13912345678。", [("mobile", "13912345678")]),
        ("电话：139 1234 5678；", [("mobile", "139 1234 5678")]),
        ("电话：139-1234-5678；", [("mobile", "139-1234-5678")]),
        ("国际拨打+86 139 1234 5678即可", [("mobile", "+86 139 1234 5678")]),
        ("或（+86）13912345678", [("mobile", "（+86）13912345678")]),
        ("联系电话021-62345678，", [("landline", "021-62345678")]),
        ("传真（010）62345678。", [("landline", "（010）62345678")]),
        ("座机 0755 2345 6789 转", [("landline", "0755 2345 6789")]),
        ("分机021-62345678-8001", [("landline", "021-62345678-8001")]),
        ("电话07552345678", [("landline", "07552345678")]),
        (f"收款卡号：{CARD19}。", [("bank_card", CARD19)]),
        (f"尾号见{CARD16}", [("bank_card", CARD16)]),
        (
            "卡号 " + " ".join(CARD16[i : i + 4] for i in range(0, 16, 4)) + "，",
            [("bank_card", " ".join(CARD16[i : i + 4] for i in range(0, 16, 4)))],
        ),
        ("邮箱：li.ming_88@example.com。", [("email", "li.ming_88@example.com")]),
        ("登录IP为203.0.113.45，", [("ip", "203.0.113.45")]),
        ("访问IP：10.0.0.1", [("ip", "10.0.0.1")]),
        ("护照号码：E12345678，", [("passport", "E12345678")]),
        ("护照号EA1234567。", [("passport", "EA1234567")]),
        ("持G23456789出境", [("passport", "G23456789")]),
    ],
)
def test_each_kind_is_found_with_exact_span(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


def test_several_identifiers_in_one_text_are_sorted_and_separate() -> None:
    text = f"甲方：王某，身份证{ID}，手机13912345678，邮箱wang@example.cn，电话027-82345678 13987654321 027-52345678"
    assert [k for k, _ in kinds(text)] == ["id_card", "mobile", "email", "landline", "mobile", "landline"]
    found = find_pii(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


def test_full_width_digits_are_found_at_original_offsets() -> None:
    wide = "１３９１２３４５６７８"
    text = f"手机：{wide}。"
    (f,) = find_pii(text)
    assert f.kind == "mobile" and text[f.start : f.end] == wide


# --- negatives ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "股票代码：600080，股票简称：某某股份",
        "本基金持有600000 000001 300750三只股票",
        "营业收入1,234,567.89元，净利润12345678.00元",
        "发行规模15000000000元",
        "13912345678.00元",  # an amount with decimals, not a phone
        "截至20240131，即2024-01-31，另见2024.01.02",
        "公告编号：2024-015",
        "编号：临2025-012",
        "客服热线400-820-8820或800-810-8888",  # organisational service numbers are not masked
        "见第3.1.2.1条及版本v1.2.3.4",
        "持有人3301**********1234已冻结，手机139****5678",  # already partially masked
        "流水号139123456789012345678901",  # phone-like digits inside a longer run
        "订单AB13912345678与13912345678A",  # glued to ASCII letters
        f"身份证号：{ID[:-1]}{'0' if ID[-1] != '0' else '1'}",  # wrong check digit
        f"卡号：{CARD16[:-1]}{(int(CARD16[-1]) + 1) % 10}",  # fails Luhn
        "合同编号E20240131号",  # a dated document code, not a passport
        "项目代码EA1234567",  # weak passport form without a passport label
        "每股收益0.123456789",
    ],
)
def test_figures_and_codes_are_not_masked(text: str) -> None:
    assert find_pii(text) == [], kinds(text)
    assert mask_pii(text) == text


def _digit_uscc_that_is_also_an_id() -> str:
    rng = random.Random(7)
    while True:
        born = date(1950, 1, 1).toordinal() + rng.randrange(20000)
        s = make_id("110105", date.fromordinal(born).strftime("%Y%m%d"), f"{rng.randrange(1000):03d}")
        if valid_uscc(s):
            return s


def test_uscc_is_told_apart_from_an_id() -> None:
    letters = make_uscc("91330106MA2GL0R5K")
    digits_only = make_uscc("913301067654321" + "23")
    assert valid_uscc(digits_only) and not valid_id18(digits_only)
    for code in (letters, digits_only):
        assert find_pii(f"统一社会信用代码：{code}。") == []
        assert find_pii(f"（{code}）") == []  # not an ID, and a USCC is never taken for a bank card
    both = _digit_uscc_that_is_also_an_id()
    assert valid_id18(both) and valid_uscc(both)
    assert find_pii(f"统一社会信用代码：{both}") == []  # the label decides
    assert kinds(f"身份证号：{both}") == [("id_card", both)]


def test_labelled_card_wins_over_id_shape_only_with_a_card_label() -> None:
    card18 = next(
        c for n in range(1000) if luhn_ok(c := make_id("620102", "19800101", f"{n:03d}")) and valid_id18(c)
    )
    assert kinds(f"身份证号：{card18}") == [("id_card", card18)]
    assert kinds(f"银行卡号：{card18}") == [("bank_card", card18)]


# --- masking and counts -------------------------------------------------------------------------------------


def test_mask_output_is_readable_and_keeps_the_rest() -> None:
    text = f"借款人（身份证号：{ID}），手机：139 1234 5678，邮箱li@example.com；营业收入1,234,567.89元。"
    masked = mask_pii(text)
    assert (
        masked == "借款人（身份证号：[身份证号]），手机：[手机号]，邮箱[电子邮箱]；营业收入1,234,567.89元。"
    )
    assert mask_pii(text, find_pii(text)) == masked
    assert mask_pii("没有个人信息的句子。") == "没有个人信息的句子。"


def test_mask_rejects_findings_that_do_not_fit_the_text() -> None:
    text = "手机13912345678"
    with pytest.raises(ValueError, match="overlaps the previous one or lies outside"):
        mask_pii(text, [PiiFinding("mobile", 2, 13, "C2"), PiiFinding("mobile", 5, 9, "C2")])
    with pytest.raises(ValueError, match="outside the text"):
        mask_pii(text, [PiiFinding("mobile", 2, 40, "C2")])
    with pytest.raises(ValueError, match="unknown PII kind"):
        mask_pii(text, [PiiFinding("name", 0, 2, "C2")])


def test_counts_have_every_kind_and_classes_follow_jrt0171() -> None:
    text = f"身份证{ID}，手机13912345678，13812345678，IP 10.1.1.1"
    counts = pii_counts(find_pii(text))
    assert set(counts) == set(PII_KINDS)
    assert counts == {
        "id_card": 1,
        "mobile": 2,
        "landline": 0,
        "bank_card": 0,
        "email": 0,
        "ip": 1,
        "passport": 0,
    }
    assert pii_counts([]) == dict.fromkeys(PII_KINDS, 0)
    assert set(JRT0171_CLASS) == set(PII_KINDS) == set(MASK_TOKENS)
    assert set(JRT0171_CLASS.values()) <= {"C1", "C2", "C3"}
    assert {k for k, v in JRT0171_CLASS.items() if v == "C2"} >= {
        "id_card",
        "passport",
        "bank_card",
        "mobile",
    }
    assert all(f.jrt_class == JRT0171_CLASS[f.kind] for f in find_pii(text))
    assert STEP == "pii:mask"


# --- real text ----------------------------------------------------------------------------------------------

NUMERIC = re.compile(r"(?<![0-9])[0-9]+(?:[,.\-][0-9]+)*")
MAX_FINDINGS_PER_1000_NUMERIC = (
    0.5  # measured 0.05 (two published contact landlines); bench/pii.py has the review
)


def test_real_announcements_are_left_almost_untouched(data_dir: Path) -> None:
    path = data_dir / "texts" / "announcements_cfee" / "FREEZE_Data.json"
    docs = [json.loads(line)["Doc"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    numeric = sum(len(NUMERIC.findall(d)) for d in docs)
    found = [(d, f) for d in docs for f in find_pii(d)]
    assert numeric > 30_000
    assert 1000 * len(found) / numeric <= MAX_FINDINGS_PER_1000_NUMERIC
    # Announcements publish company contacts, never a full personal ID or card number.
    assert {f.kind for _, f in found} <= {"landline", "mobile", "email"}
    masked_ids = [m.group() for d in docs for m in re.finditer(r"[0-9]{4,6}\*{4,}[0-9]{3,4}[0-9Xx]?", d)]
    assert masked_ids, "the data set is expected to contain partially masked IDs"
    masked_docs = [mask_pii(d) for d in docs if "*" in d]
    assert all(any(m in md for md in masked_docs) for m in masked_ids)  # already masked: left as published
    codes = [m.group(1) for d in docs for m in re.finditer(r"证券代码：([0-9]{6})", d)]
    assert codes and all(c in mask_pii(d) for d in docs[:50] for c in re.findall(r"证券代码：([0-9]{6})", d))
