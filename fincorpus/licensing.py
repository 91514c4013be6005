"""Licence classes and the uses each one allows.

A document's ``usage`` is derived, never typed in by hand: the source declares a licence class, opt-out
signals (TDMRep, noai) remove training use, and model teams filter snapshots on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

USES = ("research", "train", "commercial", "redistribute")


@dataclass(frozen=True)
class LicenceClass:
    name: str
    usage: tuple[str, ...]
    meaning: str


LICENCE_CLASSES: dict[str, LicenceClass] = {
    c.name: c
    for c in (
        LicenceClass(
            "cn-art5-official",
            ("research", "train", "commercial", "redistribute"),
            "laws, regulations, official documents of state organs: not protected (PRC Copyright Law Art. 5)",
        ),
        LicenceClass(
            "exchange-asserted",
            ("research", "train"),
            "disclosures republished by an exchange that asserts rights over its compilation; no redistribution",
        ),
        LicenceClass(
            "media-unknown",
            ("research",),
            "news whose licence is not stated; research use only until a licence is cleared",
        ),
        LicenceClass(
            "media-third-party-reprint",
            ("research",),
            "a portal's reprint of another publisher's text; rights stay with the original publisher",
        ),
        LicenceClass(
            "open-licence",
            ("research", "train", "commercial", "redistribute"),
            "text under an explicit open licence (e.g. CC BY) named in the source's legal_basis",
        ),
        LicenceClass("unknown", (), "no licence information: kept for audit, cleared for no use"),
    )
}


def derive_usage(
    licence_class: str, *, tdm_reserved: bool = False, noai: bool = False, ai_reserved: bool = False
) -> list[str]:
    """Uses allowed for one document; an opt-out removes training (and commercial) use."""
    usage = list(LICENCE_CLASSES[licence_class].usage)
    if tdm_reserved or noai or ai_reserved:
        usage = [u for u in usage if u not in ("train", "commercial")]
    return usage


def tag_licence(row: dict, legal_basis: str) -> dict:
    """Set usage from the row's licence class and opt-outs; record the step."""
    row["legal_basis"] = legal_basis
    row["usage"] = derive_usage(
        row["licence_class"],
        tdm_reserved=bool(row.get("tdm_reserved")),
        noai=bool(row.get("noai")),
        ai_reserved=bool(row.get("ai_reserved")),
    )
    detail = f"{row['licence_class']} -> usage {','.join(row['usage']) or 'none'}"
    if row.get("optout_reason"):
        detail += f" (training excluded: {row['optout_reason']})"
    row["steps"].append({"step": "licence", "detail": detail})
    return row
