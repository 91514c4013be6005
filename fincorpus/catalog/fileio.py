"""A corpus home that can be moved or restored elsewhere: the catalog's absolute paths are resolved per home.

Iceberg metadata stores absolute locations (metadata files, manifest lists, manifests, data files). A home records
where it was created (``home.json``: its *origin*), the embedded catalog always writes locations under that origin,
and this FileIO (PyIceberg's ``py-io-impl``) maps the origin prefix to wherever the home is now. A home copied,
moved or restored from a backup to another path therefore reads and writes its own files, never the original
folder's; the locations stay ordinary ``file://`` URIs that other Iceberg readers understand at the origin path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.typedef import EMPTY_DICT, Properties

ORIGIN = "fincorpus.origin"  # file:// URI of the home where the catalog was created
ROOT = "fincorpus.root"  # file:// URI of the home as it is now


def home_origin(home: Path) -> str:
    """The home's origin URI (written once, at creation; a legacy home's current path becomes its origin)."""
    marker = home / "home.json"
    if marker.is_file():
        return str(json.loads(marker.read_text(encoding="utf-8"))["origin"])
    origin = home.resolve().as_uri()
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"origin": origin}, indent=2), encoding="utf-8")
    tmp.replace(marker)
    return origin


class HomeFileIO(PyArrowFileIO):
    """PyArrowFileIO whose ``file://<origin>/...`` locations resolve under the current home."""

    @staticmethod
    def parse_location(location: str, properties: Properties = EMPTY_DICT) -> tuple[str, str, str]:
        origin, root = properties.get(ORIGIN), properties.get(ROOT)
        if origin and root and origin != root:
            for prefix in (origin.rstrip("/") + "/", origin.removeprefix("file://").rstrip("/") + "/"):
                if location.startswith(prefix):
                    location = root.rstrip("/") + "/" + location[len(prefix) :]
                    break
        return PyArrowFileIO.parse_location(location, properties)


def catalog_properties(home: Path) -> dict[str, Any]:
    """PyIceberg catalog properties: the warehouse, and how its files are reached.

    Local warehouse (the default): under the home's origin, mapped to where the home is now. Object store
    (FINCORPUS_WAREHOUSE=s3://...): its absolute s3:// locations and the S3 settings of the AWS variables.
    """
    from fincorpus.settings import iceberg_s3_properties, storage_is_remote, storage_uri

    if storage_is_remote(home):
        return {"warehouse": storage_uri(home) + "/warehouse", **iceberg_s3_properties()}
    origin = home_origin(home)
    return {
        "warehouse": origin.rstrip("/") + "/warehouse",
        "py-io-impl": f"{HomeFileIO.__module__}.{HomeFileIO.__qualname__}",
        ORIGIN: origin,
        ROOT: home.resolve().as_uri(),
    }
