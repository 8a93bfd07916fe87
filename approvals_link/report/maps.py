"""One map per conflict: a Mapnik PNG in Web Mercator, drawn with the map services' styles.

The layers come from `tiles.mapnik_xml.mapnik_map_xml` — the very XML the WMS/WMTS render —
for the rule's layer (the version the check used) and the regulatory-plan parcels (KGDK)
as context; on top, the project's red line and the conflict area are read straight from
PostGIS (approvals_link_projectfootprint.geom_3857, approvals_link_ruleresult.geom).
A legend strip in Chinese (the CJK font tiles.legend finds) and a scale bar are drawn
below the map with Pillow.

A stored check never changes, so a map is rendered once and kept on disk under
REPORTS_DIR/<check id>/<result id>-<access levels>.png. The access levels are part of the
key because a caller only sees the layers of the levels he may see (the conflict area
itself is part of the check and is always drawn).
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.db import connection
from PIL import Image, ImageDraw

from approvals_link.models import ConformityCheck, RuleResult
from layers.importers.writer import partition_name
from layers.models import Layer, LayerVersion
from tiles.map_image import nice_length, rgb

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 800, 600
LEGEND_H = 60
MAP_W, MAP_H = WIDTH, HEIGHT - LEGEND_H
MARGIN = 0.15  # of the drawn span, on each side
MIN_SPAN_M = 120.0  # a tiny conflict still shows its surroundings
CONTEXT_LAYER = "KGDK"  # regulatory-plan parcels, drawn under everything else
CONFLICT_FILL = "#FF0000"
CONFLICT_OPACITY = 0.75  # strong enough to read over any layer colour
FOOTPRINT_STROKE = "#B00000"
MAP_BACKGROUND = "#FFFFFF"
_R = 6378137.0  # Web Mercator sphere


def reports_dir() -> Path:
    return Path(settings.REPORTS_DIR)


def map_path(check: ConformityCheck, result: RuleResult, levels: tuple[str, ...]) -> Path:
    return reports_dir() / str(check.pk) / f"{result.pk}-{'-'.join(sorted(levels))}.png"


@dataclass(frozen=True)
class Extent:
    minx: float
    miny: float
    maxx: float
    maxy: float

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        """The map-image pixel of a Web Mercator point (the legend strip is below)."""
        px = (x - self.minx) / (self.maxx - self.minx) * MAP_W
        py = (self.maxy - y) / (self.maxy - self.miny) * MAP_H
        return int(px), int(py)


def map_extent(result: RuleResult) -> Extent:
    """The conflict's and the red line's box with a margin, widened to the image's aspect
    (so Mapnik does not widen it itself and pixels can be computed from geometry)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g) AS e"
            " FROM (SELECT ST_Transform(geom, 3857) AS g FROM approvals_link_ruleresult"
            "       WHERE id = %s AND geom IS NOT NULL"
            "       UNION ALL SELECT f.geom_3857 FROM approvals_link_projectfootprint f"
            "       JOIN approvals_link_conformitycheck c ON c.footprint_id = f.id"
            "       WHERE c.id = %s) s) t",
            [result.pk, result.conformity_check_id])
        row = cur.fetchone()
    if row is None or row[0] is None:
        raise ValueError(f"result {result.pk} has neither a conflict area nor a red line")
    minx, miny, maxx, maxy = row
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w = max(maxx - minx, MIN_SPAN_M) * (1 + 2 * MARGIN)
    h = max(maxy - miny, MIN_SPAN_M) * (1 + 2 * MARGIN)
    if w / h < MAP_W / MAP_H:
        w = h * MAP_W / MAP_H
    else:
        h = w * MAP_H / MAP_W
    return Extent(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _partition_exists(version: LayerVersion) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(version.pk)])
        return bool(cur.fetchone()[0])


def _version_for(check: ConformityCheck, code: str,
                 result: RuleResult | None = None) -> LayerVersion | None:
    """The version the check used (result's own, then the check's record), else the
    version published now (context only)."""
    if result is not None and result.layer_version_id:
        version = LayerVersion.objects.filter(pk=result.layer_version_id).first()
        if version is not None:
            return version
    recorded = (check.layer_versions or {}).get(code) or {}
    if recorded.get("version_id"):
        version = LayerVersion.objects.filter(pk=recorded["version_id"],
                                              layer__code=code).first()
        if version is not None:
            return version
    return LayerVersion.objects.filter(layer__code=code,
                                       state=LayerVersion.State.PUBLISHED).first()


