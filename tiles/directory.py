"""The service directory: `GET /api/services` (JSON) and the page `GET /services/`.

What connected systems are given: every published service with its addresses, parameters,
CRSs and the layers the caller may see, with each layer's own service addresses. Nothing
here is a second list that could drift from the running services:

- WMS/WMTS versions, CRSs, axis order, image formats, the WMTS REST template and the tile
  matrix sets are read from `mapproxy.yaml` (the matrix sets through MapProxy's own grid and
  WMTS code, so identifiers, top-left corners and scale denominators are exactly the ones
  its capabilities state); the maximum map size from `settings.WMS_MAX_SIZE`;
  feature-info and legend formats from `tiles.featureinfo` / `tiles.legend`;
- vector-tile zooms and attributes from `tiles.mvt` (the SQL that builds the tile);
- OGC API Features CRSs and limits from `layers.ogcapi` and settings;
- each address is checked against the URL configuration (`django.urls.resolve`): a service
  whose route does not exist yet is listed as "planned", never as working;
- layers come from `layers.selectors.visible_layers(request)`: a layer the caller may not
  see is not in the directory at all, and a layer without a published version has no
  services and is not listed either.

The base URL is `settings.PUBLIC_BASE_URL` when it was configured for a reverse proxy,
otherwise the request's own scheme and host (see `base_url`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, get_script_prefix, resolve
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_safe

from accounts.access import layer_access_levels, principal_of, public
from accounts.middleware import TOKEN_QUERY_PATHS
from accounts.roles import Role, Scope
from layers import crs as crs_registry
from layers import selectors
from layers.fields import BY_NAME as FIELD_BY_NAME
from layers.models import Layer, LayerVersion
from tiles import grids, mvt

# settings.PUBLIC_BASE_URL is empty unless a reverse proxy's address was configured: then
# the request's own address is the answer (tests, `make run`, a proxy that forwards Host).
UNCONFIGURED_PUBLIC_BASE_URL = ""

# Routes that answer any address below them with an error document: reaching one of them
# does not mean the service exists.
CATCH_ALL_ROUTES = frozenset({"ogcapi-unknown", "mvt-bad-address"})

# The raster tile format of every WMTS layer (tiles.mapproxy_conf caches PNG).
WMTS_TILE_FORMAT = "image/png"
WMTS_TILE_EXTENSION = "png"
# Zoom of the example tiles listed per layer (about 10 m per pixel in both matrix sets).
EXAMPLE_LEVEL = 14
EXAMPLE_MAP_WIDTH = 512

AVAILABLE = "available"
PLANNED = "planned"


# --- helpers -----------------------------------------------------------------------------------

def base_url(request: HttpRequest) -> str:
    """Scheme, host and script prefix under which callers reach this service (no trailing /).

    `settings.PUBLIC_BASE_URL` wins when it was set for a reverse proxy; otherwise the
    request's own address, which honours `X-Forwarded-Proto` when HTTPS is on
    (SECURE_PROXY_SSL_HEADER) and the Host header the proxy forwards."""
    configured = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").strip().rstrip("/")
    if configured and configured != UNCONFIGURED_PUBLIC_BASE_URL:
        return configured
    return request.build_absolute_uri(get_script_prefix()).rstrip("/")


def route_exists(path: str) -> bool:
    """Does the URL configuration serve `path` (placeholders `{...}` filled with 1)?"""
    sample = re.sub(r"\{[^}]*\}", "1", path.split("?", 1)[0])
    try:
        match = resolve(sample)
    except Resolver404:
        return False
    return match.url_name not in CATCH_ALL_ROUTES


def status_of(path: str) -> str:
    return AVAILABLE if route_exists(path) else PLANNED


def _label(choices: Any, value: str) -> str:
    return str(dict(choices.choices).get(value, value))


def _epsg(code: str) -> int | None:
    m = re.fullmatch(r"EPSG:(\d{1,6})", str(code).strip(), re.IGNORECASE)
    return int(m[1]) if m else None


def _crs_names(code: str) -> dict[str, Any]:
    epsg = _epsg(code)
    info = crs_registry.REGISTRY.get(epsg) if epsg else None
    return {"code": code, "name_zh": info.name_zh if info else "",
            "name_en": info.name_en if info else "",
            "geographic": info.geographic if info else None}


# --- mapproxy.yaml --------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixSet:
    id: str
    title: str
    crs: str
    top_left: tuple[float, float]  # as WMTS states it (EPSG axis order of the CRS)
    top_left_xy: tuple[float, float]  # x = longitude/easting, y = latitude/northing
    tile_size: tuple[int, int]
    levels: tuple[dict[str, Any], ...]  # id, resolution, scale_denominator, width, height
    well_known: str
    note_zh: str
    note_en: str

    def resolution(self, level: int) -> float:
        return float(self.levels[level]["resolution"])


@dataclass(frozen=True)
class MapProxyBase:
    wms_title: str
    wms_versions: tuple[str, ...]
    wms_crs: tuple[str, ...]
    wms_bbox_crs: tuple[str, ...]
    image_formats: tuple[str, ...]
    axis_order_ne: frozenset[str]
    wmts_title: str
    wmts_restful: bool
    wmts_kvp: bool
    wmts_rest_template: str  # MapProxy's restful_template, {Format} left in
    matrix_sets: tuple[MatrixSet, ...]


def mapproxy_config_path() -> Path:
    return Path(settings.BASE_DIR) / "mapproxy.yaml"


def mapproxy_base() -> MapProxyBase:
    """mapproxy.yaml as the services see it, re-read whenever the file changes."""
    path = mapproxy_config_path()
    return _load_mapproxy_base(str(path), path.stat().st_mtime_ns)


def _tianditu_note(tile_grid: Any) -> tuple[str, str]:
    """The `c` alignment (tiles/grids.py), stated only when the grid really has it."""
    x0, y0, x1, y1 = tile_grid.bbox
    res1 = float(tile_grid.resolution(1))
    aligned = (tile_grid.origin in ("ul", "nw") and math.isclose(x0, -180.0)
               and math.isclose(y1, 90.0) and math.isclose(res1, grids.TIANDITU_LEVEL1_RES)
               and tuple(tile_grid.tile_size) == (256, 256))
    if not aligned:
        return ("未与天地图 c 规则对齐。", "Not aligned with Tianditu's `c` matrix set.")
    w, h = tile_grid.grid_sizes[1]
    return (
        f"与天地图 c 规则（vec_c/img_c 等）逐块对齐：左上角 90°N 180°W，256 像素瓦片，第 1 级 "
        f"{res1}°/像素（{w}×{h} 块），逐级减半，TileMatrix 标识与天地图相同；第 0 级为天地图"
        "没有的额外级别。ScaleDenominator 按 OGC 0.28 mm 像素计算（天地图按 96 dpi），瓦片"
        "边界相同：按分辨率配置的客户端（Leaflet + proj4leaflet、OpenLayers）可直接叠加。",
        f"Aligned tile for tile with Tianditu's `c` matrix set (vec_c, img_c...): top-left "
        f"90N 180W, 256-pixel tiles, TileMatrix 1 at {res1} deg/pixel ({w}x{h} tiles), "
        "halving per level, same TileMatrix identifiers; level 0 is an extra level Tianditu "
        "does not have. ScaleDenominators follow OGC's 0.28 mm pixel (Tianditu's use 96 dpi); "
        "tile boundaries are identical, so clients configured by resolution (Leaflet with "
        "proj4leaflet, OpenLayers) overlay exactly.",
    )


def _matrix_sets(conf: dict[str, Any]) -> tuple[MatrixSet, ...]:
    """The published grids (tiles.grids.GRIDS) through MapProxy's own grid and WMTS code."""
    from mapproxy.config.config import local_base_config
    from mapproxy.config.configuration.proxy import ProxyConfiguration

    proxy = ProxyConfiguration({"grids": conf.get("grids") or {},
                                "globals": conf.get("globals") or {},
                                "layers": [{"name": "_directory", "title": "_"}]})
    # MapProxy reads its settings (axis order, PROJ) from a context-local configuration, as
    # while answering a request; without one it would install its defaults for this thread.
    with local_base_config(proxy.globals.base_config):
        return tuple(_matrix_set(proxy, grid) for grid in grids.GRIDS)


