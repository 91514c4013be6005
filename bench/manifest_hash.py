"""Hashing speed for signed manifests: SM3 and SHA-256 per file, next to the alternatives in the same process.

Measured on one 256 MiB file of random bytes written to a temporary folder (page cache warm after the first
pass; best of 3 passes, time.perf_counter):
- fincorpus: ``fincorpus.signing.digest_file`` (SHA-256 and SM3 in one streaming pass, 1 MiB blocks)
- cryptography SM3 alone, hashlib SHA-256 alone (streaming, same blocks)
- gmssl-pyx SM3 one-shot on 32 MiB in memory (GmSSL's C code; it has no streaming API)
- pure-Python SM3 (the ``gmssl`` package) on 1 MiB, when it is installed: the speed the issue quotes
Plus SM2 sign and verify of a 3 KB manifest (ms per operation).

Run: .venv/bin/python bench/manifest_hash.py   (writes bench/results/manifest_hash.json)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes

from fincorpus.signing import BLOCK, KeyPair, digest_file, verify_signature

REPO = Path(__file__).resolve().parents[1]
SIZE = 256 << 20


def best(fn: Callable[[], object], passes: int = 3) -> float:
    times = []
    for _ in range(passes):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def stream(path: Path, make: Callable[[], object]) -> None:
    h = make()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            h.update(block)  # type: ignore[attr-defined]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.bin"
        with open(path, "wb") as fh:
            for _ in range(SIZE // BLOCK):
                fh.write(os.urandom(BLOCK))
        mb = SIZE / 1e6
        digest_file(path)  # warm the page cache
        runs = {
            "fincorpus digest_file (SHA-256 + SM3, one pass)": lambda: digest_file(path),
            "cryptography SM3 (streaming)": lambda: stream(path, lambda: hashes.Hash(hashes.SM3())),
            "hashlib SHA-256 (streaming)": lambda: stream(path, hashlib.sha256),
        }
        for name, fn in runs.items():
            results[name] = round(mb / best(fn), 1)
        import gmssl_pyx

        buf = os.urandom(32 << 20)
        results["gmssl-pyx SM3 (one-shot, in memory)"] = round(
            32 * 1.048576 / best(lambda: gmssl_pyx.sm3_hash(buf)), 1
        )
        try:
            from gmssl import func, sm3  # pure Python, only if installed

            small = os.urandom(1 << 20)
            results["pure-Python gmssl SM3"] = round(
                1.048576 / best(lambda: sm3.sm3_hash(func.bytes_to_list(small)), 1), 3
            )
        except ImportError:
            results["pure-Python gmssl SM3"] = None
    pair = KeyPair.generate()
    manifest = os.urandom(3000)
    sig = pair.sign(manifest)
    n = 200
    sign_ms = best(lambda: [pair.sign(manifest) for _ in range(n)]) / n * 1000
    verify_ms = best(lambda: [verify_signature(pair.public, manifest, sig) for _ in range(n)]) / n * 1000
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    out = {
        "commit": commit,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "file_mib": SIZE >> 20,
        "method": "best of 3 passes over one random file, page cache warm; MB = 10^6 bytes",
        "mb_per_s": results,
        "sm2_sign_ms": round(sign_ms, 3),
        "sm2_verify_ms": round(verify_ms, 3),
    }
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "manifest_hash.json").write_text(json.dumps(out, indent=2) + "\n")
    for name, v in results.items():
        print(f"{name:<52} {v if v is not None else 'not installed':>10} MB/s")
    print(f"SM2 sign {sign_ms:.3f} ms, verify {verify_ms:.3f} ms (3 KB manifest)")


if __name__ == "__main__":
    main()
