"""Signed manifests: reproducible bytes, and every kind of tampering caught by verify, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fincorpus.catalog.manifest import (
    MANIFEST,
    SIGNATURE,
    SIGNER_KEY,
    ManifestError,
    build_manifest,
    canonical_json,
    describe_folder,
    schema_fingerprint,
    verify_folder,
    write_signed_manifest,
)
from fincorpus.schema import DOCUMENT_SCHEMA, SCHEMA_VERSION
from fincorpus.signing import SM2_DEFAULT_SIGNER_ID, KeyFileSigner, KeyPair, SigningError, public_key_pem
from tests.snapshot_folder import snapshot_rows, write_snapshot

REPO = Path(__file__).resolve().parent.parent
DATA = "data/train-00000-of-00002.parquet"


@pytest.fixture
def signer(tmp_path: Path) -> KeyFileSigner:
    return KeyFileSigner(tmp_path / "k", KeyPair.generate())


@pytest.fixture
def signed(tmp_path: Path, signer: KeyFileSigner) -> Path:
    folder = write_snapshot(tmp_path / "snap", files=2)
    write_signed_manifest(
        folder,
        tag="v1",
        snapshot_id=967006005714922859,
        filters={"usage": "train", "min_finance_score": 0.5},
        signer=signer,
    )
    return folder


def problems(folder: Path, **kw: object) -> list[str]:
    rep = verify_folder(folder, **kw)  # type: ignore[arg-type]
    return rep.problems


def test_intact_folder_verifies_with_pinned_key(signed: Path, signer: KeyFileSigner) -> None:
    rep = verify_folder(signed, expected_key=signer.public_key)
    assert rep.ok, rep.problems
    assert rep.key_pinned
    m = json.loads((signed / MANIFEST).read_bytes())
    assert m["snapshot_id"] == "967006005714922859" and m["filters"]["min_finance_score"] == "0.5"
    assert m["totals"]["rows"] == 30 and m["totals"]["parquet_files"] == 2 and m["totals"]["files"] == 3
    assert m["schema"]["fingerprint"] == schema_fingerprint(DOCUMENT_SCHEMA)
    assert {f["name"] for f in m["files"]} == {"README.md", DATA, "data/train-00001-of-00002.parquet"}
    # stored bytes are the canonical form, exactly what was signed
    assert (signed / MANIFEST).read_bytes() == canonical_json(m)


def test_manifest_bytes_are_reproducible(signed: Path, signer: KeyFileSigner) -> None:
    files = describe_folder(signed)
    kw = dict(
        tag="v1",
        snapshot_id=5,
        schema_version="3",
        schema_fingerprint="sha256:x",
        filters={"s": 0.25},
        files=files,
        created_at="2026-01-01T00:00:00Z",
        public_key=signer.public_key,
        signer_id=SM2_DEFAULT_SIGNER_ID,
    )
    a = canonical_json(build_manifest(**kw))  # type: ignore[arg-type]
    b = canonical_json(build_manifest(**{**kw, "files": list(reversed(files))}))  # type: ignore[arg-type]
    assert a == b and b" " not in a.split(b'"public_key"')[0]
    with pytest.raises(ManifestError, match="floats are not allowed"):
        canonical_json({"x": 0.1})


def test_changed_byte_is_detected(signed: Path) -> None:
    p = signed / DATA
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    p.write_bytes(bytes(raw))
    found = problems(signed)
    assert any("SHA-256 differs" in x for x in found) and any("SM3 differs" in x for x in found)


def test_extra_files_anywhere_are_detected(signed: Path) -> None:
    shutil.copy(signed / DATA, signed / "data" / "extra.parquet")  # datasets would load these rows too
    (signed / ".hidden").write_text("x")
    (signed / "sub").mkdir()
    (signed / "sub" / "notes.txt").write_text("x")
    found = problems(signed)
    for name in ("data/extra.parquet", ".hidden", "sub/notes.txt"):
        assert f"{name}: extra file not in the manifest" in found


def test_symlink_is_an_extra_file(signed: Path) -> None:
    (signed / "data" / "link.parquet").symlink_to(signed / DATA)
    assert "data/link.parquet: extra file not in the manifest" in problems(signed)


def test_removed_file_is_detected(signed: Path) -> None:
    (signed / DATA).unlink()
    assert f"{DATA}: missing" in problems(signed)
    (signed / "README.md").unlink()
    assert "README.md: missing" in problems(signed)


def test_emptied_file_list_is_detected(signed: Path) -> None:
    m = json.loads((signed / MANIFEST).read_bytes())
    m["files"] = []
    (signed / MANIFEST).write_bytes(canonical_json(m))
    found = problems(signed)
    assert any("SM2 signature does not verify" in x for x in found)
    assert f"{DATA}: extra file not in the manifest" in found


def test_edited_rows_with_matching_hashes_and_counts_are_detected(signed: Path) -> None:
    """The attack that passed before: change rows, then fix the manifest's hash and row count to match."""
    p = signed / DATA
    t = pq.read_table(p)
    t = t.slice(1)  # drop a row (or edit text: any change works the same way)
    pq.write_table(t, p, compression="zstd")
    from fincorpus.signing import digest_file

    d = digest_file(p)
    m = json.loads((signed / MANIFEST).read_bytes())
    for f in m["files"]:
        if f["name"] == DATA:
            f.update(bytes=d.bytes, sha256=d.sha256, sm3=d.sm3, rows=t.num_rows)
    m["totals"]["rows"] -= 1
    m["totals"]["bytes"] = sum(f["bytes"] for f in m["files"])
    m["rows"] -= 1
    (signed / MANIFEST).write_bytes(canonical_json(m))
    found = problems(signed)
    assert len(found) == 1 and "SM2 signature does not verify" in found[0]


