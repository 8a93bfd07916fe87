"""The conformity report's addresses: page, PDF, conflict maps and sign-off.

Data permissions as everywhere in the approval link: a check is shown to whoever may see
its project (approvals_link.selectors), an unknown and an invisible check are the same 404.
Maps show only the layers of the caller's access levels. Signing off needs
`conformity.sign_off` (department heads) on top, and happens once.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

from csp.constants import NONCE
from csp.decorators import csp_update
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import layer_access_levels, principal_of, public
from accounts.api_views import FunctionAPIView
from approvals_link import selectors
from approvals_link.models import ConformityCheck, RuleResult
from approvals_link.report import maps
from approvals_link.report.context import build_report, user_name, visible_layer_codes
from audit.services import record

MAX_NOTE = 2000
PRIVATE = "private, no-store"  # permission-dependent content: never in a shared cache


def visible_check(actor: Any, check_id: int) -> ConformityCheck | None:
    """The check when the caller may see its project; None for unknown and hidden alike."""
    check = (ConformityCheck.objects.select_related("project", "footprint", "signed_off_by")
             .filter(pk=check_id).first())
    if check is None or selectors.get_visible_project(actor, check.project.project_code) \
            is None:
        return None
    return check


def _levels(request: HttpRequest) -> tuple[str, ...]:
    return tuple(sorted(layer_access_levels(request)))


def _not_found(check_id: int) -> JsonResponse:
    return JsonResponse({"error": "unknown_check",
                         "detail": f"审查记录 {check_id} 不存在 (no such check)"}, status=404)


def pdf_filename(check: ConformityCheck) -> str:
    return f"合规性审查报告_{check.project.project_code}_{check.pk}.pdf"


def content_disposition(filename: str, kind: str = "inline") -> str:
    """RFC 6266 with the RFC 5987 UTF-8 form, and an ASCII fallback for old clients."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "", filename).lstrip("_.") or "report.pdf"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@public  # visibility of the project is the permission (checked below)
@csp_update({"style-src": [NONCE]})  # the report's print stylesheet is inline
def report_page(request: HttpRequest, project_code: str, check_id: int) -> HttpResponse:
    if principal_of(request).user is None:
        # Nobody signed in can see a project: the sign-in page, not a bare 404.
        return redirect_to_login(request.get_full_path())
    project = selectors.get_visible_project(request, project_code)
    if project is None:
        raise Http404("no such project")
    check = (ConformityCheck.objects.select_related("project", "footprint", "signed_off_by")
             .filter(pk=check_id, project=project).first())
    if check is None:
        raise Http404("no such check")
    context = build_report(check, map_src=lambda r: reverse(
        "conformity-report-map", kwargs={"check_id": check.pk, "result_id": r.pk}),
        visible_codes=visible_layer_codes(check, _levels(request)))
    try:
        project_url = reverse("project-page", kwargs={"project_code": project.project_code})
    except NoReverseMatch:
        project_url = ""
    context.update(
        for_pdf=False, style_nonce=str(request.csp_nonce), project_url=project_url,
        pdf_url=reverse("conformity-report-pdf", kwargs={"check_id": check.pk}),
        can_sign_off=principal_of(request).can("conformity.sign_off"),
        sign_off_url=reverse("conformity-sign-off", kwargs={"check_id": check.pk}))
    response = render(request, "approvals_link/report.html", context)
    response["Cache-Control"] = PRIVATE
    return response


@public
def report_pdf(request: HttpRequest, check_id: int) -> HttpResponse:
    from approvals_link.report.pdf import render_pdf

    check = visible_check(request, check_id)
    if check is None:
        return _not_found(check_id)
    started = time.perf_counter()
    data = render_pdf(check, _levels(request))
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition(pdf_filename(check))
    response["Cache-Control"] = PRIVATE
    response["Server-Timing"] = f"pdf;dur={(time.perf_counter() - started) * 1000:.0f}"
    return response


@public
def conflict_map(request: HttpRequest, check_id: int, result_id: int) -> HttpResponse:
    check = visible_check(request, check_id)
    if check is None:
        return _not_found(check_id)
    result = check.results.filter(pk=result_id, status=RuleResult.Status.FAIL).first()
    if result is not None and result.layer_code not in visible_layer_codes(
            check, _levels(request)):
        result = None  # a layer the caller may not see: areas only, as in the report
    if result is None:  # only conflicts have maps
        return JsonResponse({"error": "unknown_result",
                             "detail": f"审查结果 {result_id} 不存在或无冲突 (no such conflict)"},
                            status=404)
    path = maps.conflict_map(check, result, _levels(request))
    response = FileResponse(path.open("rb"), content_type="image/png")
    # A stored check never changes: the caller's browser may keep the image.
    response["Cache-Control"] = "private, max-age=86400"
    return response


class SignOff(FunctionAPIView):
    """POST {"note": "..."}: the department head signs the report off, once. Nobody signed
    in: 401 for API clients, the sign-in page otherwise (FunctionAPIView)."""

    default_function = "conformity.sign_off"
    required_function = "conformity.sign_off"

    @extend_schema(summary="签发合规性审查报告 (sign a conformity report off, once)",
                   request={"application/json": {"type": "object", "properties": {
                       "note": {"type": "string", "maxLength": MAX_NOTE}}}},
                   responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT,
                              403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                              409: OpenApiTypes.OBJECT})
    def post(self, request: Request, check_id: int) -> Response:
        if visible_check(request, check_id) is None:
            raise NotFound({"error": "unknown_check",
                            "detail": f"审查记录 {check_id} 不存在 (no such check)"})
        data = request.data if isinstance(request.data, dict) else None
        note = "" if data is None else data.get("note", "")
        if data is None or not isinstance(note, str) or len(note) > MAX_NOTE \
                or "\x00" in note:
            return Response({"error": "invalid", "detail": f"note 应为不超过 {MAX_NOTE} 字的文本 "
                                                           "(note must be text)",
                             "problems": ["note"]}, status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            # Locked: two heads signing at once get one success and one 409.
            check = ConformityCheck.objects.select_for_update().select_related(
                "project").get(pk=check_id)
            if check.signed_off_at is not None:
                return Response({"error": "already_signed_off",
                                 "detail": "该审查报告已签发 (already signed off)",
                                 "signed_off_by": user_name(check.signed_off_by),
                                 "signed_off_at": check.signed_off_at.isoformat()},
                                status=status.HTTP_409_CONFLICT)
            check.signed_off_by = request.user
            check.signed_off_at = timezone.now()
            check.sign_off_note = note.strip()
            check.save(update_fields=["signed_off_by", "signed_off_at", "sign_off_note"])
            record("conformity.sign_off", request=request._request,
                   obj=f"{check.project.project_code} #{check.pk}",
                   after={"conclusion": check.conclusion, "note": check.sign_off_note,
                          "signed_off_at": check.signed_off_at})
        return Response({"check_id": check.pk, "project_code": check.project.project_code,
                         "conclusion": check.conclusion,
                         "signed_off_by": user_name(request.user),
                         "signed_off_at": check.signed_off_at.isoformat(),
                         "note": check.sign_off_note})
