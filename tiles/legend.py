"""WMS GetLegendGraphic drawn from the layer's style specification (PNG, JPEG or JSON).

One row per class the published version actually contains, matched exactly as the Mapnik
style matches them (tiles.mapnik_xml: most specific class first, prefix or exact), plus an
"other" row when some features fall through to the style's default; unclassed layers get
one row with the layer's name. Swatches are drawn as the map draws the features (fill at its
opacity, stroke width, dashes; a line for line layers, a marker for point layers) and
labelled with a CJK font found on this machine (Debian `fonts-wqy-microhei`, see
scripts/bootstrap.sh) — never downloaded.

Images and class lists are cached in memory per layer, version, revision, style digest,
language and size; the layer lookup (and with it the access check) runs on every request.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from PIL import Image, ImageDraw, ImageFont

from layers.importers.writer import partition_name
from layers.models import Layer, LayerVersion
from layers.styles import CLASSABLE_FIELDS, class_items, legend_entries
from tiles.cache import style_digest
from tiles.featureinfo import echo, is_count, language, report_version, resolve_layer
from tiles.mapnik_xml import DEFAULT_FILL, DEFAULT_STROKE
from tiles.ogc_errors import OgcError, wms_exception

log = logging.getLogger(__name__)

DEFAULT_SWATCH = (20, 20)
MAX_SWATCH = 64
PAD = 2
GAP = 6
TEXT_COLOUR = (34, 34, 34, 255)
FORMATS = {"image/png": "png", "png": "png", "image/jpeg": "jpeg", "jpeg": "jpeg",
           "image/jpg": "jpeg", "jpg": "jpeg", "application/json": "json", "json": "json"}
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg",
                 "json": "application/json; charset=utf-8"}
OTHER_LABEL = {"zh": "其他", "en": "Other"}
# Known places of CJK fonts on Debian/Ubuntu, preferred first; fontconfig is asked next.
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
FALLBACK_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


# --- fonts -----------------------------------------------------------------------------------

@cache
def cjk_font_path() -> str | None:
    """Path of a font with Chinese glyphs, or None (labels then fall back to a Latin font)."""
    for path in CJK_FONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            out = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        paths = sorted(line.split(":", 1)[0].strip() for line in out.splitlines()
                       if line.strip())
        for path in paths:
            if os.path.isfile(path):
                return path
    log.warning("no CJK font found: legend labels in Chinese will not render; install "
                "fonts-wqy-microhei")
    return None


@cache
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    for candidate in ([path] if path else []) + list(FALLBACK_FONTS):
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


# --- what the legend shows -------------------------------------------------------------------

def _drawn_class(code: Any, ordered: list[dict[str, Any]], match: str) -> str | None:
    """The class value a feature's code is drawn with, as the Mapnik filters decide."""
    if code is None:
        return None
    text = str(code)
    for item in ordered:
        safe = "".join(ch for ch in str(item["value"]) if ch.isalnum())
        if (text.startswith(safe) if match == "prefix" else text == safe):
            return item["value"]
    return None


def present_classes(layer: Layer, version: LayerVersion) -> tuple[set[str], bool] | None:
    """(class values drawn in the version, whether some features use the default style),
    or None for an unclassed layer."""
    spec = layer.style or {}
    classes = spec.get("classes") or {}
    field = classes.get("field")
    if field not in CLASSABLE_FIELDS:
        return None
    match = classes.get("match", "exact")
    ordered = sorted(class_items(spec), key=lambda i: -len(str(i["value"])))
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT {field} FROM {partition_name(version.pk)}")
        codes = [row[0] for row in cur.fetchall()]
    present: set[str] = set()
    other = False
    for code in codes:
        value = _drawn_class(code, ordered, match)
        if value is None:
            other = True
        else:
            present.add(value)
    return present, other


def _resolved(row: dict[str, Any], layer: Layer) -> dict[str, Any]:
    """A row with the Mapnik defaults filled in (tiles.mapnik_xml._symbolizers)."""
    spec = layer.style or {}
    kind = layer.geometry_type
    entry: dict[str, Any] = {"label": row["label"]}
    if "value" in row:
        entry["value"] = row["value"]
    if kind != "line":
        entry["fill"] = row.get("fill", DEFAULT_FILL)
        entry["fill_opacity"] = row.get("fill_opacity", 0.7) if kind == "polygon" else 1.0
    entry["stroke"] = row.get("stroke", DEFAULT_STROKE)
    entry["stroke_width"] = row.get("stroke_width", 0.5 if kind == "polygon" else 1.5)
    entry["stroke_dasharray"] = row.get("stroke_dasharray")
    if kind == "point":
        entry["point_size"] = spec.get("point_size", 8)
    return entry


