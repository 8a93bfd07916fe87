"""The blueprint page `/blueprint/` and its URL contract.

Every parameter is validated here (the page's script validates the same way when the view
changes): a bad value becomes a visible message on the page and the map still opens at the
county extent. Nothing external is loaded (static/vendor/, scripts/vendor_static.sh).

    project=<project code>   zoom to and highlight the red line (a project the caller may
                             see comes embedded in the page, so the first tiles are the
                             project's; otherwise the page asks /api/projects/{code} and
                             shows its "unknown" message)
    parcel=<parcel no.>      zoom to and highlight a regulatory-plan parcel (DKBH)
    layers=a,b,c             visible layers (codes from /api/services)
    bbox=minlon,minlat,maxlon,maxlat  or  center=lon,lat&zoom=z   (CGCS2000 lon/lat)
    crs=3857|4490            map grid: Web Mercator, or the CGCS2000 (Tianditu `c`) grid
    embed=1                  no chrome; postMessage events to the parent window
    lang=zh|en

Speed (bench/page_bench.py): the page is gzipped, carries the layer directory with each
layer's extent (no tiles asked outside it) and the project's red line; public layers' tiles
are fetched without cookies (blueprint.js PublicTileLayer); proj4 loads after the initial
view unless crs=4490. Print: POST /blueprint/api/print (blueprint/printing.py).

Settings: BLUEPRINT_FRAME_ANCESTORS (CSP frame-ancestors sources of this page, default
"'self'"; space-separated, e.g. "'self' https://spxt.example.gov.cn"), TIANDITU_KEY (Tianditu
base maps offered when set; never needed otherwise).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.aggregates import Extent
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_safe

from accounts.access import public
from approvals_link.selectors import get_visible_project
from layers import selectors
from layers.models import Feature, LayerVersion
from tiles import directory

MAX_ZOOM = 20
DEFAULT_CRS = "3857"
CRS_CHOICES = ("3857", "4490")
LANGS = ("zh", "en")
PROJECT_CODE = re.compile(r"^(\d{4}-\d{6}-\d{2}-\d{2}-\d{6}|[0-9A-Z]{24})$")
PARCEL_NO = re.compile(r"^[\w\-./#]{1,64}$")
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
TIANDITU_HOSTS = "https://*.tianditu.gov.cn"

LABELS = {
    "zh": {"title": "内乡县一张蓝图", "layers": "图层", "basemap": "底图", "search": "搜索",
           "search_placeholder": "项目代码、地块编号、地名或坐标", "coords": "坐标",
           "measure": "量算", "boundary": "红线检查", "messages": "提示", "measure_line": "测距", "measure_area": "测面",
           "measure_finish": "完成", "measure_clear": "清除", "boundary_submit": "上传检查",
           "close": "关闭", "loading": "加载中…", "print": "打印", "print_title": "图名",
           "print_format": "格式", "print_paper": "纸张", "print_dpi": "分辨率 (dpi)",
           "a4_landscape": "A4 横向", "a4_portrait": "A4 纵向", "a3_landscape": "A3 横向",
           "a3_portrait": "A3 纵向"},
    "en": {"title": "Neixiang one blueprint", "layers": "Layers", "basemap": "Base map",
           "search": "Search", "search_placeholder": "Project code, parcel no., place or "
           "coordinates", "coords": "Coordinates", "measure": "Measure",
           "boundary": "Boundary check", "messages": "Messages", "measure_line": "Distance",
           "measure_area": "Area", "measure_finish": "Finish", "measure_clear": "Clear",
           "boundary_submit": "Upload and check", "close": "Close",
           "loading": "Loading…", "print": "Print", "print_title": "Title",
           "print_format": "Format", "print_paper": "Paper", "print_dpi": "Resolution (dpi)",
           "a4_landscape": "A4 landscape", "a4_portrait": "A4 portrait",
           "a3_landscape": "A3 landscape", "a3_portrait": "A3 portrait"},
}


@dataclass
class Contract:
    """The validated URL parameters; `messages` says what was refused and why."""

    lang: str = "zh"
    crs: str = DEFAULT_CRS
    embed: bool = False
    project: str = ""
    parcel: str = ""
    layers: list[str] | None = None  # None: the default set
    bbox: list[float] | None = None
    center: list[float] | None = None
    zoom: int | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    def refuse(self, param: str, zh: str, en: str) -> None:
        self.messages.append({"param": param, "zh": zh, "en": en})


def county_bounds(margin: bool = True) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = settings.COUNTY_BBOX
    m = float(getattr(settings, "COUNTY_MARGIN_DEG", 0.0)) if margin else 0.0
    return x0 - m, y0 - m, x1 + m, y1 + m


def _numbers(raw: str, count: int) -> list[float] | None:
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != count or not all(NUMBER.match(p) for p in parts):
        return None
    values = [float(p) for p in parts]
    return values if all(math.isfinite(v) for v in values) else None


def _in_county(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = county_bounds()
    return x0 <= lon <= x1 and y0 <= lat <= y1


def _echo(raw: str) -> str:
    return raw if len(raw) <= 60 else raw[:60] + "…"


def parse(params: Any, visible_codes: list[str]) -> Contract:
    c = Contract()
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731

    lang = get("lang").lower()
    if lang in LANGS:
        c.lang = lang
    elif lang:
        c.refuse("lang", f"lang 应为 zh 或 en：{_echo(lang)}", f"lang must be zh or en: "
                 f"{_echo(lang)}")

    crs = get("crs").upper().removeprefix("EPSG:")
    if crs in CRS_CHOICES:
        c.crs = crs
    elif crs:
        c.refuse("crs", f"crs 应为 3857 或 4490：{_echo(crs)}，已使用 3857",
                 f"crs must be 3857 or 4490: {_echo(crs)}; using 3857")

    embed = get("embed").lower()
    if embed in ("1", "true", "yes"):
        c.embed = True
    elif embed not in ("", "0", "false", "no"):
        c.refuse("embed", f"embed 应为 0 或 1：{_echo(embed)}", f"embed must be 0 or 1: "
                 f"{_echo(embed)}")

    project = get("project")
    if project:
        if PROJECT_CODE.match(project.upper()):
            c.project = project.upper()
        else:
            c.refuse("project", f"项目代码格式不正确：{_echo(project)}（应如 "
                     "2019-411325-47-01-000123）", f"malformed project code: {_echo(project)} "
                     "(expected e.g. 2019-411325-47-01-000123)")

    parcel = get("parcel")
    if parcel:
        if PARCEL_NO.match(parcel):
            c.parcel = parcel
        else:
            c.refuse("parcel", f"地块编号格式不正确：{_echo(parcel)}",
                     f"malformed parcel number: {_echo(parcel)}")

    if "layers" in params:
        raw = get("layers")
        wanted = [p.strip() for p in raw.split(",") if p.strip()]
        known = {code.upper(): code for code in visible_codes}
        unknown = [w for w in wanted if w.upper() not in known]
        c.layers = list(dict.fromkeys(known[w.upper()] for w in wanted if w.upper() in known))
        if unknown:
            shown = _echo(", ".join(unknown))
            c.refuse("layers", f"未知或无权查看的图层：{shown}",
                     f"unknown layers (or not visible to you): {shown}")

    bbox, center, zoom = get("bbox"), get("center"), get("zoom")
    if bbox:
        values = _numbers(bbox, 4)
        if values is None:
            c.refuse("bbox", f"bbox 应为 minlon,minlat,maxlon,maxlat 四个数：{_echo(bbox)}",
                     f"bbox must be four numbers minlon,minlat,maxlon,maxlat: {_echo(bbox)}")
        elif not (values[0] < values[2] and values[1] < values[3]):
            c.refuse("bbox", f"bbox 的最小值应小于最大值：{_echo(bbox)}",
                     f"bbox minimum must be below its maximum: {_echo(bbox)}")
        elif not (_in_county(values[0], values[1]) and _in_county(values[2], values[3])):
            c.refuse("bbox", f"bbox 超出内乡县范围：{_echo(bbox)}",
                     f"bbox lies outside Neixiang County: {_echo(bbox)}")
        else:
            c.bbox = values
    if center and not c.bbox:
        values = _numbers(center, 2)
        if values is None:
            c.refuse("center", f"center 应为 lon,lat 两个数：{_echo(center)}",
                     f"center must be two numbers lon,lat: {_echo(center)}")
        elif not _in_county(*values):
            c.refuse("center", f"坐标超出内乡县范围：{_echo(center)}",
                     f"coordinates outside Neixiang County: {_echo(center)}")
        else:
            c.center = values
    if zoom:
        if re.fullmatch(r"\d{1,2}", zoom) and 0 <= int(zoom) <= MAX_ZOOM:
            c.zoom = int(zoom)
        else:
            c.refuse("zoom", f"zoom 应为 0–{MAX_ZOOM} 的整数：{_echo(zoom)}",
                     f"zoom must be an integer from 0 to {MAX_ZOOM}: {_echo(zoom)}")
    if c.center and c.zoom is None:
        c.zoom = 14
    return c


def find_parcel(request: HttpRequest, parcel_no: str) -> dict[str, Any] | None:
    """The bounding box of a parcel in a published, visible layer (None when there is none)."""
    versions = LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                           layer__in=selectors.visible_layers(request))
    found = (Feature.objects.filter(version__in=versions, parcel_no=parcel_no)
             .aggregate(extent=Extent("geom")))["extent"]
    if not found:
        return None
    return {"parcel_no": parcel_no, "bbox": [round(v, 8) for v in found]}


def layer_directory(request: HttpRequest) -> dict[str, Any]:
    """The slice of the service directory (/api/services, tiles.directory) the page needs:
    the caller's published layers with their WMTS templates, and the tile matrix sets. Built
    from the directory's own functions, so the two cannot drift; embedded in the page to
    save a round trip before the first tile."""
    conf = directory.mapproxy_base()
    wmts = directory.status_of(directory.WMTS_REST_CAPABILITIES) == directory.AVAILABLE
    template = directory.wmts_tile_template("", conf)
    layers = []
    for version in directory.published_visible(request):
        layer = version.layer
        tiles = [{"tile_matrix_set": m.id,
                  "template": template.replace("{Layer}", layer.code)
                  .replace("{TileMatrixSet}", m.id)} for m in conf.matrix_sets]
        # The version's extent lets the page ask only for tiles that can hold features.
        extent = [round(v, 6) for v in version.extent.extent] if version.extent else None
        layers.append({"code": layer.code, "name_zh": layer.name_zh, "name_en": layer.name_en,
                       "category": layer.category, "geometry_type": layer.geometry_type,
                       "extent": extent, "access": layer.access_level,
                       "services": {"wmts": {"tiles": tiles}} if wmts else {}})
    sets = [{"id": m.id, "top_left_xy": list(m.top_left_xy),
             "matrices": [{"id": lv["id"], "resolution": lv["resolution"]} for lv in m.levels]}
            for m in conf.matrix_sets]
    return {"services": {"wmts": {"tile_matrix_sets": sets}}, "layers": layers}


def find_project(request: HttpRequest, code: str) -> dict[str, Any] | None:
    """The current red line of a project the caller may see, embedded in the page so the
    first tiles are requested at the project's view (no round trip, no county-wide tiles
    first). None for unknown and invisible projects alike: the page then asks
    /api/projects/{code} itself and shows that answer's message."""
    project = get_visible_project(request, code)
    if project is None:
        return None
    row = (project.footprints.order_by("-number")
           .annotate(geojson=AsGeoJSON("geom", precision=7)).values("geojson", "area_m2")
           .first())
    if row is None or not row["geojson"]:
        return None
    return {"project_code": project.project_code, "name": project.name,
            "area_m2": round(row["area_m2"], 2), "geometry": json.loads(row["geojson"])}


