"""Map images drawn with the map services' own styles, for prints and reports.

The layers are the Mapnik definitions the WMS/WMTS render (`tiles.mapnik_xml.mapnik_map_xml`,
the services' style specs), loaded layer by layer into one Mapnik map; overlays (a red line,
a highlighted parcel) are drawn over it with Pillow from geometries in the map's CRS; the
decorations (scale bar, north arrow, legend rows) use the CJK font `tiles.legend` finds.

The scale is measured, not assumed: metres per pixel come from pyproj distances in the
county projected CRS (COUNTY_PROJECTED_SRID, EPSG:4546 by default) across the map's centre,
so a scale bar is right in Web Mercator (whose metres shrink with cos φ) and in CGCS2000
lon/lat alike.

Used by blueprint.printing; approvals_link.report.maps draws similar maps and can switch to
these functions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

from layers import crs
from layers.models import Layer, LayerVersion

# OGC's standard rendering pixel is 0.28 mm (≈ 90.71 dpi): Mapnik's scale factor 1.
OGC_DPI = 25.4 / 0.28
GEOGRAPHIC = 4490
WEB_MERCATOR = 3857


@dataclass(frozen=True)
class MapFrame:
    """A map image: its CRS, the box it shows (in that CRS) and its size in pixels. The
    box has exactly the image's aspect, so pixels can be computed from coordinates."""

    srid: int
    minx: float
    miny: float
    maxx: float
    maxy: float
    width: int
    height: int

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return self.minx, self.miny, self.maxx, self.maxy

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        return ((x - self.minx) / (self.maxx - self.minx) * self.width,
                (self.maxy - y) / (self.maxy - self.miny) * self.height)


def fit_frame(bbox_4490: Sequence[float], srid: int, width: int, height: int) -> MapFrame:
    """The frame showing at least `bbox_4490` (lon/lat) in `srid`, widened around its
    centre to the image's aspect (what a web map does with a view)."""
    minlon, minlat, maxlon, maxlat = bbox_4490
    if srid == GEOGRAPHIC:
        minx, miny, maxx, maxy = minlon, minlat, maxlon, maxlat
    else:
        t = crs.transformer(GEOGRAPHIC, srid)
        xs, ys = t.transform([minlon, maxlon, minlon, maxlon], [minlat, minlat, maxlat, maxlat])
        minx, maxx, miny, maxy = min(xs), max(xs), min(ys), max(ys)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    w, h = maxx - minx, maxy - miny
    if w / h < width / height:
        w = h * width / height
    else:
        h = w * height / width
    return MapFrame(srid, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, width, height)


def metres_per_pixel(frame: MapFrame) -> float:
    """Ground metres per image pixel along the horizontal through the frame's centre,
    measured in the county projected CRS."""
    cy = (frame.miny + frame.maxy) / 2
    t = crs.transformer(frame.srid, settings.COUNTY_PROJECTED_SRID)
    (x0, x1), (y0, y1) = t.transform([frame.minx, frame.maxx], [cy, cy])
    return math.hypot(x1 - x0, y1 - y0) / frame.width


def scale_denominator(metres_px: float, dpi: float) -> float:
    """1 : N on paper when one pixel is printed at `dpi`."""
    return metres_px / (0.0254 / dpi)


def render_layers(layers: Sequence[tuple[Layer, LayerVersion]], frame: MapFrame, *,
                  scale_factor: float = 1.0, background: str = "#FFFFFF") -> Image.Image:
    """The layers, bottom first, with the services' styles, as an RGBA image."""
    from tiles.mapnik_compat import mapnik  # its environment fixes run before mapnik is used
    from tiles.mapnik_xml import mapnik_map_xml

    srid = WEB_MERCATOR if frame.srid == WEB_MERCATOR else GEOGRAPHIC
    m = mapnik.Map(frame.width, frame.height, f"epsg:{srid}")
    for layer, version in layers:  # the services' own map definition, layer by layer
        mapnik.load_map_from_string(m, mapnik_map_xml(layer, version, srid))
    m.srs = f"epsg:{srid}"
    m.background = mapnik.Color(background)  # the service XML says transparent
    m.resize(frame.width, frame.height)
    m.zoom_to_box(mapnik.Box2d(*frame.bbox))
    image = mapnik.Image(frame.width, frame.height)
    mapnik.render(m, image, scale_factor)
    return Image.open(io.BytesIO(image.to_string("png32"))).convert("RGBA")


def rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        return 128, 128, 128


