"""Layer style specifications: the one definition of how a layer looks.

A spec drives the Mapnik style, the legend and the web page's colours. It is plain JSON so
planners can edit it in the admin; `validate_style` guards its shape.

    {"fill": "#F5D5A0", "fill_opacity": 0.6, "stroke": "#A0522D", "stroke_width": 1.0,
     "stroke_dasharray": [6, 3],
     "classes": {"field": "land_use_code", "scheme": "land_use"}      # colours from the table
     "classes": {"field": "land_use_code", "match": "prefix",
                 "items": [{"value": "07", "label_zh": "居住", "label_en": "Residential",
                            "fill": "#FFFF2D"}]},
     "label": {"field": "parcel_no", "min_zoom": 16}}
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from layers import landuse

COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
TOP_KEYS = {"fill", "fill_opacity", "stroke", "stroke_width", "stroke_dasharray", "classes",
            "label", "point_size", "opacity"}
CLASSABLE_FIELDS = {"land_use_code", "parcel_no", "name"}
ITEM_KEYS = {"value", "label_zh", "label_en", "fill", "stroke", "stroke_width", "fill_opacity"}


def _check_color(value: Any, where: str) -> None:
    if not isinstance(value, str) or not COLOR.match(value):
        raise ValidationError(f"{where} 颜色应为 #RRGGBB (colour must be #RRGGBB): {value!r}")


def _check_number(value: Any, where: str, lo: float, hi: float) -> None:
    if not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValidationError(f"{where} 应为 {lo}–{hi} 之间的数 (number in range): {value!r}")


def validate_style(spec: dict[str, Any], geometry_type: str) -> None:
    if not isinstance(spec, dict):
        raise ValidationError("样式应为 JSON 对象 (style must be an object)")
    unknown = set(spec) - TOP_KEYS
    if unknown:
        raise ValidationError(f"未知样式键 (unknown style keys): {', '.join(sorted(unknown))}")
    for key in ("fill", "stroke"):
        if key in spec:
            _check_color(spec[key], key)
    for key, lo, hi in (("fill_opacity", 0, 1), ("opacity", 0, 1), ("stroke_width", 0, 50),
                        ("point_size", 0, 100)):
        if key in spec:
            _check_number(spec[key], key, lo, hi)
    if "stroke_dasharray" in spec:
        dashes = spec["stroke_dasharray"]
        if not isinstance(dashes, list) or not all(isinstance(d, int | float) and d > 0
                                                   for d in dashes):
            raise ValidationError("stroke_dasharray 应为正数列表 (list of positive numbers)")
    classes = spec.get("classes")
    if classes is not None:
        if not isinstance(classes, dict) or classes.get("field") not in CLASSABLE_FIELDS:
            raise ValidationError(f"classes.field 应为 {sorted(CLASSABLE_FIELDS)} 之一")
        if classes.get("scheme") not in (None, "land_use"):
            raise ValidationError("classes.scheme 只支持 land_use")
        if classes.get("match", "exact") not in ("exact", "prefix"):
            raise ValidationError("classes.match 应为 exact 或 prefix")
        for n, item in enumerate(classes.get("items", [])):
            if not isinstance(item, dict) or "value" not in item or set(item) - ITEM_KEYS:
                raise ValidationError(f"classes.items[{n}] 格式错误 (bad class item)")
            for key in ("fill", "stroke"):
                if key in item:
                    _check_color(item[key], f"classes.items[{n}].{key}")


def class_items(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The attribute classes of a spec, with colours resolved from the land-use table when
    the spec names that scheme (first-level and second-level codes)."""
    classes = spec.get("classes") or {}
    items = list(classes.get("items", []))
    if classes.get("scheme") == "land_use":
        listed = {i["value"] for i in items}
        for cls in landuse.all_classes():
            if cls.level <= 2 and cls.code not in listed:
                items.append({"value": cls.code, "label_zh": cls.name_zh,
                              "label_en": cls.name_en, "fill": cls.color})
    return items


def legend_entries(spec: dict[str, Any], lang: str = "zh",
                   present_values: set[str] | None = None) -> list[dict[str, Any]]:
    """Legend rows: one per class (only those present in the data, when given), else one."""
    base = {k: spec[k] for k in ("fill", "stroke", "stroke_width", "fill_opacity",
                                 "stroke_dasharray") if k in spec}
    items = class_items(spec)
    if present_values is not None:
        items = [i for i in items if i["value"] in present_values]
    label_key = "label_en" if lang.startswith("en") else "label_zh"
    rows = [{**base, **{k: v for k, v in i.items() if k not in ("label_zh", "label_en")},
             "label": i.get(label_key) or i["value"]} for i in items]
    return rows or [{**base, "label": ""}]
