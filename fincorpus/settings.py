"""The three settings that move a corpus from one machine to a cluster, read in one place.

- ``FINCORPUS_CATALOG_URI``: the SQL database of the Iceberg catalog, the crawl state, the locks and (unless Redis
  is configured) the dedup index. Default: ``sqlite:///$FINCORPUS_HOME/catalog.db``. A cluster uses PostgreSQL:
  ``postgresql+psycopg://user:password@host:5432/fincorpus``.
- ``FINCORPUS_WAREHOUSE``: where the Iceberg warehouse, the WARC segments (``raw/``), the staged runs
  (``staging/``) and the site templates (``templates/``) live. Default: the corpus home itself. A cluster uses an
  S3-compatible store: ``s3://bucket/prefix``, with the usual AWS variables (``AWS_ENDPOINT_URL`` for MinIO and
  other S3-compatible servers, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``).
- ``FINCORPUS_DASK_ADDRESS``: ``tcp://scheduler:8786`` for an existing dask.distributed cluster, or ``local:N``
  for a LocalCluster of N worker processes on this machine. Default: a pool of worker processes (Prefect's
  ProcessPoolTaskRunner).

``FINCORPUS_NEAR_INDEX=redis://...`` (optional) keeps the dedup index in Redis; without it the index lives in the
catalog database when that is PostgreSQL, else in ``$FINCORPUS_HOME/near-index.sqlite``.

FINCORPUS_HOME stays a local folder on every machine: the Prefect home, the signing keys, and a spool for WARC
segments that are still being written before they are uploaded to the warehouse.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

REMOTE_SCHEMES = ("s3://", "s3a://")


def catalog_uri(home: Path) -> str:
    return os.environ.get("FINCORPUS_CATALOG_URI") or f"sqlite:///{(home / 'catalog.db').resolve()}"


def catalog_is_sqlite(home: Path) -> bool:
    return catalog_uri(home).startswith("sqlite")


def storage_uri(home: Path) -> str:
    """Root URI of the shared files: ``file:///<home>`` by default, ``s3://bucket/prefix`` on a cluster."""
    uri = os.environ.get("FINCORPUS_WAREHOUSE")
    if uri:
        return uri.rstrip("/")
    return _home_uri(str(home))


@lru_cache(maxsize=32)
def _home_uri(home: str) -> str:
    return Path(home).resolve().as_uri()


def storage_is_remote(home: Path) -> bool:
    return storage_uri(home).startswith(REMOTE_SCHEMES)


def s3_options() -> dict[str, str]:
    """pyarrow S3FileSystem keyword options from the standard AWS variables (empty values left out)."""
    opts = {
        "endpoint_override": os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("FINCORPUS_S3_ENDPOINT"),
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": os.environ.get("AWS_SESSION_TOKEN"),
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    }
    return {k: v for k, v in opts.items() if v}


def iceberg_s3_properties() -> dict[str, str]:
    """The same settings as PyIceberg FileIO properties."""
    o = s3_options()
    props = {
        "s3.endpoint": o.get("endpoint_override"),
        "s3.access-key-id": o.get("access_key"),
        "s3.secret-access-key": o.get("secret_key"),
        "s3.session-token": o.get("session_token"),
        "s3.region": o.get("region"),
    }
    return {k: v for k, v in props.items() if v}


def dask_address() -> str | None:
    return os.environ.get("FINCORPUS_DASK_ADDRESS") or None


def describe(home: Path) -> dict[str, str]:
    """The effective settings, for logs and `fincorpus settings`."""
    return {
        "home": str(home),
        "catalog": redact(catalog_uri(home)),
        "warehouse": storage_uri(home),
        "compute": dask_address()
        or f"local worker processes ({os.environ.get('FINCORPUS_WORKERS') or os.cpu_count()})",
        "dedup index": os.environ.get("FINCORPUS_NEAR_INDEX")
        or ("catalog database" if not catalog_is_sqlite(home) else str(home / "near-index.sqlite")),
    }


def redact(uri: str) -> str:
    """A database URI without its password."""
    if "://" in uri and "@" in uri.split("://", 1)[1]:
        scheme, rest = uri.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return uri
