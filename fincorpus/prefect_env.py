"""Prefect settings for the embedded default, applied before Prefect is imported.

Only defaults are set: an operator who points PREFECT_API_URL at a real server, or sets any of these, wins.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "./fincorpus-home"


def fincorpus_home(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("FINCORPUS_HOME") or DEFAULT_HOME).resolve()


def configure_prefect(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(home / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Measured 10-22 s for the ephemeral server to start; the 20 s default failed on a fresh database.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