def draw_overlay(image: Image.Image, frame: MapFrame, geometry: dict[str, Any], *,
                 stroke: str, width: float, fill: str | None = None,
                 fill_opacity: float = 0.0) -> None:
    """A GeoJSON (Multi)Polygon / LineString / Point in the frame's CRS, drawn over the
    image: fill through a mask (holes stay open), then the outline."""
    kind = geometry.get("type")
    coords = geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    lines = [coords] if kind == "LineString" else coords if kind == "MultiLineString" else []
    points = [coords] if kind == "Point" else coords if kind == "MultiPoint" else []

    def px(ring: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
        return [frame.pixel(p[0], p[1]) for p in ring]

    if fill and fill_opacity > 0 and polygons:
        mask = Image.new("L", image.size, 0)
        mdraw = ImageDraw.Draw(mask)
        for polygon in polygons:
            for n, ring in enumerate(polygon):
                if len(ring) >= 3:
                    mdraw.polygon(px(ring), fill=0 if n else 255)
        solid = Image.new("RGBA", image.size, (*rgb(fill), 255))
        alpha = mask.point(lambda v: round(v * fill_opacity))
        solid.putalpha(alpha)
        image.alpha_composite(solid)
    draw = ImageDraw.Draw(image)
    w = max(1, round(width))
    colour = (*rgb(stroke), 255)
    for polygon in polygons:
        for ring in polygon:
            if len(ring) >= 2:
                draw.line(px(ring), fill=colour, width=w, joint="curve")
    for line in lines:
        if len(line) >= 2:
            draw.line(px(line), fill=colour, width=w, joint="curve")
    for p in points:
        x, y = frame.pixel(p[0], p[1])
        r = 4 * w
        draw.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=w)


def nice_length(metres: float) -> float:
    """The largest 1/2/5×10ⁿ not above `metres`."""
    exp = 10 ** math.floor(math.log10(metres))
    for step in (5, 2, 1):
        if step * exp <= metres:
            return step * exp
    return exp


def length_label(metres: float, lang: str = "zh") -> str:
    if metres >= 1000:
        return f"{metres / 1000:g} {'千米' if lang == 'zh' else 'km'}"
    return f"{metres:g} {'米' if lang == 'zh' else 'm'}"


def draw_scale_bar(image: Image.Image, xy: tuple[int, int], metres_px: float, target_px: int,
                   face: ImageFont.FreeTypeFont | ImageFont.ImageFont, lang: str = "zh",
                   unit: int = 1) -> tuple[float, int]:
    """A two-part scale bar of a round length about `target_px` long, with its left end
    at `xy` (bottom left of the box), on a white box. Returns (metres, pixels)."""
    metres = nice_length(metres_px * target_px)
    bar = round(metres / metres_px)
    draw = ImageDraw.Draw(image)
    label = length_label(metres, lang)
    box = draw.textbbox((0, 0), label, font=face)
    text_h = box[3] - box[1]
    pad, bar_h = 4 * unit, 6 * unit
    x, bottom = xy
    top = bottom - (pad * 3 + text_h + bar_h)
    draw.rectangle([x - pad, top, x + bar + pad + (box[2] - box[0]) // 2, bottom],
                   fill=(255, 255, 255, 230))
    by = bottom - pad - bar_h
    draw.rectangle([x, by, x + bar, by + bar_h], outline=(0, 0, 0, 255), fill=(255, 255, 255, 255),
                   width=max(1, unit))
    draw.rectangle([x, by, x + bar // 2, by + bar_h], fill=(0, 0, 0, 255))
    draw.text((x, top + pad - box[1]), "0", font=face, fill=(0, 0, 0, 255))
    draw.text((x + bar - (box[2] - box[0]) // 2, top + pad - box[1]), label, font=face,
              fill=(0, 0, 0, 255))
    return metres, bar


def draw_north_arrow(image: Image.Image, centre: tuple[int, int], size: int,
                     face: ImageFont.FreeTypeFont | ImageFont.ImageFont,
                     label: str = "北") -> None:
    """North is up in both map CRSs (Web Mercator and lon/lat keep meridians vertical)."""
    draw = ImageDraw.Draw(image)
    cx, cy = centre
    half = size // 2
    draw.ellipse([cx - half - 4, cy - half - 4, cx + half + 4, cy + half + 4],
                 fill=(255, 255, 255, 220))
    top, bottom, side = cy - half, cy + half, size // 3
    draw.polygon([(cx, top), (cx - side, bottom), (cx, bottom - size // 4)], fill=(0, 0, 0, 255))
    draw.polygon([(cx, top), (cx + side, bottom), (cx, bottom - size // 4)],
                 fill=(255, 255, 255, 255), outline=(0, 0, 0, 255))
    box = draw.textbbox((0, 0), label, font=face)
    draw.text((cx - (box[2] - box[0]) / 2 - box[0], top - (box[3] - box[1]) - size // 6 - box[1]),
              label, font=face, fill=(0, 0, 0, 255))


def to_png(image: Image.Image, dpi: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi), compress_level=6)
    return out.getvalue()
