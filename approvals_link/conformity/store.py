"""Bulk writes of check results with COPY: a re-check after a plan change stores ten
thousand checks and their results, where row-by-row INSERT building dominates the time.

Ids are taken from the tables' sequences first (COPY returns none), so the caller can link
results to their checks before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, models


def allocate_ids(model: type[models.Model], n: int) -> list[int]:
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                    "FROM generate_series(1, %s)", [table, n])
        return [r[0] for r in cur.fetchall()]


def _text(value: Any) -> Any:
    """COPY text input for the values we store: JSON as text, geometry as hex EWKB."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, GEOSGeometry):
        return value.hexewkb.decode() if isinstance(value.hexewkb, bytes) else value.hexewkb
    return value


def copy_rows(model: type[models.Model], columns: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (values in `columns` order, db column names) into the model's table."""
    table = model._meta.db_table
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    n = 0
    with connection.cursor() as cur, cur.cursor.copy(
            f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([_text(v) for v in row])
            n += 1
    return n


def field_columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    return [model._meta.get_field(n).column for n in names]


def copy_instances(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """COPY unsaved instances; their ids come from the sequence (allocated here when
    unset, so callers can refer to them afterwards). auto_now_add fields get now()."""
    from django.utils import timezone

    if not objs:
        return 0
    missing = [o for o in objs if o.pk is None]
    for obj, pk in zip(missing, allocate_ids(model, len(missing)), strict=True):
        obj.pk = pk
    fields = [f for f in model._meta.concrete_fields]
    now = timezone.now()
    for f in fields:
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            for o in objs:
                if getattr(o, f.attname) is None:
                    setattr(o, f.attname, now)
    return copy_rows(model, [f.column for f in fields],
                     ([getattr(o, f.attname) for f in fields] for o in objs))
