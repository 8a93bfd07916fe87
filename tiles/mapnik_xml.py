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


def _symbolizers(geometry_type: str, spec: dict[str, Any]) -> str:
    fill = spec.get("fill", DEFAULT_FILL)
    stroke = spec.get("stroke", DEFAULT_STROKE)
    width = spec.get("stroke_width", 0.5 if geometry_type == "polygon" else 1.5)
    opacity = spec.get("fill_opacity", 0.7)
    dashes = spec.get("stroke_dasharray")
    dash_attr = f" stroke-dasharray={quoteattr(','.join(str(d) for d in dashes))}" if dashes \
        else ""
    line = (f"<LineSymbolizer stroke={quoteattr(stroke)} stroke-width={quoteattr(str(width))}"
            f"{dash_attr} stroke-linejoin=\"round\"/>")
    if geometry_type == "polygon":
        return (f"<PolygonSymbolizer fill={quoteattr(fill)} "
                f"fill-opacity={quoteattr(str(opacity))} gamma=\"0.6\"/>"
                + (line if width else ""))
    if geometry_type == "line":
        return line
    size = spec.get("point_size", 8)
    return (f"<MarkersSymbolizer fill={quoteattr(fill)} stroke={quoteattr(stroke)} "
            f"width={quoteattr(str(size))} height={quoteattr(str(size))}/>")


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
    spec = layer.style or {}
    classes = spec.get("classes") or {}
    field = classes.get("field")
    match = classes.get("match", "prefix" if classes.get("scheme") == "land_use" else "exact")
    items = class_items(spec)
    rules = []
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
            rules.append(f"<Rule><Filter>{escape(condition)}</Filter>"
                         f"{_symbolizers(layer.geometry_type, merged)}</Rule>")
    rules.append(f"<Rule>{'<ElseFilter/>' if rules else ''}"
                 f"{_symbolizers(layer.geometry_type, spec)}</Rule>")
    return (f"<Style name={quoteattr(layer.code)} filter-mode=\"first\">"
            + "".join(rules) + "</Style>")


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
        # No simplification in PostGIS: a map holds about a hundred small parcels, and
        # ST_Simplify(ST_RemoveRepeatedPoints()) doubled the query's time for nothing visible.
        "max_size": settings.MAPNIK_DB_POOL, "simplify_geometries": "false",
        "twkb_encoding": "true"}.items())
    return (
        f"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        f"<Map srs=\"epsg:{srid}\" background-color=\"transparent\">"
        f"{style_xml(layer, present_values(version, field) if field else None)}"
        f"<Layer name={quoteattr(layer.code)} srs=\"epsg:{srid}\">"
        f"<StyleName>{escape(layer.code)}</StyleName>"
        f"<Datasource>{datasource}</Datasource></Layer></Map>\n")
