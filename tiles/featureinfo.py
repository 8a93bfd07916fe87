"""WMS GetFeatureInfo answered from PostGIS: text/html, application/json, text/plain.

The clicked pixel is turned into a point in the request CRS (WMS 1.3.0 reads the BBOX in
EPSG axis order: latitude/northing first for the CRSs `mapproxy.yaml` lists under
`axis_order_ne`, exactly as GetMap does), transformed to Web Mercator, and each queried
layer's published-version partition is searched with a tolerance of a few pixels in the
indexed `geom_3857` column. The nearest feature comes first; among features under the
point the smallest comes first (a parcel before the zone that contains it); among equals
the one drawn last, i.e. on top.

Layers the caller may not see answer exactly like layers that do not exist
(LayerNotDefined), so feature info never reveals that a hidden layer is there. Every
malformed request gets an OGC exception report in the format and with the status the
rest of /ows/ uses (tiles.ogc_errors).

Labels come from layers.fields (the single source of field names); HTML is rendered by a
template with autoescaping and no inline script or style (the site's CSP forbids both).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from layers import crs, landuse
from layers.fields import INDICATOR_FIELDS
from layers.importers.writer import partition_name
from layers.models import LAYER_CODE_VALIDATOR, Layer, LayerVersion
from tiles.ogc_errors import OgcError, wms_exception

DEFAULT_FEATURE_COUNT = 10
MAX_FEATURE_COUNT = 50
TOLERANCE_PX = 3
MAX_QUERY_LAYERS = 20
# MapProxy's stand-in layer when a caller may see nothing: listed, but not queryable.
EMPTY_PLACEHOLDER = "empty"
# 3857 x is R·λ: metres of Web Mercator per degree of longitude.
MERCATOR_M_PER_DEG = 6378137.0 * math.pi / 180

INFO_FORMATS = {
    "text/html": ("html", "text/html; charset=utf-8"),
    "html": ("html", "text/html; charset=utf-8"),
    "application/json": ("json", "application/json; charset=utf-8"),
    "json": ("json", "application/json; charset=utf-8"),
    "application/geo+json": ("json", "application/geo+json; charset=utf-8"),
    "application/vnd.geo+json": ("json", "application/geo+json; charset=utf-8"),
    "geojson": ("json", "application/geo+json; charset=utf-8"),
    "text/plain": ("text", "text/plain; charset=utf-8"),
    "plain": ("text", "text/plain; charset=utf-8"),
    "text": ("text", "text/plain; charset=utf-8"),
}
INFO_FORMAT_NAMES = "text/html, application/json, text/plain"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_EPSG = re.compile(r"^EPSG:(\d{1,6})$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
_VALUE_COLUMNS = ["id", "feature_no", "measure", *[f.name for f in INDICATOR_FIELDS],
                  "attributes"]


# --- helpers shared with tiles.legend --------------------------------------------------------

def is_count(raw: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() refuses."""
    return raw.isascii() and raw.isdigit()


def echo(value: object, limit: int = 60) -> str:
    """A request value fit to quote in an exception report: control characters (which XML
    cannot carry) replaced, and shortened."""
    text = _CONTROL.sub("\ufffd", str(value))
    return text if len(text) <= limit else text[:limit] + "…"


def report_version(params: dict[str, str]) -> str:
    """The WMS version whose exception format answers this request."""
    version = params.get("VERSION") or params.get("WMTVER") or "1.3.0"
    return "1.1.1" if version == "1.1.1" else "1.3.0"


def language(params: dict[str, str]) -> str:
    raw = params.get("LANGUAGE", "").strip().lower()
    if raw in ("", "zh", "zh-cn", "zh_cn", "zh-hans", "chi", "zho"):
        return "zh"
    if raw in ("en", "en-us", "en-gb", "eng"):
        return "en"
    raise OgcError("InvalidParameterValue", f"不支持的 LANGUAGE {echo(raw)}，可用 zh、en "
                   "(unsupported LANGUAGE: use zh or en)", "language")


def unknown_layer(name: str) -> OgcError:
    # One message for "does not exist" and "you may not see it": no existence leak.
    return OgcError("LayerNotDefined", f"未知图层 (unknown layer): {echo(name)}", "layers")


def published_layers(names: Iterable[str], levels: tuple[str, ...]
                     ) -> dict[str, LayerVersion]:
    """Published version (layer selected) by code, for the codes the caller may see.
    Names that cannot be layer codes never reach the database (PostgreSQL refuses NUL)."""
    codes = [n for n in names if LAYER_CODE_VALIDATOR.regex.match(n)]
    versions = (LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                            layer__code__in=codes,
                                            layer__access_level__in=levels)
                .select_related("layer"))
    return {v.layer.code: v for v in versions}


