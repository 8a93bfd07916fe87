"""Print the blueprint page's view: a PNG or PDF map rendered on the server.

    POST /blueprint/api/print   {"bbox": [minlon, minlat, maxlon, maxlat],   CGCS2000 lon/lat
                                 "crs": "3857" | "4490", "layers": ["KGDK", ...],
                                 "title": "...", "format": "png" | "pdf", "dpi": 96–300,
                                 "paper": "A4" | "A3", "orientation": "landscape" | "portrait",
                                 "lang": "zh" | "en", "project": "<code>", "parcel": "<no.>"}

The map is drawn by Mapnik with the map services' own styles (tiles.map_image, the same XML
as WMS/WMTS) at print resolution: line widths scale with dpi (OGC's 0.28 mm pixel is Mapnik's
scale factor 1). Around it: title, date, CRS, legend (tiles.legend: the rows GetLegendGraphic
draws), a scale bar whose length is measured in the county projected CRS, and a north arrow.
The PDF is WeasyPrint: the map is an image at the requested dpi, the text is real text in the
embedded CJK font.

Access as everywhere else: a layer is printed only if the caller may see it (access level,
layers.selectors), a project only if the caller may see it (approvals_link.selectors), a
parcel only from a visible layer. Every parameter is validated; a refusal is a 4xx with
{"error", "detail": "中文 (English)", "parameter"}.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.utils import timezone
from PIL import Image, ImageDraw

from approvals_link.selectors import get_visible_project
from blueprint.views_page import LABELS, PARCEL_NO, PROJECT_CODE, county_bounds
from layers import selectors
from layers.models import Feature, Layer, LayerVersion
from tiles import map_image
from tiles.legend import cached_entries, cjk_font_path, font, swatch

PAPERS_MM = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}  # landscape
ORIENTATIONS = ("landscape", "portrait")
FORMATS = ("png", "pdf")
CRS_CHOICES = {"3857": 3857, "4490": 4490}
DPI_MIN, DPI_MAX, DPI_DEFAULT = 96, 300, 150
MAX_LAYERS = 40
TITLE_MAX = 80
HIGHLIGHT = "#FF00FF"  # the page's highlight (blueprint.js HIGHLIGHT)
HIGHLIGHT_FILL_OPACITY = 0.12
PDF_FONT = "Print CJK"
CRS_LABELS = {4490: {"zh": "CGCS2000 (EPSG:4490)", "en": "CGCS2000 (EPSG:4490)"},
              3857: {"zh": "Web 墨卡托 (EPSG:3857)，数据 CGCS2000",
                     "en": "Web Mercator (EPSG:3857), data CGCS2000"}}
TEXT = {
    "zh": {"legend": "图例", "crs": "坐标系", "scale": "比例尺", "date": "制图日期",
           "source": "内乡县国土空间规划“一张蓝图”", "north": "北", "project": "项目红线",
           "parcel": "地块", "more": "另 {n} 项未列出", "other": "其他"},
    "en": {"legend": "Legend", "crs": "CRS", "scale": "Scale", "date": "Date",
           "source": "Neixiang County one blueprint", "north": "N", "project": "Project red line",
           "parcel": "Parcel", "more": "{n} more not listed", "other": "Other"},
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PrintError(ValueError):
    """A request that cannot be printed: `code`, HTTP status, the parameter at fault."""

    def __init__(self, code: str, zh: str, en: str, parameter: str | None = None,
                 status: int = 400):
        self.code, self.parameter, self.status = code, parameter, status
        super().__init__(f"{zh} ({en})")


@dataclass
class PrintSpec:
    bbox: tuple[float, float, float, float]
    srid: int
    layers: list[tuple[Layer, LayerVersion]]
    title: str
    fmt: str
    dpi: int
    paper: str
    orientation: str
    lang: str
    project: dict[str, Any] | None = None
    parcel: dict[str, Any] | None = None
    confidential: list[str] = field(default_factory=list)

    @property
    def paper_mm(self) -> tuple[float, float]:
        w, h = PAPERS_MM[self.paper]
        return (w, h) if self.orientation == "landscape" else (h, w)

    def px(self, mm: float) -> int:
        return round(mm / 25.4 * self.dpi)

    @property
    def page_px(self) -> tuple[int, int]:
        w, h = self.paper_mm
        return self.px(w), self.px(h)


def max_megapixels() -> float:
    return float(getattr(settings, "PRINT_MAX_MEGAPIXELS", 16))


# --- validation ------------------------------------------------------------------------------

def _echo(value: Any) -> str:
    text = _CONTROL.sub("", str(value))
    return text if len(text) <= 40 else text[:40] + "…"


def _choice(data: dict[str, Any], name: str, choices: Any, default: str) -> str:
    raw = data.get(name, default)
    if raw is None or raw == "":
        return default
    value = str(raw).strip()
    for choice in choices:
        if value.lower() == str(choice).lower():
            return str(choice)
    shown = " | ".join(str(c) for c in choices)
    raise PrintError("invalid_parameter", f"{name} 应为 {shown}：{_echo(raw)}",
                     f"{name} must be {shown}: {_echo(raw)}", name)


def _bbox(raw: Any) -> tuple[float, float, float, float]:
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        raise PrintError("invalid_parameter", "bbox 应为 [minlon, minlat, maxlon, maxlat] 四个数",
                         "bbox must be four numbers [minlon, minlat, maxlon, maxlat]", "bbox")
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise PrintError("invalid_parameter", "bbox 应为四个数", "bbox must be four numbers",
                         "bbox") from None
    if not all(math.isfinite(v) for v in values) or any(isinstance(v, bool) for v in raw):
        raise PrintError("invalid_parameter", "bbox 应为四个有限数",
                         "bbox must be four finite numbers", "bbox")
    x0, y0, x1, y1 = values
    if not (x0 < x1 and y0 < y1):
        raise PrintError("invalid_parameter", "bbox 的最小值应小于最大值",
                         "bbox minimum must be below its maximum", "bbox")
    cx0, cy0, cx1, cy1 = county_bounds()
    if not (cx0 <= x0 and x1 <= cx1 and cy0 <= y0 and y1 <= cy1):
        raise PrintError("outside_county", "bbox 超出内乡县范围",
                         "bbox lies outside Neixiang County", "bbox")
    if x1 - x0 < 1e-5 or y1 - y0 < 1e-5:  # about a metre: no map at any scale
        raise PrintError("invalid_parameter", "bbox 过小", "bbox too small", "bbox")
    return x0, y0, x1, y1


def _layers(request: Any, raw: Any) -> list[tuple[Layer, LayerVersion]]:
    if isinstance(raw, str):
        raw = [c for c in raw.split(",") if c.strip()]
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise PrintError("invalid_parameter", "layers 应为图层代码列表",
                         "layers must be a list of layer codes", "layers")
    codes = list(dict.fromkeys(c.strip() for c in raw))
    if len(codes) > MAX_LAYERS:
        raise PrintError("invalid_parameter", f"图层过多（至多 {MAX_LAYERS} 个）",
                         f"too many layers (at most {MAX_LAYERS})", "layers")
    wanted = [c for c in codes if selectors.LAYER_CODE.match(c)]
    # Unknown, invisible and unpublished layers are refused alike: no existence leak.
    versions = {v.layer.code: v for v in LayerVersion.objects.filter(
        state=LayerVersion.State.PUBLISHED, layer__code__in=wanted,
        layer__in=selectors.visible_layers(request)).select_related("layer")}
    missing = [c for c in codes if c not in versions]
    if missing:
        shown = _echo(", ".join(missing))
        raise PrintError("unknown_layer", f"未知或无权查看的图层：{shown}",
                         f"unknown layers (or not visible to you): {shown}", "layers")
    # Drawn in the page's order: base layers under the others, then the directory order.
    found = sorted(versions.values(), key=lambda v: (v.layer.category != Layer.Category.BASE,
                                                     v.layer.sort_order, v.layer.code))
    return [(v.layer, v) for v in found]


def _geometry_column(srid: int) -> str:
    return "geom_3857" if srid == 3857 else "geom"


def _project(request: Any, raw: Any, srid: int) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    code = str(raw).strip().upper()
    if not PROJECT_CODE.match(code):
        raise PrintError("invalid_parameter", f"项目代码格式不正确：{_echo(raw)}",
                         f"malformed project code: {_echo(raw)}", "project")
    project = get_visible_project(request, code)
    row = None if project is None else (
        project.footprints.order_by("-number")
        .annotate(g=AsGeoJSON(_geometry_column(srid), precision=9)).values("g").first())
    if row is None or not row["g"]:
        # Unknown, invisible and without a red line alike.
        raise PrintError("unknown_project", f"未找到项目或其红线：{code}",
                         f"no such project (or no red line): {code}", "project", 404)
    return {"code": project.project_code, "name": project.name, "geometry": json.loads(row["g"])}


def _parcel(request: Any, raw: Any, srid: int) -> dict[str, Any] | None:
    if raw in (None, ""):
        return None
    number = str(raw).strip()
    if not PARCEL_NO.match(number):
        raise PrintError("invalid_parameter", f"地块编号格式不正确：{_echo(raw)}",
                         f"malformed parcel number: {_echo(raw)}", "parcel")
    versions = LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                           layer__in=selectors.visible_layers(request))
    row = (Feature.objects.filter(version__in=versions, parcel_no=number).order_by("id")
           .annotate(g=AsGeoJSON(_geometry_column(srid), precision=9)).values("g").first())
    if row is None:
        raise PrintError("unknown_parcel", f"未找到地块：{number}", f"no such parcel: {number}",
                         "parcel", 404)
    return {"parcel_no": number, "geometry": json.loads(row["g"])}


def parse(request: Any, data: Any) -> PrintSpec:
    """The validated print request, or PrintError."""
    if not isinstance(data, dict):
        raise PrintError("invalid_request", "请求体应为 JSON 对象", "the body must be a JSON object")
    lang = _choice(data, "lang", ("zh", "en"), "zh")
    fmt = _choice(data, "format", FORMATS, "png")
    crs_raw = str(data.get("crs") or "3857").strip().upper().removeprefix("EPSG:")
    srid = CRS_CHOICES[_choice({"crs": crs_raw}, "crs", tuple(CRS_CHOICES), "3857")]
    paper_raw = str(data.get("paper") or "A4").strip()
    parts = re.split(r"[\s_\-]+", paper_raw)
    orientation_raw = data.get("orientation") or (parts[1] if len(parts) == 2 else "landscape")
    paper = _choice({"paper": parts[0]}, "paper", tuple(PAPERS_MM), "A4")
    orientation = _choice({"orientation": orientation_raw}, "orientation", ORIENTATIONS,
                          "landscape")
    raw_dpi = data.get("dpi", DPI_DEFAULT)
    if raw_dpi in (None, ""):
        raw_dpi = DPI_DEFAULT
    if isinstance(raw_dpi, bool) or not re.fullmatch(r"\d{1,4}(\.0+)?", str(raw_dpi).strip()):
        raise PrintError("invalid_parameter", f"dpi 应为 {DPI_MIN}–{DPI_MAX} 的整数：{_echo(raw_dpi)}",
                         f"dpi must be an integer from {DPI_MIN} to {DPI_MAX}: {_echo(raw_dpi)}",
                         "dpi")
    dpi = int(float(str(raw_dpi)))
    if not DPI_MIN <= dpi <= DPI_MAX:
        raise PrintError("invalid_parameter", f"dpi 应为 {DPI_MIN}–{DPI_MAX} 的整数：{dpi}",
                         f"dpi must be an integer from {DPI_MIN} to {DPI_MAX}: {dpi}", "dpi")
    title_raw = data.get("title")
    if title_raw is not None and not isinstance(title_raw, str):
        raise PrintError("invalid_parameter", "title 应为文字", "title must be text", "title")
    title = _CONTROL.sub(" ", title_raw or "").strip() or LABELS[lang]["title"]
    if len(title) > TITLE_MAX:
        raise PrintError("invalid_parameter", f"标题过长（至多 {TITLE_MAX} 字）",
                         f"title too long (at most {TITLE_MAX} characters)", "title")
    spec = PrintSpec(bbox=_bbox(data.get("bbox")), srid=srid, layers=[], title=title, fmt=fmt,
                     dpi=dpi, paper=paper, orientation=orientation, lang=lang)
    w, h = spec.page_px
    if w * h > max_megapixels() * 1e6:
        raise PrintError("too_large", f"图幅过大：{w}×{h} 像素，超过 {max_megapixels():g} 百万像素，"
                         "请降低 dpi 或纸张", f"print too large: {w}×{h} pixels exceeds "
                         f"{max_megapixels():g} megapixels; lower the dpi or the paper size",
                         "dpi")
    spec.layers = _layers(request, data.get("layers"))
    spec.confidential = [layer.code for layer, _ in spec.layers
                         if layer.access_level == Layer.Access.CONFIDENTIAL]
    spec.project = _project(request, data.get("project"), srid)
    spec.parcel = _parcel(request, data.get("parcel"), srid)
    return spec


# --- layout ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass
class Layout:
    page: tuple[int, int]
    title: Box
    map: Box
    panel: Box


def layout(spec: PrintSpec) -> Layout:
    """Title band on top; the legend panel on the right (landscape) or below (portrait)."""
    W, H = spec.page_px
    m, gap = spec.px(10), spec.px(4)
    title = Box(m, m, W - 2 * m, spec.px(14))
    top = title.y + title.h + gap
    if spec.orientation == "landscape":
        panel_w = spec.px(72 if spec.paper == "A4" else 85)
        panel = Box(W - m - panel_w, top, panel_w, H - m - top)
        frame = Box(m, top, panel.x - gap - m, H - m - top)
    else:
        panel_h = spec.px(62 if spec.paper == "A4" else 80)
        panel = Box(m, H - m - panel_h, W - 2 * m, panel_h)
        frame = Box(m, top, W - 2 * m, panel.y - gap - top)
    return Layout((W, H), title, frame, panel)


# --- legend ----------------------------------------------------------------------------------

@dataclass
class LegendRow:
    label: str
    image: Image.Image | None  # swatch; None for a layer heading


def legend_rows(spec: PrintSpec, swatch_px: tuple[int, int]) -> list[LegendRow]:
    """Topmost layer first, as a map legend reads; the layer's rows as GetLegendGraphic."""
    rows: list[LegendRow] = []
    text = TEXT[spec.lang]
    highlights = ([f"{text['project']} {spec.project['code']}"] if spec.project else []) + \
        ([f"{text['parcel']} {spec.parcel['parcel_no']}"] if spec.parcel else [])
    entry = {"fill": HIGHLIGHT, "fill_opacity": 0.25, "stroke": HIGHLIGHT, "stroke_width": 3,
             "stroke_dasharray": None}
    for label in highlights:
        rows.append(LegendRow(label, swatch(entry, "polygon", swatch_px)))
    for layer, version in reversed(spec.layers):
        entries = cached_entries(layer, version, spec.lang)
        rows.append(LegendRow(layer.name(spec.lang), None))
        for entry in entries:
            if len(entries) == 1 and entry["label"] == layer.name(spec.lang):
                entry = {**entry, "label": ""}
            rows.append(LegendRow(entry["label"] or "—", swatch(entry, layer.geometry_type,
                                                                 swatch_px)))
    return rows


