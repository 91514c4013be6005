"""Erasing WARC records in place: same length, every other record still at its offset and readable."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fincorpus.sources.archive import WarcArchive, read_raw
from fincorpus.sources.scrub import ScrubError, is_tombstone, members, scrub_file, tombstone_member

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def segment(home: Path) -> tuple[str, list[str]]:
    """Three HTTP exchanges (response + request) and two resource records, our own bodies."""
    rel = "raw/p/src-001.warc.gz"
    refs = []
    with WarcArchive(home, rel) as arc:
        for i in range(3):
            body = f"<html><body><p>第{i}号通知：本页正文 {i * 7919}</p></body></html>".encode()
            refs.append(
                arc.write_exchange(
                    url=f"http://a.test/{i}.html",
                    fetched_at=WHEN,
                    request_headers=[("User-Agent", "t")],
                    status=200,
                    reason="OK",
                    response_headers=[("Content-Type", "text/html; charset=utf-8")],
                    wire_body=body,
                    decoded_body=body,
                ).raw_ref
            )
        for i in range(2):
            refs.append(
                arc.write_resource(
                    url=f"file:///in/{i}.txt",
                    fetched_at=WHEN,
                    content_type="text/plain",
                    body=f"资源{i}".encode(),
                ).raw_ref
            )
    return rel, refs


@pytest.mark.parametrize(
    "length", [220, 221, 300, 333, 1024, 70_000]
)  # fincorpus writes none below 284 bytes
def test_a_tombstone_member_has_exactly_the_length_and_reads_as_a_record(length: int) -> None:
    member = tombstone_member(length, "req1", "http://a.test/x.html", "<urn:uuid:1>")
    assert len(member) == length
    d = zlib.decompressobj(31)
    record = d.decompress(member)
    assert d.eof and d.unused_data == b""
    assert b"WARC-Type: resource" in record and b"removed by takedown req1" in record


def test_a_member_too_short_for_a_tombstone_is_refused() -> None:
    with pytest.raises(ScrubError, match="too short"):
        tombstone_member(60, "req1", None, None)


def test_erasing_an_exchange_keeps_every_other_record_at_its_offset(home: Path) -> None:
    rel, refs = segment(home)
    before = list(members(home / rel))
    assert len(before) == 8  # 3 x (response, request) + 2 resources
    target = int(refs[1].rpartition("#")[2])
    assert scrub_file(home, rel, [target], [], "req-42") == [target]

    after = list(members(home / rel))
    request_of_target = before[[m.offset for m in before].index(target) + 1]
    assert [m.offset for m in after] == [m.offset for m in before if m.offset != request_of_target.offset]
    assert (home / rel).stat().st_size == sum(m.length for m in before)
    rec = read_raw(home, refs[1])
    assert rec.body == b"removed by takedown req-42\r\n" and rec.url == "http://a.test/1.html"
    assert is_tombstone(home, refs[1]) and not is_tombstone(home, refs[0])
    for ref in refs[:1] + refs[2:]:
        assert b"removed" not in read_raw(home, ref).body
    raw = gzip.decompress((home / rel).read_bytes())
    assert "本页正文 7919".encode() not in raw and "本页正文 15838".encode() in raw
    assert scrub_file(home, rel, [target], [], "req-42") == []  # idempotent


def test_records_are_found_by_url_too_and_a_wrong_offset_is_an_error(home: Path) -> None:
    rel, refs = segment(home)
    done = scrub_file(home, rel, [], ["http://a.test/2.html", "file:///in/0.txt"], "req-7")
    assert sorted(done) == sorted(int(r.rpartition("#")[2]) for r in (refs[2], refs[3]))
    with pytest.raises(ScrubError, match="no record starts at offset"):
        scrub_file(home, rel, [5], [], "req-7")
