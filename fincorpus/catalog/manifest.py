"""Signed snapshot manifests and their offline verification.

A pulled folder is checked without trusting the publisher's machine: ``manifest.json`` lists every file of the
folder with its size, SHA-256, SM3 and (for Parquet) row count, plus the tag, snapshot id, schema and filters;
``manifest.sig`` is the SM2 signature over exactly the bytes of ``manifest.json``; ``manifest.pub.pem`` is the
signer's public key, which the manifest also carries (so it is covered by the signature). An auditor pins the
publisher's key by passing it (or its fingerprint) to :func:`verify_folder`; without a pinned key the check proves
the folder is intact as signed by the key it names, not who holds that key.

``manifest.json`` is canonical JSON: keys sorted, no insignificant whitespace, UTF-8, only strings, integers,
booleans, null, lists and objects (no floats, whose text differs between serialisers; the snapshot id is a string
because it exceeds 2^53). Building the manifest twice from the same inputs gives the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fincorpus.schema import DOCUMENT_SCHEMA, SCHEMA_VERSION
from fincorpus.signing import (
    SIGNATURE_ALGORITHM,
    Signer,
    SigningError,
    digest_file,
    fingerprint,
    parse_public_key,
    public_key_pem,
    sm3_hex,
    verify_signature,
)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SIGNER_KEY = "manifest.pub.pem"
UNLISTED = frozenset({MANIFEST, SIGNATURE, SIGNER_KEY})  # the only files a folder may hold unlisted
MANIFEST_FORMAT = "fincorpus.snapshot-manifest/1"
TABLE = "fincorpus.corpus"


class ManifestError(ValueError):
    """A manifest cannot be built from this folder; the message says which file and why."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a snapshot folder; ``rows`` is set for Parquet files and None for the rest."""

    name: str  # relative POSIX path, e.g. data/train-00000-of-00001.parquet
    bytes: int
    sha256: str
    sm3: str
    rows: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "sm3": self.sm3,
            "rows": self.rows,
        }


# -- canonical form -------------------------------------------------------------------------------------------------


def _check_canonical(obj: Any, where: str) -> None:
    if isinstance(obj, float):
        raise ManifestError(f"{where}: floats are not allowed in a canonical manifest (got {obj!r})")
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ManifestError(f"{where}: object keys must be strings (got {k!r})")
            _check_canonical(v, f"{where}.{k}")
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_canonical(v, f"{where}[{i}]")
    elif not (obj is None or isinstance(obj, str | int | bool)):
        raise ManifestError(f"{where}: {type(obj).__name__} is not a JSON value")


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, ``,``/``:`` separators, UTF-8, no floats: the exact bytes that are signed."""
    _check_canonical(obj, "manifest")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Pull filters with floats written as their shortest decimal text (0.5 -> "0.5")."""

    def conv(v: Any) -> Any:
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        return v

    return {str(k): conv(v) for k, v in filters.items()}


def _type_text(t: pa.DataType) -> Any:
    if pa.types.is_struct(t):
        return ["struct", [[f.name, _type_text(f.type), f.nullable] for f in t]]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return ["list", _type_text(t.value_type), t.value_field.nullable]
    return str(t)


def schema_fingerprint(schema: pa.Schema) -> str:
    """``sha256:`` of the field names, types and nullability (not the doc strings or other metadata)."""
    import hashlib

    desc = [[f.name, _type_text(f.type), f.nullable] for f in schema]
    return "sha256:" + hashlib.sha256(canonical_json(desc)).hexdigest()


# -- building ---------------------------------------------------------------------------------------------------


def _walk(folder: Path) -> list[str]:
    """Every non-directory below ``folder`` as a relative POSIX path, hidden files and symlinks included."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel_root = Path(root).relative_to(folder)
        for d in dirs:
            if (Path(root) / d).is_symlink():
                out.append((rel_root / d).as_posix())
        out.extend((rel_root / f).as_posix() for f in files)
    return sorted(out)


def describe_file(folder: Path, name: str) -> FileEntry:
    path = folder / name
    if path.is_symlink() or not path.is_file():
        raise ManifestError(f"{path}: not a regular file (symlinks and special files cannot be signed)")
    d = digest_file(path)
    rows = pq.ParquetFile(path).metadata.num_rows if name.endswith(".parquet") else None
    return FileEntry(name, d.bytes, d.sha256, d.sm3, rows)


def describe_folder(folder: Path) -> list[FileEntry]:
    """Hash every file of ``folder`` (streaming) except the manifest's own three files."""
    return [describe_file(folder, n) for n in _walk(folder) if n not in UNLISTED]


