"""Recent errors for the operations page: a logging handler (ERROR records, with their
traceback, from django.request and everything else) and the 5xx responses the middleware
sees. One error is recorded once: whichever sees it first marks the request."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import traceback as tb

from django.http import HttpRequest

TRACEBACK_CHARS = 4000
MESSAGE_CHARS = 2000
_local = threading.local()  # busy: inside the handler; request: the request being served

# Secrets that libraries may put in log messages (OGC clients send tokens in query strings).
_SECRET_PARAM = re.compile(r"(?i)\b(token|access_token|api_key|apikey|password|passwd|secret)"
                           r"=([^&\s'\"]+)")
_BEARER = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+")
_API_TOKEN = re.compile(r"\bnx_([0-9a-f]{8})_[\w-]{20,}")


def scrub(text: str) -> str:
    text = _SECRET_PARAM.sub(r"\1=***", text)
    text = _BEARER.sub("Bearer ***", text)
    return _API_TOKEN.sub(r"nx_\1_***", text)


_budget_lock = threading.Lock()
_budget = {"minute": 0, "used": 0, "dropped": 0}


def _within_budget() -> bool:
    """At most OPS_ERROR_EVENTS_PER_MINUTE stored per process: an error storm must not turn
    into a write storm (the error-rate rule counts requests, not these records)."""
    from ops import conf

    minute = int(time.time() // 60)
    with _budget_lock:
        if _budget["minute"] != minute:
            _budget.update(minute=minute, used=0)
        if _budget["used"] >= int(conf.get("OPS_ERROR_EVENTS_PER_MINUTE")):
            _budget["dropped"] += 1
            return False
        _budget["used"] += 1
        return True


def set_current_request(request: HttpRequest | None) -> None:
    """The middleware names the request this thread serves, so that errors logged without
    one (MapProxy, libraries) are attached to it and recorded once."""
    _local.request = request


def _save(*, logger: str, level: str, message: str, request: HttpRequest | None,
          status_code: int | None, traceback: str) -> None:
    from django.db import connection, transaction

    from ops.models import ErrorEvent

    if connection.in_atomic_block and connection.needs_rollback:
        return  # the caller's transaction is already broken: nothing can be written
    if not _within_budget():
        return
    with transaction.atomic():  # a savepoint: a failure here never breaks the caller's
        event = ErrorEvent.objects.create(
            logger=logger[:100], level=level[:16], message=scrub(message)[:MESSAGE_CHARS],
            method=(request.method or "")[:10] if request is not None else "",
            # The path only: query strings may carry tokens.
            path=request.path[:300] if request is not None else "",
            status_code=status_code, traceback=scrub(traceback[-TRACEBACK_CHARS:]))
    if request is not None:
        request._ops_error_recorded = event.pk


class ErrorEventHandler(logging.Handler):
    """Stores ERROR (and worse) records as ErrorEvent. Never raises, never recurses."""

    def __init__(self, level: int = logging.ERROR):
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_local, "busy", False):
            return
        request = getattr(record, "request", None)
        if not isinstance(request, HttpRequest):
            request = getattr(_local, "request", None)
        if request is not None and getattr(request, "_ops_error_recorded", False):
            return
        _local.busy = True
        try:
            from django.apps import apps

            if not apps.ready:
                return
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record still counts
                message = str(record.msg)
            text = "".join(tb.format_exception(*record.exc_info)) if record.exc_info else ""
            status = getattr(record, "status_code", None)
            _save(logger=record.name, level=record.levelname, message=message,
                  request=request, status_code=status if isinstance(status, int) else None,
                  traceback=text)
        except Exception:  # noqa: BLE001 - logging must never fail the caller
            pass
        finally:
            _local.busy = False


def record_response(request: HttpRequest, status_code: int) -> None:
    """A 5xx response (called by the middleware): recorded unless an error logged while
    serving it was, which then gets the status code."""
    recorded = getattr(request, "_ops_error_recorded", None)
    # e.g. the database is down: the response still goes out
    with contextlib.suppress(Exception):
        if recorded:
            from ops.models import ErrorEvent

            ErrorEvent.objects.filter(pk=recorded, status_code__isnull=True) \
                .update(status_code=status_code)
            return
        _save(logger="ops.response", level="ERROR",
              message=f"HTTP {status_code}: {request.method} {request.path[:200]}",
              request=request, status_code=status_code, traceback="")


def install_handler() -> None:
    root = logging.getLogger()
    if not any(isinstance(h, ErrorEventHandler) for h in root.handlers):
        root.addHandler(ErrorEventHandler())
