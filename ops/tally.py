"""Requests and server errors per minute, counted in each process and added to the database
every few seconds (RequestTally), so that the error-rate rule sees every worker and host
without a database write per request."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pending: dict[int, list[int]] = {}  # minute (epoch seconds) -> [requests, server errors]
_KEEP_MINUTES = 60  # while the database is away, older unflushed minutes are dropped


def count(server_error: bool, when: float | None = None) -> None:
    minute = int((time.time() if when is None else when) // 60 * 60)
    with _lock:
        bucket = _pending.setdefault(minute, [0, 0])
        bucket[0] += 1
        bucket[1] += int(server_error)


def pending() -> dict[int, list[int]]:
    with _lock:
        return {k: list(v) for k, v in _pending.items()}


def flush() -> int:
    """Add this process's counts to the database; returns the minutes written. Counts are
    kept for the next try if the database is unavailable."""
    global _pending
    with _lock:
        items, _pending = _pending, {}
    if not items:
        return 0
    from django.db import connection, transaction

    from ops.models import RequestTally

    table = connection.ops.quote_name(RequestTally._meta.db_table)
    rows = [(dt.datetime.fromtimestamp(m, tz=dt.UTC), r, e) for m, (r, e) in sorted(items.items())]
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(
                f"insert into {table} (minute, requests, server_errors) values (%s, %s, %s) "
                f"on conflict (minute) do update set "
                f"requests = {table}.requests + excluded.requests, "
                f"server_errors = {table}.server_errors + excluded.server_errors", rows)
    except Exception:  # keep the counts, try again later
        log.warning("request tallies not written; kept for the next flush", exc_info=True)
        oldest = int(time.time() // 60 * 60) - _KEEP_MINUTES * 60
        with _lock:
            for minute, (r, e) in items.items():
                if minute >= oldest:
                    bucket = _pending.setdefault(minute, [0, 0])
                    bucket[0] += r
                    bucket[1] += e
        return 0
    return len(rows)
