"""Raw records on an S3-compatible store (moto's server, started by the session fixture): read through a window
of ranged GETs, so a shard costs one request per window, not a HEAD and a GET per document."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fincorpus.sources import archive
from fincorpus.sources.archive import RawRefError, WarcArchive, read_raw


@pytest.fixture
def remote_home(home: Path, s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch, request) -> Path:  # type: ignore[no-untyped-def]
    for k, v in s3_server.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("FINCORPUS_WAREHOUSE", f"s3://fincorpus-test/raw-{request.node.name[:40]}")
    return home


def _write(home: Path, n: int) -> list[tuple[str, bytes]]:
    rng = random.Random(7)
    out = []
    with WarcArchive(home, "raw/r1/s-001.warc.gz") as a:
        for i in range(n):
            # incompressible-ish bodies of 1-6 KB, so records are of different lengths
            body = (f"第{i}号公告。".encode() + rng.randbytes(rng.randint(1000, 6000))).hex().encode()
            rec = a.write_resource(
                url=f"file:///{i}.txt", fetched_at=datetime.now(UTC), content_type="text/plain", body=body
            )
            assert rec.raw_sha256 == hashlib.sha256(body).hexdigest()
            out.append((rec.raw_ref, body))
    assert not archive.spool_path(home, "raw/r1/s-001.warc.gz").exists()  # uploaded, read from S3
    return out


def _count_gets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = archive._RemoteSegment.__init__

    def init(self, store, relpath):  # type: ignore[no-untyped-def]
        real(self, store, relpath)
        file = self.file

        class Counting:
            def read_at(self, n: int, pos: int) -> bytes:
                calls.append(n)
                return file.read_at(n, pos)

        self.file = Counting()

    monkeypatch.setattr(archive._RemoteSegment, "__init__", init)
    monkeypatch.setattr(archive._RemoteSegment, "_open", {})
    return calls


def test_records_are_read_through_a_window_of_ranged_gets(
    remote_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _write(remote_home, 300)
    gets = _count_gets(monkeypatch)
    assert [read_raw(remote_home, ref).body for ref, _ in records] == [b for _, b in records]
    size = archive.Storage(archive.storage_uri(remote_home)).size("raw/r1/s-001.warc.gz")
    assert size > 2 * 300 * 1000
    # in write order: one GET per window of the segment, not one per record
    assert len(gets) <= size // archive.REMOTE_WINDOW + 2, (len(gets), size)


def test_records_across_window_edges_and_out_of_order(
    remote_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _write(remote_home, 120)
    gets = _count_gets(monkeypatch)
    monkeypatch.setattr(
        archive, "REMOTE_WINDOW", 5000
    )  # a window is then one buffer read (64 KB): a few records
    order = list(range(len(records)))
    random.Random(3).shuffle(order)
    for i in order:
        ref, body = records[i]
        assert read_raw(remote_home, ref).body == body
    assert len(gets) > len(records) // 2  # out of order, windows are fetched again and again


def test_two_shards_read_at_once_keep_their_own_windows(
    remote_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two threads of a Dask worker read two shards of one segment at once: with a single window they took
    turns replacing it, one GET per document."""
    records = _write(remote_home, 300)
    gets = _count_gets(monkeypatch)
    monkeypatch.setattr(archive, "REMOTE_WINDOW", 100_000)
    half = len(records) // 2
    for a, b in zip(records[:half], records[half:], strict=True):  # interleaved, each half in order
        assert read_raw(remote_home, a[0]).body == a[1]
        assert read_raw(remote_home, b[0]).body == b[1]
    size = archive.Storage(archive.storage_uri(remote_home)).size("raw/r1/s-001.warc.gz")
    assert len(gets) <= size // 100_000 + 4, (len(gets), size)


def test_a_missing_remote_segment_is_one_clear_error(remote_home: Path) -> None:
    with pytest.raises(RawRefError, match=r"raw/r1/none\.warc\.gz.*is missing"):
        read_raw(remote_home, "raw/r1/none.warc.gz#0")


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_streamed_write_is_whole_or_absent(home: Path, where: str, request) -> None:  # type: ignore[no-untyped-def]
    """``Storage.write_chunks`` (the crawl logs of a run, a line batch at a time): an iterator failing half way
    leaves the earlier file as it was, locally and on object storage; a whole iterator writes every chunk."""
    from fincorpus.pipelines.ingest import staging

    if where == "s3":
        request.getfixturevalue("remote_home")
    store = staging(home)
    assert store.remote == (where == "s3")
    store.write_chunks("run/log.jsonl", (f"{i}\n".encode() for i in range(5000)))
    assert store.read_bytes("run/log.jsonl") == "".join(f"{i}\n" for i in range(5000)).encode()

    def failing():  # type: ignore[no-untyped-def]
        yield b"partial\n"
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        store.write_chunks("run/log.jsonl", failing())
    assert store.read_bytes("run/log.jsonl").startswith(b"0\n1\n")
    with pytest.raises(RuntimeError):
        store.write_chunks("run/other.jsonl", failing())
    assert not store.exists("run/other.jsonl")
    assert store.list("run") == ["log.jsonl"]  # no temporary file left behind
