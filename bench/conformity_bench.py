#!/usr/bin/env python
"""Conformity benchmark: our engine vs a geopandas overlay of the same inputs, one run.

Database neixiang_bench_conformity on the project's cluster (never the demo one), holding
the demo county at 100 000 parcels and 10 000 projects. Three figures:

1. one full check of a 200-vertex footprint against every rule layer (p50, p99 over
   --repeat runs, stored results included), and geopandas doing the same overlays on
   GeoDataFrames already in memory and already in EPSG:4546 (its best case: reading and
   transforming the layers is not timed);
2. re-checking every project after a new regulatory-plan version is published (the
   re-check alone; importing the version is not timed);
3. geopandas overlaying all footprints with all parcels in memory, for comparison with 2.

    .venv/bin/python bench/conformity_bench.py                  # 100 000 / 10 000
    .venv/bin/python bench/conformity_bench.py --parcels 20000 --projects 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "neixiang_bench_conformity"
PEER_LIB = Path(os.environ.get("BENCH_DIR", "/tmp/bench")) / "conformity-peer-lib"


def add_peer_library() -> None:
    """geopandas for the peer, from its own folder (bench/requirements-peers.txt); the
    service's own packages (numpy, shapely, pyproj, pyogrio) come from the virtualenv."""
    import subprocess

    wanted = (ROOT / "bench/requirements-peers.txt").read_text()
    stamp = PEER_LIB / ".requirements"
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--upgrade", "--target", str(PEER_LIB), "-r",
                        str(ROOT / "bench/requirements-peers.txt")], check=True)
        stamp.write_text(wanted)
    sys.path.append(str(PEER_LIB))


def setup_django() -> None:
    os.environ["NEIXIANG_DB_NAME"] = DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.pop("DATABASE_URL", None)
    from config import localdb

    localdb.DB_NAME = DB
    localdb.start()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ensure_demo(parcels: int, projects: int, seed: int) -> None:
    from approvals_link.models import Project
    from layers.demo.loader import load_demo
    from layers.models import Layer

    kg = Layer.objects.filter(code="KGDK").first()
    have = kg.versions.filter(state="published").first().feature_count if kg and \
        kg.versions.filter(state="published").exists() else 0
    if have == parcels and Project.objects.count() >= projects:
        print(f"demo present: {have} parcels, {Project.objects.count()} projects")
        return
    started = time.perf_counter()
    load_demo(seed=seed, parcels=parcels, projects=projects, replace=True)
    print(f"load_demo {parcels} parcels / {projects} projects: "
          f"{time.perf_counter() - started:.1f} s")


def bench_project(vertices: int = 200):
    """A project whose footprint is a 200-vertex ring over a parcel and its neighbours."""
    import numpy as np
    import shapely

    from approvals_link import services as approvals
    from approvals_link.conformity import receivers
    from approvals_link.models import Project
    from layers import crs
    from layers.models import Layer

    project = Project.objects.filter(project_code="2020-411325-47-01-999999").first()
    if project is not None:
        return project
    version_count = Layer.objects.get(code="KGDK").versions.get(state="published").feature_count
    parcel = (Layer.objects.get(code="KGDK").versions.get(state="published").features
              .order_by("feature_no")[min(5000, version_count - 1)])
    t = crs.transformer(4490, 4546)
    cx, cy = t.transform(*parcel.geom.centroid.coords)
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radius = 90 + 10 * np.sin(angles * 7)
    ring = shapely.Polygon(np.column_stack([cx + radius * np.cos(angles),
                                            cy + radius * np.sin(angles)]))
    back = crs.transformer(4546, 4490)
    geom = shapely.transform(ring, lambda xy: np.column_stack(back.transform(xy[:, 0],
                                                                             xy[:, 1])))
    project = approvals.upsert_project(project_code="2020-411325-47-01-999999",
                                       name="基准测试项目", applied_land_use_code="0701",
                                       proposed_far=2.0, proposed_density=30,
                                       proposed_green_ratio=30, proposed_height=40)
    with receivers.suspended():
        approvals.create_footprint(project, geom, source_name="bench")
    return project


def frame(sql: str, params: list | None = None):
    """A GeoDataFrame in EPSG:4546 from a query whose last column is a 4490 geometry."""
    import geopandas as gpd
    import shapely
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(sql.replace("geom FROM", "ST_AsBinary(geom) FROM"), params or [])
        rows = cur.fetchall()
    return gpd.GeoDataFrame({"id": [r[0] for r in rows]},
                            geometry=shapely.from_wkb([bytes(r[-1]) for r in rows]),
                            crs=4490).to_crs(4546)