def resolve_layer(name: str, levels: tuple[str, ...]) -> LayerVersion:
    version = published_layers([name], levels).get(name)
    if version is None:
        raise unknown_layer(name)
    return version


def placeholder_listed(levels: tuple[str, ...]) -> bool:
    """MapProxy lists the "empty" stand-in layer only when the caller sees no layer."""
    return not LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                           layer__access_level__in=levels).exists()


# --- the service's CRSs, as MapProxy is configured ------------------------------------------

@dataclass(frozen=True)
class ServiceCrs:
    supported: tuple[int, ...]
    axis_ne: frozenset[int]  # WMS 1.3.0 BBOX: northing/latitude first


def _epsg_list(values: Iterable[str]) -> list[int]:
    out = []
    for value in values:
        m = _EPSG.match(str(value).strip())
        if m:
            out.append(int(m[1]))
    return out


@cache
def service_crs() -> ServiceCrs:
    """Read from mapproxy.yaml, so GetFeatureInfo accepts exactly GetMap's CRSs and reads the
    BBOX in the same axis order."""
    conf = yaml.safe_load((settings.BASE_DIR / "mapproxy.yaml").read_text(encoding="utf-8"))
    wms = (conf.get("services") or {}).get("wms") or {}
    srs_opts = (conf.get("globals") or {}).get("srs") or {}
    supported = _epsg_list(wms.get("srs") or [])
    if "axis_order_ne" in srs_opts:
        axis_ne = frozenset(_epsg_list(srs_opts["axis_order_ne"]))
    else:
        axis_ne = frozenset(e for e in supported if e in crs.REGISTRY
                            and crs.REGISTRY[e].epsg_axis_lat_first)
    return ServiceCrs(tuple(supported), axis_ne)


# --- parsing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class InfoQuery:
    version: str
    epsg: int
    bbox: tuple[float, float, float, float]  # x (east/lon) then y (north/lat)
    width: int
    height: int
    i: float
    j: float
    info_type: str  # html | json | text
    mimetype: str
    feature_count: int
    with_geometry: bool
    lang: str
    layers: tuple[str, ...] = field(default=())


def _required(params: dict[str, str], *names: str) -> tuple[str, str]:
    """(name, value) of the first of `names` present; the first name is the standard one."""
    for name in names:
        value = params.get(name)
        if value is not None and value.strip() != "":
            return name, value.strip()
    raise OgcError("MissingParameterValue", f"缺少参数 {names[0]} (missing {names[0]})",
                   names[0].lower())


def _parse_crs(params: dict[str, str], version: str) -> int:
    names = ("CRS", "SRS") if version == "1.3.0" else ("SRS", "CRS")
    code = "InvalidCRS" if version == "1.3.0" else "InvalidSRS"
    name, raw = _required(params, *names)
    supported = service_crs().supported
    m = _EPSG.match(raw)
    if not m or int(m[1]) not in supported:
        listed = ", ".join(f"EPSG:{e}" for e in supported)
        raise OgcError(code, f"不支持的坐标系 (unsupported {names[0]}): {echo(raw)}；"
                       f"可用 (supported): {listed}", names[0].lower())
    return int(m[1])


def _parse_size(params: dict[str, str], name: str, limit: int) -> int:
    _, raw = _required(params, name)
    if not is_count(raw) or not 1 <= int(raw) <= limit:
        raise OgcError("InvalidParameterValue", f"{name} 应为 1–{limit} 的整数 "
                       f"({name} must be an integer from 1 to {limit}): {echo(raw)}",
                       name.lower())
    return int(raw)


