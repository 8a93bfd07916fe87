"""Request-level security: API tokens, idle timeout, password expiry, CSP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import tokens
from accounts.models import SecurityPolicy

TOKEN_HEADER = "HTTP_AUTHORIZATION"
# OGC clients (QGIS, GDAL, ArcGIS) cannot always set headers; map-service GETs may carry
# the token as a query parameter instead.
TOKEN_QUERY_PATHS = ("/ows/", "/tiles/", "/ogcapi/")


def _presented_token(request: HttpRequest) -> str | None:
    auth = request.META.get(TOKEN_HEADER, "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if request.META.get("HTTP_X_API_TOKEN"):
        return request.META["HTTP_X_API_TOKEN"].strip()
    if request.method == "GET" and request.path.startswith(TOKEN_QUERY_PATHS):
        return request.GET.get("token") or request.GET.get("TOKEN")
    return None


class ApiTokenMiddleware:
    """Authenticates external systems by token on every path. A bad token is refused
    outright (401), never silently treated as anonymous."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.api_token = None
        secret = _presented_token(request)
        if secret:
            from audit.services import record

            try:
                token = tokens.authenticate(secret)
            except tokens.TokenError as exc:
                record("auth.token_refused", request=request,
                       obj=secret.split("_", 2)[1] if secret.count("_") >= 2 else "",
                       result="denied",
                       detail={"reason": exc.code})
                response = JsonResponse({"error": exc.code, "detail": exc.detail}, status=401)
                response["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
                return response
            if tokens.over_rate_limit(token):
                record("auth.rate_limited", request=request, obj=token.prefix, result="denied")
                response = JsonResponse({"error": "rate_limited",
                                         "detail": "请求过于频繁 (rate limit exceeded)"},
                                        status=429)
                response["Retry-After"] = "60"
                return response
            request.api_token = token
            request.user = token.account
            request._dont_enforce_csrf_checks = True  # not cookie-authenticated
        return self.get_response(request)


TOUCHED_KEY = "_touched_at"


class SessionPolicyMiddleware:
    """Idle timeout (sliding session expiry) and forced password change.

    The expiry slides by saving the session, at most once per SESSION_TOUCH_SECONDS: a map
    view makes a hundred tile requests, and saving the session on each (an UPDATE and a
    COMMIT) dominated their cost. The idle timeout is therefore exact to within that
    interval.
    """

    EXEMPT = ("/accounts/password/", "/accounts/logout/", "/accounts/login/", "/static/",
              "/healthz", "/readyz", "/metrics")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    @staticmethod
    def touch(session: Any, idle_seconds: int) -> None:
        now = int(time.time())
        last = session.get(TOUCHED_KEY)
        stale = not isinstance(last, int) or now - last >= settings.SESSION_TOUCH_SECONDS
        if stale or session.get("_session_expiry") != idle_seconds:
            session.set_expiry(idle_seconds)
            session[TOUCHED_KEY] = now

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.api_token is None:
            policy = SecurityPolicy.current()
            self.touch(request.session, policy.idle_timeout_minutes * 60)
            if user.password_expired(policy.password_max_age_days) and \
                    not request.path.startswith(self.EXEMPT):
                if request.path.startswith("/api/"):
                    return JsonResponse({"error": "password_expired",
                                         "detail": "密码已过期，请先修改密码 (password expired)"},
                                        status=403)
                return redirect(f"{reverse('password-change')}?next={request.path}")
        return self.get_response(request)


class BlueprintCSPMiddleware(CSPMiddleware):
    """The strict policy everywhere, except GeoDjango's admin map widget, whose template
    is an inline script."""

    def get_policy_parts(self, request: HttpRequest, response: HttpResponse,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path.startswith("/admin/"):
            parts.update = {**(parts.update or {}), "script-src": ["'self'", "'unsafe-inline'"]}
        return parts