def layer_frames(plan):
    """Each rule layer's published features as a GeoDataFrame in EPSG:4546 (untimed)."""

    frames = {}
    for rule in plan.rules:
        version = plan.versions.get(rule.layer_id)
        if version is None or version.pk in frames:
            continue
        frames[version.pk] = frame("SELECT id, geom FROM layers_feature "
                                   "WHERE version_id = %s", [version.pk])
    return frames


def peer_check(fp, frames, plan) -> float:
    """geopandas: the same overlays for one footprint GeoDataFrame (fp, EPSG:4546)."""
    import geopandas as gpd

    started = time.perf_counter()
    for rule in plan.rules:
        version = plan.versions[rule.layer_id]
        layer = frames[version.pk]
        if rule.kind == "must_lie_inside":
            inside = gpd.overlay(fp, layer, how="intersection", keep_geom_type=True)
            _ = fp.area.sum() - inside.area.sum()
        else:
            hits = gpd.overlay(fp, layer, how="intersection", keep_geom_type=True)
            _ = hits.area.sum()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--projects", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    add_peer_library()
    setup_django()

    import geopandas as gpd
    import numpy as np
    import shapely

    from approvals_link.conformity import engine, receivers
    from approvals_link.models import ProjectFootprint
    from layers import services
    from layers.importers.base import FeatureBatch
    from layers.models import Layer

    ensure_demo(args.parcels, args.projects, args.seed)
    project = bench_project()
    plan = engine.current_plan()
    frames = layer_frames(plan)
    fp = frame("SELECT id, geom FROM approvals_link_projectfootprint WHERE "
                          "project_id = %s", [project.pk])
    vertices = int(ProjectFootprint.objects.get(project=project).geom.num_points)

    ours, peer = [], []
    for _ in range(args.repeat):  # interleaved so machine noise hits both alike
        started = time.perf_counter()
        engine.run_check(project)
        ours.append(time.perf_counter() - started)
        peer.append(peer_check(fp, frames, plan))
    single = {"vertices": vertices, "rules": len(plan.rules),
              "ours_p50_ms": round(statistics.median(ours) * 1000, 2),
              "ours_p99_ms": round(percentile(ours, 0.99) * 1000, 2),
              "geopandas_p50_ms": round(statistics.median(peer) * 1000, 2),
              "geopandas_p99_ms": round(percentile(peer, 0.99) * 1000, 2)}
    single["speedup_p50"] = round(single["geopandas_p50_ms"] / single["ours_p50_ms"], 2)
    print("one full check:", json.dumps(single))

    kg = Layer.objects.get(code="KGDK")
    rechecks, peers, projects = [], [], 0
    footprints = frame("SELECT id, geom FROM approvals_link_projectfootprint")
    for r in range(args.rounds):
        current = kg.versions.get(state="published")
        # The amendment: the same parcels with FAR limits lowered on every 20th parcel.
        rows = list(current.features.order_by("feature_no").values_list(
            "geom", "parcel_no", "land_use_code", "far_max", "far_min", "density_max",
            "green_min", "height_max"))
        far = [(x[3] * (0.7 if i % 20 == r else 1.0)) if x[3] is not None else None
               for i, x in enumerate(rows)]
        geoms = shapely.from_wkb(np.asarray([bytes(x[0].wkb) for x in rows], dtype=object))
        batch = FeatureBatch(geoms,
                             {"DKBH": [x[1] for x in rows], "YDXZDM": [x[2] for x in rows],
                              "RJLSX": far, "RJLXX": [x[4] for x in rows],
                              "JZMDZ": [x[5] for x in rows], "LDLLX": [x[6] for x in rows],
                              "JZXG": [x[7] for x in rows]}, 4490, "bench")
        with receivers.suspended():
            version, _report = services.import_batch(kg, batch, source_name="amendment")
            services.publish_version(version)
        started = time.perf_counter()
        summary = engine.recheck_for_version(version, current)
        rechecks.append(time.perf_counter() - started)
        projects = summary.projects
        parcels = frame("SELECT id, geom FROM layers_feature WHERE version_id = %s",
                        [version.pk])
        started = time.perf_counter()
        overlaid = gpd.overlay(footprints, parcels, how="intersection", keep_geom_type=True)
        _ = overlaid.area.groupby(overlaid["id_1"]).sum()
        peers.append(time.perf_counter() - started)
        print(f"round {r + 1}: re-check {projects} projects {rechecks[-1]:.1f} s "
              f"({summary.changed} changed); geopandas overlay {peers[-1]:.1f} s")
        with receivers.suspended():
            current.refresh_from_db()
            services.delete_version(current)
    recheck = {"projects": projects, "ours_median_s": round(statistics.median(rechecks), 2),
               "geopandas_overlay_median_s": round(statistics.median(peers), 2)}
    print("re-check after a plan change:", json.dumps(recheck))


if __name__ == "__main__":
    main()
