"""Exact duplicates: documents whose normalised text hashes alike, within a run and against the catalog.

One document per hash is kept; the others record ``duplicate_of`` (the keeper) and leave the corpus for the
removed table. The keeper is chosen by a fixed, explainable order so that reruns agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STAGE = "dedup.exact"

# Authority of a licence class when choosing which copy to keep (lower wins).
AUTHORITY = {
    "cn-art5-official": 0,
    "exchange-asserted": 1,
    "open-licence": 2,
    "media-unknown": 3,
    "media-third-party-reprint": 4,
    "unknown": 5,
}


def keeper_key(row: Mapping[str, Any]) -> tuple:
    """Authority, then earliest publication, then the shortest and lexically first URL."""
    published = row.get("published_at")
    return (
        AUTHORITY.get(row.get("licence_class") or "unknown", 9),
        published.timestamp() if published is not None else float("inf"),
        len(row["canonical_url"]),
        row["canonical_url"],
    )


def mark_exact_duplicates(rows: list[dict[str, Any]], published: Mapping[str, str]) -> list[dict[str, Any]]:
    """Mark rows in place. ``published`` maps text_sha256 to the doc_id already in the catalog for it.

    A published document keeps its place (a later copy never displaces what consumers already have), unless
    the row is that same document re-fetched.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("removed_stage") is None and row.get("text_sha256"):
            groups.setdefault(row["text_sha256"], []).append(row)
    for digest, members in groups.items():
        prior = published.get(digest)
        keeper_id = prior if prior is not None else min(members, key=keeper_key)["doc_id"]
        if len(members) == 1 and keeper_id == members[0]["doc_id"]:
            continue
        for m in members:
            m["dedup_cluster"] = keeper_id
            if m["doc_id"] == keeper_id:
                m["steps"].append({"step": STAGE, "detail": f"kept for a cluster of {len(members)}"})
                continue
            m["duplicate_of"] = keeper_id
            m["duplicate_relation"] = "exact"
            m["duplicate_similarity"] = 1.0
            m["removed_stage"] = STAGE
            where = "in the catalog" if keeper_id == prior else "in this run"
            m["removed_reason"] = f"exact duplicate (text_sha256 {digest[:12]}) of {keeper_id} {where}"
            m["steps"].append({"step": STAGE, "detail": f"duplicate of {keeper_id}"})
    return rows
