"""Write a layer version's features into its own partition, by binary COPY, chunk by chunk.

Two ways, one outcome (a partition attached to layers_feature in the transaction that
creates the version, or nothing):

- **In the caller's transaction** (`PartitionWriter`): the partition is created empty and
  unindexed, filled with one COPY stream, then attached, which builds its indexes in one
  pass (see migration 0002). A failure leaves no table and no version behind.
- **Staged** (large imports, see layers/importers/parallel.py): the empty partition is
  committed first under its final name, several processes COPY into it at once, its
  indexes are built in parallel sessions, and the version row and the ATTACH come last, in
  one transaction. Until then the table belongs to no version: nothing reads it, and it is
  dropped on any failure (or by `sweep_orphan_partitions` after a crash).
"""

from __future__ import annotations

import re
import threading
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from django.contrib.gis.geos import Polygon as GEOSPolygon
from django.db import connection

from layers.fields import INDICATOR_FIELDS
from layers.models import Feature, LayerVersion

# Session setting for the index builds (reset at the transaction's or session's end): the
# GiST and B-tree builds sort in memory instead of spilling to disk.
INDEX_BUILD_MEMORY = "256MB"
# The staged table's own transactions (its creation, the workers' COPY, the index builds)
# need not wait for their WAL to reach the disk: nothing reads the table until the
# transaction that attaches it commits, and that commit, synchronous, flushes the WAL
# before it (WAL is written in order). A crash before it leaves an orphan table, swept.
STAGING_COMMIT = "SET LOCAL synchronous_commit = off"
_PG_TYPES = {"text": "text", "float": "float8", "bool": "bool", "date": "date"}
_NAMES = [f.name for f in INDICATOR_FIELDS]
_DEFAULTS = {f.name: ("" if f.kind == "text" else None) for f in INDICATOR_FIELDS}
_COLUMNS = ["version_id", "feature_no", "geom", "geom_3857", "measure", *_NAMES, "attributes"]


def partition_name(version_id: int) -> str:
    return f"{Feature._meta.db_table}_v{int(version_id)}"


def create_partition_table(version_id: int) -> str:
    """The empty, unindexed table that becomes the version's partition (current
    transaction; the CHECK lets ATTACH skip scanning it)."""
    parent, part, vid = Feature._meta.db_table, partition_name(version_id), int(version_id)
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS "
                    f"INCLUDING CONSTRAINTS, CHECK (version_id = {vid}))")
    return part


class PartitionCopy(AbstractContextManager):
    """One binary COPY stream into a version's partition table, on this thread's
    connection; counts the rows and their extent."""

    def __init__(self, version_id: int):
        self.version_id = int(version_id)
        self.count = 0
        self.bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])
        self._cursor: Any = None
        self._copy_cm: Any = None
        self._copy: Any = None

    def __enter__(self) -> PartitionCopy:
        from psycopg.types.string import BytesBinaryDumper

        self._cursor = connection.cursor()
        # psycopg's last bytea dumper is dbapi20's Binary one, written in Python; bytes go
        # through the C dumper instead (a third of the COPY's client time).
        self._cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
        self._copy_cm = self._cursor.copy(
            f"COPY {partition_name(self.version_id)} ({', '.join(_COLUMNS)}) "
            "FROM STDIN (FORMAT BINARY)")
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
        write_row = self._copy.write_row
        for row in zip([self.version_id] * n,
                       np.asarray(feature_nos, dtype=np.int64).tolist(), ewkb_4490,
                       ewkb_3857, measures, *cols, attrs, strict=True):
            write_row(row)
        self.count += n
        self.bounds = union_bounds(self.bounds, np.r_[np.nanmin(bbox_4490[:, :2], axis=0),
                                                      np.nanmax(bbox_4490[:, 2:], axis=0)])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._copy_cm.__exit__(exc_type, exc, tb)
        finally:
            self._cursor.close()