@dataclass
class LegendItem:
    label: str
    fill: str | None
    stroke: str
    opacity: float = 1.0
    dashed: bool = False


def _layers_to_draw(check: ConformityCheck, result: RuleResult,
                    levels: tuple[str, ...]) -> tuple[list[tuple[Layer, LayerVersion]],
                                                      list[LegendItem]]:
    drawn: list[tuple[Layer, LayerVersion]] = []
    legend: list[LegendItem] = []
    # Context parcels below, the rule's own layer (in the version the check read) above;
    # when the rule is on the parcels themselves, they are drawn once, in that version.
    entries = [(CONTEXT_LAYER, None)] if result.layer_code != CONTEXT_LAYER else []
    for code, own in entries + [(result.layer_code, result)]:
        layer = Layer.objects.filter(code=code).first()
        if layer is None:
            continue
        if layer.access_level not in levels:
            legend.append(LegendItem(f"{layer.name_zh}（无权查看，未绘制）", None, "#999999"))
            continue
        version = _version_for(check, code, own)
        if version is None or not _partition_exists(version):
            continue
        drawn.append((layer, version))
        spec = layer.style or {}
        classes = spec.get("classes") or {}
        label = layer.name_zh + (f" v{version.number}" if own is not None else "")
        if classes.get("field"):
            label += "（按分类着色）"
        legend.append(LegendItem(label, spec.get("fill", "#BFBFBF"),
                                 spec.get("stroke", "#555555"),
                                 float(spec.get("fill_opacity", 0.7)),
                                 bool(spec.get("stroke_dasharray"))))
    legend.append(LegendItem("项目红线", None, FOOTPRINT_STROKE, dashed=True))
    legend.append(LegendItem("冲突范围", CONFLICT_FILL, CONFLICT_FILL, CONFLICT_OPACITY))
    return drawn, legend


def _overlay_xml(check: ConformityCheck, result: RuleResult, extent: Extent) -> str:
    """The red line and the conflict area, from PostGIS, styled for the report."""
    from tiles.mapnik_xml import db_params  # the map services' connection parameters

    def datasource(table: str) -> str:
        params = {"type": "postgis", **db_params(), "table": table, "geometry_field": "geom",
                  "srid": 3857, "estimate_extent": "false",
                  "extent": f"{extent.minx},{extent.miny},{extent.maxx},{extent.maxy}"}
        return "<Datasource>" + "".join(
            f"<Parameter name={quoteattr(k)}>{escape(str(v))}</Parameter>"
            for k, v in params.items()) + "</Datasource>"

    # Ids are integers from our own rows: safe to place in the SQL text.
    footprint = (f"(SELECT geom_3857 AS geom FROM approvals_link_projectfootprint "
                 f"WHERE id = {int(check.footprint_id)}) AS footprint")
    conflict = (f"(SELECT ST_Transform(geom, 3857) AS geom FROM approvals_link_ruleresult "
                f"WHERE id = {int(result.pk)} AND geom IS NOT NULL) AS conflict")
    return (
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Map srs=\"epsg:3857\">"
        "<Style name=\"report_conflict\"><Rule>"
        f"<PolygonSymbolizer fill=\"{CONFLICT_FILL}\" fill-opacity=\"{CONFLICT_OPACITY}\"/>"
        f"<LineSymbolizer stroke=\"{CONFLICT_FILL}\" stroke-width=\"1.5\"/>"
        "</Rule></Style>"
        "<Style name=\"report_footprint\"><Rule>"
        f"<LineSymbolizer stroke=\"{FOOTPRINT_STROKE}\" stroke-width=\"2.5\" "
        "stroke-dasharray=\"10,4\" stroke-linejoin=\"round\"/></Rule></Style>"
        "<Layer name=\"report_footprint\" srs=\"epsg:3857\">"
        f"<StyleName>report_footprint</StyleName>{datasource(footprint)}</Layer>"
        "<Layer name=\"report_conflict\" srs=\"epsg:3857\">"
        f"<StyleName>report_conflict</StyleName>{datasource(conflict)}</Layer></Map>\n")


