"""Readiness (`/readyz`): database, PostGIS, tile cache folder, map services.

Other apps add checks for their services:

    from ops import readiness
    readiness.register("wms", lambda: mapproxy_app_is_loaded())

A check returns True/None when ready and False when not, or raises; it must be fast (no
network round trips: /readyz answers in well under 50 ms). Results name the check and say
ok/fail only: no paths, addresses or error texts leave the server (they go to the log).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops import conf

log = logging.getLogger(__name__)

OK, FAIL, SKIPPED, NOT_CONFIGURED = "ok", "fail", "skipped", "not configured"

_checks: dict[str, Callable[[], Any]] = {}
_lock = threading.Lock()


def register(name: str, check: Callable[[], Any]) -> None:
    """Add (or replace) a map-service readiness check."""
    with _lock:
        _checks[name] = check


def unregister(name: str) -> None:
    with _lock:
        _checks.pop(name, None)


def registered() -> dict[str, Callable[[], Any]]:
    with _lock:
        return dict(_checks)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, round((time.perf_counter() - start) * 1000, 2)


def check_database() -> dict[str, Any]:
    from django.db import connection

    def probe() -> str | None:
        with connection.cursor() as cur:
            cur.execute("select 1")
            cur.execute("select extversion from pg_extension where extname = 'postgis'")
            row = cur.fetchone()
        return row[0] if row else None

    try:
        postgis, ms = _timed(probe)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.warning("readyz: database unavailable: %s", exc)
        return {"database": {"status": FAIL, "detail": "unreachable"},
                "postgis": {"status": SKIPPED}}
    return {"database": {"status": OK, "ms": ms},
            "postgis": {"status": OK} if postgis else {"status": FAIL,
                                                        "detail": "not installed"}}


def check_tile_cache(path: Path | None = None) -> dict[str, Any]:
    folder = Path(path or conf.get("TILE_CACHE_DIR"))

    def probe() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".readyz-", dir=folder)
        os.close(fd)
        os.unlink(name)

    try:
        _, ms = _timed(probe)
    except OSError as exc:
        log.warning("readyz: tile cache folder %s not writable: %s", folder, exc)
        return {"status": FAIL, "detail": "not writable"}
    return {"status": OK, "ms": ms}


def check_map_services() -> dict[str, Any]:
    checks = registered()
    if not checks:
        return {"status": NOT_CONFIGURED}
    services: dict[str, str] = {}
    for name, check in sorted(checks.items()):
        try:
            ok = check() is not False
        except Exception:  # a raising check is a failing check
            log.warning("readyz: map service check %s raised", name, exc_info=True)
            ok = False
        services[name] = OK if ok else FAIL
    status = OK if all(v == OK for v in services.values()) else FAIL
    return {"status": status, "services": services}


def run() -> dict[str, Any]:
    """All checks; `failed` names the failing ones (a map service as map_services.<name>)."""
    checks = {**check_database(), "tile_cache": check_tile_cache(),
              "map_services": check_map_services()}
    failed = [name for name, c in checks.items() if c["status"] == FAIL and name !=
              "map_services"]
    failed += [f"map_services.{n}" for n, s in checks["map_services"].get("services",
                                                                          {}).items()
               if s == FAIL]
    return {"status": "unavailable" if failed else "ok", "failed": failed, "checks": checks}
