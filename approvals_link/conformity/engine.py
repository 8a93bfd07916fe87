"""Conformity checks: run the rules on footprints, store results, follow plan changes.

`run_check` checks one project; `check_footprints` is the same thing for many at once (the
demo loader and re-checks use it). `recheck_for_version` follows a published plan version:
it re-evaluates only the rules of that layer, carries the other results over, refreshes the
parcel join, and records every project whose conclusion or conflicts changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from approvals_link.conformity import evaluate as ev
from approvals_link.conformity import store
from approvals_link.conformity.overlay import Hit, Overlay, overlay
from approvals_link.models import (
    ConformityCheck,
    ConformityRule,
    FootprintLink,
    PlanChangeImpact,
    Project,
    ProjectFootprint,
    RuleResult,
)
from layers import crs
from layers.models import Layer, LayerVersion

Conclusion = ConformityCheck.Conclusion
# Layers whose features a footprint is joined to (parcels and control lines).
LINK_CATEGORIES = (Layer.Category.CONTROL_LINE, Layer.Category.OTHER_CONTROL_LINE,
                   Layer.Category.REGULATORY_PLAN, Layer.Category.SPECIAL_PLAN)
BATCH = 500


class NoFootprint(ValueError):
    pass


@dataclass
class Plan:
    """The rules to apply and the published version each one reads."""

    rules: list[ConformityRule]
    versions: dict[int, LayerVersion]  # layer id -> published version
    link_layers: list[Layer] = field(default_factory=list)

    def requests(self) -> set[tuple[int, float]]:
        wanted = {(v.pk, 0.0) for lyr in self.link_layers
                  if (v := self.versions.get(lyr.pk)) is not None}
        for rule in self.rules:
            v = self.versions.get(rule.layer_id)
            if v is not None:
                wanted.add((v.pk, _distance(rule)))
        return wanted

    def layer_versions(self) -> dict[str, dict[str, Any]]:
        layers = {r.layer_id: r.layer for r in self.rules}
        return {layers[lid].code: {"version_id": v.pk, "number": v.number}
                for lid, v in self.versions.items() if lid in layers}


def _distance(rule: ConformityRule) -> float:
    return float(rule.params.get("distance_m", 0)) if rule.kind == ConformityRule.Kind.SETBACK \
        else 0.0


def current_plan(layer_ids: Iterable[int] | None = None, *, links: bool = True) -> Plan:
    rules = list(ConformityRule.objects.filter(enabled=True).select_related("layer")
                 .order_by("sort_order", "code"))
    if layer_ids is not None:
        wanted = set(layer_ids)
        rules = [r for r in rules if r.layer_id in wanted]
    link_layers = list(Layer.objects.filter(category__in=LINK_CATEGORIES,
                                            geometry_type=Layer.GeometryType.POLYGON))
    if layer_ids is not None:
        link_layers = [lyr for lyr in link_layers if lyr.pk in set(layer_ids)]
    if not links:
        link_layers = []
    layer_pks = {r.layer_id for r in rules} | {lyr.pk for lyr in link_layers}
    versions = {v.layer_id: v for v in LayerVersion.objects.filter(
        layer_id__in=layer_pks, state=LayerVersion.State.PUBLISHED)}
    return Plan(rules, versions, link_layers)


def _subject(project: Project, footprint_geom: shapely.Geometry,
             footprint_area: float) -> ev.Subject:
    return ev.Subject(
        flow_type=project.flow_type, project_type=project.effective_project_type,
        proposed={"proposed_far": project.proposed_far,
                  "proposed_density": project.proposed_density,
                  "proposed_green_ratio": project.proposed_green_ratio,
                  "proposed_height": project.proposed_height},
        footprint=footprint_geom, footprint_area_m2=footprint_area)


def _outcomes(plan: Plan, ov: Overlay, footprint: ProjectFootprint, tolerance: float
              ) -> list[tuple[ConformityRule, ev.Outcome]]:
    geom = ov.footprints[footprint.pk]
    subject = _subject(footprint.project, geom, float(shapely.area(geom)))
    found = ov.hits.get(footprint.pk, {})
    out = []
    for rule in plan.rules:
        version = plan.versions.get(rule.layer_id)
        if version is None:
            out.append((rule, ev.Outcome(ev.NOT_APPLICABLE, details={
                "reason": "图层无已发布版本 (layer has no published version)"})))
            continue
        hits = found.get((version.pk, _distance(rule)), [])
        out.append((rule, ev.evaluate(rule.kind, rule.params, hits, subject, tolerance)))
    return out


def _multipolygon_4490(geom: shapely.Geometry | None) -> GEOSGeometry | None:
    if geom is None or geom.is_empty:
        return None
    t = crs.transformer(settings.COUNTY_PROJECTED_SRID, crs.CGCS2000_GEOGRAPHIC)
    g = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    polys = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
    if not polys:
        return None
    return GEOSGeometry(memoryview(shapely.to_wkb(shapely.MultiPolygon(polys))),
                        srid=crs.CGCS2000_GEOGRAPHIC)


def _result_row(check: ConformityCheck, rule: ConformityRule, version: LayerVersion | None,
                outcome: ev.Outcome) -> RuleResult:
    return RuleResult(
        conformity_check=check, rule=rule, rule_code=rule.code, rule_name=rule.name_zh,
        kind=rule.kind, section=rule.section, params=rule.params, layer_code=rule.layer.code,
        layer_name=rule.layer.name_zh, layer_version=version,
        layer_version_number=version.number if version else None, status=outcome.status,
        area_m2=round(outcome.area_m2, 6), sliver_area_m2=outcome.sliver_area_m2,
        feature_count=len(outcome.features), features=outcome.features,
        details=outcome.details, geom=_multipolygon_4490(outcome.geom))


def summarize(results: Iterable[RuleResult | tuple[str, str, float]], footprint_area: float
              ) -> tuple[str, dict[str, Any]]:
    """Overall conclusion and per-section summary from (section, status, area) triples."""
    sections: dict[str, dict[str, Any]] = {}
    for r in results:
        section, status, area = ((r.section, r.status, r.area_m2) if isinstance(r, RuleResult)
                                 else r)
        s = sections.setdefault(section, {"rules": 0, "failed": 0, "conflict_m2": 0.0})
        s["rules"] += 1
        if status == ev.FAIL:
            s["failed"] += 1
            s["conflict_m2"] = round(s["conflict_m2"] + area, 4)
    for s in sections.values():
        s["conclusion"] = Conclusion.CONFLICTS if s["failed"] else Conclusion.CONFORMS
    failed = sum(s["failed"] for s in sections.values())
    conclusion = Conclusion.CONFLICTS if failed else Conclusion.CONFORMS
    order = [c for c in ConformityRule.Section.values if c in sections]
    return conclusion, {"sections": {k: sections[k] for k in order}, "failed_rules": failed,
                        "footprint_area_m2": round(footprint_area, 4),
                        "footprint_area_ha": round(footprint_area / 10_000, 4)}


def _link_rows(plan: Plan, ov: Overlay, footprint: ProjectFootprint) -> list[FootprintLink]:
    rows = []
    area = footprint.area_m2 or 1.0
    found = ov.hits.get(footprint.pk, {})
    for layer in plan.link_layers:
        version = plan.versions.get(layer.pk)
        if version is None:
            continue
        for h in found.get((version.pk, 0.0), []):
            if h.area_m2 <= 0:
                continue  # an edge in common is not a link
            rows.append(FootprintLink(
                footprint=footprint, layer=layer, version=version, feature_id=h.feature_id,
                label=h.label[:200], land_use_code=h.land_use_code[:16],
                land_use_name=h.land_use_name[:100], overlap_m2=round(h.area_m2, 4),
                share=round(h.area_m2 / area, 6),
                parcel_share=round(h.area_m2 / h.feature_area_m2, 6)
                if h.feature_area_m2 else None))
    return rows


def _chunks(items: list[Any], n: int = BATCH) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def check_footprints(footprints: list[ProjectFootprint], *, trigger: str,
                     requested_by: Any = None, plan: Plan | None = None,
                     tolerance: float | None = None) -> list[ConformityCheck]:
    """Full checks of these footprints (and their parcel join), stored; set-based."""
    plan = plan or current_plan()
    tolerance = settings.CONFORMITY_SLIVER_TOLERANCE_M2 if tolerance is None else tolerance
    user = requested_by if getattr(requested_by, "pk", None) else None
    stored: list[ConformityCheck] = []
    for chunk in _chunks(footprints):
        started = time.perf_counter()
        ov = overlay([f.pk for f in chunk], plan.requests())
        per_footprint = [(f, _outcomes(plan, ov, f, tolerance)) for f in chunk]
        elapsed_ms = (time.perf_counter() - started) * 1000 / max(len(chunk), 1)
        with transaction.atomic():
            checks, results, links = [], [], []
            for f, outcomes in per_footprint:
                area = float(shapely.area(ov.footprints[f.pk]))
                conclusion, summary = summarize(
                    ((r.section, o.status, o.area_m2) for r, o in outcomes), area)
                checks.append(ConformityCheck(
                    project=f.project, footprint=f, conclusion=conclusion,
                    tolerance_m2=tolerance, footprint_area_m2=area,
                    layer_versions=plan.layer_versions(), summary=summary, trigger=trigger,
                    requested_by=user, duration_ms=round(elapsed_ms, 3)))
                links += _link_rows(plan, ov, f)
            store.copy_instances(ConformityCheck, checks)
            for check, (_f, outcomes) in zip(checks, per_footprint, strict=True):
                results += [_result_row(check, r, plan.versions.get(r.layer_id), o)
                            for r, o in outcomes]
            store.copy_instances(RuleResult, results)
            FootprintLink.objects.filter(footprint__in=chunk).delete()
            store.copy_instances(FootprintLink, links)
        stored += checks
    return stored


def run_check(project: Project, *, requested_by: Any = None,
              trigger: str = ConformityCheck.Trigger.MANUAL,
              footprint: ProjectFootprint | None = None) -> ConformityCheck:
    """Check the project's current footprint against every enabled rule; stored."""
    footprint = footprint or project.current_footprint
    if footprint is None:
        raise NoFootprint(f"项目 {project.project_code} 尚无红线 (no footprint to check)")
    footprint.project = project
    return check_footprints([footprint], trigger=trigger, requested_by=requested_by)[0]