def test_resigned_by_another_key_fails_only_when_key_is_pinned(signed: Path, signer: KeyFileSigner) -> None:
    attacker = KeyFileSigner(Path("x"), KeyPair.generate())
    write_signed_manifest(signed, tag="v1", snapshot_id=967006005714922859, filters={}, signer=attacker)
    assert problems(signed) == []  # intact as signed by the key it names ...
    found = problems(signed, expected_key=signer.public_key)  # ... but not by the publisher
    assert len(found) == 1 and "not the expected" in found[0]
    from fincorpus.signing import fingerprint

    assert problems(signed, expected_key=fingerprint(attacker.public_key)) == []
    assert problems(signed, expected_key=public_key_pem(signer.public_key))  # PEM text works too


def test_wrong_or_missing_signature_is_detected(signed: Path, signer: KeyFileSigner) -> None:
    sig = signed / SIGNATURE
    sig.write_bytes(signer.pair.sign(b"some other bytes"))
    assert any("SM2 signature does not verify" in x for x in problems(signed))
    sig.write_bytes(b"\x30\x02\x00\x00")
    assert any("SM2 signature does not verify" in x for x in problems(signed))
    sig.unlink()
    assert any("not signed" in x for x in problems(signed))


def test_swapped_public_key_file_is_detected(signed: Path) -> None:
    (signed / SIGNER_KEY).write_text(public_key_pem(KeyPair.generate().public))
    assert any(SIGNER_KEY in x for x in problems(signed))


def test_schema_mismatch_is_detected(signed: Path, signer: KeyFileSigner) -> None:
    """A publisher bug: the signed manifest names a schema the Parquet files do not have."""
    files = describe_folder(signed)
    m = build_manifest(
        tag="v1",
        snapshot_id=1,
        schema_version=SCHEMA_VERSION,
        schema_fingerprint="sha256:" + "0" * 64,
        filters={},
        files=files,
        created_at="2026-01-01T00:00:00Z",
        public_key=signer.public_key,
        signer_id=SM2_DEFAULT_SIGNER_ID,
    )
    data = canonical_json(m)
    (signed / MANIFEST).write_bytes(data)
    (signed / SIGNATURE).write_bytes(signer.sign(data))
    found = problems(signed)
    assert found and all("Parquet schema" in x for x in found)


def test_builder_refuses_wrong_schema_and_unexpected_files(tmp_path: Path, signer: KeyFileSigner) -> None:
    folder = write_snapshot(tmp_path / "s")
    other = pa.table({"doc_id": ["a"]}, schema=pa.schema([("doc_id", pa.string())]))
    pq.write_table(other, folder / "data" / "odd.parquet")
    with pytest.raises(ManifestError, match="schema differs"):
        write_signed_manifest(folder, tag="t", snapshot_id=1, filters={}, signer=signer)
    (folder / "data" / "odd.parquet").unlink()
    with pytest.raises(ManifestError, match="unexpected"):
        write_signed_manifest(
            folder,
            tag="t",
            snapshot_id=1,
            filters={},
            signer=signer,
            expected_files=[("data/train-00000-of-00001.parquet", 30, 1)],
        )
    assert not (folder / MANIFEST).exists()


def test_signer_that_lies_writes_nothing(tmp_path: Path) -> None:
    class Broken:
        public_key = KeyPair.generate().public
        signer_id = SM2_DEFAULT_SIGNER_ID
        description = "broken"

        def sign(self, data: bytes) -> bytes:
            return KeyPair.generate().sign(data)

    folder = write_snapshot(tmp_path / "s")
    with pytest.raises(SigningError, match="does not verify"):
        write_signed_manifest(folder, tag="t", snapshot_id=1, filters={}, signer=Broken())
    assert not (folder / MANIFEST).exists()