def entries(layer: Layer, version: LayerVersion, lang: str) -> list[dict[str, Any]]:
    spec = layer.style or {}
    present = present_classes(layer, version)
    if present is None:
        rows = legend_entries(spec, lang)
    else:
        values, other = present
        rows = legend_entries(spec, lang, values) if values else []
        if other or not rows:
            base = legend_entries({k: v for k, v in spec.items() if k != "classes"}, lang)[0]
            rows.append({**base, "label": OTHER_LABEL[lang] if values else ""})
    out = [_resolved(r, layer) for r in rows]
    for entry in out:
        entry["label"] = entry["label"] or layer.name(lang)
    return out


# --- drawing ---------------------------------------------------------------------------------

def _rgba(colour: str, alpha: float = 1.0) -> tuple[int, int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), round(255 * max(0, min(1, alpha)))


def _dashed(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]],
            dashes: list[float] | None, colour: tuple[int, ...], width: int) -> None:
    if not dashes:
        draw.line(points, fill=colour, width=width)
        return
    pattern = [max(1.0, float(d)) for d in dashes]
    if len(pattern) % 2:
        pattern *= 2
    k, left, on = 0, pattern[0], True
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        length = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
        pos = 0.0
        while pos < length - 1e-9:
            step = min(left, length - pos)
            if on:
                a, b = pos / length, (pos + step) / length
                draw.line([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a),
                           (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)], fill=colour, width=width)
            pos += step
            left -= step
            if left <= 1e-9:
                k = (k + 1) % len(pattern)
                left, on = pattern[k], not on


