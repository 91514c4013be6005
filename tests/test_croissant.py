"""Croissant 1.1 with RAI fields, validated by mlcroissant and read back through it (offline)."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from fincorpus.catalog.croissant import CONFORMS_TO, RAI_CONFORMS_TO, write_croissant
from fincorpus.catalog.stats import collect
from tests.snapshot_folder import snapshot_rows, write_snapshot

mlc = pytest.importorskip("mlcroissant")


def _write(folder: Path) -> Path:
    return write_croissant(
        folder, tag="v1", snapshot_id=42, stats=collect(folder), filters={}, publisher="测试运营方"
    )


def test_mlcroissant_validates_and_reads_every_record(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s", files=2)
    path = _write(folder)
    ds = mlc.Dataset(jsonld=str(path))  # raises ValidationError on any error
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings
    records = list(ds.records("documents"))
    assert sorted(r["documents/doc_id"].decode() for r in records) == sorted(
        r["doc_id"] for r in snapshot_rows()
    )
    first = next(islice(records, 1))
    assert "上海" in first["documents/text"].decode()


def test_rai_fields_and_file_hashes(tmp_path: Path) -> None:
    folder = write_snapshot(tmp_path / "s")
    doc = json.loads(_write(folder).read_text(encoding="utf-8"))
    assert doc["conformsTo"] == [CONFORMS_TO, RAI_CONFORMS_TO]
    for key in (
        "rai:dataCollection",
        "rai:personalSensitiveInformation",
        "rai:dataBiases",
        "rai:dataLimitations",
    ):
        assert doc[key], key
    assert any("cn-art5-official" in lic for lic in doc["license"])
    import hashlib

    obj = next(d for d in doc["distribution"] if d["@type"] == "cr:FileObject")
    assert obj["sha256"] == hashlib.sha256((folder / obj["contentUrl"]).read_bytes()).hexdigest()


def test_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    """The check can fail: a record set pointing at a file set that does not exist is an error."""
    folder = write_snapshot(tmp_path / "s")
    path = _write(folder)
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["recordSet"][0]["field"][0]["source"]["fileSet"]["@id"] = "no-such-files"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(mlc.ValidationError):
        mlc.Dataset(jsonld=str(path))
