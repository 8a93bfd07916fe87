"""Rule outcomes from overlay hits: pure functions, no database.

Areas are planar m² in the county projected CRS. An overlap no larger than the sliver
tolerance is reported (as `sliver_area_m2`) but is not a conflict: digitising slivers along
shared edges are not planning conflicts, and the tolerance is a setting because no official
value exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely

from approvals_link.codes import FlowType, ProjectType
from approvals_link.conformity.overlay import Hit
from approvals_link.conformity.rules import INDICATORS, Kind
from layers import landuse

PASS, FAIL, NOT_APPLICABLE = "pass", "fail", "not_applicable"


@dataclass
class Subject:
    """What a rule is checked against: the project's record and its footprint."""

    flow_type: str
    project_type: str
    proposed: dict[str, float | None]
    footprint: shapely.Geometry  # projected CRS
    footprint_area_m2: float


@dataclass
class Outcome:
    status: str
    area_m2: float = 0.0
    sliver_area_m2: float = 0.0
    features: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    geom: shapely.Geometry | None = None  # projected CRS


def _r(x: float, n: int = 4) -> float:
    return round(float(x), n)


def feature_entry(hit: Hit, **extra: Any) -> dict[str, Any]:
    entry = {"feature_id": hit.feature_id, "label": hit.label, "area_m2": _r(hit.area_m2),
             "area_ha": _r(hit.area_m2 / 10_000, 6)}
    if hit.land_use_code:
        entry["land_use_code"] = hit.land_use_code
        entry["land_use_name"] = hit.land_use_name
    entry.update(extra)
    return entry


def _polygonal(geoms: list[shapely.Geometry]) -> shapely.Geometry | None:
    """Union of the polygonal parts (intersections may carry edge lines and points)."""
    parts = [p for g in geoms for p in shapely.get_parts(g)
             if p.geom_type == "Polygon" and not p.is_empty]
    if not parts:
        return None
    return shapely.union_all(parts)


def exemption(params: dict[str, Any], subject: Subject) -> str | None:
    if subject.flow_type and subject.flow_type in params.get("exempt_flow_types", []):
        return f"审批流程类型 {FlowType(subject.flow_type).label} 豁免 (exempt flow type)"
    if subject.project_type in params.get("exempt_project_types", []):
        return f"项目类型 {ProjectType(subject.project_type).label} 豁免 (exempt project type)"
    return None


def must_not_occupy(hits: list[Hit], tolerance: float) -> Outcome:
    touched = [h for h in hits if h.area_m2 > 0]
    total = sum(h.area_m2 for h in touched)
    features = sorted((feature_entry(h) for h in touched), key=lambda e: -e["area_m2"])
    edge_only = sum(1 for h in hits if h.area_m2 <= 0)
    details = {"edge_contacts": edge_only}
    if total <= tolerance:
        return Outcome(PASS, sliver_area_m2=_r(total), features=features, details=details)
    return Outcome(FAIL, area_m2=total, features=features, details=details,
                   geom=_polygonal([h.geom for h in touched]))


def must_lie_inside(hits: list[Hit], subject: Subject, tolerance: float) -> Outcome:
    inside = _polygonal([h.geom for h in hits if h.area_m2 > 0])
    outside = (subject.footprint if inside is None
               else shapely.difference(subject.footprint, inside))
    outside_area = float(shapely.area(outside)) if outside is not None else 0.0
    details = {"inside_m2": _r(subject.footprint_area_m2 - outside_area),
               "outside_m2": _r(outside_area)}
    features = [feature_entry(h) for h in hits if h.area_m2 > 0]
    if outside_area <= tolerance:
        return Outcome(PASS, sliver_area_m2=_r(outside_area), features=features,
                       details=details)
    return Outcome(FAIL, area_m2=outside_area, features=features, details=details,
                   geom=_polygonal([outside]))


def _compatible(code: str, allowed: list[str]) -> bool:
    code = landuse.normalize_code(code)
    if code and not code[:2].isdigit():  # GB 50137 code of an older plan
        code = landuse.from_gb50137(code) or code
    return any(code.startswith(landuse.normalize_code(a)) for a in allowed)


