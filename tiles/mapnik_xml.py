"""Mapnik map definitions generated from a layer's style specification.

One XML per layer version and storage CRS: features are read from the version's own
partition, in the geometry column already stored in the request's CRS family (geom_3857
for Web Mercator, geom for CGCS2000), so rendering never transforms a whole layer.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from django.conf import settings
from django.db import connection

from layers.importers.writer import partition_name
from layers.models import Layer, LayerVersion
from layers.styles import class_items

DEFAULT_FILL = "#BFBFBF"
DEFAULT_STROKE = "#555555"


def db_params() -> dict[str, str]:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db.get("USER") or "", "host": db.get("HOST") or "",
              "port": str(db.get("PORT") or "")}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    return {k: v for k, v in params.items() if v}


def _param(name: str, value: Any) -> str:
    return f"<Parameter name={quoteattr(name)}>{escape(str(value))}</Parameter>"


def _symbolizer_parts(geometry_type: str, spec: dict[str, Any]) -> tuple[str, str]:
    """A rule's symbolizers as (fill or markers, outline); either may be empty."""
    fill = spec.get("fill", DEFAULT_FILL)
    stroke = spec.get("stroke", DEFAULT_STROKE)
    width = spec.get("stroke_width", 0.5 if geometry_type == "polygon" else 1.5)
    opacity = spec.get("fill_opacity", 0.7)
    dashes = spec.get("stroke_dasharray")
    dash_attr = f" stroke-dasharray={quoteattr(','.join(str(d) for d in dashes))}" if dashes \
        else ""
    # Round joins are drawn as arcs (atan2 and extra edges per vertex): 2.5 % of a GetMap's
    # instructions for parcel outlines, whose sub-pixel joins look the same bevelled (under
    # 0.01 % of pixels differ by more than 16 of 255). Wider lines keep round joins.
    join = "bevel" if float(width) < 1 else "round"
    line = (f"<LineSymbolizer stroke={quoteattr(stroke)} stroke-width={quoteattr(str(width))}"
            f"{dash_attr} stroke-linejoin=\"{join}\"/>")
    if geometry_type == "polygon":
        return (f"<PolygonSymbolizer fill={quoteattr(fill)} "
                f"fill-opacity={quoteattr(str(opacity))} gamma=\"0.6\"/>", line if width else "")
    if geometry_type == "line":
        return "", line
    size = spec.get("point_size", 8)
    return (f"<MarkersSymbolizer fill={quoteattr(fill)} stroke={quoteattr(stroke)} "
            f"width={quoteattr(str(size))} height={quoteattr(str(size))}/>", "")


def _symbolizers(geometry_type: str, spec: dict[str, Any]) -> str:
    return "".join(_symbolizer_parts(geometry_type, spec))


def outline_style_name(layer: Layer) -> str:
    return f"{layer.code}:outline"  # ":" is never part of a layer code


def _safe(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum())  # codes are alphanumeric


