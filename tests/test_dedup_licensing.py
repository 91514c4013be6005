from fincorpus.licensing import LICENCE_CLASSES, USES, LicenceDecision, derive_usage, tag_licence
from tests.rows import make_row


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
