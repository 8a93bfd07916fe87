"""Calling a WSGI application in-process, as gunicorn would, for the fast-path tests."""

from __future__ import annotations

from typing import Any

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from werkzeug.test import EnvironBuilder


def call_wsgi(app: Any, path: str, *, query: str | None = None, method: str = "GET",
              address: str = "127.0.0.1", **headers: str
              ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; a `?` in `path` starts the query string."""
    if query is None and "?" in path:
        path, query = path.split("?", 1)
    environ = EnvironBuilder(path=path, method=method, query_string=query, headers=headers,
                             environ_base={"REMOTE_ADDR": address}).get_environ()
    seen: dict[str, Any] = {}

    def start_response(status: str, hdrs: list, exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(hdrs)

    # As Django's test client does: the handler must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = app(environ, start_response)
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return seen["status"], seen["headers"], data
