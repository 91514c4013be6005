"""QA samples on a snapshot folder, security levels and the cross-border list, takedown matching and its log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from fincorpus.compliance import (
    SheetError,
    classify_document,
    cross_border_filter,
    default_negative_list,
    qa_record,
    qa_sample_manual,
    qa_technical,
    snapshot_cross_border_flag,
    write_qa_report,
)
from fincorpus.schema import documents_table
from fincorpus.takedown import (
    TakedownError,
    TakedownLog,
    TakedownRequest,
    excluded_doc_ids,
    match_documents,
    pending_purges,
    pii_value_hash,
)
from tests.rows import make_row

SPAM = "股票配资1:10，免息配资，秒到账。老师带单，明日必涨，拉你进群，加微信 gu888168。"


def snapshot(tmp_path: Path, n: int = 60, spam: int = 0) -> Path:
    rows = [
        make_row(
            f"http://a.test/{i}.html",
            text=(SPAM if i < spam else f"第{i}篇：央行公开市场操作，利率保持稳定。"),
        )
        for i in range(n)
    ]
    out = tmp_path / "snap"
    (out / "data").mkdir(parents=True)
    pq.write_table(documents_table(rows), out / "data" / "part-0.parquet")
    return out


def _fill(sheet: Path, verdicts: list[str]) -> None:
    with open(sheet, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r, v in zip(rows, verdicts, strict=False):
        r["verdict"] = v
        if v == "fail":
            r["category"] = "harmful"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_manual_sample_and_record_round_trip(tmp_path: Path) -> None:
    snap = snapshot(tmp_path)
    sample = qa_sample_manual(snap, tmp_path / "qa", n=25, seed=5, tag="v1")
    again = qa_sample_manual(snap, tmp_path / "qa2", n=25, seed=5, tag="v1")
    assert sample.size == 25 and sample.population == 60 and sample.doc_ids == again.doc_ids
    html = Path(sample.sheet_html).read_text(encoding="utf-8")
    assert "央行公开市场操作" in html and sample.doc_ids[0] in html
    sheet = Path(sample.sheet_csv)
    _fill(sheet, ["pass"] * 24)
    partial = qa_record(sheet, minimum=25)
    assert partial.verdict == "incomplete" and partial.reviewed == 24
    _fill(sheet, ["pass"] * 24 + ["fail"])
    failed = qa_record(sheet, minimum=25)
    assert (failed.verdict, failed.pass_rate, failed.failures_by_category) == ("pass", 0.96, {"harmful": 1})
    assert failed.meets_threshold  # 96 % passes 9.2's threshold: exactly 0.96
    _fill(sheet, ["合格"] * 23 + ["不合格", "fail"])
    assert qa_record(sheet, minimum=25).verdict == "fail"
    _fill(sheet, ["pass"] * 25)
    ok = qa_record(sheet, minimum=25)
    assert ok.verdict == "pass" and ok.wilson[1] == 1.0
    assert qa_record(sheet).verdict == "fail"  # 25 reviewed is below TC260-003's 4,000
    json_path, md_path = write_qa_report(ok, snap / "qa")
    assert json.loads(json_path.read_text(encoding="utf-8"))[
        "verdict"
    ] == "pass" and "pass rate" in md_path.read_text(encoding="utf-8")
    _fill(sheet, ["maybe"])
    with pytest.raises(SheetError, match=r"row 2: verdict 'maybe' is neither pass nor fail"):
        qa_record(sheet)


def test_technical_sample_screens_a_tenth(tmp_path: Path) -> None:
    clean = qa_technical(snapshot(tmp_path / "a", n=100), fraction=0.10, seed=1)
    assert clean.sample_size == 10 and clean.verdict == "pass" and clean.library_version
    dirty = qa_technical(snapshot(tmp_path / "b", n=100, spam=30), fraction=0.5, seed=1)
    assert (
        dirty.verdict == "fail"
        and dirty.failed > 0
        and set(dirty.failures_by_category) <= {"margin-lending-promotion", "unlicensed-stock-tips"}
    )
    with pytest.raises(FileNotFoundError, match="no Parquet files"):
        qa_technical(tmp_path)


def test_security_levels_tiers_and_categories() -> None:
    public = classify_document(licence_class="cn-art5-official")
    assert (public.level, public.tier, public.categories) == (1, "general", ("public-official-document",))
    masked = classify_document(licence_class="exchange-asserted", pii={"mobile": 2, "max_class": "C2"})
    assert masked.level == 2 and "personal-information-masked" in masked.categories
    shown = classify_document(
        licence_class="media-unknown", pii={"id_card": 1, "max_class": "C2"}, pii_mode="flag"
    )
    assert shown.level == 3 and {"personal-information", "sensitive-personal-information"} <= set(
        shown.categories
    )
    flagged = classify_document(licence_class="media-unknown", safety_flagged=True)
    assert flagged.level == 2 and "flagged-content" in flagged.categories
    marked = classify_document(licence_class="unknown", text="密级：秘密\n关于某事项的通知")
    assert (marked.level, marked.tier) == (3, "important")
    statute = classify_document(licence_class="cn-art5-official", text="第九条 不得泄露商业秘密和国家秘密。")
    assert statute.tier == "general"  # a statute naming secrets is not itself marked


def test_cross_border_pull_leaves_listed_categories_home() -> None:
    rows = [
        {"doc_id": "a", "licence_class": "cn-art5-official", "pii": None},
        {
            "doc_id": "b",
            "licence_class": "media-unknown",
            "pii": {"id_card": 1, "max_class": "C2"},
            "data_categories": None,
        },
        {
            "doc_id": "c",
            "data_categories": ["public-news", "sensitive-personal-information", "personal-information"],
        },
        {"doc_id": "d", "data_categories": ["public-disclosure", "personal-information-masked"]},
    ]
    kept, report = cross_border_filter(rows)
    assert [r["doc_id"] for r in kept] == ["a", "b", "d"]  # b was masked (mode mask), d is masked too
    assert (
        report.excluded_doc_ids == ["c"]
        and report.excluded_by_category["sensitive-personal-information"] == 1
    )
    assert "excluded 1 of 4" in report.summary()
    flag = snapshot_cross_border_flag(rows)
    assert flag["cross_border_ok"] is False and flag["other_list_categories"] == {
        "personal-information-masked": 2
    }
    assert "shanghai" in default_negative_list().version


def test_takedown_requests_match_by_id_url_source_and_pii_hash() -> None:
    rows = [
        {
            "doc_id": "d1",
            "source_id": "news",
            "url": "http://a.test/news/1.html",
            "canonical_url": "http://a.test/news/1.html",
            "text": "联系[手机号]",
        },
        {
            "doc_id": "d2",
            "source_id": "news",
            "url": "http://a.test/blog/2.html",
            "canonical_url": "http://a.test/blog/2.html",
            "text": "无",
        },
        {
            "doc_id": "d3",
            "source_id": "gov",
            "url": "http://b.test/3.html",
            "canonical_url": "http://b.test/3.html",
            "text": "无",
        },
    ]
    raw = {"d1": "联系人电话：13812345678", "d2": "", "d3": "联系人电话 138 1234 5678"}

    def req(kind: str, value: str) -> TakedownRequest:
        return TakedownRequest(
            kind=kind, value=value, requester="权利人甲", reason="侵权", legal_basis="rights-holder"
        )

    assert match_documents(req("doc_id", "d2"), rows) == ["d2"]
    assert match_documents(req("url_pattern", "http://a.test/news/*"), rows) == ["d1"]
    assert match_documents(req("url_pattern", r"re:/(blog|3)\b"), rows) == ["d2", "d3"]
    assert match_documents(req("source", "gov"), rows) == ["d3"]
    h = pii_value_hash("+86 138-1234-5678")
    assert h == pii_value_hash("１３８１２３４５６７８")
    found = match_documents(req("pii_hash", h), rows, raw_text=lambda r: raw[r["doc_id"]])
    assert found == ["d1", "d3"]  # the masked text no longer holds it; the raw bytes do
    with pytest.raises(ValidationError, match="64-hex"):
        req("pii_hash", "13812345678")
    with pytest.raises(ValidationError):
        TakedownRequest(kind="doc_id", value="d1", requester=" ", reason="x", legal_basis="rights-holder")


def test_takedown_log_keeps_hashes_and_detects_tampering(tmp_path: Path) -> None:
    log = TakedownLog(tmp_path / "takedown.jsonl")
    phone = "13812345678"
    pii = TakedownRequest(
        kind="pii_hash",
        value=pii_value_hash(phone),
        requester="张三",
        reason=f"请删除我的号码 {phone}",
        legal_basis="pipl-art47",
        purge=True,
    )
    first = log.append(pii, ["d1", "d3"])
    url = TakedownRequest(
        kind="url_pattern",
        value="http://a.test/secret/*",
        requester="权利人乙",
        reason="未经授权转载",
        legal_basis="rights-holder",
    )
    log.append(url, ["d2"])
    log.verify()
    text = log.path.read_text(encoding="utf-8")
    assert (
        phone not in text and "secret" not in text and pii_value_hash(phone) not in text
    )  # only hashes of hashes
    assert "张三" in text and "pipl-art47" in text  # who and why stay
    assert excluded_doc_ids(log) == {"d1", "d2", "d3"}
    assert pending_purges(log) == {first.request_id: ("d1", "d3")}
    log.append(pii, ["d1", "d3"], action="purge-done", request_id=first.request_id)
    assert pending_purges(log) == {}
    lines = log.path.read_text(encoding="utf-8").splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")  # drop an entry
    with pytest.raises(TakedownError, match="entry 2"):
        log.verify()
    log.path.write_text(lines[0].replace("d3", "d9") + "\n", encoding="utf-8")  # edit an entry
    with pytest.raises(TakedownError, match="altered"):
        log.verify()