def _parse_bbox(params: dict[str, str], version: str, epsg: int
                ) -> tuple[float, float, float, float]:
    _, raw = _required(params, "BBOX")
    parts = raw.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) != 4 or len(values) != 4:
        raise OgcError("InvalidParameterValue", f"BBOX 应为 4 个以逗号分隔的数 (BBOX must be "
                       f"four comma-separated numbers): {echo(raw)}", "bbox")
    if not all(math.isfinite(v) for v in values):
        raise OgcError("InvalidParameterValue", "BBOX 含 NaN 或无穷大 (BBOX must be finite)",
                       "bbox")
    lat_first = version == "1.3.0" and epsg in service_crs().axis_ne
    a0, b0, a1, b1 = values
    x0, y0, x1, y1 = (b0, a0, b1, a1) if lat_first else (a0, b0, a1, b1)
    if x0 >= x1 or y0 >= y1:
        raise OgcError("InvalidParameterValue", "BBOX 最小值须小于最大值 (BBOX min must be "
                       "below max)", "bbox")
    if crs.pyproj_crs(epsg).is_geographic and not (
            -180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        hint = (f"；WMS 1.3.0 中 EPSG:{epsg} 的 BBOX 顺序为 最小纬度,最小经度,最大纬度,最大经度 "
                "(WMS 1.3.0 order is lat,lon)" if lat_first else "")
        raise OgcError("InvalidParameterValue", f"BBOX 超出经纬度范围 (BBOX outside ±180/±90)"
                       f"{hint}", "bbox")
    return x0, y0, x1, y1


def _parse_pixel(params: dict[str, str], names: tuple[str, str], limit: int) -> float:
    name, raw = _required(params, *names)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value < limit:
        raise OgcError("InvalidPoint", f"{names[0]} 应为图像内的像素位置 0–{limit - 1} "
                       f"({names[0]} must be a pixel inside the image): {echo(raw)}",
                       names[0].lower())
    return value


def _parse_flag(params: dict[str, str], name: str) -> bool:
    raw = params.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise OgcError("InvalidParameterValue", f"{name} 应为 true 或 false ({name} must be true "
                   f"or false): {echo(raw)}", name.lower())


def parse_request(params: dict[str, str]) -> InfoQuery:
    version = params.get("VERSION") or params.get("WMTVER") or "1.3.0"
    if version not in ("1.1.1", "1.3.0"):
        raise OgcError("InvalidParameterValue", f"不支持的 VERSION {echo(version)}，支持 "
                       "1.1.1、1.3.0 (unsupported version)", "version")
    _, raw_layers = _required(params, "QUERY_LAYERS")
    names = list(dict.fromkeys(n.strip() for n in raw_layers.split(",") if n.strip()))
    if not names:
        raise OgcError("MissingParameterValue", "缺少参数 QUERY_LAYERS (missing QUERY_LAYERS)",
                       "query_layers")
    if len(names) > MAX_QUERY_LAYERS:
        raise OgcError("InvalidParameterValue", f"QUERY_LAYERS 最多 {MAX_QUERY_LAYERS} 个图层 "
                       f"(at most {MAX_QUERY_LAYERS} layers)", "query_layers")
    epsg = _parse_crs(params, version)
    bbox = _parse_bbox(params, version, epsg)
    max_w, max_h = settings.WMS_MAX_SIZE
    width = _parse_size(params, "WIDTH", max_w)
    height = _parse_size(params, "HEIGHT", max_h)
    pixel_names = (("I", "X"), ("J", "Y")) if version == "1.3.0" else (("X", "I"), ("Y", "J"))
    i = _parse_pixel(params, pixel_names[0], width)
    j = _parse_pixel(params, pixel_names[1], height)
    raw_format = params.get("INFO_FORMAT", "").strip()
    key = raw_format.split(";", 1)[0].strip().lower() or "text/html"
    if key not in INFO_FORMATS:
        raise OgcError("InvalidFormat", f"不支持的 INFO_FORMAT (unsupported INFO_FORMAT): "
                       f"{echo(raw_format)}；可用 (supported): {INFO_FORMAT_NAMES}",
                       "info_format")
    info_type, mimetype = INFO_FORMATS[key]
    raw_count = params.get("FEATURE_COUNT", "").strip()
    if raw_count == "":
        count = DEFAULT_FEATURE_COUNT
    elif is_count(raw_count) and int(raw_count) >= 1:
        count = min(int(raw_count), MAX_FEATURE_COUNT)
    else:
        raise OgcError("InvalidParameterValue", f"FEATURE_COUNT 应为正整数 (FEATURE_COUNT "
                       f"must be a positive integer): {echo(raw_count)}", "feature_count")
    # FORMAT and STYLES describe the map image, not the answer; MapProxy does not check
    # them for GetFeatureInfo either (its non_strict_params), and neither do we.
    return InfoQuery(version=version, epsg=epsg, bbox=bbox, width=width, height=height, i=i,
                     j=j, info_type=info_type, mimetype=mimetype, feature_count=count,
                     with_geometry=_parse_flag(params, "WITH_GEOMETRY"),
                     lang=language(params), layers=tuple(names))


# --- the search ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchPoint:
    x: float  # EPSG:3857
    y: float
    tolerance: float  # 3857 units
    simplify_deg: float  # geometry simplification for WITH_GEOMETRY, degrees


def search_point(q: InfoQuery) -> SearchPoint:
    """The pixel centre in Web Mercator, and the pixel tolerance there."""
    x0, y0, x1, y1 = q.bbox
    res_x, res_y = (x1 - x0) / q.width, (y1 - y0) / q.height
    px, py = x0 + (q.i + 0.5) * res_x, y1 - (q.j + 0.5) * res_y
    t = crs.transformer(q.epsg, crs.WEB_MERCATOR)
    xs, ys = t.transform([px, px + TOLERANCE_PX * res_x, px],
                         [py, py, py + TOLERANCE_PX * res_y])
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise OgcError("InvalidPoint", "查询点无法换算到 EPSG:3857 (the point lies outside the "
                       "area Web Mercator can represent)", "i" if q.version == "1.3.0" else "x")
    tolerance = max(math.hypot(xs[1] - xs[0], ys[1] - ys[0]),
                    math.hypot(xs[2] - xs[0], ys[2] - ys[0]))
    return SearchPoint(xs[0], ys[0], tolerance,
                       tolerance / TOLERANCE_PX / MERCATOR_M_PER_DEG / 2)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def query_layer(version: LayerVersion, point: SearchPoint, limit: int,
                with_geometry: bool) -> list[dict[str, Any]]:
    """Features of the version's partition within the tolerance, top one first."""
    table = partition_name(version.pk)
    columns = ", ".join(f"f.{c}" for c in _VALUE_COLUMNS)
    # options 0: no "crs" member inside each geometry (the collection names it once).
    geometry = ("ST_AsGeoJSON(ST_SimplifyPreserveTopology(f.geom, %s), 7, 0)" if with_geometry
                else "NULL")
    sql = (f"WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 3857) AS pt) "
           f"SELECT {columns}, {geometry} AS geojson, ST_Distance(f.geom_3857, p.pt) AS d "
           f"FROM {table} f, p WHERE ST_DWithin(f.geom_3857, p.pt, %s) "
           f"ORDER BY d, ST_Area(f.geom_3857), f.id DESC LIMIT %s")
    args: list[Any] = [point.x, point.y]
    if with_geometry:
        args.append(point.simplify_deg)
    args += [point.tolerance, limit]
    with connection.cursor() as cur:
        cur.execute(sql, args)
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for row in rows:
        attrs = row["attributes"]
        row["attributes"] = (json.loads(attrs) if isinstance(attrs, str) else attrs) or {}
    return rows


# --- answers ---------------------------------------------------------------------------------

MEASURE_LABEL = "面积/长度"  # Feature.measure's verbose name (fields.py lists no label for it)
MEASURE_UNITS = {"polygon": ("平方米", "m²"), "line": ("米", "m")}
YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}
TEXTS = {
    "zh": {"title": "要素信息", "none": "该位置没有要素", "other": "其他属性",
           "feature": "要素", "measure": MEASURE_LABEL},
    "en": {"title": "Feature information", "none": "No feature here",
           "other": "Other attributes", "feature": "Feature", "measure": "Area/length"},
}


