"""Commercial cryptography (商用密码) for snapshot manifests: SM3 hashes, SM2 keys and signatures, signers.

Libraries, and why:

- SM3 and SHA-256 come from ``cryptography`` (OpenSSL's SM3) and ``hashlib``: both stream, so a snapshot file is
  hashed in 1 MiB blocks whatever its size.
- SM2 signatures (GB/T 32918.2 / GM/T 0003.2, signer id per GM/T 0009, default ``1234567812345678``) come from
  ``gmssl-pyx``, a C extension around GmSSL 3.2 (the reference implementation whose ``gmssl`` command auditors
  use). ``cryptography`` has no SM2. Signatures are DER ``SEQUENCE {r, s}``, the form GmSSL and OpenSSL read;
  tests check them against OpenSSL's independent SM2 (``openssl pkeyutl``) in both directions.

Keys are stored in the formats both tools read: the private key as unencrypted PKCS#8 PEM (file mode 0600) and
the public key as SubjectPublicKeyInfo PEM (id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301). A key's
fingerprint is ``sm3:`` + the SM3 of its SubjectPublicKeyInfo DER, computable with either tool.

A signer is anything that turns bytes into an SM2 signature: a key file under the corpus home, or an external
command (``FINCORPUS_SIGNER_CMD``) that reads the bytes on stdin and prints the signature, for an HSM or KMS, so
that the private key need not live on the corpus machine.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import gmssl_pyx
from cryptography.hazmat.primitives import hashes

SM2_DEFAULT_SIGNER_ID = "1234567812345678"  # GM/T 0009-2012, section 10
SIGNATURE_ALGORITHM = "SM2-with-SM3"
BLOCK = 1 << 20

# DER of the fixed-size structures OpenSSL 3 writes for SM2 keys (checked against `openssl genpkey -algorithm SM2`
# in the tests). SM2 keys have one size, so the layouts are constants rather than a general ASN.1 codec.
_ALG = bytes.fromhex("301306072a8648ce3d020106082a811ccf5501822d")  # id-ecPublicKey, sm2 curve
_SPKI_PREFIX = bytes.fromhex("3059") + _ALG + bytes.fromhex("03420004")
_PKCS8_PREFIX = bytes.fromhex("308187020100") + _ALG + bytes.fromhex("046d306b0201010420")
_PKCS8_MIDDLE = bytes.fromhex("a14403420004")

ENV_SIGNER_CMD = "FINCORPUS_SIGNER_CMD"
ENV_SIGNER_PUBKEY = "FINCORPUS_SIGNER_PUBKEY"
ENV_SIGNER_ID = "FINCORPUS_SIGNER_ID"
KEY_FILE = "manifest-sm2.key"
PUB_FILE = "manifest-sm2.pub.pem"


class SigningError(ValueError):
    """A key, a signer or a signature cannot be used; the message says which and what to do."""


# -- hashes -----------------------------------------------------------------------------------------------------


def sm3_hex(data: bytes) -> str:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


@dataclass(frozen=True)
class FileDigest:
    bytes: int
    sha256: str
    sm3: str


def digest_stream(fh: BinaryIO) -> FileDigest:
    """SHA-256 and SM3 of a stream in one pass, memory bounded by one block."""
    sha = hashlib.sha256()
    sm3 = hashes.Hash(hashes.SM3())
    n = 0
    for block in iter(lambda: fh.read(BLOCK), b""):
        sha.update(block)
        sm3.update(block)
        n += len(block)
    return FileDigest(n, sha.hexdigest(), sm3.finalize().hex())


def digest_file(path: Path) -> FileDigest:
    with open(path, "rb") as fh:
        return digest_stream(fh)


# -- keys -------------------------------------------------------------------------------------------------------


def _pem(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _unpem(text: str, label: str) -> bytes:
    m = re.search(rf"-----BEGIN {label}-----\s*(.+?)\s*-----END {label}-----", text, re.S)
    if not m:
        raise SigningError(f"not a PEM '{label}' block")
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except binascii.Error as exc:
        raise SigningError(f"PEM '{label}' block is not valid base64: {exc}") from None


def spki_der(public_key: bytes) -> bytes:
    return _SPKI_PREFIX + public_key


def public_key_pem(public_key: bytes) -> str:
    return _pem("PUBLIC KEY", spki_der(public_key))


def fingerprint(public_key: bytes) -> str:
    """``sm3:<hex>`` of the SubjectPublicKeyInfo DER (``openssl pkey -pubin -outform DER | openssl dgst -sm3``)."""
    return "sm3:" + sm3_hex(spki_der(public_key))


def _check_point(public_key: bytes, where: str) -> bytes:
    try:
        return gmssl_pyx.normalize_sm2_public_key(public_key)
    except gmssl_pyx.InvalidValueError:
        raise SigningError(f"{where}: the public key is not a point on the SM2 curve") from None


def parse_public_key(text: str, where: str = "public key") -> bytes:
    """The 64-byte point of an SM2 SubjectPublicKeyInfo PEM (as written by fincorpus, GmSSL or OpenSSL 3)."""
    der = _unpem(text, "PUBLIC KEY")
    if len(der) != len(_SPKI_PREFIX) + 64 or not der.startswith(_SPKI_PREFIX):
        raise SigningError(
            f"{where}: not an uncompressed SM2 public key (expected id-ecPublicKey on curve 1.2.156.10197.1.301)"
        )
    return _check_point(der[len(_SPKI_PREFIX) :], where)


def load_public_key(path: Path) -> bytes:
    try:
        return parse_public_key(path.read_text(encoding="ascii"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(
            f"{path}: cannot read the public key ({exc}); pass an SM2 public key PEM file"
        ) from None


@dataclass(frozen=True)
class KeyPair:
    private: bytes  # 32 bytes
    public: bytes  # 64 bytes, x || y

    @classmethod
    def generate(cls) -> KeyPair:
        public, private = gmssl_pyx.sm2_key_generate()
        return cls(private, public)

    def private_pem(self) -> str:
        return _pem("PRIVATE KEY", _PKCS8_PREFIX + self.private + _PKCS8_MIDDLE + self.public)

    @classmethod
    def from_pem(cls, text: str, where: str = "private key") -> KeyPair:
        der = _unpem(text, "PRIVATE KEY")
        n = len(_PKCS8_PREFIX)
        if len(der) != n + 32 + len(_PKCS8_MIDDLE) + 64 or not (
            der.startswith(_PKCS8_PREFIX) and der[n + 32 : n + 32 + len(_PKCS8_MIDDLE)] == _PKCS8_MIDDLE
        ):
            raise SigningError(
                f"{where}: not an unencrypted PKCS#8 SM2 private key with its public key "
                "(write one with `fincorpus keys init` or `openssl genpkey -algorithm SM2`)"
            )
        pair = cls(der[n : n + 32], _check_point(der[-64:], where))
        probe = b"fincorpus key check"
        if not verify_signature(pair.public, probe, pair.sign(probe)):
            raise SigningError(
                f"{where}: the public key stored in the file does not belong to the private key"
            )
        return pair

    def sign(self, data: bytes, signer_id: str = SM2_DEFAULT_SIGNER_ID) -> bytes:
        return gmssl_pyx.sm2_sign(self.private, self.public, data, signer_id=signer_id.encode("utf-8"))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """GmSSL prints a C-level trace to fd 2 for every failed verification; an auditor needs one clear line."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def verify_signature(
    public_key: bytes, data: bytes, signature: bytes, signer_id: str = SM2_DEFAULT_SIGNER_ID
) -> bool:
    """SM2 verification of ``data`` with Z computed from ``signer_id`` and ``public_key``."""
    with _quiet_stderr():
        try:
            return bool(
                gmssl_pyx.sm2_verify(public_key, data, signature, signer_id=signer_id.encode("utf-8"))
            )
        except gmssl_pyx.GmsslInnerError:
            return False


