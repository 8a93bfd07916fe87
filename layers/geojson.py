"""A planning feature as GeoJSON: the properties it carries and its Feature object.

Shared by the REST feature API (layers/api.py) and OGC API Features (layers/ogcapi/), so
both publish the same properties under the same names.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from layers.fields import INDICATOR_FIELDS

# Columns read for a feature (`.values(*FEATURE_VALUES, "geojson")`); all but id are properties.
FEATURE_VALUES = ["id", "feature_no", "measure", *[f.name for f in INDICATOR_FIELDS],
                  "attributes"]


def feature_json(row: dict[str, Any], geometry_key: str = "geojson") -> dict[str, Any]:
    """A GeoJSON Feature from a `values()` row whose `geometry_key` holds ST_AsGeoJSON text."""
    props = {k: row[k] for k in FEATURE_VALUES if k != "id"}
    for k, v in props.items():
        if isinstance(v, dt.date):
            props[k] = v.isoformat()
    return {"type": "Feature", "id": row["id"], "geometry": json.loads(row[geometry_key]),
            "properties": props}