def present_values(version: LayerVersion, field: str) -> list[str]:
    """The distinct values of the class field in this version (a handful of land-use
    codes), so the style tests equality against them instead of ~130 regular expressions."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT {field} FROM {partition_name(version.pk)} "
                    f"WHERE {field} <> ''")
        return sorted(str(r[0]) for r in cur.fetchall())


def style_xml(layer: Layer, present: list[str] | None = None) -> str:
    """The layer's Mapnik style(s): one; for polygons with outlines two, drawn one after the
    other (mapnik_map_xml): every fill, then every outline on top.

    Drawing fill and outline feature by feature alternated the rasterizer's gamma (0.6 for
    fills, 1.0 for lines), and AGG rebuilds its gamma table (256 pow() calls) at each change,
    twice per feature: a fifth of the rendering time. In two passes the table is built twice
    per map; the outlines are the same, drawn over all fills (a neighbour's fill no longer
    covers half of a shared edge)."""
    spec = layer.style or {}
    classes = spec.get("classes") or {}
    field = classes.get("field")
    match = classes.get("match", "prefix" if classes.get("scheme") == "land_use" else "exact")
    items = class_items(spec)
    rules: list[tuple[str, tuple[str, str]]] = []  # (filter, (fill, outline))
    if field and present is not None:
        # Each present value takes its most specific class; one equality rule per class.
        by_item: dict[int, list[str]] = {}
        ordered = sorted(range(len(items)), key=lambda i: -len(str(items[i]["value"])))
        for value in present:
            for i in ordered:
                item_value = str(items[i]["value"])
                if value == item_value or (match == "prefix" and value.startswith(item_value)):
                    by_item.setdefault(i, []).append(value)
                    break
        for i, values in by_item.items():
            safe = [v for v in values if _safe(v) == v]
            if not safe:
                continue
            merged = {**spec, **{k: v for k, v in items[i].items()
                                 if k not in ("value", "label_zh", "label_en")}}
            condition = " or ".join(f"[{field}] = '{v}'" for v in safe)
            rules.append((f"<Filter>{escape(condition)}</Filter>",
                          _symbolizer_parts(layer.geometry_type, merged)))
    rules.append(("<ElseFilter/>" if rules else "",
                  _symbolizer_parts(layer.geometry_type, spec)))

    def style(name: str, part: int) -> str:
        outlines = {parts[1] for _, parts in rules}
        if part == 1 and len(outlines) == 1:  # the same outline for every class: no filters
            body = f"<Rule>{outlines.pop()}</Rule>"
        else:
            body = "".join(f"<Rule>{flt}{parts[part]}</Rule>" for flt, parts in rules)
        return f"<Style name={quoteattr(name)} filter-mode=\"first\">{body}</Style>"

    if layer.geometry_type == "polygon" and any(parts[1] for _, parts in rules):
        return style(layer.code, 0) + style(outline_style_name(layer), 1)
    return (f"<Style name={quoteattr(layer.code)} filter-mode=\"first\">"
            + "".join(f"<Rule>{flt}{''.join(parts)}</Rule>" for flt, parts in rules)
            + "</Style>")


def mapnik_map_xml(layer: Layer, version: LayerVersion, srid: int) -> str:
    column = "geom_3857" if srid == 3857 else "geom"
    classes = (layer.style or {}).get("classes") or {}
    field = classes.get("field")
    columns = ", ".join(["id", f"{column} AS geom"] + ([field] if field else []))
    table = f"(SELECT {columns} FROM {partition_name(version.pk)}) AS features"
    extent = "-20037508.34,-20037508.34,20037508.34,20037508.34" if srid == 3857 \
        else "-180,-90,180,90"
    datasource = "".join(_param(k, v) for k, v in {
        "type": "postgis", **db_params(), "table": table, "geometry_field": "geom",
        "key_field": "id", "srid": srid, "extent": extent, "estimate_extent": "false",
        "extent_from_subquery": "false", "persist_connection": "true",
        # No simplification of our own (it doubled the query's time for nothing visible).
        # With TWKB Mapnik still sends ST_AsTWKB(ST_Simplify(ST_RemoveRepeatedPoints(geom,
        # t), t, true), d) with a sub-pixel t; against plain WKB that costs PostgreSQL about
        # the same and rendering about 0.6 ms less per 256x256 map (measured).
        "max_size": settings.MAPNIK_DB_POOL, "simplify_geometries": "false",
        "twkb_encoding": "true"}.items())
    styles = style_xml(layer, present_values(version, field) if field else None)
    outline = outline_style_name(layer)
    names = [layer.code] + ([outline] if f"name={quoteattr(outline)}" in styles else [])
    # Two styles read the features once: Mapnik keeps them for the second (cache-features).
    cache = " cache-features=\"true\"" if len(names) > 1 else ""
    return (
        f"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        f"<Map srs=\"epsg:{srid}\" background-color=\"transparent\">{styles}"
        f"<Layer name={quoteattr(layer.code)} srs=\"epsg:{srid}\"{cache}>"
        + "".join(f"<StyleName>{escape(name)}</StyleName>" for name in names)
        + f"<Datasource>{datasource}</Datasource></Layer></Map>\n")
