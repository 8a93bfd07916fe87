"""What the blueprint page asks of the data: identify, search, measure, check a boundary.

Everything reads through the layer and project selectors (so visibility is applied in one
place), transforms through the CRS registry, and measures in the county projected CRS.
Nothing here writes: the boundary check reads and validates an upload with the importer
framework and intersects it in PostGIS without storing a row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db import connection

from approvals_link.selectors import visible_projects
from layers import crs, selectors
from layers.fields import INDICATOR_FIELDS
from layers.importers.base import Problem
from layers.importers.extent import diagnose, inside_county
from layers.importers.writer import partition_name
from layers.models import Feature, Layer, LayerVersion
from layers.services import ImportRejected, check_polygon_file

MU_M2 = 2000 / 3  # 1 亩 = 666.6667 m²
WEB_MERCATOR_PIXEL_Z0 = 2 * math.pi * 6378137 / 256  # metres per pixel at zoom 0
IDENTIFY_TOLERANCE_PX = 5
IDENTIFY_MAX_FEATURES = 20  # per layer
IDENTIFY_MAX_LAYERS = 50
SEARCH_LIMIT = 10
MEASURE_MAX_VERTICES = 10_000
POINT_BBOX_DEG = 0.001  # half-size of the box a coordinate result zooms to

_FIELD_COLUMNS = [f.name for f in INDICATOR_FIELDS]
_SELECT = ", ".join(["id", "feature_no", "measure", *_FIELD_COLUMNS, "attributes"])


class BadInput(ValueError):
    """The caller's input cannot be used; `code` and the message go back as a 400."""

    def __init__(self, code: str, message: str, parameter: str | None = None):
        self.code = code
        self.parameter = parameter
        super().__init__(message)


# --- Properties with labels ----------------------------------------------------------------

def labelled_fields(row: dict[str, Any], lang: str = "zh") -> list[dict[str, Any]]:
    """The indicator values a feature carries, each with its label (Chinese, or English for
    lang=en), standard column name and unit; empty values are left out."""
    en = lang.startswith("en")
    out = []
    for f in INDICATOR_FIELDS:
        value = row.get(f.name)
        if value is None or value == "":
            continue
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        out.append({"name": f.name, "standard": f.standard,
                    "label": f.label_en if en else f.label_zh, "label_zh": f.label_zh,
                    "value": value, "unit": f.unit})
    for key, value in (row.get("attributes") or {}).items():
        out.append({"name": key, "standard": key, "label": key, "label_zh": key,
                    "value": value, "unit": ""})
    return out


def _properties(row: dict[str, Any]) -> dict[str, Any]:
    props = {k: row[k] for k in ("feature_no", "measure", *_FIELD_COLUMNS, "attributes")}
    for k, v in props.items():
        if hasattr(v, "isoformat"):
            props[k] = v.isoformat()
    return props


# --- Identify ------------------------------------------------------------------------------

def pixel_metres(zoom: float) -> float:
    """Size of one web-map pixel in Web Mercator metres at `zoom`."""
    return WEB_MERCATOR_PIXEL_Z0 / 2 ** zoom