def land_use(hits: list[Hit], subject: Subject, params: dict[str, Any],
             tolerance: float) -> Outcome:
    allowed = params["matrix"].get(subject.project_type)
    if allowed is None:
        return Outcome(NOT_APPLICABLE, details={
            "reason": f"兼容性矩阵未列出项目类型 {subject.project_type} (type not in matrix)"})
    parcels = [h for h in hits if h.area_m2 > tolerance]
    if not parcels:
        return Outcome(NOT_APPLICABLE, details={"reason": "红线未落在控规地块内 "
                                                          "(no regulatory-plan parcel)"})
    bad = [h for h in parcels if not _compatible(h.land_use_code, allowed)]
    details = {"project_type": subject.project_type, "allowed_codes": allowed}
    features = [feature_entry(h, compatible=h not in bad) for h in parcels]
    total = sum(h.area_m2 for h in bad)
    if total <= tolerance:
        return Outcome(PASS, sliver_area_m2=_r(total), features=features, details=details)
    return Outcome(FAIL, area_m2=total, features=features, details=details,
                   geom=_polygonal([h.geom for h in bad]))


def setback(hits: list[Hit], params: dict[str, Any], tolerance: float) -> Outcome:
    distance = float(params["distance_m"])
    near = [h for h in hits if h.area_m2 > 0]
    band = _polygonal([h.geom for h in near])
    area = float(shapely.area(band)) if band is not None else 0.0
    details = {"distance_m": distance,
               "min_distance_m": _r(min((h.distance_m for h in hits), default=-1), 3)
               if hits else None}
    features = sorted((feature_entry(h, distance_m=_r(h.distance_m, 3)) for h in near),
                      key=lambda e: e["distance_m"])
    if area <= tolerance:
        return Outcome(PASS, sliver_area_m2=_r(area), features=features, details=details)
    return Outcome(FAIL, area_m2=area, features=features, details=details, geom=band)


def indicators(hits: list[Hit], subject: Subject, params: dict[str, Any],
               tolerance: float) -> Outcome:
    names = params.get("indicators") or list(INDICATORS)
    if all(subject.proposed.get(INDICATORS[n][1]) is None for n in names):
        return Outcome(NOT_APPLICABLE, details={"reason": "项目未申报规划指标 "
                                                          "(no proposed indicators)"})
    parcels = [h for h in hits if h.area_m2 > tolerance]
    if not parcels:
        return Outcome(NOT_APPLICABLE, details={"reason": "红线未落在控规地块内 "
                                                          "(no regulatory-plan parcel)"})
    rows, failing = [], []
    for h in parcels:
        parcel_ok = True
        for name in names:
            column, proposed_field, bound, label = INDICATORS[name]
            proposed, limit = subject.proposed.get(proposed_field), h.limits.get(column)
            if proposed is None or limit is None:
                ok = None  # not declared or no limit in the plan: nothing to compare
            else:
                ok = proposed <= limit + 1e-9 if bound == "max" else proposed >= limit - 1e-9
            rows.append({"parcel_no": h.label, "feature_id": h.feature_id, "indicator": name,
                         "label": label, "proposed": proposed, "limit": limit, "bound": bound,
                         "ok": ok})
            parcel_ok = parcel_ok and ok is not False
        if not parcel_ok:
            failing.append(h)
    features = [feature_entry(h, conforms=h not in failing) for h in parcels]
    details = {"indicators": rows}
    if not failing:
        return Outcome(PASS, features=features, details=details)
    return Outcome(FAIL, area_m2=sum(h.area_m2 for h in failing), features=features,
                   details=details, geom=_polygonal([h.geom for h in failing]))


def evaluate(kind: str, params: dict[str, Any], hits: list[Hit], subject: Subject,
             tolerance: float) -> Outcome:
    reason = exemption(params, subject)
    if reason:
        return Outcome(NOT_APPLICABLE, details={"reason": reason})
    if kind == Kind.MUST_NOT_OCCUPY:
        return must_not_occupy(hits, tolerance)
    if kind == Kind.MUST_LIE_INSIDE:
        return must_lie_inside(hits, subject, tolerance)
    if kind == Kind.LAND_USE:
        return land_use(hits, subject, params, tolerance)
    if kind == Kind.SETBACK:
        return setback(hits, params, tolerance)
    if kind == Kind.INDICATORS:
        return indicators(hits, subject, params, tolerance)
    raise ValueError(f"unknown rule kind {kind!r}")
