"""django-axes hooks: limits from the security policy, and a clear lockout answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.models import SecurityPolicy


def failure_limit(request: HttpRequest | None = None, credentials: Any = None) -> int:
    return SecurityPolicy.current().lockout_failures


def cooloff_time(request: HttpRequest | None = None) -> dt.timedelta:
    return dt.timedelta(minutes=SecurityPolicy.current().lockout_minutes)


def lockout_response(request: HttpRequest, response: Any = None, credentials: Any = None,
                     *args: Any, **kwargs: Any) -> HttpResponse:
    from audit.services import record

    username = (credentials or {}).get("username", "") if isinstance(credentials, dict) else ""
    record("auth.locked_out", request=request, obj=username, result="denied")
    minutes = SecurityPolicy.current().lockout_minutes
    if request.path.startswith("/api/") or "json" in request.META.get("HTTP_ACCEPT", ""):
        return JsonResponse({"error": "locked_out",
                             "detail": f"登录失败次数过多，已锁定 {minutes} 分钟 "
                                       "(too many failed sign-ins: locked)"}, status=429)
    return render(request, "accounts/locked_out.html", {"minutes": minutes}, status=429)