def _matrix_set(proxy: Any, grid: grids.Grid) -> MatrixSet:
    from mapproxy.service.wmts import TileMatrixSet

    tile_grid = proxy.grids[grid.name].tile_grid()
    matrices = TileMatrixSet(tile_grid)
    levels = tuple(
        # MapProxy says "00", "01"...; /ows/ states them unpadded (tiles.ows), as Tianditu.
        {"id": str(int(m.identifier)) if str(m.identifier).isdigit() else str(m.identifier),
         "resolution": float(tile_grid.resolution(m.identifier)),
         "scale_denominator": float(m.scale_denom), "matrix_width": int(m.grid_size[0]),
         "matrix_height": int(m.grid_size[1])}
        for m in matrices)
    x0, _, _, y1 = tile_grid.bbox
    first = matrices.tile_matrices[0]
    if tile_grid.srs.srs_code == grids.CGCS2000.srs:
        note_zh, note_en = _tianditu_note(tile_grid)
        well_known = ""
    else:
        note_zh = "常用网页墨卡托瓦片划分（与天地图 w 规则、谷歌 XYZ 相同，行号自上而下）。"
        note_en = ("The usual Web Mercator tiling (as Tianditu's `w` matrix set and Google's "
                   "XYZ; rows counted from the top).")
        well_known = "GoogleMapsCompatible"
    return MatrixSet(
        id=grid.name, title=grid.title, crs=tile_grid.srs.srs_code,
        top_left=(float(first.topleft[0]), float(first.topleft[1])),
        top_left_xy=(float(x0), float(y1)), tile_size=tuple(tile_grid.tile_size),
        levels=levels, well_known=well_known, note_zh=note_zh, note_en=note_en)


