"""What a pull applies on top of its filters: takedowns, the TC260 source gate, the cross-border negative list.

``export.pull`` wraps its stream of kept documents with :meth:`PullCompliance.stream`, batch by batch:

1. **Takedowns.** Documents a takedown covers are left out, of the newest and of every older tag (their
   snapshots were committed before the request). ``include_taken_down`` (``--include-taken-down``, for the
   legal team) keeps them and is logged in ``takedown-access.jsonl``.
2. **Source gate.** A source whose latest TC260 gate report blocks it has ``usage`` derived again with the gate's
   reason as an opt-out (``derive_usage(..., OptOuts(training_blocked=...))``: ``train`` goes); the reason
   (rate and interval) goes into ``optout_reason`` and a ``gate`` step, so the card's opt-out count and the
   report show it. With ``--usage train`` those documents are left out.
3. **Cross-border.** With ``destination="cross-border"`` documents with a category the negative list excludes
   stay home (:func:`fincorpus.compliance.cross_border_mask`).

Every pull also computes the per-snapshot cross-border flag over what it wrote. :meth:`PullCompliance.write`
puts it all in ``compliance.json`` in the pulled folder, which the signed manifest lists; :meth:`filters` adds
the headline facts to the filters the manifest, the card and the data product record.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fincorpus.catalog.erasure import Denylist, denylist, log_included
from fincorpus.compliance import NegativeList, classify_row, cross_border_mask, load_negative_list
from fincorpus.licensing import LicenceDecision, derive_usage, optouts_of_row

COMPLIANCE_FILE = "compliance.json"
DESTINATIONS = ("domestic", "cross-border")


@dataclass
class PullCompliance:
    holds: Denylist
    include_taken_down: bool
    training_blocked: dict[str, str]  # source id -> the gate's reason
    destination: str
    negative_list: NegativeList
    usage: str | None = None
    taken_down: int = 0
    taken_down_requests: Counter[str] = field(default_factory=Counter)
    gate_blocked: Counter[str] = field(default_factory=Counter)
    cross_excluded: Counter[str] = field(default_factory=Counter)
    cross_excluded_ids: list[str] = field(default_factory=list)
    considered: int = 0
    cross_considered: int = 0
    present: Counter[str] = field(default_factory=Counter)  # negative-list categories in what was written

    @classmethod
    def for_pull(
        cls,
        home: Path,
        *,
        usage: str | None = None,
        include_taken_down: bool = False,
        destination: str | None = None,
        negative_list: Path | None = None,
    ) -> PullCompliance:
        """Checks the options before anything is written (an unknown destination or a bad list is one line)."""
        from fincorpus.pipelines.gate import training_blocks

        dest = destination or "domestic"
        if dest not in DESTINATIONS:
            raise ValueError(f"--destination {dest!r}: use one of {', '.join(DESTINATIONS)}")
        if negative_list is not None and dest != "cross-border":
            raise ValueError("--negative-list applies to --destination cross-border only")
        try:
            nl = load_negative_list(negative_list)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--negative-list {negative_list}: not a negative list ({exc})") from None
        return cls(denylist(home), include_taken_down, training_blocks(home), dest, nl, usage)

    # -- the stream -------------------------------------------------------------------------------------------------
    def stream(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.considered += batch.num_rows
            b = self._takedowns(batch)
            b = self._gate(b)
            if self.destination == "cross-border" and b.num_rows:
                self.cross_considered += b.num_rows
                t, report = cross_border_mask(pa.Table.from_batches([b]), self.negative_list)
                self.cross_excluded.update(report.excluded_by_category)
                self.cross_excluded_ids += report.excluded_doc_ids
                b = t.combine_chunks().to_batches()[0] if t.num_rows else b.slice(0, 0)
            self._tally(b)
            if b.num_rows:
                yield b

    def _takedowns(self, b: pa.RecordBatch) -> pa.RecordBatch:
        if not self.holds or self.include_taken_down or b.num_rows == 0:
            if self.holds and self.include_taken_down:
                self.taken_down += sum(1 for h in self._holds_of(b) if h is not None)
            return b
        holds = self._holds_of(b)
        keep = [h is None for h in holds]
        for h in holds:
            if h is not None:
                self.taken_down += 1
                self.taken_down_requests[h.request_id] += 1
        return b.filter(pa.array(keep, pa.bool_())) if not all(keep) else b

    def _holds_of(self, b: pa.RecordBatch) -> list[Any]:
        ids = b.column(b.schema.get_field_index("doc_id")).to_pylist()
        srcs = b.column(b.schema.get_field_index("source_id")).to_pylist()
        return [self.holds.hold_for(d, s) for d, s in zip(ids, srcs, strict=True)]

    def _gate(self, b: pa.RecordBatch) -> pa.RecordBatch:
        if not self.training_blocked or b.num_rows == 0:
            return b
        srcs = b.column(b.schema.get_field_index("source_id")).to_pylist()
        if not any(s in self.training_blocked for s in srcs):
            return b
        cols = {
            n: b.column(i).to_pylist()
            for i, n in enumerate(b.schema.names)
            if n in ("usage", "optout_reason", "steps")
        }
        rows = b.to_pylist()
        for i, s in enumerate(srcs):
            reason = self.training_blocked.get(s)
            if reason is None:
                continue
            if "train" in (cols["usage"][i] or []):
                self.gate_blocked[s] += 1
            # the licence rule itself, with the gate's reason as an opt-out (fincorpus.licensing.derive_usage)
            cols["usage"][i] = derive_usage(
                LicenceDecision.from_row(rows[i]), optouts_of_row(rows[i], training_blocked=reason)
            )
            old = cols["optout_reason"][i]
            cols["optout_reason"][i] = reason if not old else f"{old}; {reason}"
            cols["steps"][i] = [*(cols["steps"][i] or []), {"step": "gate", "detail": reason}]
        for name, values in cols.items():
            idx = b.schema.get_field_index(name)
            b = b.set_column(idx, b.schema.field(idx), pa.array(values, b.schema.field(idx).type))
        if self.usage == "train":  # the usage filter ran on the stored usage
            mask = pa.array([s not in self.training_blocked for s in srcs], pa.bool_())
            b = b.filter(mask)
        return b

    def _tally(self, b: pa.RecordBatch) -> None:
        if b.num_rows == 0:
            return
        cats = b.column(b.schema.get_field_index("data_categories"))
        if cats.null_count == 0:
            flat = pc.list_flatten(cats).to_pylist()
            self.present.update(c for c in flat if c in self.negative_list.categories)
            return
        for row in b.to_pylist():  # rows stored before classification existed
            found = (
                row["data_categories"] if row["data_categories"] is not None else classify_row(row).categories
            )
            self.present.update(c for c in found if c in self.negative_list.categories)

    # -- what the folder records ------------------------------------------------------------------------------------
    @property
    def listed(self) -> dict[str, int]:
        return {c: n for c, n in self.present.items() if c in self.negative_list.excluded}

    def filters(self) -> dict[str, Any]:
        """Flat facts for the manifest's filters (signed), the card and the data product."""
        out: dict[str, Any] = {
            "destination": self.destination,
            "cross_border_ok": not self.listed,
            "taken_down_excluded": 0 if self.include_taken_down else self.taken_down,
        }
        if self.destination == "cross-border":
            out["negative_list"] = f"{self.negative_list.name} [{self.negative_list.version}]"
            out["cross_border_excluded"] = len(self.cross_excluded_ids)
        if self.include_taken_down:
            out["include_taken_down"] = True
        if self.training_blocked:
            out["training_blocked_sources"] = sorted(self.training_blocked)
        return out

    def to_json(self) -> dict[str, Any]:
        nl = self.negative_list
        return {
            "destination": self.destination,
            "cross_border": {
                "cross_border_ok": not self.listed,
                "negative_list": f"{nl.name} [{nl.version}]",
                "listed_categories": self.listed,
                "other_list_categories": {c: n for c, n in self.present.items() if c not in nl.excluded},
                "excluded": len(self.cross_excluded_ids),
                "excluded_by_category": dict(self.cross_excluded),
                "excluded_doc_ids": self.cross_excluded_ids,
            },
            "takedowns": {
                "excluded": 0 if self.include_taken_down else self.taken_down,
                "included_by_request": self.include_taken_down,
                "covered_documents_in_snapshot": self.taken_down,
                "by_request": dict(self.taken_down_requests),
            },
            "source_gate": {
                "training_blocked": dict(self.training_blocked),
                "documents_losing_train": dict(self.gate_blocked),
            },
        }

    def write(self, folder: Path) -> Path:
        path = folder / COMPLIANCE_FILE
        path.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    def after_pull(self, home: Path, tag: str, out: Path | str) -> None:
        if self.include_taken_down and self.holds:
            log_included(home, tag, out, self.taken_down)

    def summary(self) -> list[str]:
        lines = []
        if self.taken_down and not self.include_taken_down:
            lines.append(f"takedowns: left out {self.taken_down} document(s) covered by a takedown")
        if self.include_taken_down:
            lines.append(
                f"takedowns: INCLUDED {self.taken_down} covered document(s) (--include-taken-down, logged)"
            )
        for s, n in sorted(self.gate_blocked.items()):
            lines.append(f"source gate: {s}: train removed from {n} document(s): {self.training_blocked[s]}")
        if self.destination == "cross-border":
            n = len(self.cross_excluded_ids)
            cats = ", ".join(f"{c} {k}" for c, k in self.cross_excluded.most_common()) or "none"
            lines.append(f"cross-border: excluded {n} of {self.cross_considered} document(s) ({cats})")
        lines.append(
            "cross-border flag: "
            + ("may go abroad whole" if not self.listed else f"holds listed categories {self.listed}")
        )
        return lines
