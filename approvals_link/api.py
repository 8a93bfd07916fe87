"""Projects REST API (read side; intake and checks come with the approvals work).

`project_detail` builds the project's whole picture once; the JSON endpoint
`/api/projects/{code}` and the page `/projects/{code}/` (approvals_link/views_pages.py) both
serve it, so the page and its JSON twin cannot drift.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.gis.db.models.functions import AsGeoJSON
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import principal_of
from approvals_link import selectors
from approvals_link.codes import FlowType, LandAcquisition, ProjectType
from approvals_link.models import (
    ConformityCheck,
    ConformityRule,
    FootprintLink,
    Project,
    ProjectDocument,
    RuleResult,
)
from approvals_link.timeline import project_timeline
from layers import landuse
from layers.api import BadParameter, _int_param
from layers.models import Layer
from layers.selectors import visible_layers


def project_summary(p: Project) -> dict[str, Any]:
    return {"project_code": p.project_code, "name": p.name,
            "construction_unit": p.construction_unit, "flow_type": p.flow_type,
            "applied_land_use_code": p.applied_land_use_code}


class ProjectList(APIView):
    @extend_schema(operation_id="api_projects_list", summary="项目列表 (projects visible to the caller)", parameters=[
        OpenApiParameter("q", str, description="项目代码或名称包含 (code or name contains)"),
        OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        qs = selectors.visible_projects(request).order_by("project_code")
        text = request.query_params.get("q", "").strip()
        if len(text) > 100:
            raise BadParameter("q", "q 最长 100 个字符 (too long)")
        if text:
            qs = qs.filter(Q(project_code__icontains=text) | Q(name__icontains=text))
        limit = _int_param(request, "limit", 50, 1, 500)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        total = qs.count()
        return Response({"count": total, "projects": [project_summary(p) for p in
                                                      qs[offset:offset + limit]]})


# --- the project's whole picture (API and page) -------------------------------------------

def _label(choices: Any, value: str) -> str:
    """Display name of a code ('' for blank or unknown codes)."""
    if value in choices.values:
        return str(choices(value).label)
    return ""


def _ha(m2: float | None) -> float | None:
    return None if m2 is None else round(m2 / 10_000, 4)


def _m2(m2: float | None) -> float | None:
    return None if m2 is None else round(m2, 2)


def report_urls(project_code: str, check_id: int) -> dict[str, str]:
    """Addresses of a check's report (built by the report pages, approvals_link/urls_report)."""
    return {"report_html": f"/projects/{project_code}/checks/{check_id}/report/",
            "report_pdf": f"/api/conformity-checks/{check_id}/report.pdf"}


def _footprints(project: Project) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    rows = list(project.footprints.order_by("-number").values(
        "id", "number", "area_m2", "source_name", "source_format", "source_srid",
        "description", "created_at"))
    files = [{"number": r["number"], "area_m2": _m2(r["area_m2"]), "area_ha": _ha(r["area_m2"]),
              "source_name": r["source_name"], "source_format": r["source_format"],
              "source_srid": r["source_srid"], "description": r["description"],
              "created_at": r["created_at"], "current": i == 0}
             for i, r in enumerate(rows)]
    return files, (rows[0] if rows else None)


def _links(footprint_id: int | None, visible: set[int]) -> tuple[list, list]:
    """The current footprint's parcels (regulatory plan) and other touched features, of the
    layers the caller may see."""
    if footprint_id is None:
        return [], []
    parcels, others = [], []
    links = (FootprintLink.objects.filter(footprint_id=footprint_id, layer_id__in=visible)
             .select_related("layer", "version")
             .order_by("layer__sort_order", "layer__code", "-overlap_m2", "feature_id"))
    for link in links:
        layer = link.layer
        row = {"layer_code": layer.code, "layer_name": layer.name_zh,
               "layer_name_en": layer.name_en, "category": layer.category,
               "version_number": link.version.number, "feature_id": link.feature_id,
               "label": link.label, "land_use_code": link.land_use_code,
               "land_use_name": link.land_use_name
               or landuse.land_use_name(link.land_use_code) or "",
               "overlap_m2": _m2(link.overlap_m2), "overlap_ha": _ha(link.overlap_m2),
               "share": round(link.share, 4),
               "parcel_share": None if link.parcel_share is None else round(link.parcel_share, 4)}
        (parcels if layer.category == Layer.Category.REGULATORY_PLAN else others).append(row)
    return parcels, others


