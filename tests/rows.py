"""Building valid document rows for tests (not a fixture file: the values are ours)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fincorpus.schema import doc_id_from_url, empty_quality


def make_row(
    url: str = "http://a.test/1.html", text: str = "上海金融监管局发布通知。", **over: Any
) -> dict[str, Any]:
    import hashlib

    row: dict[str, Any] = {
        "doc_id": doc_id_from_url(url),
        "source_id": "a",
        "url": url,
        "canonical_url": url,
        "title": "通知",
        "text": text,
        "lang": "zh",
        "fetched_at": datetime(2026, 1, 1, tzinfo=UTC),
        "http_status": 200,
        "content_type": "text/html",
        "raw_sha256": "0" * 64,
        "raw_ref": "raw/r/a.warc.gz#0",
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "licence_class": "cn-art5-official",
        "legal_basis": "test",
        "usage": ["research"],
        "quality": {**empty_quality(), "length_chars": len(text), "cjk_share": 0.9},
        "version": 1,
        "steps": [{"step": "fetch", "detail": "test"}],
        "run_id": "run-1",
        "config_sha256": "c" * 64,
    }
    row.update(over)
    return row
