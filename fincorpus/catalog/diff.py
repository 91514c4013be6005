"""`fincorpus diff A B`: documents added, removed (with the removal reason) and changed between two tags.

Only small columns of both snapshots are read (ids, sources, status, text hashes, reasons), joined by doc_id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from fincorpus.catalog.store import CorpusCatalog

_COLS = ("doc_id", "source_id", "canonical_url", "status", "text_sha256", "removed_stage", "removed_reason")


@dataclass
class Diff:
    a: str
    b: str
    added: list[dict] = field(default_factory=list)  # kept in B, not kept in A
    removed: list[dict] = field(default_factory=list)  # kept in A, not kept in B (reason from B)
    changed: list[dict] = field(default_factory=list)  # kept in both, different text
    unchanged: int = 0

    def by_source(self) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for kind in ("added", "removed", "changed"):
            for r in getattr(self, kind):
                out.setdefault(r["source_id"], Counter())[kind] += 1
        return {s: dict(c) for s, c in sorted(out.items())}

    def removal_reasons(self) -> dict[str, int]:
        return dict(Counter(r["removed_stage"] or "absent" for r in self.removed).most_common())


def _records(catalog: CorpusCatalog, tag: str) -> pa.Table:
    return catalog.read(tag, "records", columns=_COLS)


def diff(catalog: CorpusCatalog, a: str, b: str) -> Diff:
    ta, tb = _records(catalog, a), _records(catalog, b)
    joined = ta.join(tb, keys="doc_id", join_type="full outer", left_suffix="_a", right_suffix="_b")
    out = Diff(a, b)
    kept_a = pc.fill_null(pc.equal(joined["status_a"], "kept"), False)
    kept_b = pc.fill_null(pc.equal(joined["status_b"], "kept"), False)
    rows = joined.to_pylist()
    for r, ka, kb in zip(rows, kept_a.to_pylist(), kept_b.to_pylist(), strict=True):
        source = r["source_id_b"] or r["source_id_a"]
        url = r["canonical_url_b"] or r["canonical_url_a"]
        base = {"doc_id": r["doc_id"], "source_id": source, "canonical_url": url}
        if kb and not ka:
            out.added.append(base)
        elif ka and not kb:
            out.removed.append(
                {
                    **base,
                    "removed_stage": r["removed_stage_b"],
                    "removed_reason": r["removed_reason_b"] or f"not in {b}",
                }
            )
        elif ka and kb:
            if r["text_sha256_a"] != r["text_sha256_b"]:
                out.changed.append(base)
            else:
                out.unchanged += 1
    for lst in (out.added, out.removed, out.changed):
        lst.sort(key=lambda x: (x["source_id"], x["canonical_url"]))
    return out