def _conformity(project: Project, visible_codes: set[str]) -> dict[str, Any] | None:
    check = (ConformityCheck.objects.filter(project=project).order_by("-created_at", "-id")
             .select_related("footprint").first())
    if check is None:
        return None
    results = []
    conflicts = []
    rows = (RuleResult.objects.filter(conformity_check=check).defer("geom")
            .annotate(geojson=AsGeoJSON("geom", precision=8)).order_by("id"))
    for r in rows:
        # Features and conflict shapes of a layer the caller may not see would draw that
        # layer: the caller gets the rule's verdict and areas only.
        restricted = r.layer_code not in visible_codes
        results.append({
            "id": r.pk, "rule_code": r.rule_code, "rule_name": r.rule_name,
            "kind": r.kind, "kind_name": _label(ConformityRule.Kind, r.kind),
            "section": r.section, "section_name": _label(ConformityRule.Section, r.section),
            "layer_code": r.layer_code, "layer_name": r.layer_name,
            "layer_version_number": r.layer_version_number,
            "status": r.status, "status_name": _label(RuleResult.Status, r.status),
            "area_m2": _m2(r.area_m2), "area_ha": _ha(r.area_m2),
            "sliver_area_m2": _m2(r.sliver_area_m2), "sliver_area_ha": _ha(r.sliver_area_m2),
            "feature_count": r.feature_count,
            "features": [] if restricted else r.features,
            "details": {} if restricted else r.details,
            "params": r.params, "restricted": restricted,
            "has_conflict_geometry": bool(r.geojson) and not restricted,
        })
        if r.geojson and r.status == RuleResult.Status.FAIL and not restricted:
            conflicts.append({"type": "Feature", "geometry": json.loads(r.geojson),
                              "properties": {"result_id": r.pk, "rule_name": r.rule_name,
                                             "layer_code": r.layer_code,
                                             "area_m2": _m2(r.area_m2)}})
    summary = check.summary or {}
    return {
        "id": check.pk, "conclusion": check.conclusion,
        "conclusion_name": _label(ConformityCheck.Conclusion, check.conclusion),
        "created_at": check.created_at, "trigger": check.trigger,
        "footprint_number": check.footprint.number,
        "footprint_area_m2": _m2(check.footprint_area_m2),
        "footprint_area_ha": _ha(check.footprint_area_m2),
        "tolerance_m2": check.tolerance_m2, "layer_versions": check.layer_versions,
        "summary": summary, "sections": _sections(summary, results),
        "signed_off_at": check.signed_off_at,
        "results": results,
        "conflicts": {"type": "FeatureCollection", "features": conflicts},
        "links": report_urls(project.project_code, check.pk),
    }


