"""Seeding the tile cache: render ahead the tiles a layer's features touch.

Tiles are requested through the same embedded MapProxy application that serves them, so a
seeded tile is byte for byte what a request would have produced, in the same folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO

import numpy as np
from django.db import connection

from layers.importers.writer import partition_name
from layers.models import Layer, LayerVersion
from tiles.cache import ORIGIN_AND_RES0, TILE_PX
from tiles.grids import Grid
from tiles.services import mapproxy_app

ALL_LEVELS = ("public", "internal", "confidential")


def feature_bounds(version: LayerVersion, grid: Grid) -> np.ndarray:
    column = "geom_3857" if grid.epsg == 3857 else "geom"
    with connection.cursor() as cur:
        cur.execute(f"SELECT ST_XMin({column}), ST_YMin({column}), ST_XMax({column}), "
                    f"ST_YMax({column}) FROM {partition_name(version.pk)}")
        return np.array(cur.fetchall(), dtype=float).reshape(-1, 4)


def tiles_to_seed(bounds: np.ndarray, grid: Grid, z: int) -> Iterator[tuple[int, int]]:
    """Distinct (x, y) of the tiles the features' bounding boxes cover at level z."""
    (ox, oy), res0 = ORIGIN_AND_RES0[grid.name]
    size = TILE_PX * res0 / 2**z
    x0 = np.floor((bounds[:, 0] - ox) / size).astype(np.int64)
    x1 = np.floor((bounds[:, 2] - ox) / size).astype(np.int64)
    y0 = np.floor((oy - bounds[:, 3]) / size).astype(np.int64)
    y1 = np.floor((oy - bounds[:, 1]) / size).astype(np.int64)
    seen: set[tuple[int, int]] = set()
    for a, b, c, d in zip(x0, x1, y0, y1, strict=True):
        for x in range(a, b + 1):
            for y in range(c, d + 1):
                if (x, y) not in seen:
                    seen.add((x, y))
                    yield x, y


def render_tile(layer: Layer, grid: Grid, z: int, x: int, y: int) -> int:
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/ows",
               "PATH_INFO": f"/wmts/{layer.code}/{grid.name}/{z}/{x}/{y}.png",
               "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": BytesIO(), "HTTP_HOST": "localhost"}
    body = mapproxy_app(ALL_LEVELS)(environ, lambda s, h, e=None: status.append(s))
    b"".join(body)
    return int(status[0].split()[0])


def seed(layer: Layer, grids: list[Grid], zooms: range, *, threads: int = 2,
         progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    version = layer.versions.filter(state=LayerVersion.State.PUBLISHED).first()
    if version is None:
        raise ValueError(f"图层 {layer.code} 没有已发布版本 (nothing published)")
    jobs = []
    for grid in grids:
        bounds = feature_bounds(version, grid)
        for z in zooms:
            jobs += [(grid, z, x, y) for x, y in tiles_to_seed(bounds, grid, z)]
    counts = {"tiles": len(jobs), "ok": 0, "failed": 0}
    if progress:
        progress(0, len(jobs))

    def work(job: tuple) -> int:
        try:
            return render_tile(layer, *job)
        finally:
            connection.close()  # each worker thread has its own connection

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for status in pool.map(work, jobs):
            counts["ok" if status == 200 else "failed"] += 1
            if progress:
                progress(1, len(jobs))
    return counts