# --- rendering -------------------------------------------------------------------------------

@dataclass
class Rendered:
    content: bytes
    content_type: str
    filename: str
    headers: dict[str, str]


def render_map(spec: PrintSpec, box: Box) -> tuple[Image.Image, map_image.MapFrame,
                                                   dict[str, Any]]:
    """The map frame: layers, highlight, scale bar and north arrow, at print resolution."""
    frame = map_image.fit_frame(spec.bbox, spec.srid, box.w, box.h)
    image = map_image.render_layers(spec.layers, frame, scale_factor=spec.dpi / map_image.OGC_DPI)
    width = 3 * spec.dpi / 96  # the page's 3 px outline, printed at the same size
    for item in (spec.parcel, spec.project):  # the project on top, as on the page
        if item:
            map_image.draw_overlay(image, frame, item["geometry"], stroke=HIGHLIGHT, width=width,
                                   fill=HIGHLIGHT, fill_opacity=HIGHLIGHT_FILL_OPACITY)
    mpp = map_image.metres_per_pixel(frame)
    unit = max(1, round(spec.dpi / 96))
    small = font(max(9, spec.px(3)))
    metres, bar = map_image.draw_scale_bar(image, (spec.px(6), box.h - spec.px(6)), mpp,
                                           spec.px(35), small, spec.lang, unit)
    arrow = spec.px(12)
    map_image.draw_north_arrow(image, (box.w - spec.px(12), spec.px(16)), arrow,
                               font(max(9, spec.px(3.5))), TEXT[spec.lang]["north"])
    ImageDraw.Draw(image).rectangle([0, 0, box.w - 1, box.h - 1], outline=(60, 60, 60, 255),
                                    width=unit)
    bar_h = 6 * unit
    info = {"mpp": mpp, "scale": map_image.scale_denominator(mpp, spec.dpi), "frame": frame,
            "bar_m": metres, "bar_px": bar,
            # where the bar's filled half starts, relative to the map image (for checks)
            "bar_xy": (spec.px(6), box.h - spec.px(6) - 4 * unit - bar_h)}
    return image, frame, info


