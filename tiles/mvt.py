"""Mapbox vector tiles of a layer's published version, rendered by PostGIS (`ST_AsMVT`).

One request costs two small statements on a kept-open connection:

1. `lookup()`: the layer and its published version (id, revision, category) in one indexed
   query. It runs on *every* request, cached tile or not, so a published amendment or a
   feature edit is seen by the very next request in every worker and on every host.
2. `render()`: one `ST_AsMVT` over the version's own partition `layers_feature_v{id}`
   (migration 0002), filtered by `geom_3857 && ST_TileEnvelope(z, x, y, margin)` on its GiST
   index: geometry is already in the tile CRS, nothing is transformed per request. At
   z12-z14 (PREPARED_ZOOMS) polygon features lying inside the buffered tile use their
   prepared copy (migration 0004, computed at publication, emptied by a trigger on any
   geometry change, recomputed after an edit): simplified, snapped to the zoom's tile-unit
   grid and made valid once, so the tile only maps it to tile units (no ST_AsMVTGeom, whose
   polygon validation was ~70% of a dense z12 tile). Edge features and features without a
   copy take ST_AsMVTGeom as before.

Public tiles for callers without credentials are answered by tiles/mvt_fast_path.py before
the Django middleware, with the same `mvt_views.tile_reply`.

What a tile holds (the MVT layer is named after the layer code):
- every feature whose bounding box meets the tile plus its 256/4096 buffer — no LIMIT, so a
  tile is never silently truncated (ST_AsMVTGeom itself only drops features smaller than
  half a tile unit, i.e. invisible ones);
- geometry clipped to the buffer (prepared copies need no clipping: they lie inside it);
  up to `MVT_SIMPLIFY_MAX_ZOOM`, features lying wholly inside the tile are first simplified
  with a tolerance of `MVT_SIMPLIFY_PX` screen pixels
  (a fraction of a pixel of a 256-pixel tile: invisible, and it halves the work of
  ST_AsMVTGeom), keeping collapsed small polygons (preserveCollapsed); features crossing
  the tile edge are not, so simplification cannot pull them out of the buffer. No
  simplification at high zooms;
- from `MVT_DETAIL_MIN_ZOOM` on, the attributes the page's identify panel and legend use:
  `id` and every typed field of layers.fields.INDICATOR_FIELDS (parcel_no, land use code and
  name, name, land area, FAR, density, green ratio, height, mandatory, approval), plus, for
  layers that are not regulatory plans, their other source attributes (road class, red-line
  width, ...). Below that zoom only what styling and the legend need: land_use_code,
  land_use_name, name (identify there fetches `/api/layers/{code}/features/{id}`). Empty
  values are left out. This keeps the densest z12 tile of the 100 000-parcel benchmark far
  below 500 KB.
- at every zoom the MVT feature id is the feature's database id (MapLibre `feature.id`,
  Leaflet.VectorGrid `getFeatureId: f => f.id`); from MVT_DETAIL_MIN_ZOOM it is also the
  property `id`, for clients that only read properties (QGIS, OpenLayers identify).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import psycopg
from django.conf import settings
from django.db import connection

from layers.fields import INDICATOR_FIELDS
from layers.models import Feature, Layer

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 256
MARGIN = BUFFER / EXTENT  # of a tile width
WEBMERCATOR_HALF = 20037508.342789244
CONTENT_TYPE = "application/vnd.mapbox-vector-tile"

_INT = re.compile(r"^[0-9]+$")
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")  # models.LAYER_CODE_VALIDATOR


def setting(name: str, default):
    return getattr(settings, name, default)


class TileError(Exception):
    """A refused tile request: HTTP status, machine-readable code and a message."""

    def __init__(self, status: int, code: str, detail: str):
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(detail)


def parse_tile(z: object, x: object, y: object) -> tuple[int, int, int]:
    """Validated (z, x, y) of the XYZ / WebMercatorQuad matrix, or TileError (400)."""
    values = []
    for name, raw in (("z", z), ("x", x), ("y", y)):
        text = str(raw)
        if not text.isascii() or not _INT.match(text):
            raise TileError(400, "invalid_tile",
                            f"{name} 应为非负整数 (must be a non-negative integer): {text[:20]!r}")
        values.append(int(text) if len(text) <= 20 else 1 << 70)  # huge: out of range below
    zi, xi, yi = values
    if zi > MAX_ZOOM:
        raise TileError(400, "invalid_tile",
                        f"z 应在 0–{MAX_ZOOM} 之间 (zoom out of range): {zi}")
    n = 1 << zi
    if xi >= n or yi >= n:
        raise TileError(400, "invalid_tile",
                        f"第 {zi} 级的 x、y 应在 0–{n - 1} 之间 (x/y outside the tile matrix)")
    return zi, xi, yi


@dataclass(frozen=True)
class Target:
    """The layer and published version a tile request resolves to."""

    code: str
    access_level: str
    category: str
    geometry_type: str
    version_id: int
    version_number: int
    revision: int
    has_partition: bool

    @property
    def is_public(self) -> bool:
        return self.access_level == Layer.Access.PUBLIC


_LOOKUP_SQL = (
    "SELECT l.code, l.access_level, l.category, l.geometry_type, v.id, v.number, v.revision, "
    "to_regclass('layers_feature_v' || v.id) IS NOT NULL "
    "FROM layers_layer l JOIN layers_layerversion v "
    "ON v.layer_id = l.id AND v.state = 'published' WHERE l.code = %s"
)
_VERIFY_SQL = "SELECT revision, state = 'published' FROM layers_layerversion WHERE id = %s"


def _connection() -> psycopg.Connection:
    connection.ensure_connection()
    conn = connection.connection
    if conn.prepare_threshold is None and setting("MVT_PREPARE", True):
        # Django turns psycopg's automatic preparation off; our statements ask for it
        # explicitly (prepare=True) and nothing else is ever prepared automatically.
        conn.prepare_threshold = 1 << 30
    return conn


def _server_prepared() -> bool:
    """Server-side prepared statements for the lookup and tile statements: they run on
    every request and their planning (0.1-0.3 ms) was a visible part of a cached tile's
    database time. MVT_PREPARE = False behind a transaction-pooling PgBouncer < 1.21."""
    return bool(setting("MVT_PREPARE", True))


def _cursor() -> psycopg.Cursor:
    """A plain psycopg cursor on Django's kept-open connection (trap 4: a new connection
    costs far more than the query)."""
    return psycopg.Cursor(_connection())


def _fetch_serial(sql: str, params: dict) -> tuple | None:
    """Run one tile statement without parallel workers, in one round trip (pipeline).

    A tile is one small aggregate: under concurrent load, parallel workers only add CPU
    (start-up, partial tiles to combine) that the other requests need. The setting is
    restored at once, so other queries on the shared connection are unaffected."""
    conn = _connection()
    before, query, after = psycopg.Cursor(conn), psycopg.Cursor(conn), psycopg.Cursor(conn)
    try:
        with conn.pipeline():
            before.execute("SET max_parallel_workers_per_gather = 0")
            query.execute(sql, params, prepare=_server_prepared())
            after.execute("RESET max_parallel_workers_per_gather")
        return query.fetchone()
    except Exception:
        if not conn.closed:
            with contextlib.suppress(Exception):
                conn.execute("RESET max_parallel_workers_per_gather")
        raise
    finally:
        for cur in (before, query, after):
            cur.close()


def lookup(code: str) -> tuple[str | None, Target | None]:
    """(access level, target) of the layer `code`; (None, None) when there is no such layer,
    (level, None) when it has no published version. Access is decided by the caller."""
    if not _CODE.match(code):  # not a layer code (NUL bytes, slashes, 1000 characters...)
        return None, None
    with _cursor() as cur:
        cur.execute(_LOOKUP_SQL, (code,), prepare=_server_prepared())
        row = cur.fetchone()
        if row is None:
            cur.execute("SELECT access_level FROM layers_layer WHERE code = %s", (code,))
            level = cur.fetchone()
            return (level[0] if level else None), None
    return row[1], Target(*row)


def current_revision(version_id: int) -> tuple[int, bool] | None:
    """(revision, still published) of a version: the check after writing a cached tile."""
    with _cursor() as cur:
        cur.execute(_VERIFY_SQL, (version_id,), prepare=_server_prepared())
        row = cur.fetchone()
    return (int(row[0]), bool(row[1])) if row else None


# --- the tile statement ---------------------------------------------------------------------
_FEATURE_TABLE = Feature._meta.db_table
_LIGHT_FIELDS = ("land_use_code", "land_use_name", "name")


def _column(field_name: str, kind: str) -> str:
    if kind == "text":
        return f"NULLIF(f.{field_name}, '') AS {field_name}"
    if kind == "date":
        return f"to_char(f.{field_name}, 'YYYY-MM-DD') AS {field_name}"
    return f"f.{field_name}"


def attribute_columns(category: str, detailed: bool) -> list[str]:
    if not detailed:
        # The feature id travels as the MVT feature id only: as a property every unique id
        # is one more entry in the tile's value table (bytes, and encoding time).
        kinds = {f.name: f.kind for f in INDICATOR_FIELDS}
        return [_column(n, kinds[n]) for n in _LIGHT_FIELDS]
    cols = ["f.id", *(_column(f.name, f.kind) for f in INDICATOR_FIELDS)]
    if category != Layer.Category.REGULATORY_PLAN:
        # Source attributes without a typed field (road class, red-line width, ...): a jsonb
        # column becomes one property per key in ST_AsMVT; empty objects cost nothing.
        cols.append("NULLIF(f.attributes, '{}'::jsonb) AS attributes")
    return cols


# --- prepared geometry of the low zooms ---------------------------------------------------------
# z12-z14 tiles of a dense polygon layer hold thousands of features; ST_AsMVTGeom validates
# each polygon (wagyu) whether it needs clipping or not, which was ~70% of such a tile. For
# these zooms every polygon feature keeps a copy already simplified, snapped to that zoom's
# global grid of tile units and made valid (layers migration 0004: columns geom_mvt{z},
# emptied by a trigger whenever geom_3857 changes). A feature lying wholly inside the
# buffered tile then only needs an affine map to tile units (exact integers). Features that
# cross the buffer's edge, and those without a copy (just edited), take ST_AsMVTGeom.
PREPARED_ZOOMS = (12, 13, 14)


def simplify_tolerance(z: int) -> float:
    """MVT_SIMPLIFY_PX of a 256-pixel tile's pixel at zoom z, in EPSG:3857 metres."""
    return float(setting("MVT_SIMPLIFY_PX", 0.25)) * EXTENT / 256 * tile_unit(z)