def swatch(entry: dict[str, Any], kind: str, size: tuple[int, int]) -> Image.Image:
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    stroke = _rgba(entry["stroke"])
    width = entry["stroke_width"]
    line_w = max(1, round(width)) if width else 0
    if kind == "polygon":
        draw.rectangle([1, 1, w - 2, h - 2], fill=_rgba(entry["fill"], entry["fill_opacity"]))
        if line_w:
            line_w = min(line_w, max(1, min(w, h) // 4))
            inset = 1 + line_w // 2
            ring = [(inset, inset), (w - 1 - inset, inset), (w - 1 - inset, h - 1 - inset),
                    (inset, h - 1 - inset), (inset, inset)]
            _dashed(draw, ring, entry["stroke_dasharray"], stroke, line_w)
    elif kind == "line":
        line_w = min(max(line_w, 1), max(1, h // 2))
        _dashed(draw, [(1, h / 2), (w - 2, h / 2)], entry["stroke_dasharray"], stroke, line_w)
    else:
        d = max(3, min(int(entry.get("point_size", 8)), w - 2, h - 2))
        x0, y0 = (w - d) / 2, (h - d) / 2
        draw.ellipse([x0, y0, x0 + d - 1, y0 + d - 1], fill=_rgba(entry["fill"]),
                     outline=stroke, width=1)
    return img


def render_image(items: list[dict[str, Any]], kind: str, size: tuple[int, int], fmt: str,
                 transparent: bool) -> bytes:
    w, h = size
    face = font(max(9, min(48, round(h * 0.6))))
    boxes = [face.getbbox(e["label"]) for e in items]
    text_w = max((b[2] - b[0] for b in boxes), default=0)
    text_h = max((b[3] - b[1] for b in boxes), default=0)
    row_h = max(h, text_h) + PAD
    width = PAD + w + GAP + text_w + 2 * PAD
    height = PAD + row_h * len(items)
    background = (255, 255, 255, 0 if transparent and fmt == "png" else 255)
    img = Image.new("RGBA", (width, height), background)
    draw = ImageDraw.Draw(img)
    for n, (entry, box) in enumerate(zip(items, boxes, strict=True)):
        top = PAD + n * row_h
        img.alpha_composite(swatch(entry, kind, size), (PAD, top + (row_h - PAD - h) // 2))
        text_top = top + (row_h - PAD - (box[3] - box[1])) / 2 - box[1]
        draw.text((PAD + w + GAP - box[0], text_top), entry["label"], font=face,
                  fill=TEXT_COLOUR)
    out = io.BytesIO()
    if fmt == "jpeg":
        img.convert("RGB").save(out, "JPEG", quality=90)
    else:
        img.save(out, "PNG", optimize=True)
    return out.getvalue()


# --- caches ----------------------------------------------------------------------------------

class _Lru:
    def __init__(self, size: int):
        self.size = size
        self.data: OrderedDict[tuple, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get_or_make(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        value = make()
        with self.lock:
            self.data[key] = value
            while len(self.data) > self.size:
                self.data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_entries_cache = _Lru(256)
_image_cache = _Lru(512)


def _key(layer: Layer, version: LayerVersion, lang: str) -> tuple:
    return (layer.code, version.pk, version.revision, style_digest(layer), layer.name(lang),
            lang)


def cached_entries(layer: Layer, version: LayerVersion, lang: str) -> list[dict[str, Any]]:
    return _entries_cache.get_or_make(_key(layer, version, lang),
                                      lambda: entries(layer, version, lang))


def legend_image(layer: Layer, version: LayerVersion, lang: str = "zh",
                 size: tuple[int, int] = DEFAULT_SWATCH, fmt: str = "png",
                 transparent: bool = False) -> bytes:
    key = (*_key(layer, version, lang), size, fmt, transparent)
    return _image_cache.get_or_make(key, lambda: render_image(
        cached_entries(layer, version, lang), layer.geometry_type, size, fmt, transparent))


def legend_file_url(layer: Layer, version: LayerVersion) -> str:
    """A file:// URL of the layer's default legend, for MapProxy's layer option `legendurl`
    (MapProxy reads it to size the LegendURL it advertises, and caches it by URL: the
    name carries a digest of the image, so a restyle or new version is a new URL)."""
    png = legend_image(layer, version)
    digest = hashlib.sha1(png).hexdigest()[:12]
    path = Path(settings.MAPPROXY_DIR) / "legends" / f"{layer.code}_v{version.pk}_{digest}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, path)
    return path.resolve().as_uri()


# --- the request -----------------------------------------------------------------------------

def _swatch_size(params: dict[str, str]) -> tuple[int, int]:
    out = []
    for name, default in zip(("WIDTH", "HEIGHT"), DEFAULT_SWATCH, strict=True):
        raw = params.get(name, "").strip()
        if raw == "":
            out.append(default)
        elif is_count(raw) and 1 <= int(raw) <= MAX_SWATCH:
            out.append(int(raw))
        else:
            raise OgcError("InvalidParameterValue", f"{name} 应为 1–{MAX_SWATCH} 的整数（图例符号"
                           f"大小）({name} of the legend symbol must be an integer from 1 to "
                           f"{MAX_SWATCH}): {echo(raw)}", name.lower())
    return out[0], out[1]


def get_legend_graphic(request: HttpRequest, params: dict[str, str],
                       levels: tuple[str, ...]) -> HttpResponse:
    try:
        name = (params.get("LAYER") or "").strip()
        if not name:
            raise OgcError("MissingParameterValue", "缺少参数 LAYER (missing LAYER)", "layer")
        raw_format = (params.get("FORMAT") or "image/png").strip()
        fmt = FORMATS.get(raw_format.split(";", 1)[0].strip().lower())
        if fmt is None:
            raise OgcError("InvalidFormat", f"不支持的图例格式 (unsupported FORMAT): "
                           f"{echo(raw_format)}；可用 (supported): image/png, image/jpeg, "
                           "application/json", "format")
        size = _swatch_size(params)
        lang = language(params)
        raw_transparent = params.get("TRANSPARENT", "").strip().lower()
        if raw_transparent not in ("", "true", "false"):
            raise OgcError("InvalidParameterValue", f"TRANSPARENT 应为 TRUE 或 FALSE "
                           f"(TRANSPARENT must be TRUE or FALSE): {echo(raw_transparent)}",
                           "transparent")
        version = resolve_layer(name, levels)
    except OgcError as error:
        return wms_exception(error, report_version(params))
    layer = version.layer
    if fmt == "json":
        doc = {"layer": layer.code, "title": layer.name(lang), "version": version.number,
               "geometry_type": layer.geometry_type, "language": lang,
               "classes": {k: v for k, v in ((layer.style or {}).get("classes") or {}).items()
                           if k in ("field", "match", "scheme")} or None,
               "entries": cached_entries(layer, version, lang)}
        return HttpResponse(json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                            content_type=CONTENT_TYPES["json"])
    body = legend_image(layer, version, lang, size, fmt, raw_transparent == "true")
    return HttpResponse(body, content_type=CONTENT_TYPES[fmt])
