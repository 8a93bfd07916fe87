"""Write a validated batch as one layer version with COPY (the fast path ogr2ogr uses too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.geos import Polygon as GEOSPolygon
from django.db import connection

from layers.fields import INDICATOR_FIELDS
from layers.models import Feature, LayerVersion

COPY_BATCH = 5000


def write_features(version: LayerVersion, *, feature_nos: np.ndarray, geom_4490: np.ndarray,
                   geom_3857: np.ndarray, measure: np.ndarray,
                   typed: dict[str, list[Any]], extras: list[dict[str, Any]],
                   progress: Callable[[int], None] | None = None) -> int:
    n = len(feature_nos)
    if n == 0:
        return 0
    wkb_4490 = shapely.to_wkb(shapely.set_srid(geom_4490, 4490), hex=True, include_srid=True)
    wkb_3857 = shapely.to_wkb(shapely.set_srid(geom_3857, 3857), hex=True, include_srid=True)
    names = [f.name for f in INDICATOR_FIELDS]
    defaults = {f.name: ("" if f.kind == "text" else None) for f in INDICATOR_FIELDS}
    cols = [typed.get(name) or [defaults[name]] * n for name in names]
    table = Feature._meta.db_table
    columns = ["version_id", "feature_no", "geom", "geom_3857", "measure", *names, "attributes"]
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    measures = [None if np.isnan(m) else float(m) for m in measure]
    with connection.cursor() as cur, cur.copy(sql) as copy:
        for k in range(n):
            copy.write_row((version.pk, int(feature_nos[k]), wkb_4490[k], wkb_3857[k],
                            measures[k], *(c[k] for c in cols),
                            json.dumps(extras[k], ensure_ascii=False)))
            if progress and (k + 1) % COPY_BATCH == 0:
                progress(COPY_BATCH)
    if progress:
        progress(n % COPY_BATCH)
    bounds = shapely.total_bounds(geom_4490)
    x0, y0, x1, y1 = (float(b) for b in bounds)
    if x1 - x0 < 1e-9 or y1 - y0 < 1e-9:
        x0, y0, x1, y1 = x0 - 1e-6, y0 - 1e-6, x1 + 1e-6, y1 + 1e-6
    version.extent = GEOSPolygon.from_bbox((x0, y0, x1, y1))
    version.extent.srid = 4490
    version.feature_count = n
    version.save(update_fields=["extent", "feature_count"])
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {table}")
    return n
