"""WMS GetMap of public layers for callers without credentials, before the Django stack.

An uncached GetMap renders in Mapnik in a few milliseconds; the Django request stack in front
of it (sessions, locale, CSRF, auth, tokens, audit, axes, CSP, URL resolution) added a third
again. This WSGI middleware (config/wsgi.py) hands such a request straight to the embedded
MapProxy application of the public access level — the one the full path would pick for an
anonymous caller — when all of these hold:

- `GET` on `/ows`, `/ows/`, `/ows/wms` or `/ows/service` with `SERVICE=WMS&REQUEST=GetMap`,
  each parameter given once;
- no credentials and no session: no `Authorization` or `X-Api-Token` header, no `token`
  parameter, no session cookie (a signed-in user's request goes through Django, which slides
  the idle timeout, applies the password policy and answers with the session's cookie);
- `tiles.ogc_errors.check_wms` accepts the request (the BBOX, WMS_MAX_SIZE, version checks)
  and every layer it names is a published layer of the public service (checked against the
  current service generation on every request, as the view does: never stale);
- the host is allowed and no security redirect applies (Django's own middleware decides).

The answer is kept only if MapProxy returns an image with 200. Everything else — other
operations, malformed requests, internal, confidential or unknown layers, credentials,
MapProxy's error reports, any exception — falls through to the full path unchanged, which
words the OGC exception report, checks access and audits.

What the full path does for these requests is kept: the map rate limit (the one counter of
tiles/ratelimit.py), the request metrics and per-minute tallies of ops/middleware.py,
Django's request_started / request_finished signals (connection age and health), and the
response headers, which Django's own middleware classes add (security, locale, common,
clickjacking, CSP; `Vary: Cookie` as the session middleware does). `WMS_FAST_PATH=false` in
the settings sends every request through Django.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string

from accounts.network import client_ip
from tiles import ratelimit
from tiles.before_django import (
    ClientMeta,
    answer_or_none,
    carries_token,
    count_request,
    has_session,
)
from tiles.ogc_errors import OgcError, check_wms

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Address -> the PATH_INFO MapProxy is given, as tiles.ows.ows maps it.
PATHS = {"/ows": "/service", "/ows/": "/service", "/ows/service": "/service",
         "/ows/ows": "/service", "/ows/wms": "/wms"}
LEVELS = ("public",)
MAX_PARAMS = 40  # a GetMap has about 12; more go to Django and its field limit
# Header-only middleware of settings.MIDDLEWARE, in its order: the full path's headers come
# from the same classes. The others add nothing to a GetMap answered to a caller without
# credentials and session (tokens, audit, axes, messages, whitenoise) or are done here (ops
# metrics, rate limit, the session's Vary). CSRF only renews a malformed csrftoken cookie.
HEADER_MIDDLEWARE = ("django.middleware.security.SecurityMiddleware",
                     "django.middleware.locale.LocaleMiddleware",
                     "django.middleware.common.CommonMiddleware",
                     "django.middleware.csrf.CsrfViewMiddleware",
                     "django.middleware.clickjacking.XFrameOptionsMiddleware",
                     "accounts.middleware.BlueprintCSPMiddleware")
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def enabled() -> bool:
    return bool(getattr(settings, "WMS_FAST_PATH", True))


def _unused(request: Any) -> HttpResponse:  # header middleware are never asked to respond
    raise AssertionError("not called")


def wms_params(environ: dict[str, Any]) -> dict[str, str] | None:
    """The upper-cased parameters of an eligible GetMap without credentials, else None.

    The query is read as Django reads request.GET (UTF-8 with replacement, blanks kept), so
    check_wms and the layer names see exactly what the view would see."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") not in PATHS:
        return None
    if carries_token(environ) or has_session(environ):
        return None
    raw = environ.get("QUERY_STRING", "")
    query = raw.encode("iso-8859-1", "replace").decode("utf-8", "replace")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_PARAMS)
    except ValueError:  # too many parameters: Django's field limit decides
        return None
    params = {key.upper(): value for key, value in pairs}
    if len(params) != len(pairs) or "TOKEN" in params:
        return None  # a repeated parameter (which one wins?) or a token: Django decides
    if params.get("SERVICE", "").upper() != "WMS" or params.get("REQUEST", "").lower() != \
            "getmap":
        return None
    return params


class WmsFastPath:
    def __init__(self, app: WSGIApp):
        self.app = app
        self._header_mw: list[Any] | None = None

    def _middleware(self) -> list[Any]:
        if self._header_mw is None:
            self._header_mw = [import_string(path)(_unused) for path in settings.MIDDLEWARE
                               if path in HEADER_MIDDLEWARE]
        return self._header_mw

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        params = wms_params(environ) if enabled() else None
        if params is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        response = answer_or_none(type(self), environ, lambda: self._answer(environ, params))
        if response is None:
            return self.app(environ, start_response)
        count_request(environ, response.status_code, started)
        headers = [*response.items(),
                   *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [response.content]

    def _answer(self, environ: dict[str, Any], params: dict[str, str]) -> HttpResponse | None:
        from tiles.ows import _call_wsgi
        from tiles.services import mapproxy_service

        try:
            check_wms(params)
        except OgcError:
            return None  # the full path words the exception report
        names = [n for key in ("LAYERS", "LAYER", "QUERY_LAYERS")
                 for n in params.get(key, "").split(",") if n]
        request = WSGIRequest(environ)
        middleware = self._middleware()
        try:
            for mw in middleware:
                # Allowed host, security redirects, disallowed agents, language, CSRF cookie.
                if hasattr(mw, "process_request") and mw.process_request(request) is not None:
                    return None
        except (SuspiciousOperation, PermissionDenied):
            return None  # the full path answers (400/403) and logs it
        # No health check ("SELECT 1") of the persistent connection before the generation
        # query: if the connection has died, that query fails and answer_or_none closes it
        # and hands the request to the full stack, which reconnects. One round trip less.
        connection.health_check_done = True
        app, public = mapproxy_service(LEVELS)
        if not names or not public.issuperset(names):
            return None  # not (only) public published layers: the view checks access
        # Counted here, once: a request that falls through after this is not counted again
        # by the middleware (the COUNTED mark).
        environ[ratelimit.COUNTED] = True
        if ratelimit.over_limit(client_ip(ClientMeta(environ)) or ""):  # type: ignore[arg-type]
            response = ratelimit.rate_limited_response()
        else:
            mp_environ = dict(environ)
            mp_environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + "/ows"
            mp_environ["PATH_INFO"] = PATHS[environ["PATH_INFO"]]
            response = _call_wsgi(app, mp_environ)
            if response.status_code != 200 or not response.get("Content-Type", "").startswith(
                    "image/"):
                return None  # MapProxy's error report: the full path rewrites it
        return self._with_headers(request, response, middleware)

    @staticmethod
    def _with_headers(request: WSGIRequest, response: HttpResponse, middleware: list[Any]
                      ) -> HttpResponse:
        """The headers of the full path, in its (reverse) order of response middleware."""
        for mw in reversed(middleware):
            if mw.__class__.__module__ == "django.middleware.locale":
                response = mw.process_response(request, response)
                if SESSION_MIDDLEWARE in settings.MIDDLEWARE:
                    # The full path always reads the (here absent) session for request.user.
                    patch_vary_headers(response, ("Cookie",))
            elif hasattr(mw, "process_response"):
                response = mw.process_response(request, response)
        return response
