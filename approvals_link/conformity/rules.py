"""Conformity rules as data: their kinds, parameter checks and the county's default set.

A rule names a layer and a kind; what differs between counties (the compatibility matrix,
setback distances, which indicators count, exemptions) sits in `params`, edited in the admin
and checked here. `ensure_default_rules()` creates the standard set for the standard layers
and never touches a rule that exists (planners may have tuned it).
"""

from __future__ import annotations

from typing import Any

from approvals_link.codes import FlowType, ProjectType
from approvals_link.models import ConformityRule

Kind = ConformityRule.Kind
Section = ConformityRule.Section

INDICATORS = {
    # name: (parcel field, proposed field, bound, Chinese label)
    "far_max": ("far_max", "proposed_far", "max", "容积率上限"),
    "far_min": ("far_min", "proposed_far", "min", "容积率下限"),
    "density_max": ("density_max", "proposed_density", "max", "建筑密度上限(%)"),
    "green_min": ("green_min", "proposed_green_ratio", "min", "绿地率下限(%)"),
    "height_max": ("height_max", "proposed_height", "max", "建筑限高(米)"),
}

# Project type -> land-use codes (用地用海分类 2023, prefixes) a footprint may occupy.
DEFAULT_LAND_USE_MATRIX: dict[str, list[str]] = {
    ProjectType.RESIDENTIAL: ["07"],
    ProjectType.PUBLIC_SERVICE: ["08", "0702"],
    ProjectType.COMMERCIAL: ["09"],
    ProjectType.INDUSTRIAL: ["1001"],
    ProjectType.WAREHOUSE: ["11"],
    ProjectType.TRANSPORT: ["12"],
    ProjectType.UTILITY: ["13"],
    ProjectType.GREEN: ["14"],
}

_EXEMPTIONS = {"exempt_flow_types", "exempt_project_types"}
_ALLOWED_PARAMS = {
    Kind.MUST_NOT_OCCUPY: _EXEMPTIONS,
    Kind.MUST_LIE_INSIDE: _EXEMPTIONS,
    Kind.LAND_USE: _EXEMPTIONS | {"matrix"},
    Kind.SETBACK: _EXEMPTIONS | {"distance_m"},
    Kind.INDICATORS: _EXEMPTIONS | {"indicators"},
}


def rule_param_problems(kind: str, params: Any) -> list[str]:
    """Why `params` do not fit a rule of `kind` (empty when they do)."""
    if kind not in Kind.values:
        return [f"未知规则类型 {kind!r} (unknown rule kind)"]
    if not isinstance(params, dict):
        return ["参数应为 JSON 对象 (params must be an object)"]
    problems = [f"参数 {k!r} 不适用于 {kind} (unknown parameter)"
                for k in sorted(set(params) - _ALLOWED_PARAMS[kind])]
    flows = params.get("exempt_flow_types", [])
    if not isinstance(flows, list) or any(f not in FlowType.values for f in flows):
        problems.append(f"exempt_flow_types 应为审批流程类型代码列表 {FlowType.values}")
    types = params.get("exempt_project_types", [])
    if not isinstance(types, list) or any(t not in ProjectType.values for t in types):
        problems.append(f"exempt_project_types 应为项目类型列表 {ProjectType.values}")
    if kind == Kind.SETBACK:
        d = params.get("distance_m")
        if not isinstance(d, int | float) or isinstance(d, bool) or not 0 < d <= 500:
            problems.append("distance_m 应为 0–500 米之间的数 (setback distance in metres)")
    if kind == Kind.LAND_USE:
        matrix = params.get("matrix")
        if not isinstance(matrix, dict) or not matrix:
            problems.append("matrix 应为 {项目类型: [用地代码...]} (compatibility matrix)")
        else:
            for ptype, codes in matrix.items():
                if ptype not in ProjectType.values:
                    problems.append(f"matrix 中未知项目类型 {ptype!r}")
                if not isinstance(codes, list) or not all(isinstance(c, str) and c
                                                          for c in codes):
                    problems.append(f"matrix[{ptype!r}] 应为用地代码字符串列表")
    if kind == Kind.INDICATORS:
        names = params.get("indicators", list(INDICATORS))
        if not isinstance(names, list) or not names or any(n not in INDICATORS for n in names):
            problems.append(f"indicators 应为 {list(INDICATORS)} 的子集")
    return problems


