"""Service state: a generation number every map-service worker compares on each request.

Anything that changes what the services publish (a version published or retired, a layer's
style or access level edited) bumps it; each worker rebuilds its MapProxy configuration on
the next request, so a plan amendment is on every map at once. Feature edits inside the
published version do not need a rebuild: their tiles are invalidated precisely instead.
"""

from __future__ import annotations

from django.db import connection, models


class ServiceState(models.Model):
    generation = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)


def current_generation() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT generation FROM tiles_servicestate WHERE id = 1")
        row = cur.fetchone()
    if row is None:
        ServiceState.objects.get_or_create(id=1)
        return 1
    return int(row[0])


def bump_generation() -> None:
    with connection.cursor() as cur:
        cur.execute("INSERT INTO tiles_servicestate (id, generation, changed_at) "
                    "VALUES (1, 2, now()) ON CONFLICT (id) DO UPDATE SET "
                    "generation = tiles_servicestate.generation + 1, changed_at = now()")