def labels(lang: str) -> dict[str, str]:
    out = {f.name: (f.label_en if lang == "en" else f.label_zh) for f in INDICATOR_FIELDS}
    out["measure"] = TEXTS[lang]["measure"]
    return out


def _unit(name: str, lang: str) -> str:
    unit = next((f.unit for f in INDICATOR_FIELDS if f.name == name), "")
    if lang == "en":
        return {"公顷": "ha", "米": "m"}.get(unit, unit)
    return unit


def properties(layer: Layer, version: LayerVersion, row: dict[str, Any], lang: str
               ) -> dict[str, Any]:
    props: dict[str, Any] = {"layer": layer.code, "layer_name": layer.name(lang),
                             "version": version.number, "id": row["id"],
                             "feature_no": row["feature_no"]}
    for f in INDICATOR_FIELDS:
        props[f.name] = _jsonable(row[f.name])
    if not props.get("land_use_name") and props.get("land_use_code"):
        props["land_use_name"] = landuse.land_use_name(props["land_use_code"], lang) or ""
    props["measure"] = _jsonable(row["measure"])
    props["attributes"] = {str(k): _jsonable(v) for k, v in row["attributes"].items()}
    return props


def _format_value(value: Any, lang: str, decimals: int = 4) -> str:
    if isinstance(value, bool):
        return YES_NO[lang][0 if value else 1]
    if isinstance(value, float):
        return f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def display_rows(layer: Layer, props: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """(label, value, unit) rows for people: labelled fields with a value, the measure,
    then the source's other attributes under their own names."""
    names = labels(lang)
    rows = [{"label": names[f.name], "value": _format_value(props[f.name], lang),
             "unit": _unit(f.name, lang)}
            for f in INDICATOR_FIELDS if not _empty(props[f.name])]
    if props["measure"] is not None and layer.geometry_type in MEASURE_UNITS:
        unit = MEASURE_UNITS[layer.geometry_type][1 if lang == "en" else 0]
        rows.append({"label": names["measure"],
                     "value": _format_value(props["measure"], lang, 2), "unit": unit})
    for key, value in props["attributes"].items():
        if not _empty(value):
            rows.append({"label": key, "value": _format_value(value, lang), "unit": ""})
    return rows


def feature_title(props: dict[str, Any], lang: str) -> str:
    return props.get("parcel_no") or props.get("name") or \
        f"{TEXTS[lang]['feature']} #{props['feature_no']}"


@dataclass
class LayerResult:
    layer: Layer
    version: LayerVersion
    rows: list[dict[str, Any]]


def json_answer(q: InfoQuery, results: list[LayerResult]) -> dict[str, Any]:
    features = []
    for res in results:
        for row in res.rows:
            features.append({
                "type": "Feature", "id": f"{res.layer.code}.{row['id']}",
                "geometry": json.loads(row["geojson"]) if q.with_geometry and row["geojson"]
                else None,
                "properties": properties(res.layer, res.version, row, q.lang)})
    doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "numberReturned": len(features),
        "layers": [{"code": r.layer.code, "name": r.layer.name(q.lang),
                    "version": r.version.number, "geometry_type": r.layer.geometry_type,
                    "numberReturned": len(r.rows),
                    "measure_unit": MEASURE_UNITS.get(r.layer.geometry_type, ("", ""))[1]}
                   for r in results],
        "labels": labels(q.lang),
        "units": {f.name: _unit(f.name, q.lang) for f in INDICATOR_FIELDS if f.unit},
    }
    if q.with_geometry:
        # Coordinates are longitude, latitude (GeoJSON order) in CGCS2000.
        doc["crs"] = {"type": "name", "properties": {"name": "EPSG:4490"}}
    return doc