def _decorate(png: bytes, legend: list[LegendItem], extent: Extent) -> bytes:
    """The map above, a legend strip in Chinese and a scale bar below, a north arrow."""
    from tiles.legend import font

    canvas = Image.new("RGB", (WIDTH, HEIGHT), MAP_BACKGROUND)
    canvas.paste(Image.open(io.BytesIO(png)).convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(canvas, "RGBA")
    draw.line([(0, MAP_H), (WIDTH, MAP_H)], fill=(120, 120, 120), width=1)
    label_font, small = font(14), font(12)
    x, y = 10, MAP_H + 10
    for item in legend:
        box = (x, y, x + 22, y + 16)
        if item.fill:
            draw.rectangle(box, fill=(*rgb(item.fill), int(255 * item.opacity)))
        if item.dashed:
            for sx in range(box[0], box[2], 6):
                draw.line([(sx, box[1]), (min(sx + 3, box[2]), box[1])], fill=rgb(item.stroke),
                          width=2)
                draw.line([(sx, box[3]), (min(sx + 3, box[2]), box[3])], fill=rgb(item.stroke),
                          width=2)
            draw.line([(box[0], box[1]), (box[0], box[3])], fill=rgb(item.stroke), width=2)
            draw.line([(box[2], box[1]), (box[2], box[3])], fill=rgb(item.stroke), width=2)
        else:
            draw.rectangle(box, outline=rgb(item.stroke), width=1)
        draw.text((x + 28, y), item.label, font=label_font, fill=(34, 34, 34))
        x += 28 + int(draw.textlength(item.label, font=label_font)) + 18
        if x > WIDTH - 260:  # leave the right end to the scale bar
            x, y = 10, y + 22
    # Scale bar: Web Mercator metres shrink with cos(latitude).
    cy = (extent.miny + extent.maxy) / 2
    lat = math.atan(math.sinh(cy / _R))
    metres_per_px = (extent.maxx - extent.minx) / MAP_W * math.cos(lat)
    length = nice_length(metres_per_px * 150)
    px = int(length / metres_per_px)
    bx, by = WIDTH - 20 - px, MAP_H + 38
    draw.rectangle((bx, by, bx + px, by + 5), outline=(0, 0, 0), fill=(255, 255, 255))
    draw.rectangle((bx, by, bx + px // 2, by + 5), fill=(0, 0, 0))
    text = f"{length:g} 米" if length < 1000 else f"{length / 1000:g} 千米"
    draw.text((bx, by - 18), f"0      {text}", font=small, fill=(34, 34, 34))
    # North arrow, top right of the map (inside the margin, away from the geometry).
    ax, ay = WIDTH - 30, 14
    draw.polygon([(ax, ay), (ax - 8, ay + 22), (ax, ay + 17), (ax + 8, ay + 22)],
                 fill=(34, 34, 34))
    draw.text((ax - 5, ay + 24), "北", font=small, fill=(34, 34, 34))
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def render_conflict_map(check: ConformityCheck, result: RuleResult,
                        levels: tuple[str, ...]) -> bytes:
    # mapnik through mapnik_compat: its environment fixes run before mapnik is used.
    from tiles.mapnik_compat import mapnik
    from tiles.mapnik_xml import mapnik_map_xml

    extent = map_extent(result)
    layers, legend = _layers_to_draw(check, result, levels)
    m = mapnik.Map(MAP_W, MAP_H, "epsg:3857")
    for layer, version in layers:  # the services' own map definition, layer by layer
        mapnik.load_map_from_string(m, mapnik_map_xml(layer, version, 3857))
    mapnik.load_map_from_string(m, _overlay_xml(check, result, extent))
    m.srs = "epsg:3857"
    m.background = mapnik.Color(MAP_BACKGROUND)  # the service XML says transparent
    m.zoom_to_box(mapnik.Box2d(extent.minx, extent.miny, extent.maxx, extent.maxy))
    image = mapnik.Image(MAP_W, MAP_H)
    mapnik.render(m, image)
    return _decorate(image.to_string("png32"), legend, extent)


def conflict_map(check: ConformityCheck, result: RuleResult,
                 levels: tuple[str, ...]) -> Path:
    """The map's file, rendered on first use (a stored check never changes)."""
    path = map_path(check, result, levels)
    if path.exists():
        return path
    data = render_conflict_map(check, result, levels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers see the whole file or none
    return path


def maps_for(check: ConformityCheck, levels: tuple[str, ...]) -> dict[int, Path]:
    """The maps of every failing result (what the PDF embeds). A map that cannot be drawn
    (a layer's data gone, a broken style) is logged and left out: the report's figures
    and tables still stand."""
    out: dict[int, Path] = {}
    for result in check.results.filter(status=RuleResult.Status.FAIL).order_by("id"):
        try:
            out[result.pk] = conflict_map(check, result, levels)
        except Exception:  # one map must not cost the whole report
            log.exception("conformity report %s: map of result %s failed", check.pk,
                          result.pk)
    return out
