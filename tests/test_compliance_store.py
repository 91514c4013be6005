"""Issue 11 wired to the store: the TC260 source gate on staged runs and tags (a blocked source loses training use
at pull), QA samples of a tag kept under the home, cross-border pulls, and the takedown commands as a user runs
them. The spam and the documents are texts written for the tests."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from fincorpus.catalog.export import pull
from fincorpus.pipelines import gate
from fincorpus.pipelines.ingest import stage_records
from fincorpus.pipelines.publish import publish
from tests.rows import make_row
from tests.test_safety import spam_text

BIN = [sys.executable, "-m", "fincorpus.cli"]
WORDS = ["央行", "证监会", "上市公司", "信息披露", "债券", "基金", "外汇", "利率", "股票", "监管"]


def run(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BIN, *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=180,
        input=stdin,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def clean_text(i: int) -> str:
    rng = random.Random(i)
    return "".join(rng.choice(WORDS) + "，" for _ in range(60)) + f"第{i}号通知。"


def corpus(spam: int = 6) -> list[dict]:
    rng = random.Random(5)
    rows = [make_row(f"http://clean.test/{i}.html", clean_text(i), source_id="clean") for i in range(12)]
    for i in range(12):
        text = spam_text(rng) if i < spam else clean_text(100 + i)
        rows.append(make_row(f"http://spammy.test/{i}.html", text, source_id="spammy"))
    return rows


def pulled(out: Path) -> list[dict]:
    return [r for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


# -- source gate -----------------------------------------------------------------------------------------------------


def test_pre_assessment_blocks_a_spam_source_and_its_documents_lose_train_at_pull(
    home: Path, tmp_path: Path
) -> None:
    stage_records(home, "run-1", corpus(), {}, dedup=False)
    done = {r.source_id: r for r in gate.pre_assess_run(home, "run-1")}
    assert done["spammy"].blocked and done["spammy"].rate == 0.5 and done["spammy"].sample_size == 12
    assert not done["clean"].blocked
    assert (home / "compliance" / "gate-spammy-pre-assessment.json").is_file()
    assert (home / "staging" / "run-1" / "gate-spammy-pre-assessment.md").is_file()
    assert gate.pre_assess_run(home, "run-1") == []  # a source is pre-assessed once, on its first crawl
    assert set(gate.training_blocks(home)) == {"spammy"}

    publish(home, "v1")
    res = pull(home, "v1", tmp_path / "all")
    rows = pulled(tmp_path / "all")
    spammy = [r for r in rows if r["source_id"] == "spammy"]
    assert len(rows) == 24 and all("train" not in r["usage"] for r in spammy)
    assert all("TC260 source gate" in r["optout_reason"] for r in spammy)
    assert all(r["steps"][-1]["step"] == "gate" for r in spammy)
    assert all("train" in r["usage"] for r in rows if r["source_id"] == "clean")
    assert any("source gate: spammy" in line for line in res.stats["compliance"])
    # the card's train config selects exactly the rows cleared for training (no config left out)
    card = (tmp_path / "all" / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    train = next(c for c in header["configs"] if c["config_name"] == "train")
    assert ["source_id", "not in", ["spammy"]] in train["filters"][0]
    assert "Configs left out" not in card
    compliance = json.loads((tmp_path / "all" / "compliance.json").read_text(encoding="utf-8"))
    assert compliance["source_gate"]["documents_losing_train"] == {"spammy": 12}

    pull(home, "v1", tmp_path / "train", usage="train")
    assert {r["source_id"] for r in pulled(tmp_path / "train")} == {"clean"}

    after = {r.source_id: r for r in gate.post_verify(home, "v1")}
    assert after["spammy"].stage == "post-verification" and after["spammy"].blocked
    assert (home / "compliance" / "tags" / "v1" / "gate-clean-post-verification.json").is_file()

    out = run("gate", "report", home=home)
    assert out.returncode == 0 and "blocked for training: spammy" in out.stdout
    one = run("gate", "report", "spammy", home=home)
    assert one.returncode == 0 and "# TC260 source gate: spammy (pre-assessment)" in one.stdout


def test_a_later_passing_report_lifts_the_block(home: Path) -> None:
    stage_records(home, "run-1", corpus(spam=6), {}, dedup=False)
    gate.pre_assess_run(home, "run-1")
    assert "spammy" in gate.training_blocks(home)
    publish(home, "v1")
    # the source cleaned up: its spam documents were removed by a later run
    fixed = [r for r in corpus(spam=0) if r["source_id"] == "spammy"]
    stage_records(home, "run-2", fixed, {}, dedup=False)
    publish(home, "v2")
    gate.post_verify(home, "v2", ["spammy"])
    assert gate.training_blocks(home) == {}


# -- QA ----------------------------------------------------------------------------------------------------------------


def test_qa_sample_and_record_through_the_command_line(home: Path, tmp_path: Path) -> None:
    stage_records(home, "run-1", corpus(spam=0), {}, dedup=False)
    publish(home, "v1")
    out = tmp_path / "review"
    res = run("qa", "sample", "v1", "--manual", "10", "--technical", "50%", "--out", str(out), "--seed", "7",
              home=home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    sheet = out / "qa-manual-7.csv"
    kept = home / "qa" / "v1"
    assert sheet.is_file() and (out / "qa-manual-7.html").is_file()
    assert (kept / "qa-manual-7.json").is_file() and (kept / "qa-technical-report.json").is_file()
    tech = json.loads((kept / "qa-technical-report.json").read_text(encoding="utf-8"))
    assert tech["sample_size"] == 12 and tech["population"] == 24 and tech["verdict"] == "pass"

    with open(sheet, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, r in enumerate(rows):
        r["verdict"] = "合格" if i else "不合格"
        r["category"] = "" if i else "low-quality"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = run("qa", "record", str(sheet), home=home)
    assert res.returncode == 1  # 10 reviewed: below the 4,000 TC260-003 9.2 asks, so a fail, said plainly
    assert "fail" in res.stdout and "4000" in res.stdout
    report = json.loads((kept / "qa-manual-report.json").read_text(encoding="utf-8"))
    assert (
        report["reviewed"] == 10
        and report["failed"] == 1
        and report["failures_by_category"] == {"low-quality": 1}
    )
    assert (kept / "qa-manual-7.csv").is_file()

    rows[3]["verdict"] = "maybe"
    with open(sheet, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    bad = run("qa", "record", str(sheet), home=home)
    lines = [x for x in bad.stderr.splitlines() if x.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "row 5" in lines[0] and "maybe" in lines[0]


def test_qa_leaves_out_documents_a_takedown_covers(home: Path, tmp_path: Path) -> None:
    rows = corpus(spam=0)
    stage_records(home, "run-1", rows, {}, dedup=False)
    publish(home, "v1")
    res = run("takedown", "--doc-id", rows[0]["doc_id"], "--requester", "r", "--reason", "x",
              "--legal-basis", "rights-holder", home=home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    res = run("qa", "sample", "v1", "--manual", "100", "--out", str(tmp_path / "s"), "--seed", "1", home=home)
    sample = json.loads((home / "qa" / "v1" / "qa-manual-1.json").read_text(encoding="utf-8"))
    assert sample["population"] == 23 and rows[0]["doc_id"] not in sample["doc_ids"]


# -- cross-border ------------------------------------------------------------------------------------------------------


def test_cross_border_pull_leaves_listed_categories_home_and_says_so(home: Path, tmp_path: Path) -> None:
    rows = corpus(spam=0)
    rows[0]["data_categories"] = [
        "public-official-document",
        "sensitive-personal-information",
        "personal-information",
    ]
    rows[1]["data_categories"] = ["public-official-document", "personal-information-masked"]
    stage_records(home, "run-1", rows, {}, dedup=False)
    publish(home, "v1")

    res = pull(home, "v1", tmp_path / "home-pull")
    manifest = json.loads((tmp_path / "home-pull" / "manifest.json").read_text(encoding="utf-8"))
    assert res.rows == 24 and manifest["filters"]["cross_border_ok"] is False
    assert manifest["filters"]["destination"] == "domestic"
    card = (tmp_path / "home-pull" / "README.md").read_text(encoding="utf-8")
    assert '"cross_border_ok": false' in card

    res = pull(home, "v1", tmp_path / "abroad", destination="cross-border")
    ids = {r["doc_id"] for r in pulled(tmp_path / "abroad")}
    assert res.rows == 23 and rows[0]["doc_id"] not in ids and rows[1]["doc_id"] in ids
    comp = json.loads((tmp_path / "abroad" / "compliance.json").read_text(encoding="utf-8"))["cross_border"]
    assert comp["excluded_doc_ids"] == [rows[0]["doc_id"]] and comp["cross_border_ok"] is True
    assert comp["excluded_by_category"]["sensitive-personal-information"] == 1
    assert any("cross-border: excluded 1 of 24" in line for line in res.stats["compliance"])
    from fincorpus.catalog.export import verify

    assert verify(tmp_path / "abroad") == []  # compliance.json is listed in the signed manifest

    # an operator's stricter list: masked identifiers stay home too
    strict = yaml.safe_load(
        (
            Path(__file__).resolve().parent.parent / "fincorpus/data/negative_list_shanghai_ftz_2024.yaml"
        ).read_text(encoding="utf-8")
    )
    strict["categories"]["personal-information-masked"]["exclude"] = True
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(strict, allow_unicode=True), encoding="utf-8")
    res = pull(
        home, "v1", tmp_path / "strict", destination="cross-border", negative_list=tmp_path / "strict.yaml"
    )
    assert res.rows == 22

    bad = run("pull", "v1", "--out", str(tmp_path / "x"), "--destination", "moon", home=home)
    assert bad.returncode == 2 and "--destination 'moon'" in bad.stderr and not (tmp_path / "x").exists()


# -- takedown commands ---------------------------------------------------------------------------------------------


def test_takedown_commands_keep_the_value_off_argv_and_out_of_the_log(home: Path) -> None:
    phone = "13712345678"
    rows = corpus(spam=0)
    stage_records(home, "run-1", rows, {}, dedup=False)
    publish(home, "v1")
    # the value is in no stored text here (masked texts do not hold it): a PII request matching nothing now is
    # still logged, so documents crawled later that hold it are removed at processing
    res = run("takedown", "--pii-value", "--requester", f"本人 {phone}", "--reason", f"删除 {phone}",
              "--legal-basis", "pipl-art47", home=home, stdin=f"{phone}\n")  # fmt: skip
    assert res.returncode == 0, res.stderr
    log = (home / "takedown.jsonl").read_text(encoding="utf-8")
    assert phone not in log and "[手机号]" in log

    res = run("takedown", "--url-pattern", "http://clean.test/1[01].html", "--requester", "版权人", "--reason", "通知",
              "--legal-basis", "rights-holder", "--dry-run", home=home)  # fmt: skip
    assert res.returncode == 0 and "covers 2 document" in res.stdout
    assert len((home / "takedown.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    lst = run("takedown", "list", home=home)
    assert lst.returncode == 0 and "intact (1 entries)" in lst.stdout

    for args, says in (
        (["--doc-id", "a", "--source", "b"], "exactly one of"),
        (["--doc-id", rows[0]["doc_id"], "--requester", "r", "--reason", "x"], "--legal-basis"),
        (
            ["--doc-id", rows[0]["doc_id"], "--requester", "r", "--reason", "x", "--legal-basis", "whim"],
            "legal-basis",
        ),
        (
            ["--doc-id", "0" * 32, "--requester", "r", "--reason", "x", "--legal-basis", "operator"],
            "no document",
        ),
    ):
        bad = run("takedown", *args, home=home)
        lines = [x for x in bad.stderr.splitlines() if x.strip()]
        assert bad.returncode == 2 and len(lines) == 1 and says in lines[0], (args, bad.stderr)

    # the tampered log is refused before anything is appended
    text = (home / "takedown.jsonl").read_text(encoding="utf-8")
    (home / "takedown.jsonl").write_text(text.replace("pipl-art47", "operator"), encoding="utf-8")
    res = run("takedown", "--doc-id", rows[0]["doc_id"], "--requester", "r", "--reason", "x",
              "--legal-basis", "operator", home=home)  # fmt: skip
    assert res.returncode == 2 and "altered" in res.stderr
    assert run("takedown", "list", home=home).returncode == 2


def test_publish_with_nothing_staged_runs_for_a_takedown(home: Path) -> None:
    rows = corpus(spam=0)
    stage_records(home, "run-1", rows, {}, dedup=False)
    publish(home, "v1")
    assert run("takedown", "--source", "spammy", "--requester", "运营方", "--reason", "来源撤回",
               "--legal-basis", "operator", home=home).returncode == 0  # fmt: skip
    from fincorpus.catalog.erasure import pending

    assert pending(home)
    info = publish(home, "v2").tag
    assert info.documents == 12 and info.removed == 12
    assert not pending(home)
    with pytest.raises(Exception, match="nothing staged"):
        publish(home, "v3")


def test_a_staged_document_taken_down_before_its_publish_is_published_as_a_tombstone(home: Path) -> None:
    from fincorpus.catalog import erasure
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.pipelines.ingest import near_index
    from fincorpus.takedown import TakedownRequest

    stage_records(home, "run-1", corpus(spam=0), {}, dedup=False)
    publish(home, "v1")
    extra = [
        make_row(f"http://clean.test/new{i}.html", clean_text(200 + i), source_id="clean") for i in range(3)
    ]
    stage_records(home, "run-2", extra, {}, dedup=True)
    req = TakedownRequest(
        kind="doc_id", value=extra[0]["doc_id"], requester="r", reason="x", legal_basis="operator"
    )
    assert erasure.take_down(home, req).found_in == {"staged": 1}
    info = publish(home, "v2").tag
    records = (
        CorpusCatalog(home).read("v2", "records", columns=("doc_id", "status", "removed_stage")).to_pylist()
    )
    kept = [r for r in records if r["status"] == "kept"]
    assert info.documents == len(kept) == 26 and info.removed == 1
    assert [r["removed_stage"] for r in records if r["doc_id"] == extra[0]["doc_id"]] == ["takedown"]
    index = near_index(home)
    try:
        assert len(index) == 26  # the tombstone did not join the dedup index
    finally:
        index.close()