def _layer_views(q: InfoQuery, results: list[LayerResult]) -> list[dict[str, Any]]:
    views = []
    for res in results:
        feats = []
        for row in res.rows:
            props = properties(res.layer, res.version, row, q.lang)
            feats.append({"id": row["id"], "title": feature_title(props, q.lang),
                          "rows": display_rows(res.layer, props, q.lang)})
        views.append({"code": res.layer.code, "name": res.layer.name(q.lang),
                      "version": res.version.number, "features": feats})
    return views


def html_answer(q: InfoQuery, results: list[LayerResult]) -> str:
    return render_to_string("tiles/featureinfo.html", {
        "lang": "en" if q.lang == "en" else "zh-CN", "texts": TEXTS[q.lang],
        "layers": _layer_views(q, results)})


def text_answer(q: InfoQuery, results: list[LayerResult]) -> str:
    texts = TEXTS[q.lang]
    lines = [f"{texts['title']} (GetFeatureInfo)", ""]
    for view in _layer_views(q, results):
        lines.append(f"Layer '{view['code']}' {view['name']} v{view['version']}")
        if not view["features"]:
            lines.append(f"  {texts['none']}")
        for feat in view["features"]:
            lines.append(f"  {texts['feature']} {feat['id']} ({feat['title']}):")
            lines += [f"    {r['label']} = {r['value']}{' ' + r['unit'] if r['unit'] else ''}"
                      for r in feat["rows"]]
        lines.append("")
    return "\n".join(lines)


def get_feature_info(request: HttpRequest, params: dict[str, str],
                     levels: tuple[str, ...]) -> HttpResponse:
    try:
        q = parse_request(params)
        found = published_layers(q.layers, levels)
        for name in q.layers:
            if name not in found:
                if name == EMPTY_PLACEHOLDER and placeholder_listed(levels):
                    raise OgcError("LayerNotQueryable", f"图层不可查询 (layer not queryable): "
                                   f"{name}", "query_layers")
                raise unknown_layer(name)
        point = search_point(q)
        results = [LayerResult(found[n].layer, found[n],
                               query_layer(found[n], point, q.feature_count, q.with_geometry))
                   for n in q.layers]
    except OgcError as error:
        return wms_exception(error, report_version(params))
    if q.info_type == "json":
        body = json.dumps(json_answer(q, results), ensure_ascii=False, allow_nan=False)
    elif q.info_type == "html":
        body = html_answer(q, results)
    else:
        body = text_answer(q, results)
    return HttpResponse(body.encode("utf-8"), content_type=q.mimetype)
