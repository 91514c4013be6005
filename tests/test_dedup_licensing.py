
from fincorpus.licensing import LICENCE_CLASSES, derive_usage, tag_licence
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
    assert all(
        set(c.usage) <= {"research", "train", "commercial", "redistribute"} for c in LICENCE_CLASSES.values()
    )
