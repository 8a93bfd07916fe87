"""Conformity check REST API: run a check, read a result, list plan-change impacts.

`POST /api/conformity-checks` runs a check now; `GET /api/conformity-checks/{id}` returns a
stored one with its conflict geometries (GeoJSON, EPSG:4490 lon/lat); results are visible to
whoever may see the project (data permissions, 404 otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.gis.db.models.functions import AsGeoJSON
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_views import FunctionAPIView
from approvals_link import selectors
from approvals_link.conformity import engine
from approvals_link.models import ConformityCheck, PlanChangeImpact
from audit.services import record
from layers.api import BadParameter, _int_param


def _area(m2: float) -> dict[str, float]:
    return {"area_m2": round(m2, 4), "area_ha": round(m2 / 10_000, 4)}


def check_dict(check: ConformityCheck, *, geometry: bool = True) -> dict[str, Any]:
    results = check.results.order_by("id")
    if geometry:
        results = results.annotate(geojson=AsGeoJSON("geom", precision=8))
    code = check.project.project_code
    return {
        "id": check.pk, "project_code": code, "footprint_number": check.footprint.number,
        "conclusion": check.conclusion, "conclusion_zh": check.get_conclusion_display(),
        "tolerance_m2": check.tolerance_m2,
        "footprint": _area(check.footprint_area_m2),
        "layer_versions": check.layer_versions, "summary": check.summary,
        "trigger": check.trigger, "created_at": check.created_at.isoformat(),
        "duration_ms": check.duration_ms,
        "signed_off": None if check.signed_off_at is None else {
            "by": check.signed_off_by.get_username() if check.signed_off_by else "",
            "at": check.signed_off_at.isoformat(), "note": check.sign_off_note},
        "report": {"html": f"/projects/{code}/checks/{check.pk}/report/",
                   "pdf": f"/api/conformity-checks/{check.pk}/report.pdf"},
        "results": [{
            "rule_code": r.rule_code, "rule_name": r.rule_name, "kind": r.kind,
            "section": r.section, "layer_code": r.layer_code, "layer_name": r.layer_name,
            "layer_version": r.layer_version_number, "status": r.status,
            **_area(r.area_m2), "sliver_area_m2": r.sliver_area_m2,
            "feature_count": r.feature_count, "features": r.features, "details": r.details,
            **({"geometry": json.loads(r.geojson) if r.geojson else None} if geometry else {}),
        } for r in results],
    }


def _visible_check(request: Request, check_id: int) -> ConformityCheck:
    check = (ConformityCheck.objects.select_related("project", "footprint", "signed_off_by")
             .filter(pk=check_id).first())
    if check is None or selectors.get_visible_project(request, check.project.project_code) \
            is None:
        raise NotFound({"error": "unknown_check",
                        "detail": f"审查记录 {check_id} 不存在 (no such check)"})
    return check


class ConformityChecks(FunctionAPIView):
    # Reading results needs only project visibility; running one needs conformity.run.
    functions = {"POST": "conformity.run"}

    @extend_schema(operation_id="api_conformity_checks_list", summary="项目的合规性审查记录 (checks of a project)", parameters=[
        OpenApiParameter("project", str, required=True, description="项目代码"),
        OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        code = request.query_params.get("project", "")
        if not code:
            raise BadParameter("project", "需要 project 参数 (project code required)")
        project = selectors.get_visible_project(request, code)
        if project is None:
            raise NotFound({"error": "unknown_project",
                            "detail": f"项目 {code} 不存在 (no such project)"})
        limit = _int_param(request, "limit", 20, 1, 200)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        qs = project.checks.select_related("project", "footprint", "signed_off_by")
        return Response({"count": qs.count(), "checks": [
            check_dict(c, geometry=False) for c in qs[offset:offset + limit]]})

    @extend_schema(summary="发起合规性审查 (run a conformity check now)",
                   request={"application/json": {"type": "object", "properties": {
                       "project_code": {"type": "string"}}, "required": ["project_code"]}},
                   responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT,
                              404: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        code = data.get("project_code")
        if not isinstance(code, str) or not code:
            raise BadParameter("project_code", "需要项目代码 (project_code required)")
        project = selectors.get_visible_project(request, code)
        if project is None:
            raise NotFound({"error": "unknown_project",
                            "detail": f"项目 {code} 不存在 (no such project)"})
        try:
            check = engine.run_check(project, requested_by=request.user)
        except engine.NoFootprint as exc:
            return Response({"error": "no_footprint", "detail": str(exc)},
                            status=status.HTTP_409_CONFLICT)
        check = ConformityCheck.objects.select_related("project", "footprint").get(pk=check.pk)
        record("conformity.check", request=request._request, obj=f"{code} #{check.pk}",
               after={"conclusion": check.conclusion, "layer_versions": check.layer_versions})
        return Response(check_dict(check), status=status.HTTP_201_CREATED)


class ConformityCheckDetail(APIView):
    @extend_schema(summary="合规性审查结果 (a stored check with conflict geometries)",
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request: Request, check_id: int) -> Response:
        return Response(check_dict(_visible_check(request, check_id)))


class PlanImpacts(FunctionAPIView):
    default_function = "conformity.run"

    @extend_schema(summary="规划变更影响 (projects whose results a published version changed)",
                   parameters=[OpenApiParameter("layer", str), OpenApiParameter("version", int),
                               OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        visible = selectors.visible_projects(request).values("pk")
        qs = (PlanChangeImpact.objects.filter(project__in=visible)
              .select_related("project", "version__layer", "previous_version"))
        layer = request.query_params.get("layer")
        if layer:
            qs = qs.filter(version__layer__code=layer)
        if "version" in request.query_params:
            qs = qs.filter(version__number=_int_param(request, "version", 1, 1, 10**6))
        limit = _int_param(request, "limit", 100, 1, 1000)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        return Response({"count": qs.count(), "impacts": [{
            "project_code": i.project.project_code, "project_name": i.project.name,
            "layer": i.version.layer.code, "version": i.version.number,
            "previous_version": i.previous_version.number if i.previous_version else None,
            "previous_conclusion": i.previous_conclusion, "new_conclusion": i.new_conclusion,
            "conclusion_changed": i.previous_conclusion != i.new_conclusion,
            "previous_check": i.previous_check_id, "new_check": i.new_check_id,
            "difference": i.difference, "created_at": i.created_at.isoformat(),
        } for i in qs[offset:offset + limit]]})
