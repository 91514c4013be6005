"""SM3 vectors, SM2 keys and signatures, checked against OpenSSL's independent SM2 implementation."""

from __future__ import annotations

import base64
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fincorpus.signing import (
    SM2_DEFAULT_SIGNER_ID,
    CommandSigner,
    KeyPair,
    SigningError,
    digest_stream,
    fingerprint,
    init_keys,
    keys_dir,
    load_key_pair,
    load_public_key,
    parse_public_key,
    public_key_pem,
    signer_for_home,
    sm3_hex,
    verify_signature,
)

REPO = Path(__file__).resolve().parent.parent


def _openssl_has_sm2() -> bool:
    if not shutil.which("openssl"):
        return False
    res = subprocess.run(["openssl", "list", "-public-key-algorithms"], capture_output=True, text=True)
    return "SM2" in res.stdout


needs_openssl = pytest.mark.skipif(not _openssl_has_sm2(), reason="openssl command with SM2 not installed")
SM2_OPTS = ["-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{SM2_DEFAULT_SIGNER_ID}"]


def openssl_sm2_verify(pub: Path, data: Path, sig: Path) -> subprocess.CompletedProcess:
    """OpenSSL's own SM2 verification (the auditor's command in docs/provenance.md)."""
    cmd = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(pub),
        "-in",
        str(data),
        "-sigfile",
        str(sig),
    ]
    return subprocess.run([*cmd, *SM2_OPTS], capture_output=True, text=True)


def test_sm3_standard_vectors() -> None:
    # GB/T 32905-2016 appendix A, examples 1 and 2
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_streamed_digest_equals_one_shot() -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # crosses block boundaries
    d = digest_stream(io.BytesIO(data))
    assert d.bytes == len(data) and d.sm3 == sm3_hex(data)
    import hashlib

    assert d.sha256 == hashlib.sha256(data).hexdigest()


