from pathlib import Path

import pytest

from fincorpus.sources.registry import SourcesError, load_sources

GOOD = """
crawler:
  user_agent: "fincorpus/0.1 (+https://example.org/fincorpus)"
  proxy: http://127.0.0.1:8899
sources:
  - id: regulator
    name: 金融监管示例站
    kind: web
    seeds: ["http://regulator.test/"]
    sitemaps: []
    feeds: []
    allow: ["^http://regulator\\\\.test/"]
    deny: ["/search/"]
    max_pages: 2000
    licence: cn-art5-official
    legal_basis: "PRC Copyright Law Art. 5: official documents"
    schedule: "0 2 * * *"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_the_documented_example_loads(tmp_path: Path) -> None:
    sf = load_sources(write(tmp_path, GOOD))
    src = sf.get("regulator")
    assert sf.crawler.proxy == "http://127.0.0.1:8899"
    assert sf.crawler.robots_token == "fincorpus"
    assert src.allowed_url("http://regulator.test/a.html")
    assert not src.allowed_url("http://regulator.test/search/x")  # deny wins over allow
    assert not src.allowed_url("http://other.test/")
    assert len(sf.config_sha256(src)) == 64


def test_demo_sources_file_is_valid() -> None:
    sf = load_sources(Path(__file__).resolve().parent.parent / "fincorpus" / "demo" / "sources.yaml")
    assert {"regulator", "finnews", "reprint", "exchange", "blocked", "lifestyle"} <= set(sf.ids())


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("licence: cn-art5-official", "licence: public-domain"),
            "source 'regulator', field 'licence': unknown licence class 'public-domain'",
        ),
        (("id: regulator", "id: Regulator!"), "field 'id'"),
        (("kind: web", "kind: ftp"), "source 'regulator', field 'kind'"),
        (('seeds: ["http://regulator.test/"]', "seeds: [regulator.test]"), "is not an absolute http(s) URL"),
        (('deny: ["/search/"]', 'deny: ["(unclosed"]'), "invalid regular expression"),
        (('schedule: "0 2 * * *"', 'schedule: "daily"'), "not a 5-field cron expression"),
        (("max_pages: 2000", "max_pages: -1"), "field 'max_pages'"),
        (("    legal_basis:", "    legal_basiss:"), "field 'legal_basiss'"),
        (("    schedule:", "    doc_type: blog\n    schedule:"), "source 'regulator', field 'doc_type'"),
        (("    schedule:", "    min_finance_score: 1.5\n    schedule:"), "field 'min_finance_score'"),
        (
            ("sources:", "quality:\n  doc_types: {news: {max_nav_share: 0.5}}\nsources:"),
            "news: unknown limit(s) ['max_nav_share']",
        ),
        (
            ("sources:", "quality:\n  doc_types: {blog: {min_chars: 5}}\nsources:"),
            "unknown document type 'blog'",
        ),
        (
            ("    schedule:", "    content_selectors: [\"//div[@id='x'\"]\n    schedule:"),
            "field 'content_selectors': content selector",
        ),
    ],
)
def test_errors_name_file_source_and_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(SourcesError) as exc:
        load_sources(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert expected in msg
    assert "\n" not in msg


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    body = GOOD.split("sources:\n")[1]
    with pytest.raises(SourcesError, match="declared twice"):
        load_sources(write(tmp_path, GOOD + body))


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="no such file"):
        load_sources(tmp_path / "nope.yaml")
    with pytest.raises(SourcesError, match=r"line 1, column 19: YAML syntax error"):
        load_sources(write(tmp_path, "sources: [unclosed"))
    with pytest.raises(SourcesError, match="'sources:' list"):
        load_sources(write(tmp_path, "just: a mapping"))


def test_disabled_source_needs_a_reason(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="disabled_reason"):
        load_sources(write(tmp_path, GOOD.replace("    kind: web", "    kind: web\n    enabled: false")))


def test_licence_overrides_pick_the_first_match(tmp_path: Path) -> None:
    text = (
        GOOD
        + """    licence_overrides:
      - match: "/xxpl/"
        licence: unknown
        legal_basis: attachments