def check_in_county(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise BadInput("invalid_coordinates", "坐标应为有限数 (coordinates must be finite)")
    if not inside_county(np.array([lon]), np.array([lat]))[0]:
        raise BadInput("outside_county",
                       f"坐标 ({lon}, {lat}) 不在内乡县范围内：{diagnose(lon, lat, 4490)}")


def _published(layers: Any) -> list[tuple[Layer, LayerVersion]]:
    """(layer, published version) for a queryset of layers, in one query, layer order kept."""
    versions = LayerVersion.objects.filter(layer__in=layers,
                                           state=LayerVersion.State.PUBLISHED)
    by_layer = {v.layer_id: v for v in versions}
    return [(layer, by_layer[layer.pk]) for layer in layers if layer.pk in by_layer]


def identify(actor: Any, lon: float, lat: float, *, zoom: float = 16,
             layer_codes: list[str] | None = None, lang: str = "zh"
             ) -> tuple[list[dict[str, Any]], list[Layer]]:
    """Features of the visible layers at a point: polygons containing it, lines and points
    within a few pixels. One query per layer against its published partition. Layers the
    caller may not see (or that do not exist) are left out without a word. Returns the
    per-layer results and the layers queried (for auditing confidential reads)."""
    check_in_county(lon, lat)
    layers = selectors.visible_layers(actor)
    if layer_codes is not None:
        layers = layers.filter(code__in=[c for c in layer_codes
                                         if selectors.LAYER_CODE.match(c)])
    layers = layers.order_by("sort_order", "code")[:IDENTIFY_MAX_LAYERS]
    tolerance = IDENTIFY_TOLERANCE_PX * pixel_metres(zoom)
    # Half a pixel, in degrees, keeps highlighted outlines true to the screen.
    simplify_deg = 0.5 * 360 / (256 * 2 ** zoom) * math.cos(math.radians(lat))
    results, queried = [], []
    for layer, version in _published(list(layers)):
        queried.append(layer)
        table = partition_name(version.pk)
        if layer.geometry_type == Layer.GeometryType.POLYGON:
            where = "ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4490))"
            order = "ST_Area(geom), feature_no"
        else:
            where = ("ST_DWithin(geom_3857, ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, "
                     "%(lat)s), 4490), 3857), %(tol)s)")
            order = ("ST_Distance(geom_3857, ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, "
                     "%(lat)s), 4490), 3857)), feature_no")
        sql = (f"SELECT {_SELECT}, "
               f"ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(simp)s), 8, 0) AS geojson "
               f"FROM {table} WHERE {where} ORDER BY {order} LIMIT %(limit)s")
        with connection.cursor() as cur:
            cur.execute(sql, {"lon": lon, "lat": lat, "tol": tolerance, "simp": simplify_deg,
                              "limit": IDENTIFY_MAX_FEATURES})
            names = [c.name for c in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        if not rows:
            continue
        for r in rows:  # Django leaves jsonb as text on a raw cursor
            if isinstance(r["attributes"], str):
                r["attributes"] = _json(r["attributes"]) or {}
        results.append({
            "layer": layer.code, "name": layer.name(lang), "name_zh": layer.name_zh,
            "category": layer.category, "geometry_type": layer.geometry_type,
            "version": version.number,
            "features": [{
                "type": "Feature", "id": r["id"], "geometry": _json(r["geojson"]),
                "properties": _properties(r), "fields": labelled_fields(r, lang),
            } for r in rows],
        })
    return results, queried


def _json(text: str | None) -> Any:
    import json

    return json.loads(text) if text else None


# --- Search --------------------------------------------------------------------------------

PROJECT_CODE_OLD = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}-\d{6}$")
PROJECT_CODE_LOOSE = re.compile(r"^(?=.*\d)[0-9A-Za-z-]{24}$")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
COORDINATE_PAIR = re.compile(rf"^\s*({_NUMBER})\s*(?:[,，;；]\s*|\s+)({_NUMBER})\s*$")
COORDINATE_LIKE = re.compile(r"^[\s\d.,，;；+-]+$")
SEARCH_MAX_LENGTH = 100


def _int_digits(v: float) -> int:
    return len(str(int(abs(v))))


def parse_coordinates(text: str) -> dict[str, Any]:
    """Lon/lat (either order) or Gauss-Kruger X/Y (either order, with or without the zone
    prefix) as a point in EPSG:4490, with how the input was read."""
    m = COORDINATE_PAIR.match(text)
    if not m:
        raise BadInput("invalid_coordinates",
                       "坐标格式应为两个数，如 “111.84,33.06” 或 “3659716.061,37578448.671” "
                       "(two numbers expected)")
    a, b = float(m.group(1)), float(m.group(2))
    if not (math.isfinite(a) and math.isfinite(b)):
        raise BadInput("invalid_coordinates", "坐标应为有限数 (coordinates must be finite)")
    if abs(a) <= 180 and abs(b) <= 180:
        for lon, lat, swapped in ((a, b, False), (b, a, True)):
            if inside_county(np.array([lon]), np.array([lat]))[0]:
                return {"lon": lon, "lat": lat, "crs": crs.CGCS2000_GEOGRAPHIC,
                        "axes_swapped": swapped,
                        "note": "纬度在前，已按 经度,纬度 解释 (lat/lon order read as lon/lat)"
                        if swapped else "经度,纬度 (lon/lat)"}
        raise BadInput("outside_county",
                       f"坐标 ({a}, {b}) 不在内乡县范围内：{diagnose(a, b, 4490)}")
    # Projected: the northing has 7 integer digits (~3 6xx xxx); the easting 8 with the zone
    # prefix (37 5xx xxx) or 6 without (5xx xxx).
    da, db = _int_digits(a), _int_digits(b)
    layout = None
    for (n, e, dn, de, swapped) in ((a, b, da, db, False), (b, a, db, da, True)):
        if dn == 7 and de in (6, 8):
            layout = (n, e, crs.CGCS2000_GK_ZONE37 if de == 8 else crs.CGCS2000_GK_CM111,
                      swapped)
            break
    if layout is None:
        raise BadInput("invalid_coordinates",
                       f"无法识别坐标 ({a}, {b})：高斯-克吕格坐标应为 X（北坐标，7 位整数）和 Y"
                       "（东坐标，带带号 8 位或不带带号 6 位）(Gauss-Kruger X/Y expected: a "
                       "7-digit northing and an 8-digit (zone-prefixed) or 6-digit easting)")
    northing, easting, epsg, swapped = layout
    lon, lat = crs.transform_point(easting, northing, epsg, crs.CGCS2000_GEOGRAPHIC)
    if not inside_county(np.array([lon]), np.array([lat]))[0]:
        raise BadInput("outside_county",
                       f"坐标 X={northing}, Y={easting} 不在内乡县范围内："
                       f"{diagnose(easting, northing, epsg)}")
    info = crs.info(epsg)
    return {"lon": lon, "lat": lat, "crs": epsg, "axes_swapped": swapped,
            "northing": northing, "easting": easting,
            "note": f"EPSG:{epsg} {info.name_zh}"
            + ("；Y 在前，已按 X=北坐标 解释 (Y/X order detected)" if swapped else "")}


def _bbox_of_point(lon: float, lat: float) -> list[float]:
    d = POINT_BBOX_DEG
    return [lon - d, lat - d, lon + d, lat + d]


def _project_result(project: Any) -> dict[str, Any]:
    footprint = (project.footprints.annotate(geojson=AsGeoJSON("geom", precision=8))
                 .only("geom", "area_m2", "number").first())
    return {"kind": "project", "label": f"{project.project_code} {project.name}",
            "project_code": project.project_code, "name": project.name,
            "bbox": list(footprint.geom.extent) if footprint else None,
            "geometry": _json(footprint.geojson) if footprint else None,
            "area_m2": round(footprint.area_m2, 2) if footprint else None}


def _parcel_results(actor: Any, text: str) -> list[dict[str, Any]]:
    # Published versions of the visible layers, in one query.
    versions = {v.pk: v for v in LayerVersion.objects.filter(
        layer__in=selectors.visible_layers(actor), state=LayerVersion.State.PUBLISHED)
        .select_related("layer")}
    if not versions:
        return []
    base = (Feature.objects.filter(version_id__in=list(versions))
            .annotate(geojson=AsGeoJSON("geom", precision=8))
            .only("id", "version_id", "parcel_no", "name", "land_use_name", "geom"))
    # KGDK first, then the other layers, each by parcel number.
    rows = list(base.filter(parcel_no=text)[:SEARCH_LIMIT])
    match = "exact"
    if not rows:
        rows = list(base.filter(parcel_no__startswith=text).order_by("parcel_no")
                    [:SEARCH_LIMIT])
        match = "prefix"
    out = []
    for f in rows:
        layer = versions[f.version_id].layer
        out.append({"kind": "parcel", "match": match,
                    "label": f"{f.parcel_no} {f.land_use_name or f.name}".strip(),
                    "parcel_no": f.parcel_no, "layer": layer.code, "layer_name": layer.name_zh,
                    "feature_id": f.pk, "bbox": list(f.geom.extent),
                    "geometry": _json(f.geojson)})
    out.sort(key=lambda r: (r["layer"] != "KGDK", r["parcel_no"]))
    return out


def search(actor: Any, text: str) -> dict[str, Any]:
    """Results for a typed query, its kind detected; BadInput for unusable input and a
    LookupError (with the message to show) when nothing visible matches."""
    text = (text or "").strip()
    if not text:
        raise BadInput("invalid_parameter", "请输入项目代码、地块编号、项目名称或坐标 "
                       "(type a project code, parcel number, project name or coordinates)", "q")
    if len(text) > SEARCH_MAX_LENGTH or "\x00" in text:
        raise BadInput("invalid_parameter",
                       f"查询最长 {SEARCH_MAX_LENGTH} 个字符 (query too long)", "q")
    if PROJECT_CODE_OLD.match(text) or PROJECT_CODE_LOOSE.match(text):
        project = visible_projects(actor).filter(project_code__iexact=text).first()
        if project is not None:
            return {"query": text, "kind": "project_code", "results": [_project_result(project)]}
        parcels = _parcel_results(actor, text)
        if parcels:
            return {"query": text, "kind": "parcel", "results": parcels}
        raise LookupError(f"未找到项目代码 {text}（不存在或无权查看）"
                          "(unknown project code, or not visible to you)")
    if COORDINATE_LIKE.match(text) and re.search(r"[\s,，;；]", text):
        point = parse_coordinates(text)
        lon, lat = point["lon"], point["lat"]
        return {"query": text, "kind": "coordinates", "results": [{
            "kind": "coordinates", "label": f"{lon:.6f}, {lat:.6f}",
            "bbox": _bbox_of_point(lon, lat),
            "point": [lon, lat], "geometry": {"type": "Point", "coordinates": [lon, lat]},
            **{k: point[k] for k in ("crs", "axes_swapped", "note")},
            **({"northing": point["northing"], "easting": point["easting"]}
               if "northing" in point else {})}]}
    parcels = _parcel_results(actor, text)
    projects = [_project_result(p) for p in
                visible_projects(actor).filter(name__icontains=text)
                .order_by("project_code")[:SEARCH_LIMIT]]
    if parcels and any(r["match"] == "exact" for r in parcels):
        return {"query": text, "kind": "parcel", "results": parcels + projects}
    if projects:
        return {"query": text, "kind": "project_name", "results": projects + parcels}
    if parcels:
        return {"query": text, "kind": "parcel", "results": parcels}
    raise LookupError(f"未找到与“{text}”匹配的项目代码、地块编号或项目名称 "
                      "(no project code, parcel number or project name matches)")


# --- Measure -------------------------------------------------------------------------------

def _positions(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise BadInput("invalid_geometry", f"{what} 应为坐标数组 (coordinate array expected)")
    if len(value) > MEASURE_MAX_VERTICES:
        raise BadInput("too_large", f"顶点数超过上限 {MEASURE_MAX_VERTICES} (too many vertices)")
    try:
        arr = np.array([[float(p[0]), float(p[1])] for p in value
                        if isinstance(p, list | tuple) and 2 <= len(p) <= 3
                        and all(isinstance(c, int | float) and not isinstance(c, bool)
                                for c in p)], dtype=float)
    except (TypeError, ValueError, OverflowError):
        arr = np.zeros((0, 2))
    if len(arr) != len(value):
        raise BadInput("invalid_geometry", f"{what} 中的坐标应为 [经度, 纬度] 数对 "
                       "([lon, lat] pairs expected)")
    if not np.isfinite(arr).all():
        raise BadInput("invalid_geometry", f"{what} 含非数值坐标 (NaN/Inf coordinates)")
    outside = ~inside_county(arr[:, 0], arr[:, 1])
    if outside.any():
        x, y = arr[np.flatnonzero(outside)[0]]
        raise BadInput("outside_county", f"坐标 ({x}, {y}) 不在内乡县范围内："
                       f"{diagnose(float(x), float(y), 4490)}")
    return arr


def measure(geometry: Any) -> dict[str, Any]:
    """Length (LineString) or area and perimeter (Polygon) of lon/lat (EPSG:4490) input,
    in the county projected CRS."""
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("LineString", "Polygon"):
        raise BadInput("invalid_geometry", "应为 GeoJSON LineString 或 Polygon（EPSG:4490 经纬度）"
                       "(a GeoJSON LineString or Polygon expected)")
    srid = settings.COUNTY_PROJECTED_SRID
    t = crs.transformer(crs.CGCS2000_GEOGRAPHIC, srid)

    def project(arr: np.ndarray) -> np.ndarray:
        x, y = t.transform(arr[:, 0], arr[:, 1])
        return np.column_stack([x, y])

    base = {"srid": srid, "crs": crs.info(srid).name_zh if crs.is_supported(srid) else ""}
    if geometry["type"] == "LineString":
        pts = project(_positions(geometry.get("coordinates"), "LineString"))
        if len(pts) < 2:
            raise BadInput("invalid_geometry", "线至少需要 2 个点 (a line needs 2 points)")
        segments = np.hypot(*np.diff(pts, axis=0).T)
        return {**base, "type": "LineString", "length_m": round(float(segments.sum()), 3),
                "segments_m": [round(float(s), 3) for s in segments]}
    rings_in = geometry.get("coordinates")
    if not isinstance(rings_in, list) or not rings_in:
        raise BadInput("invalid_geometry", "Polygon 应为环的数组 (array of rings expected)")
    if sum(len(r) if isinstance(r, list) else 0 for r in rings_in) > MEASURE_MAX_VERTICES:
        raise BadInput("too_large", f"顶点数超过上限 {MEASURE_MAX_VERTICES} (too many vertices)")
    rings = []
    for k, ring in enumerate(rings_in):
        pts = project(_positions(ring, f"第 {k + 1} 个环 (ring {k + 1})"))
        if len(pts) and not np.array_equal(pts[0], pts[-1]):
            pts = np.vstack([pts, pts[:1]])
        if len(np.unique(pts, axis=0)) < 3:
            raise BadInput("invalid_geometry", f"第 {k + 1} 个环至少需要 3 个不同的点 "
                           "(a ring needs 3 distinct points)")
        rings.append(pts)
    polygon = shapely.Polygon(rings[0], rings[1:])
    if not polygon.is_valid:
        raise BadInput("invalid_geometry", f"多边形无效：{shapely.is_valid_reason(polygon)} "
                       "(invalid polygon, e.g. self-intersecting)")
    area = float(polygon.area)
    return {**base, "type": "Polygon", "area_m2": round(area, 3),
            "area_ha": round(area / 10_000, 6), "area_mu": round(area / MU_M2, 4),
            "perimeter_m": round(float(polygon.length), 3)}


# --- Boundary check ------------------------------------------------------------------------

CHECK_CATEGORIES = {
    "parcels": (Layer.Category.REGULATORY_PLAN,),
    "control_lines": (Layer.Category.CONTROL_LINE, Layer.Category.OTHER_CONTROL_LINE),
}


@dataclass
class CheckResult:
    ok: bool
    source_format: str
    epsg: int | None
    crs_note: str
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    total_area_m2: float = 0.0
    touches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "source_format": self.source_format,
            "crs": {"epsg": self.epsg,
                    "name": crs.info(self.epsg).name_zh if self.epsg and
                    crs.is_supported(self.epsg) else "",
                    "note": self.crs_note},
            "notes": self.notes,
            "problems": [p.as_dict() for p in self.problems],
            "features": self.features,
            "total_area_m2": round(self.total_area_m2, 2),
            "total_area_ha": round(self.total_area_m2 / 10_000, 4),
            "total_area_mu": round(self.total_area_m2 / MU_M2, 4),
            "touches": self.touches,
            "stored": False,
        }


def check_boundary(actor: Any, path: Path, *, workdir: Path, source_name: str,
                   declared_epsg: int | None = None, encoding: str | None = None,
                   dxf_layer: str | None = None) -> CheckResult:
    """Read and validate a boundary file exactly as an import would, and intersect it with
    the visible parcels and control lines; nothing is written. Raises ImportRejected (with
    the importer's report) when the file yields no usable boundary."""
    found = check_polygon_file(path, workdir=workdir, source_name=source_name,
                               declared_epsg=declared_epsg, encoding=encoding,
                               dxf_layer=dxf_layer)
    batch, report, epsg, checked, kept = (found.batch, found.report, found.epsg, found.checked,
                                          found.kept)
    if len(kept) == 0:
        raise ImportRejected(report, code="invalid_input")
    notes = [n for n in batch.crs_note.split("，") if n] if batch.crs_note else []
    labels = batch.columns.get("DKBH")
    if labels is None:
        labels = batch.columns.get("MC")
    features = []
    for i in kept:
        area = float(checked.measure[i])
        features.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(checked.geom_4490[i]),
            "properties": {"location": batch.location(int(i)),
                           "label": str(labels[i]) if labels is not None and
                           labels[i] not in (None, "") else "",
                           "area_m2": round(area, 2), "area_ha": round(area / 10_000, 4),
                           "area_mu": round(area / MU_M2, 4)}})
    union = shapely.union_all(checked.geom_4490[kept])
    result = CheckResult(ok=not report.errors, source_format=batch.source_format, epsg=epsg,
                         crs_note=batch.crs_note, notes=notes, problems=report.problems,
                         features=features,
                         total_area_m2=float(np.nansum(checked.measure[kept])))
    result.touches = touching(actor, union)
    return result