@lru_cache(maxsize=4)
def _load_mapproxy_base(path: str, mtime_ns: int) -> MapProxyBase:
    conf = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    services = conf.get("services") or {}
    wms = services.get("wms") or {}
    wmts = services.get("wmts") or {}
    srs_globals = (conf.get("globals") or {}).get("srs") or {}
    return MapProxyBase(
        wms_title=str((wms.get("md") or {}).get("title", "")),
        wms_versions=tuple(str(v) for v in wms.get("versions") or ("1.1.1", "1.3.0")),
        wms_crs=tuple(str(s) for s in wms.get("srs") or ()),
        wms_bbox_crs=tuple(str(s) for s in wms.get("bbox_srs") or ()),
        image_formats=tuple(str(f) for f in wms.get("image_formats") or ()),
        axis_order_ne=frozenset(str(s).upper() for s in srs_globals.get("axis_order_ne") or ()),
        wmts_title=str((wmts.get("md") or {}).get("title", "")),
        wmts_restful=bool(wmts.get("restful", True)),
        wmts_kvp=bool(wmts.get("kvp", True)),
        wmts_rest_template=str(wmts.get("restful_template") or
                               "/{Layer}/{TileMatrixSet}/{TileMatrix}/{TileCol}/{TileRow}"
                               ".{Format}"),
        matrix_sets=_matrix_sets(conf),
    )


# --- the services -------------------------------------------------------------------------------

OWS_WMS = "/ows/wms"
OWS_WMTS = "/ows/wmts"
WMTS_REST_CAPABILITIES = "/ows/wmts/1.0.0/WMTSCapabilities.xml"
MVT_TEMPLATE = "/tiles/{layer}/{z}/{x}/{y}.mvt"
OGCAPI = "/ogcapi/"
BLUEPRINT = "/blueprint/"
BLUEPRINT_PARAMETERS = (
    ("project", "项目代码（全国投资项目在线审批监管平台代码）",
     "project code (national online approval platform code)"),
    ("parcel", "地块编号（DKBH）", "parcel number (DKBH)"),
    ("layers", "显示的图层代码，逗号分隔", "layer codes to show, comma-separated"),
    ("bbox", "显示范围 minx,miny,maxx,maxy", "extent to show, minx,miny,maxx,maxy"),
    ("center", "中心点 x,y", "centre x,y"),
    ("zoom", "缩放级别", "zoom level"),
    ("crs", "bbox、center 的坐标系（EPSG 代码，默认 4490）",
     "CRS of bbox and center (EPSG code, default 4490)"),
    ("embed", "嵌入模式（供其他系统 iframe 嵌入）", "embedded mode (for other systems' iframes)"),
    ("lang", "界面语言 zh / en", "interface language zh / en"),
)
# (method, path, Chinese, English, function required or None)
REST_ENDPOINTS = (
    ("GET", "/api/layers", "图层列表（含现行版本）", "layers with their published version", None),
    ("GET", "/api/layers/{code}", "单个图层", "one layer", None),
    ("GET", "/api/layers/{code}/versions", "图层的各版本", "versions of a layer", None),
    ("GET", "/api/layers/{code}/features", "要素（GeoJSON，分页；bbox=minlon,minlat,maxlon,"
     "maxlat&limit=&offset=&version=）", "features (GeoJSON, paged; bbox=minlon,minlat,maxlon,"
     "maxlat&limit=&offset=&version=)", None),
    ("GET", "/api/layers/{code}/features/{id}", "单个要素", "one feature", None),
    ("POST", "/api/layers/{code}/versions", "导入新版本（multipart 上传）",
     "import a new version (multipart upload)", "layers.import"),
    ("POST", "/api/layers/{code}/versions/{number}/publish", "发布版本", "publish a version",
     "layers.publish"),
    ("GET", "/api/projects", "项目列表（按权限）", "projects (as permitted)", None),
    ("GET", "/api/projects/{project_code}", "项目详情", "one project", None),
    ("GET", "/api/services", "服务目录（本文档）", "service directory (this document)", None),
)