def prepared_expression(z: int) -> str:
    unit = tile_unit(z)
    return (f"NULLIF(ST_ForcePolygonCW(ST_CollectionExtract(ST_MakeValid(ST_SnapToGrid("
            f"ST_Simplify(f.geom_3857, {simplify_tolerance(z)!r}, true), "
            f"{-WEBMERCATOR_HALF!r}, {-WEBMERCATOR_HALF!r}, {unit!r}, {unit!r})), 3)), "
            "'SRID=3857;POLYGON EMPTY'::geometry)")


def prepare(version_id: int, feature_ids: list[int] | None = None) -> int:
    """Fill the prepared geometry of a polygon version's features (all, or `feature_ids`);
    returns the rows written. Runs when a version is published and after an edit."""
    with _cursor() as cur:
        cur.execute("SELECT l.geometry_type, to_regclass('layers_feature_v' || v.id) "
                    "IS NOT NULL FROM layers_layerversion v JOIN layers_layer l "
                    "ON l.id = v.layer_id WHERE v.id = %s", (version_id,))
        row = cur.fetchone()
        if row is None or row[0] != Layer.GeometryType.POLYGON:
            return 0
        table = f"{_FEATURE_TABLE}_v{int(version_id)}" if row[1] else _FEATURE_TABLE
        sets = ", ".join(f"geom_mvt{z} = {prepared_expression(z)}" for z in PREPARED_ZOOMS)
        where = "f.version_id = %s"
        params: list = [version_id]
        if feature_ids is not None:
            where += " AND f.id = ANY(%s)"
            params.append(list(feature_ids))
        cur.execute(f"UPDATE {table} f SET {sets} WHERE {where}", params)
        return cur.rowcount