def current_footprints(project_ids: Iterable[int] | None = None) -> list[ProjectFootprint]:
    """The newest footprint of every valid project (approved or in progress)."""
    newest = (ProjectFootprint.objects.filter(project=OuterRef("project"))
              .order_by("-number").values("pk")[:1])
    qs = (ProjectFootprint.objects.filter(project__is_valid=True, pk=Subquery(newest))
          .select_related("project").defer("geom", "geom_3857"))
    if project_ids is not None:
        qs = qs.filter(project_id__in=list(project_ids))
    return list(qs.order_by("project_id"))


def latest_checks(project_ids: list[int]) -> dict[int, ConformityCheck]:
    qs = (ConformityCheck.objects.filter(project_id__in=project_ids)
          .order_by("project_id", "-created_at", "-id").distinct("project_id"))
    return {c.project_id: c for c in qs}


@dataclass
class RecheckSummary:
    version_id: int
    projects: int = 0
    changed: int = 0
    seconds: float = 0.0
    impacts: list[int] = field(default_factory=list)


_COPY_COLUMNS = ("rule_id", "rule_code", "rule_name", "kind", "section", "params",
                 "layer_code", "layer_name", "layer_version_id", "layer_version_number",
                 "status", "area_m2", "sliver_area_m2", "feature_count", "features", "details",
                 "geom")