def _q(url: str, params: dict[str, Any]) -> str:
    return f"{url}?{urlencode(params, safe=',:{}/')}"


def axis_order(code: str, ne: frozenset[str]) -> dict[str, str]:
    """Coordinate order of BBOX in WMS 1.3.0 (EPSG order) and 1.1.1 (always x,y)."""
    names = _crs_names(code)
    if code.upper() in ne:
        order = "lat,lon" if names["geographic"] else "northing,easting"
    else:
        order = "lon,lat" if names["geographic"] else "easting,northing"
    xy = "lon,lat" if names["geographic"] else "easting,northing"
    return {"wms_1_3_0": order, "wms_1_1_1": xy}


def _example_box(extent: tuple[float, float, float, float] | None
                 ) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = extent or settings.COUNTY_BBOX
    pad_x = max((x1 - x0) * 0.02, 0.0005)
    pad_y = max((y1 - y0) * 0.02, 0.0005)
    return (round(x0 - pad_x, 6), round(y0 - pad_y, 6), round(x1 + pad_x, 6),
            round(y1 + pad_y, 6))


def _map_size(box: tuple[float, float, float, float]) -> tuple[int, int]:
    max_w, max_h = settings.WMS_MAX_SIZE
    x0, y0, x1, y1 = box
    # Square pixels on the ground: a degree of longitude is cos(lat) of a degree of latitude.
    ground_w = (x1 - x0) * math.cos(math.radians((y0 + y1) / 2))
    width = min(EXAMPLE_MAP_WIDTH, max_w)
    height = max(1, min(max_h, round(width * (y1 - y0) / ground_w)))
    return width, height


