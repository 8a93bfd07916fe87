"""Geometry validation and normalisation for imports, on whole arrays.

Repairs what can be repaired safely (and says so per feature), normalises ring orientation
and repeated points, flags slivers and spikes, checks every feature lies in the county, and
computes the storage (4490), tile (3857) and measuring (county projected) forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from django.conf import settings

from layers import crs
from layers.importers.base import FeatureBatch, Problem
from layers.importers.extent import diagnose, inside_county

POLYGONAL = {"Polygon", "MultiPolygon"}
LINEAR = {"LineString", "MultiLineString", "LinearRing"}
PUNCTUAL = {"Point", "MultiPoint"}
ACCEPTED = {"polygon": POLYGONAL, "line": LINEAR, "point": PUNCTUAL}
# shapely type ids 0..7, and "" for a missing geometry
_TYPE_NAMES = ["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
               "MultiPolygon", "GeometryCollection", ""]
GEOM_NAMES_ZH = {"polygon": "面", "line": "线", "point": "点"}


@dataclass
class ValidatedGeometries:
    keep: np.ndarray  # bool mask over the batch: features that will be written
    geom_4490: np.ndarray
    geom_3857: np.ndarray
    measure: np.ndarray  # m² or m in the county projected CRS
    repaired: int = 0
    problems: list[Problem] = field(default_factory=list)


def _transform(geoms: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return geoms
    t = crs.transformer(src, dst)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _extract(geom: shapely.Geometry, wanted: set[str]) -> shapely.Geometry | None:
    """Keep the parts of a repaired geometry that have the wanted dimension."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in wanted:
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in wanted and not g.is_empty]
        if parts:
            return shapely.union_all(parts)
    return None


def _to_multi(geoms: np.ndarray, kind: str) -> np.ndarray:
    if kind == "point":
        return geoms
    single = "Polygon" if kind == "polygon" else "LineString"
    maker = shapely.multipolygons if kind == "polygon" else shapely.multilinestrings
    types = shapely.get_type_id(geoms)
    out = geoms.copy()
    single_id = 3 if single == "Polygon" else 1
    mask = types == single_id
    if mask.any():
        out[mask] = [maker([g]) for g in geoms[mask]]
    return out


