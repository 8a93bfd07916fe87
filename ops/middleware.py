"""Counts every request (Prometheus metrics by service group and status class, per-minute
tallies for the error-rate rule), records 5xx responses as errors, and starts the alert
scheduler on the first request. Placed first in MIDDLEWARE so it times the whole stack."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ops import errors, metrics, scheduler, tally


class OpsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scheduler.ensure_started()
        start = time.perf_counter()
        status = 500
        errors.set_current_request(request)
        try:
            response = self.get_response(request)
            status = response.status_code
            if status >= 500:
                errors.record_response(request, status)
        finally:
            errors.set_current_request(None)
            metrics.observe_request(request.path_info, status, time.perf_counter() - start)
            tally.count(status >= 500)
        return response
