"""Vector tiles of public layers for callers without credentials, served before Django.

A tile is a few hundred microseconds of work once cached, and the Django middleware stack
(sessions, CSRF, auth, tokens, audit, axes, CSP...) cost several times that per request and,
on two loaded cores, most of the p99. This WSGI middleware (config/wsgi.py) answers
`GET|HEAD /tiles/{layer}/{z}/{x}/{y}.mvt` itself when all of these hold:

- the request carries no credentials: no `Authorization` or `X-Api-Token` header, no `token`
  parameter, no session cookie (a signed-in user's request goes through Django, which slides
  the idle timeout and applies the password policy);
- the address is a valid tile of the matrix, and the layer is public with a published
  version (one indexed query, `mvt.lookup`, on every request, as in the view: never stale).

Everything else (other layers, bad addresses, unknown layers, errors, any database trouble)
falls through to the Django view unchanged, which gives the answers and the access checks.

What the view does is kept: the same `mvt_views.tile_reply` (cache, rendering, gzip
negotiation, ETag/304, Cache-Control, CORS), the map rate limit (one counter per process,
shared with `tiles.ratelimit.MapRateLimitMiddleware`), the request metrics and per-minute
tallies of ops/middleware.py, the tile cache hit/miss counter, Django's request_started /
request_finished signals (connection age and health), and the response headers the security
middleware adds (nosniff, Referrer-Policy, COOP, X-Frame-Options). `MVT_FAST_PATH=off`
sends every request through Django.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from accounts.network import client_ip
from layers.models import Layer
from tiles import mvt, ratelimit
from tiles.before_django import (
    ClientMeta,
    answer_or_none,
    carries_token,
    count_request,
    has_session,
)
from tiles.mvt_views import gzip_accepted, tile_reply

log = logging.getLogger(__name__)

TILE_PATH = re.compile(r"^/tiles/(?P<layer>[A-Za-z][A-Za-z0-9_]{0,39})/(?P<z>[0-9]{1,2})/"
                       r"(?P<x>[0-9]{1,8})/(?P<y>[0-9]{1,8})\.mvt$")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified", 429: "429 Too Many Requests"}


def enabled() -> bool:
    return bool(getattr(settings, "MVT_FAST_PATH", True))


def security_headers() -> list[tuple[str, str]]:
    """The static headers django.middleware.security and clickjacking add to a tile."""
    out = []
    if getattr(settings, "SECURE_CONTENT_TYPE_NOSNIFF", True):
        out.append(("X-Content-Type-Options", "nosniff"))
    if getattr(settings, "SECURE_REFERRER_POLICY", None):
        out.append(("Referrer-Policy", str(settings.SECURE_REFERRER_POLICY)))
    if getattr(settings, "SECURE_CROSS_ORIGIN_OPENER_POLICY", None):
        out.append(("Cross-Origin-Opener-Policy",
                    str(settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)))
    out.append(("X-Frame-Options", str(getattr(settings, "X_FRAME_OPTIONS", "DENY"))))
    return out


class MvtFastPath:
    def __init__(self, app: WSGIApp):
        self.app = app

    @staticmethod
    def eligible(environ: dict[str, Any]) -> re.Match[str] | None:
        """The path match of a request this path may answer, else None."""
        path = environ.get("PATH_INFO", "")
        if not path.endswith(".mvt") or environ.get("REQUEST_METHOD", "GET") not in (
                "GET", "HEAD") or not enabled():
            return None
        if carries_token(environ) or has_session(environ):
            return None
        return TILE_PATH.match(path)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        match = self.eligible(environ)
        if match is None:
            return self.app(environ, start_response)
        started = time.perf_counter()
        answer = answer_or_none(type(self), environ, lambda: self._answer(environ, match))
        if answer is None:
            return self.app(environ, start_response)
        status, headers, body = answer
        count_request(environ, status, started)
        start_response(STATUS_LINES[status], headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def _answer(self, environ: dict[str, Any], match: re.Match[str]
                ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        try:
            z, x, y = mvt.parse_tile(match["z"], match["x"], match["y"])
        except mvt.TileError:  # the view words the error
            return None
        level, target = mvt.lookup(match["layer"])
        if target is None or level != Layer.Access.PUBLIC:
            return None  # unknown, unpublished or not public: the view decides
        # Counted here only for requests this path answers (the others are counted by the
        # middleware); marked, so a failure passed on to the view is not counted twice.
        environ[ratelimit.COUNTED] = True
        if ratelimit.over_limit(client_ip(ClientMeta(environ)) or ""):  # type: ignore[arg-type]
            body = ratelimit.RATE_LIMITED_BODY.encode()
            return 429, [("Content-Type", "text/xml; charset=utf-8"),
                         ("Content-Length", str(len(body))),
                         ("Retry-After", ratelimit.retry_after()), *security_headers()], body
        reply = tile_reply(target, z, x, y,
                           gzip_ok=gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")),
                           if_none_match=environ.get("HTTP_IF_NONE_MATCH", ""))
        headers = [*reply.headers, *security_headers()]
        if reply.status == 200:
            headers += [("Content-Type", mvt.CONTENT_TYPE),
                        ("Content-Length", str(len(reply.body)))]
        return reply.status, headers, reply.body
