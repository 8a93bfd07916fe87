"""POST /blueprint/api/print: the blueprint page's view as a PNG or PDF (blueprint.printing).

Open to everyone like identify (function None): what is printed is limited by the caller's
layer access levels and project visibility, checked in blueprint.printing.parse. Printing
is heavy (a full-page Mapnik render), so each process prints a few at a time and answers
503 when busy rather than queueing without end.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import public
from audit.services import record
from blueprint import printing

log = logging.getLogger(__name__)
_slots = threading.BoundedSemaphore(int(getattr(settings, "PRINT_CONCURRENCY", 2)))
WAIT_SECONDS = 30


def _error(code: str, detail: str, status: int = 400, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=status)


@public
class Print(APIView):
    parser_classes = [JSONParser]

    @extend_schema(summary="打印：当前视图输出 PNG/PDF 地图 (print the view as PNG or PDF)",
                   description=printing.__doc__, request=OpenApiTypes.OBJECT,
                   responses={(200, "image/png"): OpenApiTypes.BINARY,
                              (200, "application/pdf"): OpenApiTypes.BINARY,
                              400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> HttpResponse | Response:
        try:
            spec = printing.parse(request, request.data)
        except printing.PrintError as exc:
            extra = {"parameter": exc.parameter} if exc.parameter else {}
            return _error(exc.code, str(exc), exc.status, **extra)
        if not _slots.acquire(timeout=WAIT_SECONDS):
            return _error("busy", "打印任务繁忙，请稍后再试 (printing is busy; try again shortly)",
                          503)
        try:
            started = time.perf_counter()
            result = printing.render(spec)
        finally:
            _slots.release()
        for code in spec.confidential:
            record("layers.confidential_read", request=request._request, obj=code,
                   detail={"via": "blueprint.print", "bbox": list(spec.bbox)})
        log.info("print %s %s %s dpi %s: %.2f s", spec.fmt, spec.paper, spec.orientation,
                 spec.dpi, time.perf_counter() - started)
        response = HttpResponse(result.content, content_type=result.content_type)
        response["Content-Disposition"] = (f"attachment; filename=\"{result.filename}\"; "
                                           f"filename*=UTF-8''{quote(result.filename)}")
        response["Cache-Control"] = "no-store"
        for name, value in result.headers.items():
            response[name] = value
        return response
