"""The data of a conformity report, read from one stored check.

Everything the HTML page and the PDF show comes from here, so both say the same thing.
Areas are m² in the county projected CRS (as the engine stored them) and are shown as m²
(2 decimals) and hectares (4 decimals, the reviewers' convention).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from approvals_link.models import ConformityCheck, ConformityRule, RuleResult

SECTION_ORDER = [s.value for s in ConformityRule.Section]  # three_lines → … → indicators
SECTION_TITLES = {s.value: str(s.label) for s in ConformityRule.Section}
SECTION_NUMBERS = ["一", "二", "三", "四", "五", "六", "七", "八"]
KIND_LABELS = {k.value: str(k.label) for k in ConformityRule.Kind}
STATUS_LABELS = {s.value: str(s.label) for s in RuleResult.Status}
# Section conclusions as the engine writes them in summary (and what a section without
# applicable rules gets).
CONCLUSION_LABELS = {"conforms": "符合", "conflicts": "不符合", "pass": "符合",
                     "fail": "不符合", "not_applicable": "不适用", "empty": "未设审查规则"}
INDICATOR_LABELS = {  # the engine stores its own label; these are for older rows
    "far_max": "容积率上限", "far_min": "容积率下限", "density_max": "建筑密度上限(%)",
    "green_min": "绿地率下限(%)", "height_max": "建筑限高(米)",
    "far": "容积率", "density": "建筑密度(%)", "green_ratio": "绿地率(%)",
    "height": "建筑高度(米)", "RJLSX": "容积率上限", "RJLXX": "容积率下限",
    "JZMDZ": "建筑密度(%)", "LDLLX": "绿地率下限(%)", "JZXG": "建筑限高(米)",
}
BOUND_SYMBOLS = {"max": "≤", "upper": "≤", "<=": "≤", "≤": "≤",
                 "min": "≥", "lower": "≥", ">=": "≥", "≥": "≥"}


def m2(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def ha(value: float | None) -> str:
    return "—" if value is None else f"{value / 10_000:.4f}"


def number(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _features(result: RuleResult) -> list[dict[str, Any]]:
    rows = []
    for f in result.features or []:
        if not isinstance(f, dict):
            continue
        code, name = f.get("land_use_code") or "", f.get("land_use_name") or ""
        rows.append({"feature_id": f.get("feature_id"), "label": f.get("label") or "",
                     "land_use": f"{code} {name}".strip(), "area_m2": m2(f.get("area_m2")),
                     "area_ha": ha(f.get("area_m2"))})
    return rows


def _indicators(result: RuleResult) -> list[dict[str, Any]]:
    rows = []
    for row in (result.details or {}).get("indicators") or []:
        if not isinstance(row, dict):
            continue
        name = str(row.get("indicator") or "")
        ok = row.get("ok")
        rows.append({"parcel_no": row.get("parcel_no") or "", "indicator": name,
                     "indicator_label": row.get("label") or INDICATOR_LABELS.get(name, name),
                     "proposed": number(row.get("proposed")),
                     "limit": number(row.get("limit")),
                     "bound": BOUND_SYMBOLS.get(str(row.get("bound") or ""), ""),
                     "ok": ok, "ok_label": "—" if ok is None else ("符合" if ok else "不符合")})
    return rows


def _measure(result: RuleResult) -> str:
    """One line saying what was measured, in the reviewers' words."""
    details = result.details or {}
    layer = result.layer_name
    if result.kind == ConformityRule.Kind.MUST_LIE_INSIDE:
        inside = details.get("inside_m2")
        outside = details.get("outside_m2", result.area_m2)
        return (f"位于{layer}内面积 {m2(inside)} 平方米（{ha(inside)} 公顷）；"
                f"位于{layer}外面积 {m2(outside)} 平方米（{ha(outside)} 公顷）")
    if result.kind == ConformityRule.Kind.SETBACK:
        # distance_m is the required setback, min_distance_m the measured one.
        return (f"与{layer}最近距离 {number(details.get('min_distance_m'))} 米，"
                f"要求退让不小于 {number(details.get('distance_m'))} 米；退让范围内面积 "
                f"{m2(result.area_m2)} 平方米（{ha(result.area_m2)} 公顷）")
    if result.kind == ConformityRule.Kind.LAND_USE:
        return (f"与申请用地性质不兼容的地块面积 {m2(result.area_m2)} 平方米"
                f"（{ha(result.area_m2)} 公顷）")
    if result.kind == ConformityRule.Kind.INDICATORS:
        failed = sum(1 for r in details.get("indicators") or [] if isinstance(r, dict)
                     and r.get("ok") is False)
        return f"涉及地块 {result.feature_count} 个，不符合的指标 {failed} 项"
    return f"占用{layer}面积 {m2(result.area_m2)} 平方米（{ha(result.area_m2)} 公顷）"


def result_context(result: RuleResult, map_src: str | None,
                   restricted: bool = False) -> dict[str, Any]:
    """`restricted`: the reader may not see the rule's layer, so the report gives the
    status and areas but neither the features hit nor a map of them (as the JSON twin)."""
    if restricted:
        map_src = None
    return {
        "id": result.pk, "rule_name": result.rule_name, "rule_code": result.rule_code,
        "kind": result.kind, "kind_label": KIND_LABELS.get(result.kind, result.kind),
        "layer_code": result.layer_code, "layer_name": result.layer_name,
        "layer_version_number": result.layer_version_number,
        "status": result.status, "status_label": STATUS_LABELS.get(result.status,
                                                                   result.status),
        "failed": result.status == RuleResult.Status.FAIL,
        "area_m2": m2(result.area_m2), "area_ha": ha(result.area_m2),
        "sliver_area_m2": m2(result.sliver_area_m2), "has_sliver": result.sliver_area_m2 > 0,
        "feature_count": result.feature_count,
        "features": [] if restricted else _features(result),
        "indicators": [] if restricted else _indicators(result), "measure": _measure(result),
        "details": {} if restricted else result.details or {}, "map_src": map_src,
        "restricted": restricted,
        "reason": (result.details or {}).get("reason") or "",
    }


