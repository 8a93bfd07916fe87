"""Keep the parcel join and the conformity results in step with both sides.

A new footprint is checked in the transaction that stores it; a published plan version
re-checks the projects (settings.CONFORMITY_RECHECK_ON_PUBLISH); an edited feature re-checks
the projects whose footprint touches its old or new geometry.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.dispatch import receiver

from approvals_link import signals
from approvals_link.conformity import engine
from approvals_link.models import ConformityCheck, ProjectFootprint
from layers import services as layer_services

log = logging.getLogger(__name__)
_suspended = contextvars.ContextVar("conformity_suspended", default=False)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No automatic checks inside (bulk loads check everything at the end, set-based)."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)


@receiver(signals.footprint_created)
def check_new_footprint(sender: Any, footprint: ProjectFootprint, **kwargs: Any) -> None:
    if _suspended.get():
        return
    engine.run_check(footprint.project, footprint=footprint,
                     trigger=ConformityCheck.Trigger.FOOTPRINT)


@receiver(layer_services.version_published)
def recheck_on_publish(sender: Any, version: Any, previous: Any = None, **kwargs: Any) -> None:
    if _suspended.get() or settings.CONFORMITY_RECHECK_ON_PUBLISH != "sync":
        return
    try:
        summary = engine.recheck_for_version(version, previous)
    except Exception:
        # The version is published (committed) already; a failed re-check must not turn
        # that into an error. Logged for the ops page; `recheck_projects` repairs it.
        log.exception("re-check after publishing %s v%s failed", version.layer.code,
                      version.number)
        return
    log.info("re-checked %d projects after %s v%s: %d changed in %.1f s", summary.projects,
             version.layer.code, version.number, summary.changed, summary.seconds)


@receiver(layer_services.features_changed)
def recheck_on_edit(sender: Any, version: Any, feature_ids: Any = None, old_geoms: Any = None,
                    new_geoms: Any = None, **kwargs: Any) -> None:
    if _suspended.get() or version.state != version.State.PUBLISHED:
        return
    wkbs = [bytes(g.wkb) if hasattr(g, "wkb") else bytes(g)
            for g in list(old_geoms or []) + list(new_geoms or []) if g is not None]
    if not wkbs:
        return
    with connection.cursor() as cur:
        cur.execute(f"""
            SELECT DISTINCT p.project_id FROM {ProjectFootprint._meta.db_table} p,
              unnest(%s::bytea[]) AS w(wkb)
            WHERE ST_Intersects(p.geom, ST_SetSRID(ST_GeomFromWKB(w.wkb), 4490))""", [wkbs])
        project_ids = [r[0] for r in cur.fetchall()]
    if project_ids:
        try:
            engine.recheck_for_version(version, version, project_ids=project_ids)
        except Exception:  # the edit is committed; see recheck_on_publish
            log.exception("re-check after editing %s failed", version.layer.code)
