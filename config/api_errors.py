"""One error shape for the whole REST API: {"error": code, "detail": text, "problems": [...]}.

Integrators get a machine-readable reason on every 4xx, never an HTML page.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# DRF's codes, renamed to what integrators see in every other refusal of ours.
PUBLIC_CODES = {"permission_denied": "forbidden"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(data, dict) and "error" in data:
        return response
    if isinstance(data, dict) and set(data) == {"detail"}:
        error = getattr(data["detail"], "code", code)
        response.data = {"error": PUBLIC_CODES.get(error, error), "detail": data["detail"]}
    else:
        response.data = {"error": "invalid", "detail": "请求参数无效 (invalid request)",
                         "fields": data}
    return response