def union_bounds(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bounds (xmin, ymin, xmax, ymax) covering both; (inf, inf, -inf, -inf) is empty."""
    return np.r_[np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])]


class PartitionWriter(PartitionCopy):
    """`with PartitionWriter(version) as w: w.write(...)`, all in the caller's transaction:
    creates the partition, attaches it on a clean exit and records the version's extent and
    feature count."""

    def __init__(self, version: LayerVersion):
        super().__init__(version.pk)
        self.version = version

    def __enter__(self) -> PartitionWriter:
        create_partition_table(self.version_id)
        super().__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        super().__exit__(exc_type, exc, tb)
        if exc_type is None:
            with connection.cursor() as cur:
                cur.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
            attach_partition(self.version, self.count, self.bounds)


def attach_partition(version: LayerVersion, count: int, bounds: np.ndarray) -> None:
    """Attach the version's partition (current transaction) and record its feature count
    and extent. Indexes the table already has are adopted, the others built."""
    parent, part = Feature._meta.db_table, partition_name(version.pk)
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {parent} ATTACH PARTITION {part} "
                    f"FOR VALUES IN ({int(version.pk)})")
    x0, y0, x1, y1 = (float(v) for v in bounds)
    if count:
        if x1 - x0 < 1e-9 or y1 - y0 < 1e-9:
            x0, y0, x1, y1 = x0 - 1e-6, y0 - 1e-6, x1 + 1e-6, y1 + 1e-6
        version.extent = GEOSPolygon.from_bbox((x0, y0, x1, y1))
        version.extent.srid = 4490
    version.feature_count = count
    version.save(update_fields=["extent", "feature_count"])


def partition_index_statements(version_id: int) -> list[str]:
    """The statements that give a version's table every index of layers_feature, as ATTACH
    would build them (constraint indexes as constraints, so ATTACH adopts them)."""
    parent, part = Feature._meta.db_table, partition_name(version_id)
    with connection.cursor() as cur:
        cur.execute("""
            SELECT pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
            FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
                AND c.conrelid = i.indrelid
            WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid""", [parent])
        rows = cur.fetchall()
    statements = []
    for k, (indexdef, conname, condef) in enumerate(rows):
        if conname:
            statements.append(f"ALTER TABLE {part} ADD CONSTRAINT {part}_c{k} {condef}")
            continue
        m = re.match(r"CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ (USING .*)$", indexdef)
        if m is None:
            raise RuntimeError(f"unexpected index definition: {indexdef}")
        statements.append(f"CREATE {m.group(1) or ''}INDEX {part}_i{k} ON {part} {m.group(2)}")
    return statements


def build_indexes_in_parallel(version_id: int) -> None:
    """Build the staged table's indexes at once, one database session each (the table is
    committed, so other sessions see it). Each build is one backend's work (a GiST build
    has no parallel workers): the short B-tree builds no longer queue behind the two GiST
    ones, and whatever waits on I/O leaves the cores to the others."""
    statements = partition_index_statements(version_id)
    if not statements:
        return
    errors: list[BaseException] = []

    def run(statement: str, *, own_connection: bool) -> None:
        try:
            with connection.cursor() as cur:
                cur.execute(f"SET maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
                cur.execute("SET synchronous_commit = off")  # see STAGING_COMMIT
                try:
                    cur.execute(statement)
                finally:
                    cur.execute("RESET maintenance_work_mem")
                    cur.execute("RESET synchronous_commit")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)
        finally:
            if own_connection:
                connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(statement,), kwargs={"own_connection": True})
               for statement in statements[1:]]
    for t in threads:
        t.start()
    try:
        run(statements[0], own_connection=False)
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def analyze_if_never_analyzed(version_id: int) -> None:
    """Planner statistics for a version's table before it is served. Autovacuum gathers
    them within a minute or so of the import (off the import's path); this covers a
    version published sooner, e.g. by `import_layer --publish`."""
    table = partition_name(version_id)
    with connection.cursor() as cur:
        cur.execute("""
            SELECT c.oid IS NOT NULL AND s.last_analyze IS NULL
                   AND s.last_autoanalyze IS NULL
            FROM (SELECT to_regclass(%s) AS oid) c
            LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid""", [table])
        if cur.fetchone()[0]:
            cur.execute(f"ANALYZE {table}")


def drop_partition(version_id: int) -> None:
    """Remove a version's features in one statement (a deleted or purged version)."""
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {partition_name(version_id)}")


def drop_all_partitions(db: Any = connection) -> None:
    """Drop the features of every version (a flush of a test database)."""
    parent = Feature._meta.db_table
    with db.cursor() as cur:
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits "
                    "WHERE inhparent = %s::regclass", [parent])
        names = [r[0] for r in cur.fetchall()]
        if names:
            cur.execute(f"DROP TABLE {', '.join(names)}")
