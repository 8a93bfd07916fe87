"""Projects REST API (read side; intake and checks come with the approvals work)."""

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

from approvals_link import selectors
from approvals_link.models import Project
from layers.api import BadParameter, _int_param


def project_summary(p: Project) -> dict[str, Any]:
    return {"project_code": p.project_code, "name": p.name,
            "construction_unit": p.construction_unit, "flow_type": p.flow_type,
            "applied_land_use_code": p.applied_land_use_code}


class ProjectList(APIView):
    @extend_schema(summary="项目列表 (projects visible to the caller)", parameters=[
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


class ProjectDetail(APIView):
    @extend_schema(summary="项目详情 (project detail)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, project_code: str) -> Response:
        project = selectors.get_visible_project(request, project_code)
        if project is None:
            raise NotFound({"error": "unknown_project",
                            "detail": f"项目 {project_code} 不存在 (no such project)"})
        footprint = (project.footprints.annotate(geojson=AsGeoJSON("geom", precision=8))
                     .values("number", "area_m2", "geojson", "source_name").first())
        return Response({
            **project_summary(project),
            "construction_unit_credit_code": project.construction_unit_credit_code,
            "division_code": project.division_code,
            "proposed": {"far": project.proposed_far, "density": project.proposed_density,
                         "green_ratio": project.proposed_green_ratio,
                         "height": project.proposed_height},
            "footprint": None if footprint is None else {
                "number": footprint["number"], "area_m2": round(footprint["area_m2"], 2),
                "area_ha": round(footprint["area_m2"] / 10_000, 4),
                "source_name": footprint["source_name"],
                "geometry": json.loads(footprint["geojson"])},
        })
