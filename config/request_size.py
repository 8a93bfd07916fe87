"""Refuses a request body larger than any endpoint accepts, before a byte of it is read.

The import, boundary-file and document endpoints check their own limits
(IMPORT_MAX_UPLOAD_BYTES, DOCUMENT_MAX_BYTES), but only once Django has parsed the whole
upload and spooled it to disk. A client announcing a larger body (Content-Length) is told
413 at once instead: no temporary file, no multipart parsing, no view. (The server may still
drain the bytes the client insists on sending; in production nginx's client_max_body_size,
deploy/nginx.conf, refuses them before the transfer.)
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

MULTIPART_ALLOWANCE = 1024 * 1024  # form fields and multipart framing around the file


def body_limit() -> int:
    configured = getattr(settings, "REQUEST_BODY_MAX_BYTES", None)
    if configured:
        return int(configured)
    return max(settings.IMPORT_MAX_UPLOAD_BYTES, settings.DOCUMENT_MAX_BYTES) \
        + MULTIPART_ALLOWANCE


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return JsonResponse({"error": "invalid_length",
                                 "detail": "Content-Length 无效 (invalid Content-Length)"},
                                status=400)
        limit = body_limit()
        if length > limit:
            response = JsonResponse(
                {"error": "too_large", "limit_bytes": limit,
                 "detail": f"请求体 {length} 字节，超过上限 {limit} 字节 "
                           f"(request body of {length} bytes exceeds the limit of {limit})"},
                status=413)
            return response
        return self.get_response(request)