def _section_conclusion(check: ConformityCheck, code: str,
                        results: list[RuleResult]) -> tuple[str, bool | None]:
    """(label, ok): the engine's stored section conclusion, else derived from the results."""
    stored = ((check.summary or {}).get("sections") or {}).get(code) or {}
    conclusion = stored.get("conclusion")
    if not conclusion:
        applicable = [r for r in results if r.status != RuleResult.Status.NOT_APPLICABLE]
        if not results:
            conclusion = "empty"
        elif not applicable:
            conclusion = "not_applicable"
        elif any(r.status == RuleResult.Status.FAIL for r in applicable):
            conclusion = "conflicts"
        else:
            conclusion = "conforms"
    ok = {"conforms": True, "pass": True, "conflicts": False, "fail": False}.get(conclusion)
    return CONCLUSION_LABELS.get(conclusion, str(conclusion)), ok


def three_lines_rows(results: list[RuleResult]) -> list[dict[str, Any]]:
    """The three figures reviewers look for first: area inside the urban development
    boundary, on permanent basic farmland, on the ecological red line."""
    rows = []
    for r in results:
        if r.kind == ConformityRule.Kind.MUST_LIE_INSIDE:
            inside = (r.details or {}).get("inside_m2")
            rows.append({"label": f"位于{r.layer_name}内面积", "area_m2": m2(inside),
                         "area_ha": ha(inside), "status_label": STATUS_LABELS[r.status],
                         "failed": r.status == RuleResult.Status.FAIL})
        else:
            rows.append({"label": f"占用{r.layer_name}面积", "area_m2": m2(r.area_m2),
                         "area_ha": ha(r.area_m2),
                         "status_label": STATUS_LABELS.get(r.status, r.status),
                         "failed": r.status == RuleResult.Status.FAIL})
    return rows


def visible_layer_codes(check: ConformityCheck, levels: tuple[str, ...]) -> set[str]:
    """Codes of the check's layers whose access level is among the reader's `levels`."""
    from layers.models import Layer

    codes = set(check.results.values_list("layer_code", flat=True))
    return set(Layer.objects.filter(code__in=codes, access_level__in=levels)
               .values_list("code", flat=True))


def build_report(check: ConformityCheck,
                 map_src: Callable[[RuleResult], str | None] | None = None,
                 visible_codes: set[str] | None = None) -> dict[str, Any]:
    """Everything the report templates show. `map_src(result)` gives the image address of
    a failing result's map (an URL for the page, a file for the PDF); results of layers
    outside `visible_codes` (when given) are shown without their features."""
    project = check.project
    results = list(check.results.all().order_by("id"))
    by_section: dict[str, list[RuleResult]] = {code: [] for code in SECTION_ORDER}
    for r in results:
        by_section.setdefault(r.section, []).append(r)
    sections = []
    for i, (code, rows) in enumerate(by_section.items()):
        label, ok = _section_conclusion(check, code, rows)
        sections.append({
            "code": code, "number": SECTION_NUMBERS[i % len(SECTION_NUMBERS)],
            "title": SECTION_TITLES.get(code, code), "conclusion_label": label, "ok": ok,
            "results": [result_context(r, map_src(r) if map_src and
                                       r.status == RuleResult.Status.FAIL else None,
                                       restricted=visible_codes is not None
                                       and r.layer_code not in visible_codes)
                        for r in rows],
            "three_lines": three_lines_rows(rows) if code == "three_lines" else [],
            "failed": sum(1 for r in rows if r.status == RuleResult.Status.FAIL)})
    from layers.landuse import land_use_name

    use_code = project.applied_land_use_code or ""
    use_name = land_use_name(use_code) if use_code else None
    versions = [{"code": code, "number": (v or {}).get("number"),
                 "name": next((r.layer_name for r in results if r.layer_code == code), "")}
                for code, v in sorted((check.layer_versions or {}).items())]
    footprint_area = check.footprint_area_m2
    return {
        "check": check, "project": project,
        "header": [
            ("项目代码", project.project_code), ("项目名称", project.name),
            ("建设单位", project.construction_unit or "—"),
            ("用地面积", f"{m2(footprint_area)} 平方米（{ha(footprint_area)} 公顷）"),
            ("申请用地性质", f"{use_code} {use_name or ''}".strip() or "—"),
        ],
        "conforms": check.conclusion == ConformityCheck.Conclusion.CONFORMS,
        "conclusion_label": check.get_conclusion_display(),
        "sections": sections,
        "failed_count": sum(s["failed"] for s in sections),
        "conclusion_number": SECTION_NUMBERS[len(sections) % len(SECTION_NUMBERS)],
        "tolerance_m2": number(check.tolerance_m2),
        "layer_versions": versions,
        "footprint_number": check.footprint.number if check.footprint_id else None,
        "signed": check.signed_off_at is not None,
        "signed_off_by": user_name(check.signed_off_by),
        "signed_off_at": check.signed_off_at, "sign_off_note": check.sign_off_note,
        "checked_at": check.created_at, "generated_at": timezone.now(),
        "trigger_label": check.get_trigger_display(),
    }
