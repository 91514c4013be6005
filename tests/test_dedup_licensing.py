from datetime import UTC, datetime

from fincorpus.dedup.exact import mark_exact_duplicates
from fincorpus.licensing import LICENCE_CLASSES, USES, LicenceDecision, derive_usage, tag_licence
from tests.rows import make_row


def test_keeper_is_the_most_authoritative_then_earliest() -> None:
    reprint = make_row("http://reprint.test/a.html", licence_class="media-third-party-reprint")
    official = make_row("http://regulator.test/zcfg/long/path/a.html", licence_class="cn-art5-official")
    late = make_row(
        "http://regulator.test/b.html", text="另一篇", published_at=datetime(2024, 1, 2, tzinfo=UTC)
    )
    early = make_row(
        "http://regulator.test/c.html", text="另一篇", published_at=datetime(2020, 1, 2, tzinfo=UTC)
    )
    unique = make_row("http://regulator.test/d.html", text="独一无二")
    rows = mark_exact_duplicates([reprint, official, late, early, unique], {})
    assert reprint["duplicate_of"] == official["doc_id"] and reprint["removed_stage"] == "dedup.exact"
    assert reprint["duplicate_relation"] == "exact" and reprint["dedup_cluster"] == official["doc_id"]
    assert official.get("removed_stage") is None and official["dedup_cluster"] == official["doc_id"]
    assert late["duplicate_of"] == early["doc_id"]
    assert unique.get("dedup_cluster") is None and unique.get("duplicate_of") is None
    assert len(rows) == 5


def test_catalog_copy_keeps_its_place_and_refetch_is_not_a_duplicate() -> None:
    published = make_row("http://reprint.test/old.html")
    new_copy = make_row("http://regulator.test/new.html")
    refetch = make_row("http://reprint.test/old.html")
    mark_exact_duplicates([new_copy], {published["text_sha256"]: published["doc_id"]})
    assert new_copy["duplicate_of"] == published["doc_id"] and "in the catalog" in new_copy["removed_reason"]
    mark_exact_duplicates([refetch], {published["text_sha256"]: published["doc_id"]})
    assert refetch.get("duplicate_of") is None and refetch.get("removed_stage") is None


def test_dropped_rows_are_not_keepers() -> None:
    dropped = make_row("http://a.test/0.html", removed_stage="quality.basic", removed_reason="short")
    kept = make_row("http://a.test/1.html")
    mark_exact_duplicates([dropped, kept], {})
    assert kept.get("duplicate_of") is None and dropped.get("duplicate_of") is None


def test_usage_follows_licence_and_optouts() -> None:
    assert derive_usage("cn-art5-official") == ["research", "train", "commercial", "redistribute"]
    assert derive_usage("cn-art5-official", tdm_reserved=True) == ["research", "redistribute"]
    assert derive_usage("media-unknown", noai=True) == ["research"]
    assert derive_usage("unknown") == []
    assert derive_usage("exchange-asserted", ai_reserved=True) == ["research"]
    row = tag_licence(
        make_row(licence_class="exchange-asserted", noai=True, optout_reason="meta robots noai"),
        "exchange terms",
    )
    assert row["usage"] == ["research"] and row["legal_basis"] == "exchange terms"
    assert row["steps"][-1]["detail"].endswith("(training excluded: meta robots noai)")
    assert all(set(c.usage) <= set(USES) for c in LICENCE_CLASSES.values())


def test_tag_licence_uses_the_stored_decision() -> None:
    """A row decided from evidence keeps its decision's usage (restrictions included), not its bare class's."""
    decision = LicenceDecision(
        "exchange-asserted",
        ("research",),
        "prior+notice.no-reprint",
        "禁止转载",
        None,
        "exchange-asserted",
        "exchange terms",
        "test",
    )
    row = tag_licence(make_row(**decision.row_fields()))
    assert row["usage"] == ["research"] and "prior+notice.no-reprint" in row["steps"][-1]["detail"]
