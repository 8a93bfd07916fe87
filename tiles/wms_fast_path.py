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

Those middleware decide the same for every request that looks the same to them (path,
scheme, host, user agent, cookies, Accept-Language: REQUEST_INPUTS) and gets the same
MapProxy answer apart from its body. So they run for the first request of each such shape,
and their verdict (answer here or not) and the headers they produced are kept and reused
for the next ones, with Content-Length computed for the body; a response that sets a cookie
(a renewed CSRF cookie) or is not a 200 is never reused. The memory is bounded and dropped
whenever a setting changes.
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
from django.core.signals import setting_changed
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
# All that the header middleware read of a request (besides the SECURE_PROXY_SSL_HEADER
# header, added from the settings): the path (SecurityMiddleware's exemptions, the locale in
# the path, the CSP's admin and excluded prefixes), the scheme (HSTS, SSL redirect), the host
# (ALLOWED_HOSTS, PREPEND_WWW), the user agent (DISALLOWED_USER_AGENTS), the cookies
# (language, CSRF) and Accept-Language. Two requests alike in these get the same headers.
REQUEST_INPUTS = ("PATH_INFO", "SCRIPT_NAME", "SCRIPT_URL", "REDIRECT_URL", "wsgi.url_scheme",
                  "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_HOST",
                  "HTTP_X_FORWARDED_PORT", "HTTP_USER_AGENT", "HTTP_COOKIE",
                  "HTTP_ACCEPT_LANGUAGE")
MEMORY_SIZE = 512  # request shapes kept; more are possible (cookies differ per browser)
ANSWER_SHAPES = 8  # MapProxy answer shapes kept per request shape (formats; headers fixed)
DECLINE = "decline"  # the middleware answer such requests (redirect, 400, 403): full path
# (status line, headers with None where Content-Length goes) per MapProxy answer shape
Templates = dict[tuple[Any, ...], tuple[str, list[tuple[str, str | None]]]]


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
        # request shape -> DECLINE, or the header templates of its MapProxy answers
        self._memory: dict[tuple[str | None, ...], str | Templates] = {}
        self._inputs = REQUEST_INPUTS
        setting_changed.connect(self._forget)  # weakly: the instance may go away

    def _forget(self, **kwargs: Any) -> None:
        """A setting changed (tests): the middleware and what they decided are stale."""
        self._header_mw = None
        self._memory = {}
        self._inputs = REQUEST_INPUTS

    def _middleware(self) -> list[Any]:
        if self._header_mw is None:
            proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
            self._inputs = REQUEST_INPUTS + ((proxy[0],) if proxy else ())
            self._header_mw = [import_string(path)(_unused) for path in settings.MIDDLEWARE
                               if path in HEADER_MIDDLEWARE]
        return self._header_mw

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        params = wms_params(environ) if enabled() else None
        if params is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        answer = answer_or_none(type(self), environ, lambda: self._answer(environ, params))
        if answer is None:
            return self.app(environ, start_response)
        status, headers, body = answer
        count_request(environ, int(status[:3]), started)
        start_response(status, headers)
        return [body]

    def _answer(self, environ: dict[str, Any], params: dict[str, str]
                ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        from tiles.ows import as_response, wsgi_result
        from tiles.services import mapproxy_service

        try:
            check_wms(params)
        except OgcError:
            return None  # the full path words the exception report
        names = [n for key in ("LAYERS", "LAYER", "QUERY_LAYERS")
                 for n in params.get(key, "").split(",") if n]
        middleware = self._middleware()
        shape = tuple(environ.get(key) for key in self._inputs)
        templates = self._memory.get(shape)
        request = None
        if templates is None:  # a new shape of request: the middleware decide
            request = self._request(environ, middleware)
            templates = self._remember(shape, DECLINE if request is None else {})
        if not isinstance(templates, dict):  # DECLINE
            return None
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
        answer_shape = None  # what MapProxy answered, but for the body (a template's key)
        if ratelimit.over_limit(client_ip(ClientMeta(environ)) or ""):  # type: ignore[arg-type]
            response = ratelimit.rate_limited_response()
        else:
            mp_environ = dict(environ)
            mp_environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + "/ows"
            mp_environ["PATH_INFO"] = PATHS[environ["PATH_INFO"]]
            result = wsgi_result(app, mp_environ)
            status, content_type, _, content = result
            if status != 200 or not (content_type or "").startswith("image/"):
                return None  # MapProxy's error report: the full path rewrites it
            answer_shape = result[:3]
            template = templates.get(answer_shape)
            if template is not None:  # the headers this shape of request and answer got
                length = str(len(content))
                return template[0], [(name, length if value is None else value)
                                     for name, value in template[1]], content
            response = as_response(*result)
        if request is None:
            request = self._request(environ, middleware)
            if request is None:  # they let this shape pass before; should they not now,
                return None  # the full path answers
        response = self._with_headers(request, response, middleware)
        headers = [*response.items(),
                   *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        status_line = f"{response.status_code} {response.reason_phrase}"
        if answer_shape is not None and response.status_code == 200 and not response.cookies \
                and len(templates) < ANSWER_SHAPES:  # never grow with varying headers
            length = str(len(response.content))
            templates[answer_shape] = (status_line, [
                (name, None if name == "Content-Length" and value == length else value)
                for name, value in headers])
        return status_line, headers, response.content

    def _remember(self, shape: tuple[str | None, ...], what: str | Templates
                  ) -> str | Templates:
        if len(self._memory) >= MEMORY_SIZE:
            self._memory = {}  # many browsers' cookies: start again rather than grow
        self._memory[shape] = what
        return what

    @staticmethod
    def _request(environ: dict[str, Any], middleware: list[Any]) -> WSGIRequest | None:
        """The request after the middleware's request phase, or None if one of them answers
        it (the full path then does)."""
        request = WSGIRequest(environ)
        try:
            for mw in middleware:
                # Allowed host, security redirects, disallowed agents, language, CSRF cookie.
                if hasattr(mw, "process_request") and mw.process_request(request) is not None:
                    return None
        except (SuspiciousOperation, PermissionDenied):
            return None  # the full path answers (400/403) and logs it
        return request

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
