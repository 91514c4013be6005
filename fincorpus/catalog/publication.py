"""The one call that turns a folder of snapshot Parquet files into a publication: cards, report, Croissant,
PROV, then the signed manifest over all of them.

``pull`` calls :func:`finish_snapshot_folder` on its ``.partial`` folder after the data files are written and
before the rename; everything the call writes is listed (and hashed) in the manifest, so ``fincorpus verify``
covers the cards and the report too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fincorpus.catalog.cards import CardFiles, CardInputs, write_cards
from fincorpus.catalog.croissant import write_croissant
from fincorpus.catalog.manifest import SignedManifest, describe_file, write_signed_manifest
from fincorpus.catalog.prov import snapshot_prov, write_prov
from fincorpus.catalog.report import write_report
from fincorpus.catalog.stats import Batches, SnapshotStats, collect, data_files
from fincorpus.signing import Signer, fingerprint


@dataclass(frozen=True)
class Publication:
    folder: Path
    manifest: SignedManifest
    report: Path
    cards: CardFiles
    croissant: Path
    prov_json: Path
    prov_ttl: Path
    missing_inputs: tuple[str, ...]

    def summary(self) -> list[str]:
        """Lines for the end of `make demo` / `fincorpus pull`: where each file is."""
        lines = [
            f"signed manifest: {self.manifest.manifest_path} (SM2 signature {self.manifest.signature_path.name}, "
            f"key {self.manifest.fingerprint})",
            f"report:          {self.report}",
            f"dataset card:    {self.cards.card}",
            f"语料来源清单:     {self.cards.sources_md} (+ {self.cards.sources_json.name})",
            f"数据产品说明书:   {self.cards.product_md} (+ {self.cards.product_json.name})",
            f"croissant:       {self.croissant}",
            f"W3C PROV:        {self.prov_json} (+ {self.prov_ttl.name})",
        ]
        if self.missing_inputs:
            lines.append("not given, so left out of the report and cards: " + ", ".join(self.missing_inputs))
        return lines


def finish_snapshot_folder(
    folder: Path,
    *,
    tag: str,
    snapshot_id: int | str,
    filters: Mapping[str, Any],
    signer: Signer,
    removed: Batches | None = None,
    previous: tuple[str, Batches] | None = None,
    sources: Any | None = None,
    publisher: str | None = None,
    published_at: datetime | None = None,
    stats: SnapshotStats | None = None,
) -> Publication:
    """Write README.md, the Chinese cards, report.html, croissant.json, prov.json/.ttl, then sign the manifest.

    ``folder`` holds ``data/*.parquet``. Optional inputs (say so in the outputs when absent): ``removed``, the
    tag's removed records (columns removed_stage, removed_reason, source_id, duplicate_relation,
    dedup_cluster); ``previous``, (tag, doc_id + text_sha256 of the previous tag); ``sources``, the
    ``SourcesFile`` the snapshot was crawled with; ``publisher``, who offers the data (数据提供方) and operates
    the crawler; ``published_at``, the catalog commit time of the snapshot. ``stats``: the statistics of ``data/`` when the writer gathered them
    as it wrote (a :class:`~fincorpus.catalog.stats.Collector` finished with the same ``removed`` and
    ``previous``); otherwise they are collected here by reading the folder back.
    """
    if stats is None:
        stats = collect(folder, removed=removed, previous=previous)
    missing = tuple(
        name
        for name, value in (
            ("removed records", removed),
            ("previous tag", previous),
            ("sources file", sources),
            ("publisher", publisher),
        )
        if value is None
    )
    cards = write_cards(
        folder,
        CardInputs(tag, snapshot_id, stats, filters, sources, publisher, fingerprint(signer.public_key)),
    )
    entries = [describe_file(folder, p.relative_to(folder).as_posix()) for p in data_files(folder)]
    croissant = write_croissant(
        folder,
        tag=tag,
        snapshot_id=snapshot_id,
        stats=stats,
        filters=filters,
        publisher=publisher,
        data_entries=entries,
    )
    doc = snapshot_prov(
        tag=tag,
        snapshot_id=snapshot_id,
        stats=stats,
        files=[e.as_json() for e in entries],
        published_at=published_at,
        pulled_at=datetime.now(UTC),
        operator=publisher,
    )
    prov_json, prov_ttl = write_prov(folder, doc)
    report = write_report(folder, tag=tag, snapshot_id=snapshot_id, stats=stats)
    manifest = write_signed_manifest(folder, tag=tag, snapshot_id=snapshot_id, filters=filters, signer=signer)
    return Publication(folder, manifest, report, cards, croissant, prov_json, prov_ttl, missing)