@lru_cache(maxsize=256)
def tile_sql(table: str, by_version: bool, category: str, geometry_type: str, detailed: bool,
             simplify: bool, prepared: int | None = None) -> str:
    geom = "f.geom_3857"
    if simplify and geometry_type != Layer.GeometryType.POINT:
        # Only features wholly inside the tile are simplified: one that crosses its edge
        # could otherwise be pulled out of the thin buffer and go missing there.
        geom = ("CASE WHEN f.geom_3857 @ ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int) "
                "THEN ST_Simplify(f.geom_3857, %(tolerance)s::float8, true) "
                "ELSE f.geom_3857 END")
    envelope = "ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int, " f"margin => {MARGIN})"
    mvt_geom = (f"ST_AsMVTGeom({geom}, ST_TileEnvelope(%(z)s::int, %(x)s::int, %(y)s::int), "
                f"{EXTENT}, {BUFFER}, true)")
    if prepared is not None:
        # Inside the buffered tile: no clipping, already valid and on the unit grid; the
        # snap to 1 only removes the affine map's floating-point noise (ST_AsMVT truncates).
        mvt_geom = (f"CASE WHEN f.geom_mvt{int(prepared)} IS NOT NULL "
                    f"AND f.geom_3857 @ {envelope} "
                    f"THEN ST_SnapToGrid(ST_Affine(f.geom_mvt{int(prepared)}, %(scale)s::float8, "
                    "0, 0, -%(scale)s::float8, %(ox)s::float8, %(oy)s::float8), 1) "
                    f"ELSE {mvt_geom} END")
    where = f"f.geom_3857 && {envelope}"
    if by_version:
        where += " AND f.version_id = %(version)s::bigint"
    cols = ", ".join(attribute_columns(category, detailed))
    return (
        f"SELECT ST_AsMVT(t, %(layer)s::text, {EXTENT}, 'geom', 'fid') FROM ("
        f"SELECT f.id AS fid, {cols}, {mvt_geom} AS geom "
        # No "WHERE geom IS NOT NULL" outside: PostgreSQL would push it down and compute
        # ST_AsMVTGeom twice per row; ST_AsMVT skips rows whose geometry vanished.
        f"FROM {table} f WHERE {where}) t"
    )