def test_catalog_snapshot_id_check(signed: Path) -> None:
    assert problems(signed, catalog_tags={"v1": 967006005714922859}) == []
    assert any("is snapshot 12" in x for x in problems(signed, catalog_tags={"v1": 12}))
    assert any("no tag 'v1'" in x for x in problems(signed, catalog_tags={}))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fincorpus.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )


def test_cli_verify_exit_codes(signed: Path, signer: KeyFileSigner, tmp_path: Path) -> None:
    pem = tmp_path / "publisher.pem"
    pem.write_text(public_key_pem(signer.public_key))
    res = _cli("verify", str(signed), "--key", str(pem))
    assert res.returncode == 0 and "verified" in res.stdout, res.stderr
    (signed / "data" / "extra.parquet").write_bytes(b"x")
    res = _cli("verify", str(signed), "--key", str(pem))
    assert res.returncode == 1 and "data/extra.parquet: extra file" in res.stderr
    res = _cli("verify", str(tmp_path / "nowhere"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


def test_cli_keys_init_and_show(tmp_path: Path) -> None:
    res = _cli("keys", "init", "--home", str(tmp_path))
    assert res.returncode == 0 and "fingerprint sm3:" in res.stdout
    fp = res.stdout.split("fingerprint ")[1].split()[0]
    res = _cli("keys", "init", "--home", str(tmp_path))
    assert res.returncode == 2 and "never overwritten" in res.stderr
    res = _cli("keys", "show", "--home", str(tmp_path))
    assert res.returncode == 0 and fp in res.stdout and "BEGIN PUBLIC KEY" in res.stdout


def test_openssl_verifies_a_snapshot_signature(signed: Path) -> None:
    """The auditor's command from docs/provenance.md, with OpenSSL (GmSSL's sm2verify takes the same files)."""
    from tests.test_signing import _openssl_has_sm2, openssl_sm2_verify

    if not _openssl_has_sm2():
        pytest.skip("openssl command with SM2 not installed")
    res = openssl_sm2_verify(signed / SIGNER_KEY, signed / MANIFEST, signed / SIGNATURE)
    assert res.returncode == 0 and "Signature Verified Successfully" in res.stdout, res.stderr


def test_rows_of_real_pull_shape_round_trip(tmp_path: Path, signer: KeyFileSigner) -> None:
    folder = write_snapshot(tmp_path / "s", snapshot_rows(3))
    sm = write_signed_manifest(folder, tag="t", snapshot_id=1, filters={}, signer=signer)
    assert sm.manifest["totals"]["rows"] == 3 and sm.fingerprint.startswith("sm3:")
    assert verify_folder(folder).ok


def test_new_commands_have_help() -> None:
    for cmd in (["keys"], ["keys", "init"], ["keys", "show"], ["report"], ["verify"]):
        res = _cli(*cmd, "--help")
        assert res.returncode == 0 and "Usage" in res.stdout, cmd


def test_current_pull_then_publication_then_verify(home: Path, tmp_path: Path) -> None:
    """Integration with today's catalog and pull: the folder `pull` writes, finished and signed, verifies; an
    extra Parquet file that `datasets` would load is then caught."""
    import datasets

    from fincorpus.catalog.export import pull
    from fincorpus.catalog.publication import finish_snapshot_folder
    from fincorpus.catalog.store import CorpusCatalog
    from fincorpus.pipelines.ingest import stage_records
    from fincorpus.pipelines.publish import publish
    from fincorpus.signing import signer_for_home

    rows = snapshot_rows(12)
    stage_records(home, "r1", rows, {}, dedup=False)
    publish(home, "v1")
    cat = CorpusCatalog(home)
    info = cat.tags()[0]
    out = tmp_path / "snap"
    pull(home, "v1", out)
    pub = finish_snapshot_folder(
        out, tag="v1", snapshot_id=info.snapshot_id, filters={"usage": None}, signer=signer_for_home(home, create_key=True),
        removed=cat.read("v1", "removed"), published_at=info.committed_at,
    )  # fmt: skip
    assert any("signed manifest" in line for line in pub.summary())
    tags = {t.tag: t.snapshot_id for t in cat.tags()}
    assert verify_folder(out, expected_key=(home / "keys" / "manifest-sm2.pub.pem"), catalog_tags=tags).ok
    ds = datasets.load_dataset(
        "parquet", data_dir=str(out / "data"), split="train", cache_dir=str(tmp_path / "c")
    )
    assert ds.num_rows == 12
    name = next(f["name"] for f in pub.manifest.manifest["files"] if f["name"].startswith("data/"))
    shutil.copy(out / name, out / "data" / "train-extra.parquet")
    ds = datasets.load_dataset(
        "parquet", data_dir=str(out / "data"), split="train", cache_dir=str(tmp_path / "d")
    )
    assert ds.num_rows == 24  # what a model team would silently get ...
    assert "data/train-extra.parquet: extra file not in the manifest" in problems(
        out
    )  # ... and verify says no
