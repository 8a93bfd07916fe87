"""The one spatial query behind the join and the conformity check.

For a set of footprints and a set of layer versions, PostGIS returns every feature that
overlaps a footprint (or lies within a setback distance of it), with the intersection
computed in the county projected CRS: areas are planar m² there, as reviewers measure them.

Set-based on purpose: a single check and a re-check of ten thousand projects after a plan
change run the same SQL, only with more footprint ids. Each version is its own UNION ALL
branch with a literal version id, so the planner prunes to that version's partition and
uses its GiST index.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import shapely
from django.conf import settings
from django.db import connection

from approvals_link.models import ProjectFootprint
from layers.models import Feature

# Features with more vertices than this are first cut to the footprint's neighbourhood in
# EPSG:4490, so a county-wide boundary is not transformed whole for every footprint.
CLIP_ABOVE_POINTS = 256
# Degrees per metre, generous at Neixiang's latitude (1° of longitude ≈ 93 km there).
DEG_PER_M = 1 / 80_000
CLIP_MARGIN_DEG = 0.002


@dataclass
class Hit:
    feature_id: int
    label: str
    land_use_code: str
    land_use_name: str
    limits: dict[str, float | None]
    area_m2: float
    feature_area_m2: float | None
    distance_m: float
    geom: shapely.Geometry  # the overlap (or the setback band), EPSG:COUNTY_PROJECTED_SRID


@dataclass
class Overlay:
    """Hits by footprint id, then by (version id, setback distance); footprints in the
    projected CRS."""

    footprints: dict[int, shapely.Geometry] = field(default_factory=dict)
    hits: dict[int, dict[tuple[int, float], list[Hit]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))


_FEATURE = Feature._meta.db_table
_FOOTPRINT = ProjectFootprint._meta.db_table
_LIMIT_COLUMNS = ("far_max", "far_min", "density_max", "green_min", "height_max")


def _branch(version_id: int, distance_m: float) -> str:
    """SQL of one version's hits; `distance_m` > 0 asks for the setback band instead."""
    version_id = int(version_id)
    reach = float(distance_m) * DEG_PER_M
    # ClipByBox2D is a fast rectangle clip that may leave the cut invalid along the box
    # edge, far from the footprint; MakeValid on the small remainder is cheap and leaves
    # the part near the footprint as it was.
    clip = (f"CASE WHEN ST_NPoints(f.geom) > {CLIP_ABOVE_POINTS} "
            "THEN ST_MakeValid(ST_ClipByBox2D(f.geom, "
            f"ST_Expand(fp.geom, {reach + CLIP_MARGIN_DEG!r}))) ELSE f.geom END")
    if distance_m > 0:
        near = f"f.geom && ST_Expand(fp.geom, {reach!r})"
        keep = f"ST_DWithin(c.fg, fp.g, {float(distance_m)!r})"
        piece = f"ST_Intersection(fp.g, ST_Buffer(c.fg, {float(distance_m)!r}))"
        dist = "ST_Distance(c.fg, fp.g)"
    else:
        near = "ST_Intersects(f.geom, fp.geom)"
        keep = "true"
        piece = "ST_Intersection(c.fg, fp.g)"
        dist = "0.0"
    limits = ", ".join(f"f.{c}" for c in _LIMIT_COLUMNS)
    return f"""
      SELECT fp.id, {version_id}, {float(distance_m)!r}::float8, f.id, coalesce(nullif(f.parcel_no, ''), f.name),
             f.land_use_code, f.land_use_name, {limits},
             CASE WHEN ST_NPoints(f.geom) > {CLIP_ABOVE_POINTS} THEN NULL
                  ELSE ST_Area(c.fg) END,
             {dist}, ST_AsBinary(x.piece)
      FROM fp JOIN {_FEATURE} f ON f.version_id = {version_id} AND {near}
      CROSS JOIN LATERAL (SELECT ST_Transform({clip}, %(srid)s) AS fg) c
      CROSS JOIN LATERAL (SELECT {piece} AS piece) x
      WHERE {keep}"""


def overlay(footprint_ids: list[int], requests: set[tuple[int, float]]) -> Overlay:
    """Hits of the footprints against the requested (version id, setback distance m; 0 for
    overlap) pairs. Edge-only contacts come back with area 0; callers decide what counts."""
    result = Overlay()
    if not footprint_ids:
        return result
    srid = settings.COUNTY_PROJECTED_SRID
    params = {"ids": list(footprint_ids), "srid": srid}
    with connection.cursor() as cur:
        cur.execute(f"SELECT id, ST_AsBinary(ST_Transform(geom, %(srid)s)) FROM {_FOOTPRINT} "
                    "WHERE id = ANY(%(ids)s)", params)
        for fid, wkb in cur.fetchall():
            result.footprints[fid] = shapely.from_wkb(bytes(wkb))
        if not requests:
            return result
        branches = " UNION ALL ".join(_branch(v, d) for v, d in sorted(requests))
        cur.execute(f"""
            WITH fp AS MATERIALIZED (
              SELECT id, geom, ST_Transform(geom, %(srid)s) AS g FROM {_FOOTPRINT}
              WHERE id = ANY(%(ids)s))
            {branches}""", params)
        rows = cur.fetchall()
    if not rows:
        return result
    geoms = shapely.from_wkb(np.array([bytes(r[-1]) for r in rows], dtype=object))
    areas = shapely.area(geoms)
    n_limits = len(_LIMIT_COLUMNS)
    for row, geom, area in zip(rows, geoms, areas, strict=True):
        fp_id, version_id, setback, feature_id, label, code, name = row[:7]
        limits = dict(zip(_LIMIT_COLUMNS, row[7:7 + n_limits], strict=True))
        feature_area, distance = row[7 + n_limits], row[8 + n_limits]
        result.hits[fp_id][(version_id, setback)].append(Hit(
            feature_id=feature_id, label=label or "", land_use_code=code or "",
            land_use_name=name or "", limits=limits, area_m2=float(area),
            feature_area_m2=feature_area, distance_m=float(distance), geom=geom))
    return result