def frame_ancestors() -> list[str]:
    raw = getattr(settings, "BLUEPRINT_FRAME_ANCESTORS", None)
    if raw is None:
        raw = os.environ.get("BLUEPRINT_FRAME_ANCESTORS", "'self'")
    sources = raw.split() if isinstance(raw, str) else [str(s) for s in raw]
    return sources or ["'self'"]


def tianditu_key() -> str:
    return str(getattr(settings, "TIANDITU_KEY", None) or os.environ.get("TIANDITU_KEY", ""))


@public
@require_safe
@xframe_options_exempt  # embedding is decided by CSP frame-ancestors (BLUEPRINT_FRAME_ANCESTORS)
@gzip_page  # the embedded directory compresses ~4:1 (Django pads gzip against BREACH)
def page(request: HttpRequest) -> HttpResponse:
    codes = list(selectors.visible_layers(request).values_list("code", flat=True))
    contract = parse(request.GET, codes)
    parcel = None
    if contract.parcel:
        parcel = find_parcel(request, contract.parcel)
        if parcel is None:
            contract.refuse("parcel", f"未找到地块：{contract.parcel}",
                            f"no such parcel: {contract.parcel}")
    project = find_project(request, contract.project) if contract.project else None
    key = tianditu_key()
    config = {
        "lang": contract.lang, "crs": contract.crs, "embed": contract.embed,
        "project": contract.project, "project_data": project, "parcel": parcel,
        "layers": contract.layers,
        "bbox": contract.bbox, "center": contract.center, "zoom": contract.zoom,
        "county": list(settings.COUNTY_BBOX), "messages": contract.messages,
        "county_margin": float(getattr(settings, "COUNTY_MARGIN_DEG", 0.0)),
        "directory": layer_directory(request), "tianditu": bool(key), "tianditu_key": key, "max_zoom": MAX_ZOOM,
        # Loaded after the initial view on the Web Mercator grid (blueprint.js loadProj4).
        "scripts": {"proj4": static("vendor/proj4/proj4.js")},
        "urls": {"services": "/api/services", "project": "/api/projects/",
                 "legend": "/ows/wms", "identify": "/blueprint/api/identify",
                 "search": "/blueprint/api/search", "measure": "/blueprint/api/measure",
                 "boundary": "/blueprint/api/boundary-check",
                 "print": "/blueprint/api/print"},
    }
    response = render(request, "blueprint/page.html", {
        "config": config, "contract": contract, "labels": LABELS[contract.lang],
        "messages_text": [m[contract.lang] for m in contract.messages],
        "html_lang": "en" if contract.lang == "en" else "zh-CN"})
    policy: dict[str, list[str]] = {"frame-ancestors": frame_ancestors()}
    if key:
        policy["img-src"] = ["'self'", "data:", "blob:", TIANDITU_HOSTS]
    response._csp_replace = policy  # django-csp 4 per-response override (csp.decorators)
    return response
