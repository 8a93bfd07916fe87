#!/usr/bin/env python
"""Put the peer harness's `parcels` table into our service as layer `parcels` (bench db).

Run with NEIXIANG_DB_NAME=neixiang_bench (bench/mvt_bench.sh does): starts the project's
cluster if needed, creates and migrates that database, exports `bench.parcels` (the table
tipg serves, make_dataset.py) to a GeoPackage with ogr2ogr and imports it through the normal
import path (`manage.py import_layer ... --publish`) as a public regulatory-plan layer.
Idempotent: skipped when the published version already came from the same dataset build.

    NEIXIANG_DB_NAME=neixiang_bench .venv/bin/python bench/mvt_setup.py --work /tmp/bench/mvt
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")
LAYER = "parcels"


def psql_bench(sql: str, host: str, db: str) -> str:
    return subprocess.run(["psql", "-X", "-h", host, "-d", db, "-tAc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/mvt"))
    ap.add_argument("--peer-host", default=os.environ.get("PGHOST", "/var/run/postgresql"))
    ap.add_argument("--peer-db", default=os.environ.get("BENCH_DB", "bench"))
    args = ap.parse_args()
    if not os.environ.get("NEIXIANG_DB_NAME", "").startswith("neixiang_bench"):
        sys.exit("mvt_setup: set NEIXIANG_DB_NAME=neixiang_bench (never the demo database)")
    args.work.mkdir(parents=True, exist_ok=True)

    from config import localdb

    if not os.environ.get("DATABASE_URL"):
        localdb.start()
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)

    stamp = psql_bench("SELECT value FROM bench_meta WHERE key = 'built_at'", args.peer_host,
                       args.peer_db)
    n = psql_bench("SELECT count(*) FROM parcels", args.peer_host, args.peer_db)
    note = f"peer-bench parcels n={n} built_at={stamp}"

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from layers import services
    from layers.models import Layer, LayerVersion

    layer = Layer.objects.filter(code=LAYER).first()
    if layer is None:
        layer = services.create_layer(
            code=LAYER, name_zh="基准测试地块", name_en="Benchmark parcels",
            category=Layer.Category.REGULATORY_PLAN, geometry_type=Layer.GeometryType.POLYGON,
            access_level=Layer.Access.PUBLIC,
            style={"fill": "#F5D5A0", "stroke": "#A0522D",
                   "classes": {"field": "land_use_code", "scheme": "land_use"}})
    published = layer.versions.filter(state=LayerVersion.State.PUBLISHED).first()
    if published is not None and published.note == note:
        print(f"mvt_setup: layer {LAYER} v{published.number} is up to date "
              f"({published.feature_count} features)")
        return

    gpkg = args.work / "parcels.gpkg"
    gpkg.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(gpkg),
                    f"PG:host={args.peer_host} dbname={args.peer_db}", "-nln", "parcels",
                    "-sql", "SELECT parcel_no, landuse_code, far, density, green_ratio, "
                    "height_limit, geom FROM parcels ORDER BY id"], check=True)
    print(f"mvt_setup: exported {n} parcels to {gpkg} in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    subprocess.run([PY, "manage.py", "import_layer", LAYER, str(gpkg), "--crs", "4490",
                    "--publish", "--note", note, "--by", "mvt_bench", "-v", "0"],
                   cwd=ROOT, check=True)
    print(f"mvt_setup: imported and published in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
