"""A request-rate limit per client address on the map services (/ows/, /tiles/, /ogcapi/).

Counted in each worker process (fixed one-minute windows): the limit per address is
MAP_RATE_LIMIT_PER_MINUTE per worker. API tokens have their own, shared limit (accounts).
It protects rendering capacity from a single runaway client; it is not an accounting tool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from accounts.network import client_ip

MAP_PATHS = ("/ows", "/tiles/", "/ogcapi")
COUNTED = "neixiang.map_rate_counted"  # environ key set by a fast path that counted a request


RATE_LIMITED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport '
    'xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
    '<ows:Exception exceptionCode="RateLimitExceeded"><ows:ExceptionText>'
    "请求过于频繁，请稍后再试 (too many requests)</ows:ExceptionText>"
    "</ows:Exception></ows:ExceptionReport>")


class _Counts:
    """Requests per address in the current minute, shared by the middleware and the WSGI
    fast paths (tiles/mvt_fast_path.py) of one process, so both count against one limit."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window = 0
        self.counts: dict[str, int] = {}
        self.clock: Callable[[], float] = time.time

    def add(self, address: str) -> int:
        window = int(self.clock() // 60)
        with self.lock:
            if window != self.window:
                self.window, self.counts = window, {}
            count = self.counts[address] = self.counts.get(address, 0) + 1
        return count


_counts = _Counts()


def over_limit(address: str) -> bool:
    """Count one map request of `address` (no API token); is it over the limit?"""
    limit = settings.MAP_RATE_LIMIT_PER_MINUTE
    return bool(limit) and _counts.add(address) > limit


def retry_after() -> str:
    return str(60 - int(time.time()) % 60)


def rate_limited_response() -> HttpResponse:
    """The OGC exception report a caller over the limit gets (429, with Retry-After)."""
    response = HttpResponse(RATE_LIMITED_BODY, status=429,
                            content_type="text/xml; charset=utf-8")
    response["Retry-After"] = retry_after()
    return response


class MapRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # COUNTED: a WSGI fast path (tiles/wms_fast_path.py) counted it, then passed it on.
        if request.path.startswith(MAP_PATHS) and getattr(request, "api_token", None) is None \
                and not request.META.get(COUNTED) and over_limit(client_ip(request) or ""):
            return rate_limited_response()
        return self.get_response(request)
