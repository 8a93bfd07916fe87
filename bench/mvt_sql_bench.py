#!/usr/bin/env python
"""The tile statement alone, one connection, no HTTP: where the database time goes.

For the same tiles (the harness's XYZ list, z12-16), interleaved, best of --repeat, with
parallel query off for every variant (as the service runs it):
  partition  our statement on the version's own partition (what the service does)
  parent     the same on the partitioned parent with version_id = const
  unprepared our statement without the prepared z12-z14 geometry (MVT_PREPARED off):
             ST_AsMVTGeom for every feature, as before migration 0004
  tipg       tipg's statement on the peer table (captured from tipg 1.x: ST_Intersects on
             the tile, all seven columns, ORDER BY id LIMIT 200000)
Server CPU per tile is read from /proc for each backend, so it needs the same host.

    NEIXIANG_DB_NAME=neixiang_bench .venv/bin/python bench/mvt_sql_bench.py urls.txt
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
H = 20037508.342789244
TIPG_SQL = (
    'WITH t AS (SELECT "density", "far", "green_ratio", "height_limit", "id", "landuse_code", '
    '"parcel_no", ST_AsMVTGeom(ST_Transform(CAST("geom_3857" AS geometry), 3857), '
    "ST_Segmentize(ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}), {s}), 4096, 256, TRUE) AS geom "
    'FROM "public"."parcels" WHERE st_intersects(geom_3857, st_setsrid(st_geomfromgeojson('
    "'{{\"type\":\"Polygon\",\"coordinates\":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],"
    "[{x0},{y0}]]]}}'), 3857)) ORDER BY \"id\" LIMIT 200000) SELECT ST_AsMVT(t.*, 'parcels') "
    "FROM t")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", help="request list with /tiles/{layer}/{z}/{x}/{y}.mvt paths")
    ap.add_argument("--tiles", type=int, default=250)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--peer", default="host=/var/run/postgresql dbname=bench")
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import psycopg
    from django.conf import settings

    from tiles import mvt

    paths = [p.strip() for p in Path(args.paths).read_text().splitlines() if p.strip()][
        : args.tiles]
    tiles = [tuple(int(v) for v in (p.split("/")[3], p.split("/")[4], p.split("/")[5][:-4]))
             for p in paths]
    code = paths[0].split("/")[2]
    target = mvt.lookup(code)[1]
    if target is None:
        sys.exit(f"no published layer {code}")
    parent = mvt.Target(**{**target.__dict__, "has_partition": False})
    ours = mvt._connection()
    ours.execute("SET max_parallel_workers_per_gather = 0")
    peer = psycopg.connect(args.peer, autocommit=True)
    peer.execute("SET max_parallel_workers_per_gather = 0")
    pids = {"ours": ours.execute("SELECT pg_backend_pid()").fetchone()[0],
            "peer": peer.execute("SELECT pg_backend_pid()").fetchone()[0]}

    def run_ours(t: mvt.Target, z: int, x: int, y: int) -> bytes:
        sql, params = mvt.statement(t, z, x, y)
        with psycopg.Cursor(ours) as cur:
            cur.execute(sql, params)
            return bytes(cur.fetchone()[0] or b"")

    def run_unprepared(z: int, x: int, y: int) -> bytes:
        settings.MVT_PREPARED = False
        try:
            return run_ours(target, z, x, y)
        finally:
            settings.MVT_PREPARED = True

    def run_tipg(z: int, x: int, y: int) -> bytes:
        s = 2 * H / 2**z
        x0, y1 = -H + x * s, H - y * s
        sql = TIPG_SQL.format(x0=x0, y0=y1 - s, x1=x0 + s, y1=y1, s=s)
        return bytes(peer.execute(sql).fetchone()[0] or b"")

    variants = {
        "partition": (lambda *t: run_ours(target, *t), "ours"),
        "parent": (lambda *t: run_ours(parent, *t), "ours"),
        "unprepared": (run_unprepared, "ours"),
        "tipg": (run_tipg, "peer"),
    }
    wall: dict[str, dict] = {k: {} for k in variants}
    size: dict[str, dict] = {k: {} for k in variants}
    cpu: dict[str, int] = dict.fromkeys(variants, 0)
    for _ in range(args.repeat):
        for t in tiles:
            for name, (fn, backend) in variants.items():
                c0, w0 = cpu_ticks(pids[backend]), time.perf_counter()
                body = fn(*t)
                dt = time.perf_counter() - w0
                cpu[name] += cpu_ticks(pids[backend]) - c0
                wall[name][t] = min(wall[name].get(t, 1e9), dt)
                size[name][t] = len(body)
    n = len(tiles) * args.repeat
    print(f"mvt_sql_bench: {len(tiles)} tiles of {code} z12-16, best of {args.repeat}, "
          "parallel query off")
    for name in variants:
        per: dict[int, list] = {}
        for t, dt in wall[name].items():
            per.setdefault(t[0], []).append((dt, size[name][t]))
        print(f"  {name:10s} mean {statistics.mean(wall[name].values()) * 1000:6.2f} ms wall, "
              f"{cpu[name] * 10 / n:6.2f} ms server CPU per tile | "
              + " ".join(f"z{z} {statistics.mean(a for a, _ in v) * 1000:.1f} ms "
                         f"max {max(b for _, b in v) // 1024} KB" for z, v in sorted(per.items())))


if __name__ == "__main__":
    main()