def _data_schema(folder: Path, files: Sequence[FileEntry]) -> pa.Schema | None:
    schema = None
    for f in files:
        if f.rows is None:
            continue
        s = pq.read_schema(folder / f.name)
        if schema is not None and schema_fingerprint(s) != schema_fingerprint(schema):
            raise ManifestError(f"{folder / f.name}: schema differs from the other Parquet files")
        schema = s
    return schema


def build_manifest(
    *,
    tag: str,
    snapshot_id: int | str,
    schema_version: str,
    schema_fingerprint: str | None,
    filters: Mapping[str, Any],
    files: Sequence[FileEntry],
    created_at: str,
    public_key: bytes,
    signer_id: str,
    table: str = TABLE,
) -> dict[str, Any]:
    """The manifest as a plain dict; :func:`canonical_json` turns it into the signed bytes."""
    files = sorted(files, key=lambda f: f.name)
    return {
        "format": MANIFEST_FORMAT,
        "tag": tag,
        "snapshot_id": str(snapshot_id),
        "table": table,
        "schema_version": schema_version,
        "schema": {"version": schema_version, "fingerprint": schema_fingerprint},
        "filters": canonical_filters(filters),
        "created_at": created_at,
        "files": [f.as_json() for f in files],
        "rows": sum(f.rows or 0 for f in files),
        "totals": {
            "files": len(files),
            "bytes": sum(f.bytes for f in files),
            "rows": sum(f.rows or 0 for f in files),
            "parquet_files": sum(1 for f in files if f.rows is not None),
        },
        "signer": {
            "algorithm": SIGNATURE_ALGORITHM,
            "signer_id": signer_id,
            "public_key": public_key_pem(public_key),
            "public_key_fingerprint": fingerprint(public_key),
        },
    }


@dataclass(frozen=True)
class SignedManifest:
    manifest_path: Path
    signature_path: Path
    public_key_path: Path
    manifest: dict[str, Any]
    fingerprint: str
    sm3: str  # of the manifest bytes, for a log line or a catalog record


def write_signed_manifest(
    folder: Path,
    *,
    tag: str,
    snapshot_id: int | str,
    filters: Mapping[str, Any],
    signer: Signer,
    schema_version: str = SCHEMA_VERSION,
    expected_schema: pa.Schema | None = DOCUMENT_SCHEMA,
    expected_files: Sequence[tuple[str, int | None, int]] | None = None,
    created_at: str | None = None,
) -> SignedManifest:
    """Hash every file of ``folder``, write ``manifest.json``, sign it, write ``manifest.sig`` and the key.

    Call it last, when every other file of the folder (data, README.md, cards, report) is written, and before the
    folder is renamed into place; any later change to the folder makes :func:`verify_folder` fail.
    ``expected_files`` is the caller's own list of (relative name, rows, bytes); when given the folder must hold
    exactly these files (besides the manifest's three) with these counts. ``expected_schema`` is the schema the
    Parquet files must have (fingerprint equality); None skips that check. An existing ``manifest.json`` (and
    signature) is overwritten.
    """
    files = describe_folder(folder)
    if expected_files is not None:
        _check_expected(folder, files, expected_files)
    schema = _data_schema(folder, files)
    fp = schema_fingerprint(schema) if schema is not None else None
    if schema is not None and expected_schema is not None and fp != schema_fingerprint(expected_schema):
        raise ManifestError(f"{folder}: the Parquet files do not have the expected document schema")
    if schema is not None:
        found = (schema.metadata or {}).get(b"fincorpus.schema_version", b"").decode()
        if found and found != schema_version:
            raise ManifestError(
                f"{folder}: Parquet files say schema version {found}, caller says {schema_version}"
            )
    manifest = build_manifest(
        tag=tag,
        snapshot_id=snapshot_id,
        schema_version=schema_version,
        schema_fingerprint=fp,
        filters=filters,
        files=files,
        created_at=created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        public_key=signer.public_key,
        signer_id=signer.signer_id,
    )
    data = canonical_json(manifest)
    sig = signer.sign(data)
    if not verify_signature(signer.public_key, data, sig, signer.signer_id):
        raise SigningError(
            f"{signer.description}: the signature it made does not verify; nothing was written"
        )
    (folder / MANIFEST).write_bytes(data)
    (folder / SIGNATURE).write_bytes(sig)
    (folder / SIGNER_KEY).write_text(public_key_pem(signer.public_key), encoding="ascii")
    return SignedManifest(
        folder / MANIFEST,
        folder / SIGNATURE,
        folder / SIGNER_KEY,
        manifest,
        fingerprint(signer.public_key),
        sm3_hex(data),
    )