def _sections(summary: dict[str, Any], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's sections in their order, with their conclusion (from the check's summary
    when it gives one, else from the results: any failed rule makes it conflict)."""
    given = summary.get("sections") or {}
    order = [s for s in ConformityRule.Section.values
             if s in given or any(r["section"] == s for r in results)]
    order += [s for s in given if s not in order]
    out = []
    for code in order:
        mine = [r for r in results if r["section"] == code]
        failed = sum(1 for r in mine if r["status"] == RuleResult.Status.FAIL)
        info = given.get(code) or {}
        out.append({"section": code, "name": _label(ConformityRule.Section, code) or code,
                    "conclusion": info.get("conclusion")
                    or ("conflicts" if failed else "conforms"),
                    "rules": info.get("rules", len(mine)), "failed": info.get("failed", failed),
                    "result_ids": [r["id"] for r in mine]})
    return out


def _documents(project: Project) -> list[dict[str, Any]]:
    code = project.project_code
    return [{"id": d.pk, "kind": d.kind, "kind_name": _label(ProjectDocument.Kind, d.kind),
             "title": d.title or d.original_name, "original_name": d.original_name,
             "content_type": d.content_type, "size": d.size, "sha256": d.sha256,
             "stage": d.stage, "uploaded_at": d.uploaded_at,
             "download": f"/api/projects/{code}/documents/{d.pk}/download"}
            for d in ProjectDocument.objects.filter(project=project)
            .order_by("-uploaded_at", "id")]


def project_detail(actor: Any, project: Project) -> dict[str, Any]:
    """Everything the project page shows, with the caller's permissions applied: layers the
    caller may not see are left out (or reduced to verdicts), documents need documents.read.
    The caller must already be allowed to see the project (selectors.get_visible_project)."""
    principal = principal_of(actor)
    layers = list(visible_layers(principal).values_list("id", "code"))
    visible_ids = {i for i, _ in layers}
    visible_codes = {c for _, c in layers}
    files, current = _footprints(project)
    geometry = None
    if current is not None:
        geojson = (project.footprints.filter(pk=current["id"])
                   .annotate(g=AsGeoJSON("geom", precision=8)).values_list("g", flat=True)[0])
        geometry = json.loads(geojson)
    parcels, control_lines = _links(current["id"] if current else None, visible_ids)
    project_type = project.effective_project_type
    land_use = project.applied_land_use_code
    can_read_documents = principal.can("documents.read")
    code = project.project_code
    return {
        **project_summary(project),
        "construction_unit_credit_code": project.construction_unit_credit_code,
        "division_code": project.division_code,
        "flow_type_name": _label(FlowType, project.flow_type),
        "investment_wan": None if project.investment_wan is None
        else float(project.investment_wan),
        "land_acquisition": project.land_acquisition,
        "land_acquisition_name": _label(LandAcquisition, project.land_acquisition),
        "declared_land_area_m2": _m2(project.declared_land_area_m2),
        "declared_land_area_ha": _ha(project.declared_land_area_m2),
        "building_area_m2": _m2(project.building_area_m2),
        "location": project.location,
        "project_type": project_type,
        "project_type_name": _label(ProjectType, project_type),
        "project_type_declared": bool(project.project_type),
        "applied_land_use_name": (landuse.land_use_name(land_use) or "") if land_use else "",
        "applied_land_use_name_en": (landuse.land_use_name(land_use, "en") or "")
        if land_use else "",
        "is_valid": project.is_valid, "invalid_reason": project.invalid_reason,
        "source_updated_at": project.source_updated_at, "updated_at": project.updated_at,
        "proposed": {"far": project.proposed_far, "density": project.proposed_density,
                     "green_ratio": project.proposed_green_ratio,
                     "height": project.proposed_height},
        "footprint": None if current is None else {
            "number": current["number"], "area_m2": round(current["area_m2"], 2),
            "area_ha": _ha(current["area_m2"]), "source_name": current["source_name"],
            "source_format": current["source_format"], "created_at": current["created_at"],
            "geometry": geometry},
        "footprints": files,
        "parcels": parcels,
        "control_lines": control_lines,
        "timeline": project_timeline(project),
        "conformity": _conformity(project, visible_codes),
        "documents": _documents(project) if can_read_documents else None,
        "permissions": {"documents_read": can_read_documents,
                        "conformity_run": principal.can("conformity.run")},
        "links": {"page": f"/projects/{code}/", "blueprint": f"/blueprint/?project={code}",
                  "documents": f"/api/projects/{code}/documents/",
                  "run_check": "/api/conformity-checks"},
    }


DETAIL_DESCRIPTION = """项目详情：基本信息、审批时间轴、红线、涉及地块、合规性审查、项目文件。
The JSON twin of the page /projects/{code}/. Invisible and unknown projects are 404 alike.

* basic fields: project_code, name, construction_unit(_credit_code), flow_type(+_name),
  investment_wan, land_acquisition(+_name), declared_land_area_m2/_ha, location,
  project_type(+_name; from the applied land use when not declared), applied_land_use_code
  (+_name), proposed {far, density, green_ratio, height}.
* footprint: the current red line (highest file number) with its GeoJSON geometry
  (EPSG:4490 lon/lat); footprints: every boundary file (number, area, source, created_at).
* parcels: regulatory-plan parcels the current red line touches (layer, version, label,
  land use, overlap m²/ha, share of the red line, share of the parcel); control_lines: the
  same for the other layer categories. Only layers the caller may see.
* timeline: stages 1–5 (name, state, started/ended, calendar and working days) and their
  items (one per application instance: department, received/accepted/completed, status,
  working days used, time limit, efficiency 1 early / 2 on time / 3 overdue / 4 immediate,
  overdue flag). Working days follow the Chinese public-holiday calendar; the clock stops
  during corrections (补正) and special procedures; `approximate` when a year is outside
  the calendar's data (Mon–Fri assumed).
* conformity: the latest check (id, conclusion, created_at, tolerance_m2, layer_versions,
  summary, sections, results without geometry, conflicts as GeoJSON, report links).
  Results on layers the caller may not see keep their verdict and areas only.
* documents: metadata and download links (null without the documents.read function).
"""


class ProjectDetail(APIView):
    @extend_schema(summary="项目详情 (project detail)", description=DETAIL_DESCRIPTION,
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request: Request, project_code: str) -> Response:
        project = selectors.get_visible_project(request, project_code)
        if project is None:
            raise NotFound({"error": "unknown_project",
                            "detail": f"项目 {project_code} 不存在 (no such project)"})
        return Response(project_detail(request, project))