def wms_examples(base: str, conf: MapProxyBase, layer: str,
                 extent: tuple[float, float, float, float] | None) -> list[dict[str, str]]:
    box = _example_box(extent)
    x0, y0, x1, y1 = box
    width, height = _map_size(box)
    url = base + OWS_WMS
    common = {"SERVICE": "WMS", "STYLES": "", "WIDTH": width, "HEIGHT": height,
              "FORMAT": conf.image_formats[0] if conf.image_formats else "image/png",
              "TRANSPARENT": "TRUE"}
    storage = f"EPSG:{settings.STORAGE_SRID}"
    lat_first = storage.upper() in conf.axis_order_ne
    bbox_130 = f"{y0},{x0},{y1},{x1}" if lat_first else f"{x0},{y0},{x1},{y1}"
    bbox_111 = f"{x0},{y0},{x1},{y1}"
    getmap_130 = _q(url, {**common, "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer,
                          "CRS": storage, "BBOX": bbox_130})
    getmap_111 = _q(url, {**common, "VERSION": "1.1.1", "REQUEST": "GetMap", "LAYERS": layer,
                          "SRS": storage, "BBOX": bbox_111})
    info = _q(url, {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo",
                    "LAYERS": layer, "QUERY_LAYERS": layer, "STYLES": "", "CRS": storage,
                    "BBOX": bbox_130, "WIDTH": width, "HEIGHT": height, "I": width // 2,
                    "J": height // 2, "INFO_FORMAT": "application/json", "FEATURE_COUNT": 5})
    return [
        {"operation": "GetMap", "version": "1.3.0", "crs": storage, "url": getmap_130,
         "note": f"BBOX {axis_order(storage, conf.axis_order_ne)['wms_1_3_0']}"},
        {"operation": "GetMap", "version": "1.1.1", "crs": storage, "url": getmap_111,
         "note": f"BBOX {axis_order(storage, conf.axis_order_ne)['wms_1_1_1']}"},
        {"operation": "GetFeatureInfo", "version": "1.3.0", "crs": storage, "url": info,
         "note": "I,J = 像素列、行 (pixel column, row)"},
        {"operation": "GetLegendGraphic", "version": "1.3.0", "crs": "",
         "url": legend_url(base, layer), "note": ""},
    ]


def legend_url(base: str, layer: str) -> str:
    return _q(base + OWS_WMS, {"SERVICE": "WMS", "VERSION": "1.3.0",
                               "REQUEST": "GetLegendGraphic", "LAYER": layer,
                               "FORMAT": "image/png", "SLD_VERSION": "1.1.0"})


def _info_formats() -> list[str]:
    from tiles.featureinfo import INFO_FORMATS

    seen: list[str] = []
    for _, mimetype in INFO_FORMATS.values():
        name = mimetype.split(";", 1)[0].strip()
        if name not in seen:
            seen.append(name)
    return seen


def _legend_formats() -> list[str]:
    from tiles.legend import CONTENT_TYPES

    return list(dict.fromkeys(v.split(";", 1)[0].strip() for v in CONTENT_TYPES.values()))


def wms_service(base: str, conf: MapProxyBase, first: LayerVersion | None) -> dict[str, Any]:
    """The service; its examples show the caller's first layer (a placeholder if none)."""
    url = base + OWS_WMS
    max_w, max_h = settings.WMS_MAX_SIZE
    example_layer = first.layer.code if first else "{layer}"
    extent = first.extent.extent if first and first.extent else None
    return {
        "id": "wms", "name_zh": "网络地图服务 WMS", "name_en": "Web Map Service (WMS)",
        "status": status_of(OWS_WMS), "title": conf.wms_title, "url": url,
        "versions": list(conf.wms_versions),
        "capabilities": [
            {"version": v, "url": _q(url, {"SERVICE": "WMS", "REQUEST": "GetCapabilities",
                                           "VERSION": v})}
            for v in conf.wms_versions],
        "operations": ["GetCapabilities", "GetMap", "GetFeatureInfo", "GetLegendGraphic"],
        "crs": [{**_crs_names(c), "axis_order": axis_order(c, conf.axis_order_ne)}
                for c in conf.wms_crs],
        "bbox_crs": list(conf.wms_bbox_crs),
        "axis_order_note_zh": (
            "WMS 1.3.0 按 EPSG 规定的轴序读写 BBOX：" + "、".join(
                c for c in conf.wms_crs if c.upper() in conf.axis_order_ne)
            + " 为纬度（北向）在前，例如 EPSG:4490 的 BBOX=minlat,minlon,maxlat,maxlon；"
            "WMS 1.1.1 总是经度（东向）在前。参数 1.1.1 用 SRS，1.3.0 用 CRS。"),
        "axis_order_note_en": (
            "WMS 1.3.0 reads BBOX in EPSG axis order: latitude/northing first for " + ", ".join(
                c for c in conf.wms_crs if c.upper() in conf.axis_order_ne)
            + " (EPSG:4490: BBOX=minlat,minlon,maxlat,maxlon); WMS 1.1.1 always takes "
            "longitude/easting first. 1.1.1 names the CRS in SRS, 1.3.0 in CRS."),
        "formats": list(conf.image_formats),
        "info_formats": _info_formats(),
        "legend_formats": _legend_formats(),
        "max_size": {"width": max_w, "height": max_h},
        "examples": wms_examples(base, conf, example_layer, extent),
    }


def wmts_tile_template(base: str, conf: MapProxyBase) -> str:
    return base + OWS_WMTS + conf.wmts_rest_template.replace("{Format}", WMTS_TILE_EXTENSION)


def wmts_service(base: str, conf: MapProxyBase) -> dict[str, Any]:
    return {
        "id": "wmts", "name_zh": "网络地图瓦片服务 WMTS 1.0.0",
        "name_en": "Web Map Tile Service (WMTS 1.0.0)",
        "status": status_of(WMTS_REST_CAPABILITIES), "title": conf.wmts_title,
        "version": "1.0.0",
        "capabilities": [
            {"encoding": "REST", "url": base + WMTS_REST_CAPABILITIES},
            {"encoding": "KVP", "url": _q(base + OWS_WMTS, {"SERVICE": "WMTS",
                                                            "REQUEST": "GetCapabilities"})},
        ],
        "kvp_url": base + OWS_WMTS,
        "kvp_gettile": _q(base + OWS_WMTS, {
            "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "{Layer}",
            "STYLE": "default", "TILEMATRIXSET": "{TileMatrixSet}", "TILEMATRIX": "{TileMatrix}",
            "TILEROW": "{TileRow}", "TILECOL": "{TileCol}", "FORMAT": WMTS_TILE_FORMAT}),
        "tile_template": wmts_tile_template(base, conf),
        "formats": [WMTS_TILE_FORMAT],
        "note_zh": "TileMatrix 标识为 0、1、2…（“00”、“01” 形式亦可）；行号 TileRow 自上而下。",
        "note_en": "TileMatrix identifiers are 0, 1, 2... (\"00\", \"01\" are accepted too); "
                   "TileRow counts from the top.",
        "tile_matrix_sets": [
            {"id": m.id, "title": m.title, "crs": m.crs, "well_known_scale_set": m.well_known,
             "top_left_corner": list(m.top_left), "top_left_xy": list(m.top_left_xy),
             "tile_size": list(m.tile_size),
             "levels": {"min": int(m.levels[0]["id"]), "max": int(m.levels[-1]["id"])},
             "matrices": [dict(level) for level in m.levels],
             "note_zh": m.note_zh, "note_en": m.note_en}
            for m in conf.matrix_sets],
    }


def _column_name(column: str) -> str:
    return column.rsplit(" AS ", 1)[-1].strip() if " AS " in column else \
        column.rsplit(".", 1)[-1].strip()


def _attribute(name: str) -> dict[str, str]:
    field = FIELD_BY_NAME.get(name)
    if field is not None:
        return {"name": name, "label_zh": field.label_zh, "label_en": field.label_en,
                "standard": field.standard}
    if name == "id":
        return {"name": "id", "label_zh": "要素标识（亦为 MVT feature id）",
                "label_en": "feature id (also the MVT feature id)", "standard": ""}
    if name == "attributes":
        return {"name": "*", "label_zh": "源文件的其他属性（每个键一个属性）",
                "label_en": "other source attributes (one property per key)", "standard": ""}
    return {"name": name, "label_zh": name, "label_en": name, "standard": ""}


def mvt_attributes(category: str) -> dict[str, list[dict[str, str]]]:
    """The properties a tile of a layer of this category carries (from the tile SQL)."""
    return {
        "basic": [_attribute(_column_name(c)) for c in mvt.attribute_columns(category, False)],
        "detailed": [_attribute(_column_name(c)) for c in mvt.attribute_columns(category, True)],
    }


def mvt_detail_zoom() -> int:
    return int(mvt.setting("MVT_DETAIL_MIN_ZOOM", 14))


def mvt_service(base: str) -> dict[str, Any]:
    detail = mvt_detail_zoom()
    return {
        "id": "vector_tiles", "name_zh": "矢量瓦片 (MVT)", "name_en": "Vector tiles (MVT)",
        "status": status_of(MVT_TEMPLATE), "template": base + MVT_TEMPLATE,
        "content_type": mvt.CONTENT_TYPE,
        "tile_matrix_set": "WebMercatorQuad", "crs": f"EPSG:{crs_registry.WEB_MERCATOR}",
        "zoom": {"min": 0, "max": mvt.MAX_ZOOM}, "extent": mvt.EXTENT, "buffer": mvt.BUFFER,
        "detail_min_zoom": detail,
        "note_zh": (f"XYZ 规则，y 自上而下；MVT 图层名即图层代码。z < {detail} 时只含 basic 属性，"
                    f"z ≥ {detail} 时含 detailed 属性。无要素的瓦片为 200 空内容。支持 gzip、"
                    "ETag/If-None-Match。"),
        "note_en": (f"XYZ, y from the top; the MVT layer is named after the layer code. Below "
                    f"z{detail} tiles carry the basic attributes, from z{detail} on the "
                    "detailed ones. A tile without features is a 200 with an empty body. gzip, "
                    "ETag/If-None-Match supported."),
        "attributes": mvt_attributes(Layer.Category.REGULATORY_PLAN),
        "attributes_other_categories": mvt_attributes(Layer.Category.CONTROL_LINE),
    }


def ogcapi_service(base: str) -> dict[str, Any]:
    from layers.ogcapi import crs_uris

    return {
        "id": "ogcapi_features", "name_zh": "OGC API Features 要素服务",
        "name_en": "OGC API - Features",
        "status": AVAILABLE if route_exists(OGCAPI) and route_exists("/ogcapi/collections")
        else PLANNED,
        "landing": base + OGCAPI, "conformance": base + "/ogcapi/conformance",
        "collections": base + "/ogcapi/collections",
        "api_definition": base + "/ogcapi/api",
        "items_template": base + "/ogcapi/collections/{collectionId}/items",
        "formats": ["application/geo+json", "application/json", "text/html"],
        "format_parameter": "f=json | f=html",
        "crs": crs_uris.uris(), "storage_crs": crs_uris.storage().uri,
        "limit": {"default": settings.OGCAPI_LIMIT_DEFAULT, "max": settings.OGCAPI_LIMIT_MAX},
    }


def rest_service(base: str) -> dict[str, Any]:
    return {
        "id": "rest", "name_zh": "REST 接口", "name_en": "REST API",
        "status": status_of("/api/layers"),
        "openapi": base + "/api/schema/", "docs": base + "/api/docs/",
        "endpoints": [
            {"method": method, "url": base + path, "description_zh": zh,
             "description_en": en, "requires": function, "status": status_of(path)}
            for method, path, zh, en, function in REST_ENDPOINTS],
        "error_shape": {"error": "<code>", "detail": "<中文 (English)>"},
    }


def blueprint_service(base: str) -> dict[str, Any]:
    names = [p[0] for p in BLUEPRINT_PARAMETERS]
    return {
        "id": "blueprint", "name_zh": "一张蓝图页面（URL 约定）",
        "name_en": "Blueprint page (URL contract)",
        "status": status_of(BLUEPRINT), "url": base + BLUEPRINT,
        "template": base + BLUEPRINT + "?" + "&".join(f"{n}=" for n in names),
        "parameters": [{"name": n, "description_zh": zh, "description_en": en}
                       for n, zh, en in BLUEPRINT_PARAMETERS],
    }


def authentication(base: str, request: HttpRequest) -> dict[str, Any]:
    principal = principal_of(request)
    return {
        "anonymous_zh": "未登录（无令牌）只能看到公开图层；其他图层在目录、能力文档、地图、瓦片和"
                        "要素中均不出现（按不存在处理，404）。",
        "anonymous_en": "Without signing in or a token only public layers exist: other layers "
                        "are absent from this directory, capabilities, maps, tiles and "
                        "features (answered as unknown, 404).",
        "sign_in": base + "/accounts/login/",
        "token_header": "Authorization: Bearer <token>",
        "token_alt_header": "X-API-Token: <token>",
        "token_query_parameter": "token",
        "token_query_paths": list(TOKEN_QUERY_PATHS),
        "token_note_zh": "OGC 客户端（QGIS、GDAL、ArcGIS）可在 " + "、".join(TOKEN_QUERY_PATHS)
                         + " 的 GET 请求中用 ?token= 传令牌。令牌无效、过期或已吊销时返回 401"
                         "（invalid_token、expired_token、revoked_token），不会按匿名处理。",
        "token_note_en": "OGC clients (QGIS, GDAL, ArcGIS) may pass ?token= on GET requests "
                         "to " + ", ".join(TOKEN_QUERY_PATHS) + ". A bad, expired or revoked "
                         "token is refused with 401 (invalid_token, expired_token, "
                         "revoked_token), never treated as anonymous.",
        "scopes": [{"scope": s.value, "label_zh": str(s.label)} for s in Scope],
        "caller": {
            "user": principal.name,
            "role": principal.role,
            "role_label": _label(Role, principal.role),
            "access_levels": list(layer_access_levels(request)),
        },
    }


# --- the layers -----------------------------------------------------------------------------

def _wmts_tile(matrix: MatrixSet, lon: float, lat: float, level: int) -> tuple[int, int]:
    if matrix.crs == f"EPSG:{settings.STORAGE_SRID}":
        x, y = lon, lat
    else:
        epsg = _epsg(matrix.crs) or crs_registry.WEB_MERCATOR
        (x,), (y,) = crs_registry.transformer(settings.STORAGE_SRID, epsg).transform([lon], [lat])
    span_x = matrix.resolution(level) * matrix.tile_size[0]
    span_y = matrix.resolution(level) * matrix.tile_size[1]
    col = int((x - matrix.top_left_xy[0]) // span_x)
    row = int((matrix.top_left_xy[1] - y) // span_y)
    info = matrix.levels[level]
    return (min(max(col, 0), info["matrix_width"] - 1),
            min(max(row, 0), info["matrix_height"] - 1))


def _xyz_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    (x,), (y,) = crs_registry.transformer(settings.STORAGE_SRID, crs_registry.WEB_MERCATOR
                                          ).transform([lon], [lat])
    size = 2 * mvt.WEBMERCATOR_HALF / (1 << z)
    n = (1 << z) - 1
    return (min(max(int((x + mvt.WEBMERCATOR_HALF) // size), 0), n),
            min(max(int((mvt.WEBMERCATOR_HALF - y) // size), 0), n))


def layer_entry(base: str, conf: MapProxyBase, layer: Layer, version: LayerVersion,
                services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    code = layer.code
    extent = tuple(round(v, 8) for v in version.extent.extent) if version.extent else None
    entry: dict[str, Any] = {
        "code": code, "name_zh": layer.name_zh, "name_en": layer.name_en,
        "category": layer.category, "category_label": _label(Layer.Category, layer.category),
        "geometry_type": layer.geometry_type,
        "geometry_type_label": _label(Layer.GeometryType, layer.geometry_type),
        "access_level": layer.access_level,
        "access_level_label": _label(Layer.Access, layer.access_level),
        "version": {"number": version.number,
                    "effective_date": version.effective_date.isoformat(),
                    "feature_count": version.feature_count},
        "extent": {"crs": f"EPSG:{settings.STORAGE_SRID}", "axis_order": "lon,lat",
                   "bbox": list(extent)} if extent else None,
        "services": {},
    }
    if extent:
        lon, lat = (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
    else:
        x0, y0, x1, y1 = settings.COUNTY_BBOX
        lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
    out = entry["services"]
    if services["wms"]["status"] == AVAILABLE:
        getmap = wms_examples(base, conf, code, extent)[0]["url"]
        out["wms"] = {"layer": code, "url": base + OWS_WMS, "getmap": getmap,
                      "legend": legend_url(base, code)}
    if services["wmts"]["status"] == AVAILABLE:
        template = wmts_tile_template(base, conf)
        tiles = []
        for matrix in conf.matrix_sets:
            level = min(EXAMPLE_LEVEL, len(matrix.levels) - 1)
            col, row = _wmts_tile(matrix, lon, lat, level)
            layer_template = template.replace("{Layer}", code).replace("{TileMatrixSet}",
                                                                        matrix.id)
            tiles.append({
                "tile_matrix_set": matrix.id, "crs": matrix.crs, "template": layer_template,
                "example": layer_template.replace("{TileMatrix}", matrix.levels[level]["id"])
                .replace("{TileCol}", str(col)).replace("{TileRow}", str(row))})
        out["wmts"] = {"layer": code, "tiles": tiles}
    if services["vector_tiles"]["status"] == AVAILABLE:
        z = mvt_detail_zoom()
        x, y = _xyz_tile(lon, lat, z)
        template = base + MVT_TEMPLATE.replace("{layer}", code)
        out["vector_tiles"] = {
            "template": template,
            "example": template.replace("{z}", str(z)).replace("{x}", str(x))
            .replace("{y}", str(y)),
            "attributes": {k: [a["name"] for a in v]
                           for k, v in mvt_attributes(layer.category).items()}}
    if services["ogcapi_features"]["status"] == AVAILABLE:
        out["ogcapi_features"] = {"collection": f"{base}/ogcapi/collections/{code}",
                                  "items": f"{base}/ogcapi/collections/{code}/items"}
    if services["rest"]["status"] == AVAILABLE:
        out["rest"] = {"layer": f"{base}/api/layers/{code}",
                       "features": f"{base}/api/layers/{code}/features"}
    return entry


def published_visible(request: HttpRequest) -> list[LayerVersion]:
    return list(LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                            layer__in=selectors.visible_layers(request))
                .select_related("layer").order_by("layer__sort_order", "layer__code"))


def directory(request: HttpRequest) -> dict[str, Any]:
    base = base_url(request)
    conf = mapproxy_base()
    versions = published_visible(request)
    services: dict[str, dict[str, Any]] = {}
    services["wms"] = wms_service(base, conf, versions[0] if versions else None)
    services["wmts"] = wmts_service(base, conf)
    services["vector_tiles"] = mvt_service(base)
    services["ogcapi_features"] = ogcapi_service(base)
    services["rest"] = rest_service(base)
    services["blueprint"] = blueprint_service(base)
    return {
        "title": "内乡县一张蓝图 服务目录 (Neixiang one-blueprint service directory)",
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "base_url": base,
        "division_code": getattr(settings, "COUNTY_DIVISION_CODE", ""),
        "storage_crs": f"EPSG:{settings.STORAGE_SRID}",
        "directory": {"json": base + "/api/services", "html": base + "/services/"},
        "authentication": authentication(base, request),
        "services": services,
        "layers": [layer_entry(base, conf, v.layer, v, services) for v in versions],
    }


def _no_shared_cache(response: HttpResponse) -> HttpResponse:
    # The content depends on who asks: never shared by a proxy, always revalidated.
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ("Cookie", "Authorization"))
    return response


@public  # what it lists is the caller's business: visible_layers decides
@require_safe
def services_json(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(directory(request), json_dumps_params={"ensure_ascii": False})
    return _no_shared_cache(response)


@public
@require_safe
def services_page(request: HttpRequest) -> HttpResponse:
    doc = directory(request)
    return _no_shared_cache(render(request, "tiles/services.html", {"doc": doc}))