def _check_expected(
    folder: Path, files: Sequence[FileEntry], expected: Sequence[tuple[str, int | None, int]]
) -> None:
    have = {f.name: f for f in files}
    want = {name: (rows, size) for name, rows, size in expected}
    if set(have) != set(want):
        extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
        raise ManifestError(f"{folder}: files not as expected (unexpected {extra}, missing {missing})")
    for name, (rows, size) in want.items():
        if have[name].bytes != size or (rows is not None and have[name].rows != rows):
            raise ManifestError(
                f"{folder / name}: {have[name].rows} rows / {have[name].bytes} bytes on disk, caller wrote "
                f"{rows} rows / {size} bytes"
            )


# -- verifying --------------------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What :func:`verify_folder` found; ``problems`` empty means every check passed."""

    folder: Path
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    key_pinned: bool = False
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _safe_name(name: Any) -> bool:
    if not isinstance(name, str) or not name or "\\" in name:
        return False
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and p.as_posix() == name and name not in UNLISTED


def _expected_fingerprint(expected_key: bytes | str | Path | None) -> str | None:
    if expected_key is None:
        return None
    if isinstance(expected_key, bytes):
        return fingerprint(expected_key)
    if isinstance(expected_key, Path):
        return fingerprint(parse_public_key(expected_key.read_text(encoding="ascii"), str(expected_key)))
    text = expected_key.strip()
    if text.startswith("-----BEGIN"):
        return fingerprint(parse_public_key(text))
    if not text.startswith("sm3:") or len(text) != 68:
        raise SigningError(f"expected key {text!r}: give a public key PEM file or a fingerprint sm3:<64 hex>")
    return text.lower()


def _check_signature(
    folder: Path, data: bytes, manifest: dict[str, Any], pinned: str | None, rep: VerifyReport
) -> None:
    signer = manifest.get("signer")
    sig_path, key_path = folder / SIGNATURE, folder / SIGNER_KEY
    if not isinstance(signer, dict) or not sig_path.is_file():
        rep.problems.append(
            f"{SIGNATURE}: missing: the manifest is not signed, nothing in this folder is proven"
        )
        return
    try:
        public_key = parse_public_key(str(signer.get("public_key", "")), "manifest signer.public_key")
    except SigningError as exc:
        rep.problems.append(str(exc))
        return
    rep.fingerprint = fingerprint(public_key)
    if signer.get("public_key_fingerprint") != rep.fingerprint:
        rep.problems.append("manifest signer.public_key_fingerprint does not match signer.public_key")
    if signer.get("algorithm") != SIGNATURE_ALGORITHM:
        rep.problems.append(
            f"manifest signer.algorithm is {signer.get('algorithm')!r}, not {SIGNATURE_ALGORITHM}"
        )
    if not key_path.is_file() or key_path.read_bytes() != public_key_pem(public_key).encode("ascii"):
        rep.problems.append(f"{SIGNER_KEY}: missing or not the key named in the manifest")
    signer_id = signer.get("signer_id")
    if not isinstance(signer_id, str) or not verify_signature(
        public_key, data, sig_path.read_bytes(), signer_id
    ):
        rep.problems.append(
            f"{SIGNATURE}: the SM2 signature does not verify over manifest.json with the manifest's key "
            f"{rep.fingerprint} and signer id {signer_id!r}: the manifest or the signature was changed"
        )
    else:
        rep.checked.append(f"SM2 signature over manifest.json by {rep.fingerprint} (signer id {signer_id})")
    if pinned is not None:
        rep.key_pinned = True
        if pinned != rep.fingerprint:
            rep.problems.append(
                f"signing key is {rep.fingerprint}, not the expected {pinned}: signed by someone else"
            )
        else:
            rep.checked.append("signing key is the expected key")


