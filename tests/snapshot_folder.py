"""Small pulled-snapshot folders for the provenance tests (rows are ours; no third-party text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from fincorpus.licensing import derive_usage
from fincorpus.schema import documents_table, struct_value
from tests.rows import make_row

SOURCES = (
    ("regulator", "cn-art5-official", "http://regulator.test/zcfg/{i}.html"),
    ("exchange", "exchange-asserted", "http://exchange.test/disclosure/{i}.html"),
    ("finnews", "media-unknown", "http://finnews.test/finance/a/{i}.html"),
)


def snapshot_rows(n: int = 30) -> list[dict[str, Any]]:
    """Rows over three sources with opt-outs, PII findings, scores, duplicate clusters and several runs."""
    rows = []
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for i in range(n):
        source, licence, url = SOURCES[i % len(SOURCES)]
        text = f"第{i}号通知：上海金融监管局发布关于加强风险管理的通知，要求各机构落实资本充足率要求。" * (
            1 + i % 4
        )
        flags = {"tdm_reserved": i % 7 == 3, "noai": i % 11 == 5, "ai_reserved": False}
        row = make_row(
            url.format(i=i),
            text,
            source_id=source,
            licence_class=licence,
            legal_basis=f"test basis for {source}",
            usage=derive_usage(licence, **flags),
            **flags,
            optout_reason="TDMRep reservation"
            if flags["tdm_reserved"]
            else ("noai" if flags["noai"] else None),
            fetched_at=base + timedelta(hours=i),
            published_at=base - timedelta(days=i),
            finance_score=round((i % 10) / 10 + 0.05, 2),
            quality=struct_value(
                "quality", length_chars=len(text), cjk_share=0.8 + (i % 5) / 50, punct_end_share=0.5
            ),
            pii=struct_value(
                "pii",
                mobile=1 if i % 6 == 0 else 0,
                id_card=1 if i % 9 == 0 else 0,
                max_class="C3" if i % 9 == 0 else ("C2" if i % 6 == 0 else None),
            ),
            access=struct_value(
                "access",
                robots_sha256="-" if i % 13 == 0 else "a" * 64,
                robots_group="*",
                ai_disallowed=["GPTBot"] if i % 5 == 0 else [],
            ),
            dedup_cluster=f"cluster-{i % 4}" if i % 3 == 0 else None,
            extractor="trafilatura",
            extractor_version="2.3.1",
            run_id=f"20260301T0{i % 2}0000Z-run{i % 2}",
            config_sha256=("c" if i % 2 else "d") * 64,
            raw_sha256=f"{i:064x}",
            raw_ref=f"raw/r/{source}.warc.gz#{i * 100}",
            steps=[
                {"step": "fetch", "detail": "HTTP 200 via link"},
                {"step": "decode", "detail": "utf-8 from meta"},
                {"step": "extract", "detail": "trafilatura 2.3.1 (trafilatura)"},
                {"step": "normalize:nfc+halfwidth+whitespace", "detail": None},
                {"step": "quality", "detail": "keep"},
                {"step": "dedup:exact", "detail": "unique"},
                {"step": "licence", "detail": f"{licence} -> usage"},
            ],
        )
        rows.append(row)
    return rows


def write_snapshot(folder: Path, rows: list[dict[str, Any]] | None = None, files: int = 1) -> Path:
    """A folder shaped like `fincorpus pull` output: data/*.parquet and README.md (no manifest yet)."""
    rows = snapshot_rows() if rows is None else rows
    (folder / "data").mkdir(parents=True, exist_ok=True)
    table = documents_table(rows)
    per = -(-table.num_rows // files)
    for i in range(files):
        part = table.slice(i * per, per)
        pq.write_table(part, folder / "data" / f"train-{i:05d}-of-{files:05d}.parquet", compression="zstd")
    (folder / "README.md").write_text("# test snapshot\n", encoding="utf-8")
    return folder


def removed_rows() -> list[dict[str, Any]]:
    """Removed records: quality drops and duplicates of kept documents (clusters of snapshot_rows)."""
    out = []
    for i in range(6):
        dup = i % 2 == 0
        out.append(
            make_row(
                f"http://finnews.test/finance/a/dup{i}.html",
                f"重复稿件{i}",
                source_id="finnews",
                licence_class="media-unknown",
                removed_stage="dedup.near" if dup else "quality",
                removed_reason=(
                    f"reprint of {i:032x} (http://finnews.test/finance/a/{i}.html), Jaccard 0.9{i}"
                    if dup
                    else f"length_chars={10 + i} < min_chars=50 (news)"
                ),
                duplicate_relation="reprint" if dup else None,
                dedup_cluster="cluster-0" if dup else None,
            )
        )
    return out
