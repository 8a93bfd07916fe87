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


class MapRateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._lock = threading.Lock()
        self._window = 0
        self._counts: dict[str, int] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MAP_RATE_LIMIT_PER_MINUTE
        if limit and request.path.startswith(MAP_PATHS) and \
                getattr(request, "api_token", None) is None:
            window = int(time.time() // 60)
            address = client_ip(request) or ""
            with self._lock:
                if window != self._window:
                    self._window, self._counts = window, {}
                count = self._counts[address] = self._counts.get(address, 0) + 1
            if count > limit:
                response = HttpResponse(
                    '<?xml version="1.0" encoding="UTF-8"?>\n<ows:ExceptionReport '
                    'xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0">'
                    '<ows:Exception exceptionCode="RateLimitExceeded"><ows:ExceptionText>'
                    "请求过于频繁，请稍后再试 (too many requests)</ows:ExceptionText>"
                    "</ows:Exception></ows:ExceptionReport>",
                    status=429, content_type="text/xml; charset=utf-8")
                response["Retry-After"] = str(60 - int(time.time()) % 60)
                return response
        return self.get_response(request)