# The standard rule set for the standard layers (layers/catalogue.py).
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"code": "czkfbj-inside", "name_zh": "位于城镇开发边界内", "name_en":
     "Inside the urban development boundary", "layer": "CZKFBJ", "kind": Kind.MUST_LIE_INSIDE,
     "section": Section.THREE_LINES, "sort_order": 10,
     # Linear infrastructure and utilities may cross the boundary (国土空间规划 practice).
     "params": {"exempt_flow_types": [FlowType.GOVERNMENT_LINEAR],
                "exempt_project_types": [ProjectType.TRANSPORT, ProjectType.UTILITY]}},
    {"code": "yjjbnt-no-occupy", "name_zh": "不占用永久基本农田", "name_en":
     "No permanent basic farmland", "layer": "YJJBNT", "kind": Kind.MUST_NOT_OCCUPY,
     "section": Section.THREE_LINES, "sort_order": 20, "params": {}},
    {"code": "stbhhx-no-occupy", "name_zh": "不占用生态保护红线", "name_en":
     "Outside the ecological protection red line", "layer": "STBHHX",
     "kind": Kind.MUST_NOT_OCCUPY, "section": Section.THREE_LINES, "sort_order": 30,
     "params": {}},
    {"code": "dlhx-no-occupy", "name_zh": "不占用道路红线", "name_en": "No road red line",
     "layer": "DLHX", "kind": Kind.MUST_NOT_OCCUPY, "section": Section.CONTROL_LINES,
     "sort_order": 40, "params": {"exempt_project_types": [ProjectType.TRANSPORT]}},
    {"code": "lanx-no-occupy", "name_zh": "不占用城市蓝线", "name_en": "No blue line (water)",
     "layer": "LANX", "kind": Kind.MUST_NOT_OCCUPY, "section": Section.CONTROL_LINES,
     "sort_order": 50, "params": {"exempt_project_types": [ProjectType.UTILITY]}},
    {"code": "lvx-no-occupy", "name_zh": "不占用城市绿线", "name_en": "No green line",
     "layer": "LVX", "kind": Kind.MUST_NOT_OCCUPY, "section": Section.CONTROL_LINES,
     "sort_order": 60, "params": {"exempt_project_types": [ProjectType.GREEN]}},
    {"code": "zix-no-occupy", "name_zh": "不占用城市紫线", "name_en":
     "No purple line (heritage)", "layer": "ZIX", "kind": Kind.MUST_NOT_OCCUPY,
     "section": Section.CONTROL_LINES, "sort_order": 70, "params": {}},
    {"code": "huangx-no-occupy", "name_zh": "不占用城市黄线", "name_en":
     "No yellow line (infrastructure)", "layer": "HUANGX", "kind": Kind.MUST_NOT_OCCUPY,
     "section": Section.CONTROL_LINES, "sort_order": 80,
     "params": {"exempt_project_types": [ProjectType.UTILITY]}},
    {"code": "kgdk-land-use", "name_zh": "用地性质符合控规", "name_en":
     "Land use compatible with the regulatory plan", "layer": "KGDK", "kind": Kind.LAND_USE,
     "section": Section.INDICATORS, "sort_order": 90,
     "params": {"matrix": {k.value: v for k, v in DEFAULT_LAND_USE_MATRIX.items()}}},
    {"code": "kgdk-indicators", "name_zh": "规划指标符合控规", "name_en":
     "Planning indicators within the regulatory plan's limits", "layer": "KGDK",
     "kind": Kind.INDICATORS, "section": Section.INDICATORS, "sort_order": 100,
     "params": {"indicators": list(INDICATORS)}},
)


def ensure_default_rules() -> list[ConformityRule]:
    """Create the default rules whose layer exists and whose code is new."""
    from layers.models import Layer

    layers = {lyr.code: lyr for lyr in Layer.objects.filter(
        code__in={r["layer"] for r in DEFAULT_RULES})}
    created = []
    existing = set(ConformityRule.objects.values_list("code", flat=True))
    for spec in DEFAULT_RULES:
        if spec["code"] in existing or spec["layer"] not in layers:
            continue
        rule = ConformityRule(**{**spec, "layer": layers[spec["layer"]]})
        rule.full_clean()
        rule.save()
        created.append(rule)
    return created
