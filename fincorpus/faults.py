"""Named crash points for the crash-safety tests.

``FINCORPUS_CRASH_AT=<point>`` makes the process SIGKILL itself when it reaches that point, so a test can kill a
publish exactly on one side of its catalog commit instead of hoping a timed kill lands there. Unset (always, outside
tests) a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "FINCORPUS_CRASH_AT"
POINTS = (
    "publish.before-commit",  # data files written, metadata not yet swapped
    "publish.after-commit",  # the tag is committed, the dedup index and run.json are not updated yet
    "publish.after-index",  # the index is updated, run.json is not marked published yet
)


def point(name: str) -> None:
    assert name in POINTS, name
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
