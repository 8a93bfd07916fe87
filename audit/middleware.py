"""Request-level audit.

- Every request authenticated by an API token (an external system) leaves an "api.access"
  record: object = path, result from the status code.
- Every state-changing request (POST/PUT/PATCH/DELETE) of a signed-in user that no view
  recorded leaves "admin.change" (admin site) or "request.write" (elsewhere). Views that
  record explicitly (`audit.services.record(request=...)`) mark the request, so there is no
  second, generic record.
- Django admin changes are recorded from their LogEntry (audit/signals.py) with before and
  after; bulk actions, which write their LogEntries without signals, are swept up here.

Static files, /healthz, /readyz and /metrics are not audited.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone

from audit.services import RECORDED_ATTR, record

logger = logging.getLogger(__name__)

SKIP_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "key", "tk", "password"})


@dataclass
class RequestAudit:
    """What the audit keeps about the request being handled (see `current()`)."""

    request: HttpRequest
    admin_write: bool
    started: dt.datetime
    before: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    logged_entries: set[int] = field(default_factory=set)


_current: ContextVar[RequestAudit | None] = ContextVar("audit_request", default=None)


def current() -> RequestAudit | None:
    return _current.get()


def result_for(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status < 500:
        return "failure"
    return "error"


def safe_query(request: HttpRequest, limit: int = 500) -> str:
    """The query string without secrets (OGC clients may pass the token as a parameter)."""
    raw = request.META.get("QUERY_STRING", "")
    if not raw:
        return ""
    query = QueryDict(raw, mutable=True)
    for name in list(query):
        if name.lower() in SECRET_PARAMS:
            query.setlist(name, ["***"])
    return query.urlencode(safe="*,:/")[:limit]


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path.startswith(SKIP_PREFIXES):
            return self.get_response(request)
        state = RequestAudit(request=request, started=timezone.now(),
                             admin_write=request.method in WRITE_METHODS
                             and path.startswith("/admin/"))
        token = _current.set(state)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        try:
            self.after(request, response, state)
        except Exception:  # the response stands; operations see the log
            logger.exception("audit record for %s %s failed", request.method, path)
        return response

    def after(self, request: HttpRequest, response: HttpResponse, state: RequestAudit) -> None:
        status = response.status_code
        api_token = getattr(request, "api_token", None)
        if api_token is not None:
            record("api.access", request=request, obj=request.path, result=result_for(status),
                   detail={"status": status, "token": api_token.prefix,
                           "query": safe_query(request)})
            return
        if request.method not in WRITE_METHODS:
            return
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        if state.admin_write:
            from audit.signals import sweep_admin_log

            sweep_admin_log(state, user)
        if not getattr(request, RECORDED_ATTR, False):
            event = "admin.change" if request.path.startswith("/admin/") else "request.write"
            record(event, request=request, obj=request.path, result=result_for(status),
                   detail={"status": status})