def _footer_lines(spec: PrintSpec, info: dict[str, Any]) -> list[str]:
    text = TEXT[spec.lang]
    return [f"{text['scale']} 1:{round(info['scale']):,}",
            f"{text['crs']} {CRS_LABELS[spec.srid][spec.lang]}",
            f"{text['date']} {timezone.localdate().isoformat()}",
            text["source"]]


def render_png(spec: PrintSpec) -> tuple[bytes, dict[str, Any]]:
    lay = layout(spec)
    mapped, frame, info = render_map(spec, lay.map)
    canvas = Image.new("RGBA", lay.page, (255, 255, 255, 255))
    canvas.alpha_composite(mapped, (lay.map.x, lay.map.y))
    draw = ImageDraw.Draw(canvas)
    text = TEXT[spec.lang]
    # Title band: the title left, the date right.
    title_face = font(spec.px(7))
    draw.text((lay.title.x, lay.title.y), spec.title, font=title_face, fill=(20, 20, 20, 255))
    date = f"{text['date']} {timezone.localdate().isoformat()}"
    small = font(max(9, spec.px(3)))
    dw = draw.textlength(date, font=small)
    draw.text((lay.title.x + lay.title.w - dw, lay.title.y + spec.px(4)), date, font=small,
              fill=(60, 60, 60, 255))
    draw.line([(lay.title.x, lay.title.y + lay.title.h), (lay.title.x + lay.title.w,
               lay.title.y + lay.title.h)], fill=(31, 59, 90, 255), width=max(1, spec.px(0.5)))
    # Legend panel: heading, rows (columns when portrait), footer lines at the bottom.
    p = lay.panel
    draw.rectangle([p.x, p.y, p.x + p.w - 1, p.y + p.h - 1], outline=(120, 120, 120, 255),
                   width=max(1, round(spec.dpi / 96)))
    pad = spec.px(3)
    head = font(spec.px(4.5))
    draw.text((p.x + pad, p.y + pad), text["legend"], font=head, fill=(20, 20, 20, 255))
    footer = _footer_lines(spec, info)
    line_h = spec.px(4.2)
    portrait = spec.orientation == "portrait"
    # Landscape: footer lines under the legend; portrait: beside it, on the right.
    footer_w = spec.px(78) if portrait else p.w - 2 * pad
    footer_x = p.x + p.w - pad - footer_w
    footer_top = p.y + p.h - pad - line_h * len(footer)
    for n, line in enumerate(footer):
        draw.text((footer_x, footer_top + n * line_h), line, font=small, fill=(40, 40, 40, 255))
    sw = (spec.px(8), spec.px(4.5))
    rows = legend_rows(spec, sw)
    row_h = spec.px(5.5)
    top = p.y + pad + spec.px(8)
    area_w = (footer_x - spec.px(4) - p.x - pad) if portrait else p.w - 2 * pad
    bottom = (p.y + p.h - pad) if portrait else footer_top - spec.px(2)
    per_col = max(1, (bottom - top) // row_h)
    options = (2, 3) if portrait else (1, 2)
    columns = next((c for c in options if per_col * c >= len(rows)), options[-1])
    col_w = area_w // columns
    capacity = per_col * columns
    shown = rows if len(rows) <= capacity else rows[:capacity - 1]
    layer_face = font(max(9, spec.px(3.4)))
    for n, row in enumerate(shown):
        col, r = divmod(n, per_col)
        x, y = p.x + pad + col * col_w, top + r * row_h
        if row.image is None:
            draw.text((x, y), row.label, font=layer_face, fill=(31, 59, 90, 255))
            continue
        canvas.alpha_composite(row.image, (x + spec.px(1), y))
        label = row.label
        limit = col_w - sw[0] - spec.px(5)
        while label and draw.textlength(label + "…", font=small) > limit:
            label = label[:-1]
        draw.text((x + sw[0] + spec.px(3), y), label if label == row.label else label + "…",
                  font=small, fill=(34, 34, 34, 255))
    if len(shown) < len(rows):
        col, r = divmod(len(shown), per_col)
        draw.text((p.x + pad + col * col_w, top + r * row_h),
                  text["more"].format(n=len(rows) - len(shown)), font=small,
                  fill=(100, 100, 100, 255))
    info["map_box"] = lay.map
    return map_image.to_png(canvas.convert("RGB"), spec.dpi), info


def _data_uri(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def render_pdf(spec: PrintSpec) -> tuple[bytes, dict[str, Any]]:
    """The same layout as the PNG; the map an image at the requested dpi, text as text."""
    from pathlib import Path

    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration
    from weasyprint.urls import URLFetcher

    lay = layout(spec)
    mapped, frame, info = render_map(spec, lay.map)
    text = TEXT[spec.lang]
    mm = 25.4 / spec.dpi  # one pixel, in millimetres

    def pos(box: Box) -> str:
        return (f"left:{box.x * mm:.2f}mm;top:{box.y * mm:.2f}mm;width:{box.w * mm:.2f}mm;"
                f"height:{box.h * mm:.2f}mm")

    rows = legend_rows(spec, (spec.px(8), spec.px(4.5)))
    legend = []
    for row in rows:
        if row.image is None:
            legend.append(f'<div class="layer">{html.escape(row.label)}</div>')
        else:
            legend.append(f'<div class="row"><img src="{_data_uri(row.image)}">'
                          f'<span>{html.escape(row.label)}</span></div>')
    footer = "".join(f"<div>{html.escape(line)}</div>" for line in _footer_lines(spec, info))
    paper_w, paper_h = spec.paper_mm
    portrait = spec.orientation == "portrait"
    columns = 3 if portrait else (1 if len(rows) <= 24 else 2)
    rows_css = ("width: calc(100% - 80mm);" if portrait
                else "position: absolute; top: 10mm; bottom: 22mm; left: 3mm; right: 3mm;")
    footer_css = "right: 3mm;" if portrait else "left: 3mm;"
    doc = f"""<!doctype html><html lang="{'en' if spec.lang == 'en' else 'zh-CN'}"><head>
<meta charset="utf-8"><title>{html.escape(spec.title)}</title></head><body>
<div class="title" style="{pos(lay.title)}"><h1>{html.escape(spec.title)}</h1>
<span class="date">{html.escape(text['date'])} {timezone.localdate().isoformat()}</span></div>
<img class="map" style="{pos(lay.map)}" src="{_data_uri(mapped.convert('RGB'))}">
<div class="panel" style="{pos(lay.panel)}"><h2>{html.escape(text['legend'])}</h2>
<div class="rows">{''.join(legend)}</div><div class="footer">{footer}</div></div>
</body></html>"""
    font_path = cjk_font_path()
    face = (f'@font-face {{ font-family: "{PDF_FONT}"; src: url("{Path(font_path).as_uri()}"); }}'
            if font_path else "")
    css = f"""{face}
@page {{ size: {paper_w}mm {paper_h}mm; margin: 0; }}
html, body {{ margin: 0; font-family: "{PDF_FONT}", sans-serif; color: #222; }}
body > * {{ position: absolute; box-sizing: border-box; }}
.title {{ border-bottom: 0.5mm solid #1f3b5a; }}
.title h1 {{ margin: 0; font-size: 6.2mm; font-weight: normal; }}
.title .date {{ position: absolute; right: 0; top: 4mm; font-size: 3mm; color: #444; }}
.panel {{ border: 0.25mm solid #777; padding: 3mm; overflow: hidden; }}
.panel h2 {{ margin: 0 0 2mm; font-size: 4.2mm; font-weight: normal; }}
.rows {{ column-count: {columns}; column-fill: auto; font-size: 2.8mm; {rows_css} }}
.layer {{ color: #1f3b5a; margin-top: 1mm; break-inside: avoid; }}
.row {{ display: flex; align-items: center; gap: 2mm; height: 5mm; break-inside: avoid; }}
.row img {{ width: 8mm; height: 4.5mm; }}
.footer {{ position: absolute; {footer_css} bottom: 3mm; font-size: 3mm; line-height: 4.2mm; }}
"""
    allowed = Path(font_path).resolve() if font_path else None

    class FontAndDataOnly(URLFetcher):
        """The HTML carries the caller's title: nothing is fetched but our font and data."""

        def fetch(self, url: str, headers: dict | None = None):  # type: ignore[no-untyped-def]
            from urllib.parse import unquote, urlsplit

            parts = urlsplit(url)
            if parts.scheme == "data" or (parts.scheme == "file" and allowed is not None
                                          and Path(unquote(parts.path)).resolve() == allowed):
                return super().fetch(url, headers)
            raise ValueError(f"not fetched: {url[:60]}")

    fetcher = FontAndDataOnly(timeout=5)
    fonts = FontConfiguration()
    pdf = HTML(string=doc, url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=css, font_config=fonts, url_fetcher=fetcher)], font_config=fonts)
    info["map_box"] = lay.map
    return pdf, info


def render(spec: PrintSpec) -> Rendered:
    content, info = render_png(spec) if spec.fmt == "png" else render_pdf(spec)
    frame: map_image.MapFrame = info["frame"]
    box: Box = info["map_box"]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    bar_x, bar_y = info["bar_xy"]
    headers = {
        # What was drawn, for checks and for clients that annotate the print.
        "X-Print-Scale": f"1:{round(info['scale'])}",
        "X-Print-Metres-Per-Pixel": f"{info['mpp']:.6f}",
        "X-Print-CRS": f"EPSG:{spec.srid}",
        "X-Print-Bbox": ",".join(f"{v:.9f}" for v in frame.bbox),
        "X-Print-Map-Frame": f"{box.x},{box.y},{box.w},{box.h}",
        "X-Print-Scale-Bar": f"{info['bar_m']:g},{info['bar_px']},{box.x + bar_x},"
                             f"{box.y + bar_y}",
        "X-Print-Size": f"{spec.page_px[0]}x{spec.page_px[1]}",
    }
    return Rendered(content, "image/png" if spec.fmt == "png" else "application/pdf",
                    f"blueprint-{stamp}.{spec.fmt}", headers)
