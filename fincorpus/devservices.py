"""Throwaway local services for tests and benchmarks of the scale-out path (not used by the product itself).

- :class:`PgServer`: a PostgreSQL cluster in a temporary folder (initdb, pg_ctl; trust auth on 127.0.0.1; run as
  the ``postgres`` user when started by root, since initdb refuses root), stopped and removed by ``stop()``.
- :class:`S3Server`: moto's S3-compatible server on a free loopback port, with one bucket.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found and shutil.which(name):
        found = [str(shutil.which(name))]
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: run `make test` (it installs Debian's postgresql)"
        )
    return found[-1]


@dataclass
class PgServer:
    root: Path
    port: int
    as_postgres: bool

    @classmethod
    def start(cls) -> PgServer:
        # not under pytest's tmp folder: that is private to root, and the server runs as the postgres user
        root = Path(tempfile.mkdtemp(prefix="fincorpus-pg-"))
        server = cls(root, free_port(), os.geteuid() == 0)
        if server.as_postgres:
            shutil.chown(root, "postgres")
        data = str(root / "data")
        server._run([pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"])
        opts = f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        server._run([pg_bin("pg_ctl"), "-D", data, "-o", opts, "-w", "-l", str(root / "log"), "start"])
        return server

    def _run(self, cmd: list[str]) -> None:
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def create_db(self, name: str) -> str:
        self._run([pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name])
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run([pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class S3Server:
    server: object
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, bucket: str) -> S3Server:
        import boto3
        from moto.server import ThreadedMotoServer

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
        }
        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=bucket)
        return cls(server, env)

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]