def test_sign_verify_and_every_wrong_input_fails() -> None:
    pair = KeyPair.generate()
    other = KeyPair.generate()
    sig = pair.sign(b"manifest bytes")
    assert verify_signature(pair.public, b"manifest bytes", sig)
    assert not verify_signature(pair.public, b"manifest bytez", sig)
    assert not verify_signature(other.public, b"manifest bytes", sig)
    assert not verify_signature(pair.public, b"manifest bytes", sig, signer_id="another id")
    assert not verify_signature(pair.public, b"manifest bytes", sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not verify_signature(pair.public, b"manifest bytes", b"not a signature")


def test_key_pem_round_trip_and_bad_keys() -> None:
    pair = KeyPair.generate()
    again = KeyPair.from_pem(pair.private_pem())
    assert again == pair
    assert parse_public_key(public_key_pem(pair.public)) == pair.public
    with pytest.raises(SigningError, match="not a PEM"):
        parse_public_key("hello")
    bad_point = public_key_pem(pair.public[:-1] + bytes([pair.public[-1] ^ 1]))
    with pytest.raises(SigningError, match="not a point on the SM2 curve"):
        parse_public_key(bad_point)
    mismatched = KeyPair(pair.private, KeyPair.generate().public).private_pem()
    with pytest.raises(SigningError, match="does not belong"):
        KeyPair.from_pem(mismatched)


def test_init_keys_mode_no_overwrite_and_replace_keeps_old(tmp_path: Path) -> None:
    key, pub = init_keys(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir(tmp_path).stat().st_mode) == 0o700
    first = key.read_bytes()
    with pytest.raises(SigningError, match="never overwritten"):
        init_keys(tmp_path)
    assert key.read_bytes() == first
    init_keys(tmp_path, replace=True)
    assert key.read_bytes() != first
    kept = [p for p in keys_dir(tmp_path).iterdir() if ".replaced-" in p.name]
    assert len(kept) == 2 and any(p.read_bytes() == first for p in kept)
    assert fingerprint(load_key_pair(key).public) == fingerprint(load_public_key(pub))


def test_missing_key_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINCORPUS_SIGNER_CMD", raising=False)
    with pytest.raises(SigningError, match="fincorpus keys init"):
        signer_for_home(tmp_path)
    assert signer_for_home(tmp_path, create_key=True).public_key  # the demo's path creates one


def test_external_signer_command_signs_with_a_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, pub = init_keys(tmp_path / "hsm")
    monkeypatch.setenv("FINCORPUS_SIGNER_CMD", f"{sys.executable} -m fincorpus.signing {key}")
    monkeypatch.setenv("FINCORPUS_SIGNER_PUBKEY", str(pub))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    signer = signer_for_home(tmp_path / "corpus-home")  # no key under this home: the command signs
    assert isinstance(signer, CommandSigner)
    sig = signer.sign(b"canonical manifest")
    assert verify_signature(load_public_key(pub), b"canonical manifest", sig, SM2_DEFAULT_SIGNER_ID)
    assert not (tmp_path / "corpus-home" / "keys").exists()


def test_external_signer_failures_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, pub = init_keys(tmp_path / "a")
    _, other_pub = init_keys(tmp_path / "b")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    wrong_key = CommandSigner(f"{sys.executable} -m fincorpus.signing {key}", load_public_key(other_pub))
    with pytest.raises(SigningError, match="does not verify"):
        wrong_key.sign(b"x")
    failing = CommandSigner(
        f"{sys.executable} -c 'import sys; sys.exit(\"HSM offline\")'", load_public_key(pub)
    )
    with pytest.raises(SigningError, match="exit code 1: HSM offline"):
        failing.sign(b"x")
    garbage = CommandSigner(f"{sys.executable} -c 'print(\"%%%\")'", load_public_key(pub))
    with pytest.raises(SigningError, match="neither base64 nor hex"):
        garbage.sign(b"x")
    monkeypatch.setenv("FINCORPUS_SIGNER_CMD", "true")
    monkeypatch.delenv("FINCORPUS_SIGNER_PUBKEY", raising=False)
    with pytest.raises(SigningError, match="FINCORPUS_SIGNER_PUBKEY"):
        signer_for_home(tmp_path)


@needs_openssl
def test_openssl_verifies_our_signature_and_we_verify_openssls(tmp_path: Path) -> None:
    """Two independent SM2 implementations (GmSSL via gmssl-pyx, OpenSSL) agree on keys, Z and signatures."""
    key, pub = init_keys(tmp_path)
    msg = tmp_path / "msg.bin"
    msg.write_bytes("签名的字节 manifest".encode())
    sig = tmp_path / "sig.der"
    sig.write_bytes(load_key_pair(key).sign(msg.read_bytes()))
    res = openssl_sm2_verify(pub, msg, sig)
    assert res.returncode == 0 and "Signature Verified Successfully" in res.stdout, res.stderr
    res = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-inkey", str(key), "-in", str(msg), *SM2_OPTS], capture_output=True
    )
    assert res.returncode == 0, res.stderr
    assert verify_signature(load_public_key(pub), msg.read_bytes(), res.stdout)
    # OpenSSL reads our key files and computes the same fingerprint
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"], capture_output=True
    )
    assert "sm3:" + sm3_hex(der.stdout) == fingerprint(load_public_key(pub))
    out = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True, text=True)
    assert out.stdout == pub.read_text()


@needs_openssl
def test_openssl_generated_key_and_openssl_as_external_signer(tmp_path: Path) -> None:
    key = tmp_path / "openssl.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True, capture_output=True
    )
    pair = load_key_pair(key)  # a key made by another tool is accepted
    script = tmp_path / "sign.sh"
    script.write_text(
        "#!/bin/sh\nset -e\n"
        f'openssl pkeyutl -sign -inkey {key} -rawin -digest sm3 -pkeyopt "distid:$FINCORPUS_SIGNER_ID" | base64\n'
    )
    script.chmod(0o755)
    signer = CommandSigner(str(script), pair.public)
    sig = signer.sign(b"bytes signed by an HSM stand-in")
    assert verify_signature(pair.public, b"bytes signed by an HSM stand-in", sig)
    assert base64.b64encode(sig)  # DER came back through base64
