"""flows._settled: a task future left unfinished (as prefect-dask leaves one after a lost worker) is submitted again;
a task that really failed raises its own error. Real Prefect server (the suite's harness), real task runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_a_future_left_pending_is_submitted_again_and_a_failure_still_raises(
    prefect_harness: None, tmp_path: Path
) -> None:
    sys.path.insert(0, str(REPO))
    from prefect import flow, task
    from prefect.cache_policies import NONE
    from prefect.exceptions import UnfinishedRun

    import flows

    marker = tmp_path / "upstream-ran-once"

    @task(cache_policy=NONE)
    def upstream() -> int:
        if not marker.exists():  # the first run fails, as a run on a lost worker does
            marker.write_text("x")
            raise RuntimeError("lost")
        return 1

    @task(cache_policy=NONE)
    def shard(n: int) -> int:
        return n * 10

    @task(cache_policy=NONE)
    def broken() -> int:
        raise ValueError("a real failure")

    @flow
    def left_pending() -> dict:
        up = upstream.submit()
        fut = shard.submit(4, wait_for=[up])  # its dependency failed: Prefect leaves it PENDING "NotReady"
        fut.wait()
        state = fut.state
        with pytest.raises(UnfinishedRun):  # what ingest_flow's plain result() raised in CI
            fut.result()
        calls: list[int] = []

        def again():
            calls.append(1)
            return shard.submit(4)

        value = flows._settled(shard.submit(4, wait_for=[up]), again, "shard 4")
        with pytest.raises(ValueError, match="a real failure"):  # a failed task is not submitted again
            flows._settled(broken.submit(), lambda: pytest.fail("resubmitted a failed task"), "broken")
        return {"state": (state.type.value, state.name), "value": value, "calls": len(calls)}

    out = left_pending()
    assert out["state"] == ("PENDING", "NotReady")
    assert out["value"] == 40 and out["calls"] == 1