"""
    )
    src = load_sources(write(tmp_path, text)).get("regulator")
    assert src.licence_for("http://regulator.test/xxpl/a.pdf") == ("unknown", "attachments")
    assert src.licence_for("http://regulator.test/zcfg/a.html")[0] == "cn-art5-official"


def test_real_sources_file_is_valid_and_uses_tested_connectors() -> None:
    sf = load_sources(Path(__file__).resolve().parent.parent / "sources" / "real.yaml")
    ids = set(sf.ids())
    assert {"pbc", "nfra", "csrc", "sse-bulletin", "cninfo", "sh-gov-policy", "sh-jrj"} <= ids
    for s in sf.sources:
        assert s.kind == "web" and s.licence and s.legal_basis
        if not s.enabled:
            assert s.disabled_reason and len(s.disabled_reason) > 40
    assert sf.get("sse-bulletin").headers["Referer"] == "http://www.sse.com.cn/"
    assert sf.get("nfra").json_document is not None
    assert sf.crawler.delay_seconds >= 2


def test_cleaning_settings_per_source_and_type(tmp_path: Path) -> None:
    text = GOOD.replace(
        "sources:",
        "quality:\n  min_chars: 80\n  doc_types: {report: {min_chars: 20, min_punct_end_share: 0.3}}\nsources:",
    ).replace(
        "    schedule:",
        '    doc_type: official\n    doc_types:\n      - {match: "/xxpl/", doc_type: report}\n'
        "    content_selectors: [\"//div[@id='content']\"]\n    pii: flag\n    schedule:",
    )
    sf = load_sources(write(tmp_path, text))
    src = sf.get("regulator")
    assert src.doc_type_for("http://regulator.test/zcfg/1.html") == "official"
    assert src.doc_type_for("http://regulator.test/xxpl/1.pdf", "application/pdf") == "report"
    assert src.pii == "flag" and src.content_selectors == ["//div[@id='content']"]
    assert sf.quality.thresholds("official").min_chars == 80  # the common limit applies to every type ...
    report = sf.quality.thresholds("report")
    assert report.min_chars == 20 and report.min_punct_end_share == 0.3  # ... unless a type sets its own


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('deny: ["/search/"]', 'deny: ["/search/"\n    max_pages: 10'))
    with pytest.raises(SourcesError) as exc:
        load_sources(path)
    msg = str(exc.value)
    assert "line 14, column 5: YAML syntax error" in msg and "flow sequence at line 13, column 11" in msg
    assert "not valid UTF-8" not in msg and "\n" not in msg
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(GOOD.replace("金融监管示例站", "caf\xe9").encode("latin-1"))
    with pytest.raises(SourcesError, match=r"line 7: not valid UTF-8 \(byte 0xe9"):
        load_sources(bad)


def test_unknown_key_suggests_the_nearest_and_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    allow:", "    alow:").replace("  proxy:", "  proxi:"))
    with pytest.raises(SourcesError) as exc:
        load_sources(path)
    msg = str(exc.value)
    assert "line 12, source 'regulator', field 'alow': unknown key; did you mean 'allow'?" in msg
    assert "line 4, field 'crawler.proxi': unknown key; did you mean 'proxy'?" in msg


def test_unanchored_allow_patterns_are_warned_about(tmp_path: Path) -> None:
    sf = load_sources(
        write(
            tmp_path, GOOD.replace('allow: ["^http://regulator\\\\.test/"]', 'allow: ["regulator\\\\.test"]')
        )
    )
    src = sf.get("regulator")
    assert src.allowed_url("http://evil.example/?next=regulator.test")  # why it matters
    assert [w for w in sf.warnings() if "'regulator\\\\.test' is not anchored" in w]
    assert load_sources(write(tmp_path, GOOD)).warnings() == []