def _spike_features(geoms: np.ndarray, max_angle_deg: float) -> np.ndarray:
    """Indices of polygon features having a vertex whose interior angle is below the limit."""
    parts, part_idx = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:
        return np.array([], dtype=int)
    # Drop each ring's closing point, then look at (prev, this, next) with wrap-around.
    last_of_ring = np.r_[ring_idx[1:] != ring_idx[:-1], True]
    coords, ring_idx = coords[~last_of_ring], ring_idx[~last_of_ring]
    starts = np.r_[0, np.flatnonzero(ring_idx[1:] != ring_idx[:-1]) + 1]
    ends = np.r_[starts[1:], len(coords)]
    pos = np.arange(len(coords))
    start_of = np.repeat(starts, ends - starts)
    end_of = np.repeat(ends, ends - starts)
    prev_i = np.where(pos == start_of, end_of - 1, pos - 1)
    next_i = np.where(pos == end_of - 1, start_of, pos + 1)
    a = coords[prev_i] - coords
    b = coords[next_i] - coords
    na = np.hypot(a[:, 0], a[:, 1])
    nb = np.hypot(b[:, 0], b[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.clip((a * b).sum(axis=1) / (na * nb), -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    spiky_rings = np.unique(ring_idx[angle < max_angle_deg])
    return np.unique(part_idx[ring_part[spiky_rings]]) if len(spiky_rings) else spiky_rings


def validate_geometries(batch: FeatureBatch, *, epsg: int, kind: str) -> ValidatedGeometries:
    n = len(batch)
    problems: list[Problem] = []
    geoms = batch.geometries.copy()
    keep = np.ones(n, dtype=bool)
    wanted = ACCEPTED[kind]

    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        problems.append(Problem("几何为空 (empty or missing geometry)", batch.location(i)))
    keep &= ~missing

    type_ids = shapely.get_type_id(geoms)
    types = np.array(_TYPE_NAMES, dtype=object)[np.where(type_ids < 0, 8, type_ids)]
    # A closed line where a polygon is required is the classic unclosed-ring CAD mistake.
    wrong = keep & ~np.isin(types, list(wanted | {"GeometryCollection"}))
    for i in np.flatnonzero(wrong):
        hint = ""
        if kind == "polygon" and types[i] in LINEAR:
            hint = "；若为边界线请闭合 (close the ring if it is a boundary)"
        problems.append(Problem(f"几何类型为 {types[i]}，本图层要求{GEOM_NAMES_ZH[kind]} "
                                f"(expected {kind}){hint}", batch.location(i)))
    keep &= ~wrong

    # Coordinates must be finite before anything else looks at them.
    has_nan = np.zeros(n, dtype=bool)
    coords, owner = shapely.get_coordinates(geoms[keep], return_index=True)
    has_nan[np.flatnonzero(keep)[np.unique(owner[~np.isfinite(coords).all(axis=1)])]] = True
    for i in np.flatnonzero(has_nan):
        problems.append(Problem("坐标含非数值 (NaN/Inf coordinates)", batch.location(i)))
    keep &= ~has_nan

    # In the county? Test a representative point of each feature in 4490.
    idx = np.flatnonzero(keep)
    if len(idx):
        # First vertex of each feature: robust on invalid geometry, cheap on 100 000.
        coords, owner = shapely.get_coordinates(geoms[idx], return_index=True)
        first = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]
        px, py = coords[first, 0], coords[first, 1]
        try:
            lon, lat = crs.transformer(epsg, crs.CGCS2000_GEOGRAPHIC).transform(px, py)
        except Exception:  # noqa: BLE001 - pyproj errors on out-of-domain input
            lon, lat = np.full(len(px), np.nan), np.full(len(px), np.nan)
        outside = ~inside_county(np.asarray(lon), np.asarray(lat))
        for j in np.flatnonzero(outside)[:50]:
            problems.append(Problem(
                f"坐标 ({px[j]:.3f}, {py[j]:.3f}) 不在内乡县范围内：{diagnose(px[j], py[j], epsg)}",
                batch.location(idx[j])))
        if outside.sum() > 50:
            problems.append(Problem(f"另有 {int(outside.sum()) - 50} 个要素不在县域内 "
                                    "(more features outside the county)"))
        keep[idx[outside]] = False

    idx = np.flatnonzero(keep)
    work = geoms[idx]
    # Repeated points (within 1 mm) carry no information and break spike tests.
    tolerance = 1e-8 if crs.pyproj_crs(epsg).is_geographic else 1e-3
    work = shapely.remove_repeated_points(work, tolerance)

    valid = shapely.is_valid(work)
    repaired = 0
    for j in np.flatnonzero(~valid):
        reason = shapely.is_valid_reason(work[j])
        fixed = _extract(shapely.make_valid(work[j], method="structure", keep_collapsed=False),
                         wanted)
        i = idx[j]
        if fixed is None:
            problems.append(Problem(f"几何无效且无法修复：{reason} (invalid, cannot be repaired)",
                                    batch.location(i)))
            keep[i] = False
        else:
            work[j] = fixed
            repaired += 1
            problems.append(Problem(f"几何无效，已修复：{reason} (invalid geometry repaired)",
                                    batch.location(i), severity="repaired"))
    ok = keep[idx]
    idx, work = idx[ok], work[ok]

    if kind == "polygon":
        work = shapely.orient_polygons(work, exterior_cw=False)
    work = _to_multi(work, kind)

    geom_4490 = _transform(work, epsg, crs.CGCS2000_GEOGRAPHIC)
    projected = _transform(work, epsg, settings.COUNTY_PROJECTED_SRID)
    geom_3857 = _transform(geom_4490, crs.CGCS2000_GEOGRAPHIC, crs.WEB_MERCATOR)
    if kind == "polygon":
        measure = shapely.area(projected)
        perimeter = shapely.length(projected)
        with np.errstate(divide="ignore", invalid="ignore"):
            thinness = 4 * np.pi * measure / perimeter**2
        sliver = (measure < settings.SLIVER_MIN_AREA_M2) | (thinness < settings.SLIVER_MAX_THINNESS)
        for j in np.flatnonzero(sliver):
            problems.append(Problem(f"疑似碎片多边形：面积 {measure[j]:.3f} m²，紧凑度 "
                                    f"{thinness[j]:.4f} (possible sliver)",
                                    batch.location(idx[j]), severity="warning"))
        for j in _spike_features(projected, settings.SPIKE_MAX_ANGLE_DEG):
            problems.append(Problem(f"疑似尖刺：存在小于 {settings.SPIKE_MAX_ANGLE_DEG}° 的顶点角 "
                                    "(possible spike)", batch.location(idx[j]),
                                    severity="warning"))
    elif kind == "line":
        measure = shapely.length(projected)
    else:
        measure = np.full(len(work), np.nan)

    full_4490 = np.full(n, None, dtype=object)
    full_3857 = np.full(n, None, dtype=object)
    full_measure = np.full(n, np.nan)
    full_4490[idx], full_3857[idx], full_measure[idx] = geom_4490, geom_3857, measure
    return ValidatedGeometries(keep=keep, geom_4490=full_4490, geom_3857=full_3857,
                               measure=full_measure, repaired=repaired, problems=problems)
