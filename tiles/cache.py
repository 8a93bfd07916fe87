"""Where a layer's tiles live, and which tiles a geometry touches.

Cache folders are keyed by layer, published version and a digest of the style, so a new
version or a restyled layer starts from a fresh folder (the old one can never be served),
and a feature edit inside the version removes exactly the tiles it touches. Files follow
MapProxy's "tms" layout with rows counted from the top: {grid}/{z}/{x}/{y}.png, which is also
the WMTS REST address, so a web server can serve public tiles straight from disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from django.conf import settings

from layers import crs
from layers.models import Layer
from tiles.grids import CGCS2000, GRIDS, MAX_LEVEL, WEBMERCATOR, Grid

WEBMERCATOR_HALF = 20037508.342789244
# The top-left corner and level-0 resolution of each grid (see mapproxy.yaml).
ORIGIN_AND_RES0 = {
    WEBMERCATOR.name: ((-WEBMERCATOR_HALF, WEBMERCATOR_HALF), 2 * WEBMERCATOR_HALF / 256),
    CGCS2000.name: ((-180.0, 90.0), 1.40625),
}
TILE_PX = 256
# Strokes reach a little beyond a geometry: tiles this many pixels away count as touched.
MARGIN_PX = 4


def style_digest(layer: Layer) -> str:
    return hashlib.sha1(json.dumps(layer.style, sort_keys=True).encode()).hexdigest()[:8]


def version_dir(layer: Layer, version_id: int) -> Path:
    return Path(settings.TILE_CACHE_DIR) / layer.code / f"v{version_id}-{style_digest(layer)}"


def cache_dir(layer: Layer, version_id: int, grid: str) -> Path:
    return version_dir(layer, version_id) / grid


@dataclass(frozen=True)
class TileRange:
    z: int
    x0: int
    x1: int  # inclusive
    y0: int
    y1: int


def tile_bounds(grid: Grid, z: int, x: int, y: int) -> tuple[float, float, float, float]:
    (ox, oy), res0 = ORIGIN_AND_RES0[grid.name]
    size = TILE_PX * res0 / 2**z
    return ox + x * size, oy - (y + 1) * size, ox + (x + 1) * size, oy - y * size


def touched_ranges(grid: Grid, bounds: tuple[float, float, float, float],
                   levels: range = range(MAX_LEVEL + 1)) -> Iterator[TileRange]:
    """Tile ranges per level covering `bounds` (in the grid's CRS), margin included."""
    (ox, oy), res0 = ORIGIN_AND_RES0[grid.name]
    minx, miny, maxx, maxy = bounds
    for z in levels:
        res = res0 / 2**z
        size = TILE_PX * res
        margin = MARGIN_PX * res
        n = 2**z if grid is WEBMERCATOR else 2 ** (z + 1)
        x0 = max(0, int(np.floor((minx - margin - ox) / size)))
        x1 = min(n - 1, int(np.floor((maxx + margin - ox) / size)))
        y0 = max(0, int(np.floor((oy - maxy - margin) / size)))
        y1 = min(n - 1, int(np.floor((oy - miny + margin) / size)))
        if x0 <= x1 and y0 <= y1:
            yield TileRange(z, x0, x1, y0, y1)


def to_grid_crs(geoms: list[shapely.Geometry], grid: Grid) -> list[shapely.Geometry]:
    if grid.epsg == crs.CGCS2000_GEOGRAPHIC:
        return geoms
    t = crs.transformer(crs.CGCS2000_GEOGRAPHIC, grid.epsg)
    return [shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
            for g in geoms]


def remove_touched_tiles(folder: Path, grid: Grid, geoms_4490: list[shapely.Geometry]) -> int:
    """Delete the cached tiles of `folder` (one grid) that touch any of the geometries.
    Walks only what exists, so a sparse cache costs little even for a county-wide change."""
    if not folder.is_dir() or not geoms_4490:
        return 0
    geoms = [g for g in to_grid_crs(geoms_4490, grid) if g is not None and not g.is_empty]
    if not geoms:
        return 0
    changed = shapely.union_all(geoms)
    shapely.prepare(changed)
    removed = 0
    for rng in touched_ranges(grid, changed.bounds):
        level = folder / str(rng.z)
        if not level.is_dir():
            continue
        res = ORIGIN_AND_RES0[grid.name][1] / 2**rng.z
        for xdir in os.scandir(level):
            if not xdir.name.isdigit() or not rng.x0 <= int(xdir.name) <= rng.x1:
                continue
            x = int(xdir.name)
            for tile in os.scandir(xdir.path):
                stem = tile.name.split(".", 1)[0]
                if not stem.isdigit() or not rng.y0 <= int(stem) <= rng.y1:
                    continue
                box = shapely.box(*tile_bounds(grid, rng.z, x, int(stem))).buffer(
                    MARGIN_PX * res, join_style="mitre")
                if changed.intersects(box):
                    os.unlink(tile.path)
                    removed += 1
    return removed


def all_grids() -> tuple[Grid, ...]:
    return GRIDS
