import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fincorpus.sources.archive import RawRefError, WarcArchive, read_raw
from fincorpus.sources.web import BodyTooLarge, decode_content


def test_response_roundtrip_with_content_encoding(home: Path) -> None:
    body = "上海金融监管局通知".encode() * 100
    wire = gzip.compress(body)
    with WarcArchive(home, "raw/r1/s.warc.gz") as a:
        first = a.write_resource(
            url="file:///x.txt", fetched_at=datetime.now(UTC), content_type="text/plain", body=b"x"
        )
        rec = a.write_exchange(
            url="http://a.test/n.html",
            fetched_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            request_headers=[("User-Agent", "fincorpus/0.1")],
            status=200,
            reason="OK",
            response_headers=[
                ("Content-Type", "text/html"),
                ("Content-Encoding", "gzip"),
                ("Transfer-Encoding", "chunked"),
            ],
            wire_body=wire,
            decoded_body=body,
        )
    assert rec.raw_sha256 == hashlib.sha256(body).hexdigest()
    raw = read_raw(home, rec.raw_ref)
    assert raw.body == body and raw.status == 200 and raw.url == "http://a.test/n.html"
    assert raw.record_id == rec.record_id
    assert "transfer-encoding" not in raw.headers
    assert read_raw(home, first.raw_ref).body == b"x"


def test_archive_reopens_for_append(home: Path) -> None:
    refs = []
    for i in range(2):
        with WarcArchive(home, "raw/r/s.warc.gz") as a:
            refs.append(
                a.write_resource(
                    url=f"file:///{i}",
                    fetched_at=datetime.now(UTC),
                    content_type="text/plain",
                    body=str(i).encode(),
                ).raw_ref
            )
    assert [read_raw(home, r).body for r in refs] == [b"0", b"1"]


@pytest.mark.parametrize(
    ("ref", "msg"),
    [
        ("no-offset", "not of the form"),
        ("raw/missing.warc.gz#0", "is missing"),
        ("../../etc/passwd#0", "outside FINCORPUS_HOME"),
    ],
)
def test_bad_raw_refs_are_clear_errors(home: Path, ref: str, msg: str) -> None:
    with pytest.raises(RawRefError, match=msg):
        read_raw(home, ref)


def test_gzip_bomb_is_capped() -> None:
    bomb = gzip.compress(b"0" * 2_000_000)
    with pytest.raises(BodyTooLarge):
        decode_content(bomb, "gzip", 1_000_000)
    assert decode_content(bomb, "gzip", 3_000_000) == b"0" * 2_000_000
    with pytest.raises(ValueError, match="unsupported Content-Encoding"):
        decode_content(b"x", "br", 10)
