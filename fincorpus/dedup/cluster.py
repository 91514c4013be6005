"""Near-duplicate clusters of a run's documents: who is kept, and how every other member relates to the keeper.

Keeper policy: authority of the licence class (official text first, reprints last), then earliest publication, then
the most complete text, then the shortest URL. Relation of a member to its keeper: ``reprint`` when it comes from
another source, ``version`` when the same source published it at another date, else ``near``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fincorpus.dedup.exact import AUTHORITY
from fincorpus.dedup.index import NearIndex, RedisNearIndex
from fincorpus.dedup.near import NearConfig, NearPair, clusters, near_pairs, prepare

STAGE = "dedup.near"


def near_keeper_key(row: Mapping[str, Any]) -> tuple:
    published = row.get("published_at")
    return (
        AUTHORITY.get(row.get("licence_class") or "unknown", 9),
        published.timestamp() if published is not None else float("inf"),
        -len(row.get("text") or ""),
        len(row["canonical_url"]),
        row["canonical_url"],
    )


def relation(member: Mapping[str, Any], keeper: Mapping[str, Any]) -> str:
    if member["source_id"] != keeper["source_id"]:
        return "reprint"
    if (
        member.get("published_at")
        and keeper.get("published_at")
        and member["published_at"] != keeper["published_at"]
    ):
        return "version"
    return "near"


def mark_near_duplicates(
    rows: list[dict[str, Any]], cfg: NearConfig | None = None, index: NearIndex | RedisNearIndex | None = None
) -> list[dict[str, Any]]:
    """Mark rows in place: near duplicates among the rows still kept leave for the removed table.

    With an ``index``, the survivors are then checked against every published document; a published document keeps
    its place (consumers already have it) and the new one records it as ``duplicate_of``.
    """
    cfg = cfg or (index.cfg if index is not None else NearConfig())
    live = [r for r in rows if r.get("removed_stage") is None and r.get("text")]
    prepared = [prepare(r["text"], cfg) for r in live]
    pairs = near_pairs(prepared, cfg)

    def accept(p: NearPair) -> bool:
        if p.jaccard >= cfg.threshold:
            return True
        # containment only: drop the contained text, never the one containing it, and only if the policy agrees
        small, large = (p.i, p.j) if prepared[p.i].hashes.size <= prepared[p.j].hashes.size else (p.j, p.i)
        return near_keeper_key(live[large]) < near_keeper_key(live[small])

    labels = clusters(len(live), pairs, accept)
    best: dict[tuple[int, int], float] = {
        (p.i, p.j): p.jaccard for p in pairs if not p.template and accept(p)
    }
    templates = {p.i for p in pairs if p.template} | {p.j for p in pairs if p.template}
    groups: dict[int, list[int]] = {}
    for idx, label in enumerate(labels):
        groups.setdefault(label, []).append(idx)
    for members in groups.values():
        if len(members) == 1:
            if members[0] in templates:
                live[members[0]]["steps"].append(
                    {"step": STAGE, "detail": "template near-duplicate kept: facts differ"}
                )
            continue
        keeper_idx = min(members, key=lambda k: near_keeper_key(live[k]))
        keeper = live[keeper_idx]
        keeper["dedup_cluster"] = keeper.get("dedup_cluster") or keeper["doc_id"]
        keeper["steps"].append(
            {"step": STAGE, "detail": f"kept for a near-duplicate cluster of {len(members)}"}
        )
        for k in members:
            if k == keeper_idx:
                continue
            row = live[k]
            sim = best.get((min(k, keeper_idx), max(k, keeper_idx)))
            rel = relation(row, keeper)
            row.update(
                dedup_cluster=keeper["doc_id"],
                duplicate_of=keeper["doc_id"],
                duplicate_relation=rel,
                duplicate_similarity=sim,
                removed_stage=STAGE,
                removed_reason=f"{rel} of {keeper['doc_id']} ({keeper['canonical_url']})"
                + (f", Jaccard {sim:.3f}" if sim is not None else ", same cluster"),
            )
            row["steps"].append({"step": STAGE, "detail": f"{rel} of {keeper['doc_id']}"})
    _named_originals(live, prepared, cfg)
    if index is not None:
        _against_index(live, prepared, index)
    return rows


def _named_originals(live: list[dict[str, Any]], prepared: list, cfg: NearConfig) -> None:
    """A reprint that names its original (来源 link) and shares enough text with it is a reprint of it.

    This catches what shingles alone miss: an original whose page carries much extra text, or a reprint cut short,
    both fall below the Jaccard threshold while the reprint still says where it came from.
    """
    by_url = {r["canonical_url"]: k for k, r in enumerate(live)}
    by_id = {r["doc_id"]: r for r in live}
    for k, row in enumerate(live):
        target = by_url.get(row.get("original_url") or "")
        if row.get("removed_stage") is not None or target is None or target == k:
            continue
        original = live[target]
        seen = {row["doc_id"]}
        while original.get("duplicate_of") in by_id and original["doc_id"] not in seen:
            seen.add(original["doc_id"])
            original = by_id[original["duplicate_of"]]  # the original was itself merged: point at its keeper
        if original.get("removed_stage") is not None or original["doc_id"] == row["doc_id"]:
            continue
        a, b = prepared[k].hashes, prepared[target].hashes
        inter = np.intersect1d(a, b, assume_unique=True).size
        cont = inter / min(a.size, b.size) if min(a.size, b.size) else 0.0
        # No template veto here: documents built on one template do not cite each other as their source.
        if cont < cfg.named_original_containment:
            continue
        row.update(
            dedup_cluster=original["doc_id"],
            duplicate_of=original["doc_id"],
            duplicate_relation="reprint",
            duplicate_similarity=round(inter / (a.size + b.size - inter), 4),
            removed_stage=STAGE,
            removed_reason=f"reprint naming its original {row['original_url']} (来源 link), containment {cont:.3f}",
        )
        row["steps"].append({"step": STAGE, "detail": f"reprint of {original['doc_id']} (named original)"})


def _against_index(live: list[dict[str, Any]], prepared: list, index: NearIndex | RedisNearIndex) -> None:
    todo = [k for k, r in enumerate(live) if r.get("removed_stage") is None]
    if not todo:
        return
    sigs = np.stack([prepared[k].sig for k in todo])
    results = index.query(sigs, [prepared[k].facts for k in todo])
    for k, matches in zip(todo, results, strict=True):
        row = live[k]
        match = next((m for m in matches if m.doc_id != row["doc_id"] and not m.facts_conflict), None)
        if match is None:
            continue
        rel = "reprint" if match.source_id != row["source_id"] else "near"
        row.update(
            dedup_cluster=match.doc_id,
            duplicate_of=match.doc_id,
            duplicate_relation=rel,
            duplicate_similarity=match.estimate,
            removed_stage=STAGE,
            removed_reason=f"{rel} of {match.doc_id} published in snapshot {match.tag!r} (estimated Jaccard {match.estimate:.3f})",
        )
        row["steps"].append({"step": STAGE, "detail": f"{rel} of {match.doc_id} in snapshot {match.tag}"})
