"""The standard layer set of the Neixiang county blueprint (一张蓝图), as data.

`ensure_standard_layers()` creates whatever is missing through `services.create_layer`; it
never changes a layer that already exists (planners may have edited its style or access level
in the admin), so it is safe to call on every deploy and before every demo load.

Colours follow planning-drawing conventions: the urban development boundary as an orange /
purple dashed outline, permanent basic farmland in wheat with a brown edge, the ecological
red line as a green fill inside a red outline, and the "five lines" (五线) in their colours:
road red line red, blue line blue, green line green, purple line purple, yellow line yellow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layers.models import Layer

C = Layer.Category
G = Layer.GeometryType
A = Layer.Access


@dataclass(frozen=True)
class LayerSpec:
    code: str
    name_zh: str
    name_en: str
    category: str
    geometry_type: str
    access_level: str = A.PUBLIC
    style: dict[str, Any] = field(default_factory=dict)
    sort_order: int = 100
    description: str = ""

    def create_kwargs(self) -> dict[str, Any]:
        return {"code": self.code, "name_zh": self.name_zh, "name_en": self.name_en,
                "category": self.category, "geometry_type": self.geometry_type,
                "access_level": self.access_level, "style": dict(self.style),
                "description": self.description, "sort_order": self.sort_order}


STANDARD_LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "XZQ", "县级行政区", "County boundary", C.BASE, G.POLYGON, A.PUBLIC,
        {"fill": "#FFFFFF", "fill_opacity": 0.0, "stroke": "#4D4D4D", "stroke_width": 2.0,
         "stroke_dasharray": [10, 3, 2, 3], "label": {"field": "name", "min_zoom": 8}},
        10, "内乡县县级行政区界线 (411325)。"),
    LayerSpec(
        "SX", "水系", "Rivers", C.BASE, G.LINE, A.PUBLIC,
        {"stroke": "#4A90D9", "stroke_width": 2.0, "label": {"field": "name", "min_zoom": 11}},
        20, "河流中心线（湍河及主要支流）。"),
    LayerSpec(
        "JTDL", "道路中心线", "Road centre lines", C.BASE, G.LINE, A.PUBLIC,
        {"stroke": "#8C8C8C", "stroke_width": 1.0, "label": {"field": "name", "min_zoom": 15}},
        30, "道路中心线，属性含道路等级与红线宽度。"),
    LayerSpec(
        "CZKFBJ", "城镇开发边界", "Urban development boundary", C.CONTROL_LINE, G.POLYGON,
        A.PUBLIC,
        {"fill": "#FF8C00", "fill_opacity": 0.05, "stroke": "#9B30FF", "stroke_width": 2.5,
         "stroke_dasharray": [8, 4]},
        110, "三区三线：城镇开发边界。"),
    LayerSpec(
        "YJJBNT", "永久基本农田", "Permanent basic farmland", C.CONTROL_LINE, G.POLYGON,
        A.PUBLIC,
        {"fill": "#F5DEB3", "fill_opacity": 0.7, "stroke": "#8B5A2B", "stroke_width": 1.0},
        120, "三区三线：永久基本农田保护红线。"),
    LayerSpec(
        "STBHHX", "生态保护红线", "Ecological protection red line", C.CONTROL_LINE,
        G.POLYGON, A.INTERNAL,
        {"fill": "#4CAF50", "fill_opacity": 0.45, "stroke": "#E60000", "stroke_width": 1.5},
        130, "三区三线：生态保护红线。矢量数据通常不公开，仅内部使用。"),
    LayerSpec(
        "DLHX", "道路红线", "Road red lines", C.OTHER_CONTROL_LINE, G.POLYGON, A.PUBLIC,
        {"fill": "#FF0000", "fill_opacity": 0.08, "stroke": "#FF0000", "stroke_width": 1.0},
        210, "道路红线控制范围（道路用地面）。"),
    LayerSpec(
        "LANX", "蓝线", "Blue lines (water)", C.OTHER_CONTROL_LINE, G.POLYGON, A.PUBLIC,
        {"fill": "#6FA8DC", "fill_opacity": 0.45, "stroke": "#0050D0", "stroke_width": 1.5},
        220, "城市蓝线：河道、水库等地表水体保护和控制范围。"),
    LayerSpec(
        "LVX", "绿线", "Green lines", C.OTHER_CONTROL_LINE, G.POLYGON, A.PUBLIC,
        {"fill": "#7FD67F", "fill_opacity": 0.4, "stroke": "#00A040", "stroke_width": 1.5},
        230, "城市绿线：公园绿地、滨河绿带、广场等绿地范围。"),
    LayerSpec(
        "ZIX", "紫线", "Purple lines (heritage)", C.OTHER_CONTROL_LINE, G.POLYGON, A.PUBLIC,
        {"fill": "#C9A0DC", "fill_opacity": 0.3, "stroke": "#8000A0", "stroke_width": 1.5,
         "stroke_dasharray": [6, 3]},
        240, "城市紫线：文物保护单位、历史文化街区保护范围。"),
    LayerSpec(
        "HUANGX", "黄线", "Yellow lines (infrastructure)", C.OTHER_CONTROL_LINE, G.POLYGON,
        A.PUBLIC,
        {"fill": "#FFE600", "fill_opacity": 0.35, "stroke": "#E6B800", "stroke_width": 1.5},
        250, "城市黄线：重大基础设施用地与高压走廊等控制范围。"),
    LayerSpec(
        "KGDK", "控制性详细规划地块", "Regulatory plan parcels", C.REGULATORY_PLAN,
        G.POLYGON, A.PUBLIC,
        {"fill_opacity": 0.75, "stroke": "#808080", "stroke_width": 0.5,
         "classes": {"field": "land_use_code", "scheme": "land_use", "match": "prefix"},
         "label": {"field": "parcel_no", "min_zoom": 16}},
        310, "控制性详细规划地块：用地性质、用地面积与容积率、建筑密度、绿地率、限高等指标。"),
)

BY_CODE: dict[str, LayerSpec] = {s.code: s for s in STANDARD_LAYERS}


def ensure_standard_layers() -> dict[str, Layer]:
    """The standard layers by code; missing ones are created, existing ones left alone."""
    from layers import services  # services imports the models; keep this module light

    existing = {layer.code: layer for layer in
                Layer.objects.filter(code__in=[s.code for s in STANDARD_LAYERS])}
    for spec in STANDARD_LAYERS:
        if spec.code not in existing:
            existing[spec.code] = services.create_layer(**spec.create_kwargs())
    return {s.code: existing[s.code] for s in STANDARD_LAYERS}