def _check_file(folder: Path, entry: Any, schema_fp: Any, schema_version: Any, rep: VerifyReport) -> None:
    if not isinstance(entry, dict) or not _safe_name(entry.get("name")):
        rep.problems.append(f"manifest file entry {entry!r}: not a relative path inside the folder")
        return
    name = entry["name"]
    path = folder / name
    if path.is_symlink() or not path.is_file():
        rep.problems.append(f"{name}: missing" if not path.exists() else f"{name}: not a regular file")
        return
    d = digest_file(path)
    if d.bytes != entry.get("bytes"):
        rep.problems.append(f"{name}: {d.bytes} bytes, manifest says {entry.get('bytes')}")
    if d.sha256 != entry.get("sha256"):
        rep.problems.append(f"{name}: SHA-256 differs from the manifest")
    if d.sm3 != entry.get("sm3"):
        rep.problems.append(f"{name}: SM3 differs from the manifest")
    if not name.endswith(".parquet"):
        if entry.get("rows") is not None:
            rep.problems.append(f"{name}: manifest gives rows for a file that is not Parquet")
        return
    try:
        pf = pq.ParquetFile(path)
        rows, schema = pf.metadata.num_rows, pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        rep.problems.append(f"{name}: not a readable Parquet file ({exc})")
        return
    if rows != entry.get("rows"):
        rep.problems.append(f"{name}: {rows} rows, manifest says {entry.get('rows')}")
    if schema_fingerprint(schema) != schema_fp:
        rep.problems.append(
            f"{name}: Parquet schema {schema_fingerprint(schema)} is not the manifest's {schema_fp}"
        )
    found = (schema.metadata or {}).get(b"fincorpus.schema_version", b"").decode()
    if found != schema_version:
        rep.problems.append(f"{name}: schema version {found or 'missing'}, manifest says {schema_version}")


def _check_totals(manifest: dict[str, Any], files: list[Any], rep: VerifyReport) -> None:
    good = [f for f in files if isinstance(f, dict)]
    totals = {
        "files": len(files),
        "bytes": sum(int(f.get("bytes") or 0) for f in good),
        "rows": sum(int(f.get("rows") or 0) for f in good),
        "parquet_files": sum(1 for f in good if f.get("rows") is not None),
    }
    if manifest.get("totals") != totals or manifest.get("rows") != totals["rows"]:
        rep.problems.append(
            f"manifest totals {manifest.get('totals')} do not add up from its files ({totals})"
        )
    if totals["parquet_files"] == 0:
        rep.problems.append("manifest lists no Parquet data files")


def verify_folder(
    folder: Path,
    *,
    expected_key: bytes | str | Path | None = None,
    catalog_tags: Mapping[str, int | str] | None = None,
) -> VerifyReport:
    """Check a pulled folder offline: signature, key, every file's size/SHA-256/SM3/rows/schema, no extra files.

    ``expected_key`` pins the publisher's key (64-byte point, PEM text or file, or ``sm3:`` fingerprint).
    ``catalog_tags`` (tag -> snapshot id, from the catalog when it is at hand) adds the snapshot id check.
    """
    rep = VerifyReport(folder)
    pinned = _expected_fingerprint(expected_key)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        rep.problems.append(f"{MANIFEST}: missing; pass a folder written by `fincorpus pull`")
        return rep
    data = mpath.read_bytes()
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        rep.problems.append(f"{MANIFEST}: not UTF-8 JSON ({exc})")
        return rep
    if not isinstance(manifest, dict):
        rep.problems.append(f"{MANIFEST}: not a JSON object")
        return rep
    rep.manifest = manifest
    if manifest.get("format") != MANIFEST_FORMAT:
        rep.problems.append(f"{MANIFEST}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT}")
    _check_signature(folder, data, manifest, pinned, rep)
    files = manifest.get("files")
    if not isinstance(files, list):
        rep.problems.append(f"{MANIFEST}: 'files' is not a list")
        files = []
    schema = manifest.get("schema") if isinstance(manifest.get("schema"), dict) else {}
    for entry in files:
        _check_file(folder, entry, schema.get("fingerprint"), manifest.get("schema_version"), rep)
    listed = {f.get("name") for f in files if isinstance(f, dict)}
    for name in _walk(folder):
        if name not in listed and name not in UNLISTED:
            rep.problems.append(f"{name}: extra file not in the manifest")
    _check_totals(manifest, files, rep)
    rep.checked.append(
        f"{len(files)} listed files against size, SHA-256 and SM3, Parquet files against row count and schema "
        f"{schema.get('fingerprint')}; looked for missing and extra files"
    )
    if catalog_tags is not None:
        tag, sid = manifest.get("tag"), manifest.get("snapshot_id")
        if tag not in catalog_tags:
            rep.problems.append(f"catalog: no tag {tag!r}")
        elif str(catalog_tags[tag]) != sid:
            rep.problems.append(f"catalog: tag {tag!r} is snapshot {catalog_tags[tag]}, manifest says {sid}")
        else:
            rep.checked.append(f"catalog: tag {tag!r} is snapshot {sid}")
    return rep