# -- key files under the corpus home ------------------------------------------------------------------------------


def keys_dir(home: Path) -> Path:
    return home / "keys"


def _write_new(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    os.chmod(path, mode)  # the umask may have narrowed it further; this is the documented mode


def init_keys(home: Path, *, replace: bool = False) -> tuple[Path, Path]:
    """Write a new SM2 key pair under ``home/keys``; an existing key is kept unless ``replace``.

    With ``replace`` the old files are renamed to ``*.replaced-<UTC time>``, never deleted: snapshots signed with
    the old key stay verifiable with the old public key.
    """
    d = keys_dir(home)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    key, pub = d / KEY_FILE, d / PUB_FILE
    if key.exists() or pub.exists():
        if not replace:
            raise SigningError(
                f"{key} already exists; it is never overwritten. Use it as it is, or pass --replace to move it "
                "aside (it is renamed, not deleted) and create a new one"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for p in (key, pub):
            if p.exists():
                p.rename(p.with_name(f"{p.name}.replaced-{stamp}"))
    pair = KeyPair.generate()
    _write_new(key, pair.private_pem(), 0o600)
    _write_new(pub, public_key_pem(pair.public), 0o644)
    return key, pub


def load_key_pair(path: Path) -> KeyPair:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise SigningError(
            f"{path}: no signing key; run `fincorpus keys init` (or set {ENV_SIGNER_CMD} for an external signer)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningError(f"{path}: cannot read the private key ({exc})") from None
    return KeyPair.from_pem(text, str(path))


# -- signers ------------------------------------------------------------------------------------------------------


class Signer(Protocol):
    """Turns bytes into a DER SM2 signature over them with ``signer_id``."""

    public_key: bytes
    signer_id: str
    description: str

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class KeyFileSigner:
    key_path: Path
    pair: KeyPair
    signer_id: str = SM2_DEFAULT_SIGNER_ID

    @property
    def public_key(self) -> bytes:
        return self.pair.public

    @property
    def description(self) -> str:
        return f"key file {self.key_path}"

    def sign(self, data: bytes) -> bytes:
        return self.pair.sign(data, self.signer_id)


def decode_signature(text: bytes) -> bytes:
    """An external signer's output: DER, as base64 (PEM-less) or hex, surrounding whitespace ignored."""
    s = text.strip()
    if re.fullmatch(rb"[0-9a-fA-F]+", s) and len(s) % 2 == 0:
        return bytes.fromhex(s.decode("ascii"))
    try:
        der = base64.b64decode(b"".join(s.split()), validate=True)
    except binascii.Error:
        raise SigningError("the signer printed neither base64 nor hex") from None
    if not der.startswith(b"\x30"):
        raise SigningError("the signer's output is not a DER SM2 signature (SEQUENCE of r and s)")
    return der


@dataclass(frozen=True)
class CommandSigner:
    """An external command (HSM, KMS client) that reads the bytes to sign on stdin and prints the signature."""

    command: str
    public_key: bytes
    signer_id: str = SM2_DEFAULT_SIGNER_ID
    timeout_seconds: float = 120.0

    @property
    def description(self) -> str:
        return f"external signer `{self.command}`"

    def sign(self, data: bytes) -> bytes:
        argv = shlex.split(self.command)
        if not argv:
            raise SigningError(f"{ENV_SIGNER_CMD} is empty; set it to a command that signs stdin")
        env = {**os.environ, ENV_SIGNER_ID: self.signer_id}
        try:
            res = subprocess.run(
                argv, input=data, capture_output=True, timeout=self.timeout_seconds, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SigningError(f"{self.description} could not run: {exc}") from None
        if res.returncode != 0:
            last = res.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise SigningError(f"{self.description} failed with exit code {res.returncode}: {last[0]}")
        sig = decode_signature(res.stdout)
        if not verify_signature(self.public_key, data, sig, self.signer_id):
            raise SigningError(
                f"{self.description} returned a signature that does not verify with {ENV_SIGNER_PUBKEY} "
                f"({fingerprint(self.public_key)}) and signer id {self.signer_id!r}: check the key and signer id"
            )
        return sig


def signer_for_home(home: Path, *, create_key: bool = False) -> Signer:
    """The configured signer: ``FINCORPUS_SIGNER_CMD`` (+ ``FINCORPUS_SIGNER_PUBKEY``), else the home's key file.

    ``create_key`` makes a key pair when the home has none (the demo does; production homes run `keys init`).
    ``FINCORPUS_SIGNER_ID`` overrides the GM/T 0009 default signer id.
    """
    signer_id = os.environ.get(ENV_SIGNER_ID) or SM2_DEFAULT_SIGNER_ID
    cmd = os.environ.get(ENV_SIGNER_CMD)
    if cmd:
        pub = os.environ.get(ENV_SIGNER_PUBKEY)
        if not pub:
            raise SigningError(
                f"{ENV_SIGNER_CMD} is set but {ENV_SIGNER_PUBKEY} is not; set it to the signer's public key PEM file"
            )
        return CommandSigner(cmd, load_public_key(Path(pub)), signer_id)
    key = keys_dir(home) / KEY_FILE
    if create_key and not key.exists():
        init_keys(home)
    return KeyFileSigner(key, load_key_pair(key), signer_id)


def sign_stdin_main() -> None:  # pragma: no cover - exercised through a subprocess in the tests
    """``python -m fincorpus.signing KEYFILE``: an external signer built on a key file (for tests and as a model).

    Reads the bytes on stdin, prints the base64 DER signature, signer id from ``FINCORPUS_SIGNER_ID``.
    """
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m fincorpus.signing PRIVATE_KEY_PEM < data > signature.b64")
    pair = load_key_pair(Path(sys.argv[1]))
    sig = pair.sign(sys.stdin.buffer.read(), os.environ.get(ENV_SIGNER_ID) or SM2_DEFAULT_SIGNER_ID)
    sys.stdout.write(base64.b64encode(sig).decode("ascii") + "\n")


if __name__ == "__main__":  # pragma: no cover
    sign_stdin_main()
