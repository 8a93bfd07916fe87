"""Write a layer version's features into its own partition, by binary COPY, chunk by chunk.

The partition is created empty and unindexed, filled with one COPY stream (PostgreSQL parses
a chunk while Python validates the next), then attached to layers_feature, which builds
its indexes in one pass (see migration 0002). All of it runs in the caller's transaction,
so a failure leaves no table and no version behind.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from django.contrib.gis.geos import Polygon as GEOSPolygon
from django.db import connection, transaction

from layers.fields import INDICATOR_FIELDS
from layers.models import Feature, LayerVersion

log = logging.getLogger(__name__)
# Session setting for the index builds at attach time (reset at the transaction's end):
# the GiST and B-tree builds sort in memory instead of spilling to disk.
INDEX_BUILD_MEMORY = "256MB"
_PG_TYPES = {"text": "text", "float": "float8", "bool": "bool", "date": "date"}
_NAMES = [f.name for f in INDICATOR_FIELDS]
_DEFAULTS = {f.name: ("" if f.kind == "text" else None) for f in INDICATOR_FIELDS}


def partition_name(version_id: int) -> str:
    return f"{Feature._meta.db_table}_v{int(version_id)}"


class PartitionWriter(AbstractContextManager):
    """`with PartitionWriter(version) as w: w.write(...)`; attaches the partition on a clean
    exit and records the version's extent and feature count."""

    def __init__(self, version: LayerVersion):
        self.version = version
        self.count = 0
        self.bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])
        self._cursor: Any = None
        self._copy_cm: Any = None
        self._copy: Any = None

    def __enter__(self) -> PartitionWriter:
        parent, part, vid = Feature._meta.db_table, partition_name(self.version.pk), \
            int(self.version.pk)
        self._cursor = connection.cursor()
        self._cursor.execute(f"CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS "
                             f"INCLUDING CONSTRAINTS, CHECK (version_id = {vid}))")
        columns = ["version_id", "feature_no", "geom", "geom_3857", "measure", *_NAMES,
                   "attributes"]
        self._copy_cm = self._cursor.copy(
            f"COPY {part} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)")
        self._copy = self._copy_cm.__enter__()
        # geometry_recv reads (E)WKB, so raw bytes go into binary COPY as they are.
        self._copy.set_types(["int8", "int4", "bytea", "bytea", "float8",
                              *(_PG_TYPES[f.kind] for f in INDICATOR_FIELDS), "bytea"])
        return self

    def write(self, *, feature_nos: np.ndarray, ewkb_4490: np.ndarray, ewkb_3857: np.ndarray,
              bbox_4490: np.ndarray, measure: np.ndarray, typed: dict[str, list[Any]],
              extras: list[str]) -> None:
        """Append rows: geometries as EWKB with their SRID, `bbox_4490` per row, `extras`
        each row's other attributes as JSON object text."""
        n = len(feature_nos)
        if n == 0:
            return
        cols = [typed.get(name) or [_DEFAULTS[name]] * n for name in _NAMES]
        measures = np.where(np.isnan(measure), None, measure).tolist()
        # jsonb's binary form is a version byte and the JSON text.
        attrs = [b"\x01" + e.encode() for e in extras]
        vid = int(self.version.pk)
        write_row = self._copy.write_row
        for row in zip([vid] * n, np.asarray(feature_nos, dtype=np.int64).tolist(), ewkb_4490,
                       ewkb_3857, measures, *cols, attrs, strict=True):
            write_row(row)
        self.count += n
        b = np.r_[np.nanmin(bbox_4490[:, :2], axis=0), np.nanmax(bbox_4490[:, 2:], axis=0)]
        self.bounds = np.r_[np.minimum(self.bounds[:2], b[:2]), np.maximum(self.bounds[2:],
                                                                           b[2:])]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._copy_cm.__exit__(exc_type, exc, tb)
            if exc_type is None:
                self._attach()
        finally:
            self._cursor.close()

    def _attach(self) -> None:
        parent, part, vid = Feature._meta.db_table, partition_name(self.version.pk), \
            int(self.version.pk)
        self._cursor.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        self._cursor.execute(f"ALTER TABLE {parent} ATTACH PARTITION {part} "
                             f"FOR VALUES IN ({vid})")
        # Planner statistics are gathered right after the commit, off the import's path
        # (a new partition is only read once its version is published).
        transaction.on_commit(lambda: threading.Thread(target=_analyze, args=(part,),
                                                       daemon=True).start())
        x0, y0, x1, y1 = (float(v) for v in self.bounds)
        if self.count:
            if x1 - x0 < 1e-9 or y1 - y0 < 1e-9:
                x0, y0, x1, y1 = x0 - 1e-6, y0 - 1e-6, x1 + 1e-6, y1 + 1e-6
            self.version.extent = GEOSPolygon.from_bbox((x0, y0, x1, y1))
            self.version.extent.srid = 4490
        self.version.feature_count = self.count
        self.version.save(update_fields=["extent", "feature_count"])


def _analyze(table: str) -> None:
    try:
        with connection.cursor() as cur:
            cur.execute(f"ANALYZE {table}")
    except Exception:
        log.warning("ANALYZE %s failed", table, exc_info=True)
    finally:
        connection.close()  # this thread's own connection


def drop_partition(version_id: int) -> None:
    """Remove a version's features in one statement (a deleted or purged version)."""
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {partition_name(version_id)}")