def _carry_over(pairs: list[tuple[int, int]], layer_code: str) -> None:
    """Copy the previous checks' results of other layers' rules into the new checks."""
    if not pairs:
        return
    cols = ", ".join(_COPY_COLUMNS)
    table = RuleResult._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"""
            INSERT INTO {table} (conformity_check_id, {cols})
            SELECT m.new_id, {", ".join("r." + c for c in _COPY_COLUMNS)}
            FROM {table} r JOIN unnest(%s::bigint[], %s::bigint[]) AS m(old_id, new_id)
              ON r.conformity_check_id = m.old_id
            WHERE r.layer_code <> %s""",
                    [[p[0] for p in pairs], [p[1] for p in pairs], layer_code])


def _difference(before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]]
                ) -> list[dict[str, Any]]:
    diff = []
    for code in sorted(set(before) | set(after)):
        b, a = before.get(code), after.get(code)
        if b is None or a is None or b[0] != a[0] or abs(b[1] - a[1]) > 0.01:
            diff.append({"rule": code,
                         "before": None if b is None else {"status": b[0], "area_m2": b[1]},
                         "after": None if a is None else {"status": a[0], "area_m2": a[1]}})
    return diff


def recheck_for_version(version: LayerVersion, previous: LayerVersion | None = None, *,
                        project_ids: Iterable[int] | None = None) -> RecheckSummary:
    """Follow a published version of a layer: re-evaluate its rules for every current
    footprint (or the given projects'), carry the other rules' results over, refresh the
    join for that layer, and record the projects whose results changed."""
    started = time.perf_counter()
    summary = RecheckSummary(version.pk)
    layer = version.layer
    plan = current_plan([layer.pk])
    plan.versions = {layer.pk: version}
    if not plan.rules and not plan.link_layers:
        return summary
    tolerance = settings.CONFORMITY_SLIVER_TOLERANCE_M2
    footprints = current_footprints(project_ids)
    summary.projects = len(footprints)
    for chunk in _chunks(footprints):
        previous_checks = latest_checks([f.project_id for f in chunk])
        fresh = [f for f in chunk if f.project_id not in previous_checks
                 or previous_checks[f.project_id].footprint_id != f.pk]
        if fresh:  # never fully checked against this footprint: a full check
            check_footprints(fresh, trigger=ConformityCheck.Trigger.PLAN_CHANGE)
        chunk = [f for f in chunk if f not in fresh]
        if not chunk:
            continue
        ov = overlay([f.pk for f in chunk], plan.requests())
        old_results: dict[int, dict[str, tuple[str, float, str]]] = {}
        kept_by_check: dict[int, dict[str, tuple[str, float, str]]] = {}
        for check_id, code, status, area, section, layer_code in RuleResult.objects.filter(
                conformity_check__in=[previous_checks[f.project_id] for f in chunk]
        ).values_list("conformity_check_id", "rule_code", "status", "area_m2", "section",
                      "layer_code"):
            old_results.setdefault(check_id, {})[code] = (status, area, section)
            if layer_code != layer.code:  # other layers' results carry over unchanged
                kept_by_check.setdefault(check_id, {})[code] = (status, area, section)
        with transaction.atomic():
            new_checks, outcomes_by = [], []
            for f in chunk:
                prev = previous_checks[f.project_id]
                outcomes = _outcomes(plan, ov, f, tolerance)
                kept = kept_by_check.get(prev.pk, {})
                triples = [(v[2], v[0], v[1]) for v in kept.values()] + [
                    (r.section, o.status, o.area_m2) for r, o in outcomes]
                area = float(shapely.area(ov.footprints[f.pk]))
                conclusion, summ = summarize(triples, area)
                versions = dict(prev.layer_versions)
                versions.update(plan.layer_versions())
                new_checks.append(ConformityCheck(
                    project=f.project, footprint=f, conclusion=conclusion,
                    tolerance_m2=tolerance, footprint_area_m2=area, layer_versions=versions,
                    summary=summ, trigger=ConformityCheck.Trigger.PLAN_CHANGE))
                outcomes_by.append((prev, outcomes, kept))
            store.copy_instances(ConformityCheck, new_checks)
            _carry_over([(prev.pk, new.pk) for new, (prev, _o, _k)
                         in zip(new_checks, outcomes_by, strict=True)], layer.code)
            rows, impacts = [], []
            for new, f, (prev, outcomes, kept) in zip(new_checks, chunk, outcomes_by,
                                                      strict=True):
                rows += [_result_row(new, r, version, o) for r, o in outcomes]
                before = {c: (s, a) for c, (s, a, _sec) in old_results.get(prev.pk, {}).items()}
                after = {c: (s, a) for c, (s, a, _sec) in kept.items()}
                after.update({r.code: (o.status, round(o.area_m2, 6)) for r, o in outcomes})
                diff = _difference(before, after)
                if diff or prev.conclusion != new.conclusion:
                    impacts.append(PlanChangeImpact(
                        version=version, previous_version=previous, project=f.project,
                        previous_check=prev, new_check=new,
                        previous_conclusion=prev.conclusion, new_conclusion=new.conclusion,
                        difference=diff))
            store.copy_instances(RuleResult, rows)
            store.copy_instances(PlanChangeImpact, impacts)
            summary.changed += len(impacts)
            summary.impacts += [i.pk for i in impacts]
            if plan.link_layers:
                FootprintLink.objects.filter(footprint__in=chunk, layer=layer).delete()
                store.copy_instances(FootprintLink,
                                     [row for f in chunk for row in _link_rows(plan, ov, f)])
    summary.seconds = time.perf_counter() - started
    return summary


def hits_for(footprint: ProjectFootprint, version: LayerVersion) -> list[Hit]:
    """The overlaps of one footprint with one version (for tests and reports)."""
    ov = overlay([footprint.pk], {(version.pk, 0.0)})
    return ov.hits.get(footprint.pk, {}).get((version.pk, 0.0), [])
