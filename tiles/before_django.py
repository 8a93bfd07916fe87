"""What every map fast path (config/wsgi.py) shares: who may take it, and the bookkeeping the
Django stack would have done for the request it answers.

The fast paths (tiles/fast_path.py cached WMTS tiles, tiles/mvt_fast_path.py vector tiles,
tiles/wms_fast_path.py GetMap) answer public map requests before the Django middleware and
hand anything else to it; they differ in what they answer, not in these rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.core import signals
from django.db import DatabaseError, connection

try:
    from ops import metrics, scheduler, tally
except ImportError:  # the ops app is optional
    metrics = scheduler = tally = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
Answer = TypeVar("Answer")


class ClientMeta:
    """What accounts.network.client_ip reads of a request: its META."""

    def __init__(self, environ: dict[str, Any]):
        self.META = environ


def carries_token(environ: dict[str, Any]) -> bool:
    """An API token in any of the forms the application accepts: such a request may be for
    non-public data and is audited, so only the full stack answers it."""
    return bool(environ.get("HTTP_AUTHORIZATION") or environ.get("HTTP_X_API_TOKEN")
                or "token" in environ.get("QUERY_STRING", "").lower())


def has_session(environ: dict[str, Any]) -> bool:
    """A signed-in browser: Django slides its idle timeout and applies the password policy."""
    return f"{settings.SESSION_COOKIE_NAME}=" in environ.get("HTTP_COOKIE", "")


def answer_or_none(sender: type, environ: dict[str, Any],
                   answer: Callable[[], Answer | None]) -> Answer | None:
    """`answer()` inside Django's request signals (connection age and health), as the
    handler runs a view; None (the full stack then answers) on any error of its own."""
    if scheduler is not None:
        scheduler.ensure_started()
    signals.request_started.send(sender=sender, environ=environ)
    try:
        return answer()
    except (DatabaseError, psycopg.Error):  # the full stack answers it, reconnected
        log.warning("%s: database error, passing the request on", sender.__name__,
                    exc_info=True)
        connection.close()
        return None
    except Exception:
        log.exception("%s failed, passing the request on", sender.__name__)
        return None
    finally:
        signals.request_finished.send(sender=sender)


def count_request(environ: dict[str, Any], status: int, started: float) -> None:
    """The request metrics and per-minute tallies ops/middleware.py keeps for the stack."""
    if metrics is not None:
        metrics.observe_request(environ.get("PATH_INFO", ""), status,
                                time.perf_counter() - started)
        tally.count(status >= 500)