def tile_unit(z: int) -> float:
    """Size of one of the 4096 tile units at zoom z, in EPSG:3857 metres."""
    return 2 * WEBMERCATOR_HALF / (1 << z) / EXTENT


def statement(target: Target, z: int, x: int, y: int) -> tuple[str, dict]:
    detailed = z >= int(setting("MVT_DETAIL_MIN_ZOOM", 14))
    simplify = z <= int(setting("MVT_SIMPLIFY_MAX_ZOOM", 15))
    if target.has_partition:
        table, by_version = f"{_FEATURE_TABLE}_v{int(target.version_id)}", False
    else:  # features of a version without a partition of its own (default partition)
        table, by_version = _FEATURE_TABLE, True
    prepared = z if (simplify and z in PREPARED_ZOOMS and setting("MVT_PREPARED", True)
                     and target.geometry_type == Layer.GeometryType.POLYGON) else None
    sql = tile_sql(table, by_version, target.category, target.geometry_type, detailed,
                   simplify, prepared)
    half = (1 << z) * EXTENT // 2  # WEBMERCATOR_HALF in tile units, exactly
    params = {"layer": target.code, "z": z, "x": x, "y": y,
              "tolerance": simplify_tolerance(z), "version": target.version_id,
              # EPSG:3857 -> this tile's units, y down
              "scale": 1 / tile_unit(z), "ox": float(half - x * EXTENT),
              "oy": float(half - y * EXTENT)}
    return sql, params


def render(target: Target, z: int, x: int, y: int) -> bytes:
    """The tile's MVT bytes (b"" when no feature meets it)."""
    sql, params = statement(target, z, x, y)
    if z <= int(setting("MVT_SERIAL_MAX_ZOOM", 14)):
        row = _fetch_serial(sql, params)
    else:  # small tiles: the planner never goes parallel, spare the round trip's extras
        with _cursor() as cur:
            cur.execute(sql, params, prepare=_server_prepared())
            row = cur.fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


# --- encodings and validators ----------------------------------------------------------------
def digest(raw: bytes) -> str:
    """Strong validator of a tile: a hash of its bytes. An edit elsewhere in the layer, or a
    new version that leaves this tile unchanged, keeps it (clients revalidate with 304)."""
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def gzip_bytes(raw: bytes, stored: bool = True) -> bytes:
    """gzip of a tile: thoroughly for the cache (compressed once, sent many times), fast
    for a response that is not stored (level 1 costs a third of level 6, ~10% larger)."""
    if not raw:
        return b""
    level = int(setting("MVT_GZIP_LEVEL", 6)) if stored else 1
    return zlib.compress(raw, level, wbits=31)
