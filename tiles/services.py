"""The embedded MapProxy applications, one per access-level set, kept current.

Each worker keeps its applications and compares the service generation (one indexed row)
on every request; when something published changed, the configuration is regenerated and
the application rebuilt before this request is answered.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from django.db import connection

from tiles.models import current_generation

log = logging.getLogger(__name__)
_lock = threading.Lock()
_GENERATION = b"tiles_generation"  # the statement's name on each connection
_GENERATION_SQL = b"SELECT generation FROM tiles_servicestate WHERE id = 1"
_prepared: weakref.WeakSet[Any] = weakref.WeakSet()  # connections holding the statement
# levels -> (generation, MapProxy application, codes of the published layers it serves)
_apps: dict[tuple[str, ...], tuple[int, Any, frozenset[str]]] = {}


def mapproxy_app(levels: tuple[str, ...]) -> Any:
    return mapproxy_service(levels)[0]


def mapproxy_service(levels: tuple[str, ...]) -> tuple[Any, frozenset[str]]:
    """The current application for these levels and the layer codes it publishes (the WMS
    fast path serves a request only if every layer it names is among them)."""
    generation = service_generation()
    cached = _apps.get(levels)
    if cached and cached[0] == generation:
        return cached[1], cached[2]
    with _lock:
        cached = _apps.get(levels)
        if cached and cached[0] == generation:
            return cached[1], cached[2]
        import yaml
        from mapproxy.wsgiapp import make_wsgi_app

        from tiles import mapnik_compat  # noqa: F401 - patches MapProxy before it loads
        from tiles.mapproxy_conf import write_config

        path = write_config(levels, generation)
        # Read back from the file MapProxy loads, so the codes match its layers exactly.
        conf = yaml.safe_load(path.read_text(encoding="utf-8"))
        codes = frozenset(layer["name"] for layer in conf["layers"]
                          if layer["sources"] != ["empty_src"])
        if levels == ("public",):
            from tiles.public_links import refresh_public_links

            refresh_public_links()
        app = make_wsgi_app(str(path), ignore_config_warnings=False)
        _apps[levels] = (generation, app, codes)
        log.info("MapProxy configuration %s loaded", path.name)
        return app, codes


def service_generation() -> int:
    """tiles.models.current_generation, read on every request as it is (never stale) but
    through a statement prepared once per connection and libpq directly: about a fifth of
    the client and server CPU of a query through Django's cursor and psycopg's Python
    layers, which every map request paid."""
    # What connection.cursor() does first: the health check (skipped by the WMS fast
    # path), connecting; errors come out as Django's, and mark the connection for closing.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    conn = connection.connection
    if getattr(conn, "pgconn", None) is None:  # not psycopg 3
        return current_generation()
    from psycopg import pq

    with connection.wrap_database_errors:
        result = _run_generation(conn)
        if result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000":
            _prepared.discard(conn)  # the session was reset (DISCARD ALL): prepare again
            result = _run_generation(conn)
        _check(result, pq.ExecStatus.TUPLES_OK)
    value = result.get_value(0, 0) if result.ntuples else None
    return current_generation() if value is None else int(value)  # no row yet: created


def _run_generation(conn: Any) -> Any:
    from psycopg import pq

    if conn not in _prepared:
        _check(conn.pgconn.prepare(_GENERATION, _GENERATION_SQL), pq.ExecStatus.COMMAND_OK)
        _prepared.add(conn)
    return conn.pgconn.exec_prepared(_GENERATION, [])


def _check(result: Any, status: Any) -> None:
    import psycopg

    if result.status != status:  # answer_or_none / the caller handle psycopg errors
        raise psycopg.DatabaseError(result.get_error_message())


def ready_check() -> bool:
    """Readiness: the public map service configuration builds and MapProxy answers its
    capabilities (cheap once built: the application is kept)."""
    from io import BytesIO

    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/ows", "PATH_INFO": "/service",
               "QUERY_STRING": "SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": BytesIO(), "HTTP_HOST": "localhost"}
    body = mapproxy_app(("public",))(environ, lambda s, h, e=None: status.append(s))
    content = b"".join(body)
    return status[0].startswith("200") and b"WMS_Capabilities" in content