def touching(actor: Any, boundary_4490: Any) -> dict[str, list[dict[str, Any]]]:
    """Features of the visible parcel and control-line layers the boundary touches, with
    the overlap area (m², county projected CRS) computed in PostGIS."""
    srid = int(settings.COUNTY_PROJECTED_SRID)
    wkb = shapely.to_wkb(boundary_4490)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, categories in CHECK_CATEGORIES.items():
        found: list[dict[str, Any]] = []
        layers = selectors.visible_layers(actor).filter(category__in=categories) \
            .order_by("sort_order", "code")
        for layer, version in _published(list(layers)):
            measure = ("ST_Area" if layer.geometry_type == Layer.GeometryType.POLYGON
                       else "ST_Length")
            sql = (f"WITH b AS (SELECT ST_SetSRID(ST_GeomFromWKB(%(wkb)s), 4490) AS g) "
                   f"SELECT f.id, f.feature_no, f.parcel_no, f.name, f.land_use_code, "
                   f"f.land_use_name, {measure}(ST_Transform(ST_Intersection(f.geom, b.g), "
                   f"%(srid)s)) AS overlap FROM {partition_name(version.pk)} f, b "
                   f"WHERE ST_Intersects(f.geom, b.g) ORDER BY overlap DESC, f.feature_no "
                   f"LIMIT 500")
            with connection.cursor() as cur:
                cur.execute(sql, {"wkb": wkb, "srid": srid})
                names = [c.name for c in cur.description]
                rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            for r in rows:
                overlap = float(r["overlap"] or 0.0)
                item = {"layer": layer.code, "layer_name": layer.name_zh,
                        "category": layer.category, "feature_id": r["id"],
                        "feature_no": r["feature_no"], "parcel_no": r["parcel_no"],
                        "name": r["name"], "land_use_code": r["land_use_code"],
                        "land_use_name": r["land_use_name"]}
                if layer.geometry_type == Layer.GeometryType.POLYGON:
                    item.update(overlap_m2=round(overlap, 2),
                                overlap_ha=round(overlap / 10_000, 4))
                else:
                    item.update(overlap_length_m=round(overlap, 2))
                found.append(item)
        out[key] = found
    return out
