"""The HTML report: right numbers, optional inputs named when absent, and a clean load in real Chromium.

Chromium is Debian's `chromium` package (`make test` installs it). Screenshots are kept in the test's tmp folder
(pytest prints it with -rA; the path ends in .../test_report_renders_in_chromium0/report.png).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from fincorpus.catalog.publication import finish_snapshot_folder
from fincorpus.catalog.report import write_report
from fincorpus.catalog.stats import collect, reason_kind
from fincorpus.schema import removed_table
from fincorpus.signing import KeyFileSigner, KeyPair
from tests.browser import CHROMIUM, load_page
from tests.snapshot_folder import removed_rows, snapshot_rows, write_snapshot


def _browser() -> None:
    if not CHROMIUM:
        pytest.fail("chromium is not installed: apt-get install -y chromium (make test installs it)")


def _previous() -> pa.Table:
    rows = snapshot_rows()
    # the previous tag: 5 documents that are gone now, 3 whose text changed, the rest the same; 4 are new now
    ids = [r["doc_id"] for r in rows[4:]] + [f"gone-{i}" for i in range(5)]
    shas = [r["text_sha256"] for r in rows[4:]] + ["x"] * 5
    for i in range(3):
        shas[i] = "changed"
    return pa.table({"doc_id": ids, "text_sha256": shas})


def test_stats_and_diff_numbers(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    st = collect(folder, removed=removed_table(removed_rows()), previous=("v0", _previous()))
    assert st.documents == 30 and st.sources["regulator"].documents == 10
    assert st.licences == {"cn-art5-official": 10, "exchange-asserted": 10, "media-unknown": 10}
    assert st.removed is not None and st.removed.by_stage == {"dedup.near": 3, "quality": 3}
    assert st.removed.duplicates == {"reprint": 3}
    assert st.clusters["cluster-0"] == 3 + 3  # kept members in the snapshot + removed reprints
    d = st.diff
    assert d is not None and (d.added, d.removed, d.changed, d.unchanged) == (4, 5, 3, 23)
    assert sum(st.hists["finance_score"].counts) == 30
    assert st.pii_documents["mobile"] == 5 and st.pii_max_class["C3"] == 4
    assert reason_kind("length_chars=12 < min_chars=50 (news)") == "length_chars=# < min_chars=# (news)"


def test_report_names_missing_inputs(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    html = write_report(folder, tag="v1", snapshot_id=7).read_text(encoding="utf-8")
    assert "Removed records were not given" in html and "No previous tag was given" in html
    assert "inputs not given</td><td>removed records, previous tag" in html
    assert html.count("<svg") >= 7
    assert "http://" not in re.sub(
        r'xmlns="[^"]*"|content="[^"]*"', "", html.split("<body>")[0]
    )  # no remote loads


def test_report_escapes_untrusted_text(tmp_path: Path) -> None:
    rows = snapshot_rows(6)
    rows[0]["source_id"] = "evil"
    rows[0]["optout_reason"] = "<script>alert(1)</script>"
    folder = write_snapshot(tmp_path / "s", rows)
    html = write_report(folder, tag="<b>t</b>").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;t&lt;/b&gt;" in html


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    """The published folder's report.html loads in headless Chromium with no console errors; screenshot kept."""
    _browser()
    folder = write_snapshot(tmp_path / "snap", files=2)
    pub = finish_snapshot_folder(
        folder,
        tag="v1",
        snapshot_id=42,
        filters={},
        signer=KeyFileSigner(tmp_path / "k", KeyPair.generate()),
        removed=removed_table(removed_rows()),
        previous=("v0", _previous()),
        publisher="测试运营方",
    )
    page = load_page(pub.report, tmp_path)
    assert page.errors == []
    assert page.title == "fincorpus snapshot v1" and page.svg_count >= 10
    assert page.screenshot is not None and page.screenshot.stat().st_size > 20_000
    print(f"screenshot: {page.screenshot}")


def test_browser_check_can_fail(tmp_path: Path) -> None:
    """A page that breaks the report's rules (script error, a network load) is caught."""
    _browser()
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'script-src \'unsafe-inline\'"><title>bad</title></head><body><img src="http://127.0.0.1:9/x.png">'
        "<script>throw new Error('boom')</script></body></html>"
    )
    page = load_page(bad, tmp_path)
    assert any("boom" in e for e in page.errors) and any("Content Security Policy" in e for e in page.errors)
