#!/usr/bin/env python
"""Import benchmark: our importer vs `ogr2ogr -f PostgreSQL` on the same 100 000-parcel file.

Runs in its own database (neixiang_bench_import on the project's cluster, or
BENCH_DATABASE_URL's server), never the demo one nor the one the MVT/WMS benchmarks use.
Steps: build the demo county at N parcels (timed: the `load_demo` figure), export its
regulatory-plan layer to a GeoPackage, then alternate rounds of the peer (ogr2ogr into a
fresh table, GiST index included, as ogr2ogr does by default) and our import (validation
included, into a new layer version), each run after VACUUM ANALYZE and CHECKPOINT. Reports
medians, the ratio, our peak memory and both sides' client CPU time.

    make bench-import                       # N=100000, 3 rounds
    .venv/bin/python bench/import_bench.py --parcels 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = str(ROOT / ".venv" / "bin" / "python")


def run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def child_usage(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Elapsed seconds, CPU seconds (user + system) and peak RSS (MB) of one child process,
    from its own wait4 rusage (CPU includes the import worker processes it forked and
    waited for; the peak is the largest single process, and the workers share the parent's
    pages). CPU seconds are steadier than elapsed time on a busy machine; neither counts
    the PostgreSQL server's share, for either side."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def drop_bench_versions(manage: list[str], env: dict[str, str]) -> None:
    """Leave the bench database small: drop the versions bench runs added, partitions
    included (deleting the rows alone would leave empty tables behind)."""
    run([*manage, "shell", "-c",
         "from layers.models import LayerVersion as V; from layers import services; "
         "[services.delete_version(v) for v in V.objects.filter(imported_by='bench')]"], env)


def settle(conninfo: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT, so that neither side's run shares the machine with
    autovacuum or a checkpoint working off the other's (or load_demo's) writes."""
    import psycopg

    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:  # e.g. a BENCH_DATABASE_URL role without pg_checkpoint
        print(f"(database not settled before the run: {exc})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("BENCH_DIR",
                                                                         "/tmp/bench-import")))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env["NEIXIANG_DB_NAME"] = "neixiang_bench_import"
    if "BENCH_DATABASE_URL" in env:
        env["DATABASE_URL"] = env["BENCH_DATABASE_URL"]
    else:
        env.pop("DATABASE_URL", None)
    from config import localdb

    os.environ["NEIXIANG_DB_NAME"] = "neixiang_bench_import"
    localdb.DB_NAME = "neixiang_bench_import"
    if "DATABASE_URL" not in env:
        localdb.start()
        pg = f"PG:host={localdb.socket_dir()} port={localdb.PORT} user={localdb.DB_USER} " \
             f"dbname=neixiang_bench_import"
    else:
        pg = "PG:" + env["DATABASE_URL"]

    manage = [PY, "manage.py"]
    # As installed (scripts/bootstrap.sh): the project's bytecode compiled, so that neither
    # a code change since nor PYTHONDONTWRITEBYTECODE puts compiling into the timed starts.
    run([PY, "-m", "compileall", "-q", "-x", r"/(\.venv|\.git|var)/", "."], env)
    run([*manage, "migrate", "--noinput", "-v", "0"], env)
    demo_s = run([*manage, "load_demo", "--parcels", str(args.parcels), "--projects", "1000",
                  "--seed", str(args.seed), "--replace", "-v", "0"], env)
    print(f"load_demo --parcels {args.parcels} --projects 1000: {demo_s:.1f} s")
    gpkg = args.workdir / f"kgdk-{args.parcels}.gpkg"
    run([*manage, "export_layer", "KGDK", str(gpkg)], env)
    print(f"file: {gpkg} ({gpkg.stat().st_size / 1e6:.1f} MB)")

    drop_bench_versions(manage, env)  # left by an interrupted run
    ours, peer, peaks, ours_cpu, peer_cpu = [], [], [], [], []
    for r in range(args.rounds):
        settle(pg[3:])
        t_peer, c_peer, _ = child_usage(
            ["ogr2ogr", "-f", "PostgreSQL", pg, str(gpkg), "-nln", "bench_peer_parcels",
             "-overwrite", "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES"], env)
        report_path = args.workdir / "import-report.json"
        settle(pg[3:])
        t_ours, c_ours, peak = child_usage(
            [*manage, "import_layer", "KGDK", str(gpkg), "--by", "bench", "-v", "0",
             "--report", str(report_path)], env)
        workers = json.loads(report_path.read_text()).get("workers", 1)
        peer.append(t_peer)
        ours.append(t_ours)
        peaks.append(peak)
        peer_cpu.append(c_peer)
        ours_cpu.append(c_ours)
        print(f"round {r + 1}: ogr2ogr {t_peer:.2f} s, ours {t_ours:.2f} s "
              f"(ratio {t_ours / t_peer:.2f}, {workers} worker processes), our peak RSS "
              f"{peak:.0f} MB; client CPU ogr2ogr {c_peer:.2f} s, ours {c_ours:.2f} s")
    drop_bench_versions(manage, env)
    result = {
        "parcels": args.parcels, "rounds": args.rounds,
        "load_demo_s": round(demo_s, 2),
        "ogr2ogr_median_s": round(statistics.median(peer), 2),
        "ours_median_s": round(statistics.median(ours), 2),
        "ratio_median": round(statistics.median(o / p for o, p in zip(ours, peer,
                                                                      strict=True)), 2),
        "our_peak_rss_mb": round(max(peaks)),
        "ogr2ogr_cpu_median_s": round(statistics.median(peer_cpu), 2),
        "ours_cpu_median_s": round(statistics.median(ours_cpu), 2),
        "self_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=2))
    (args.workdir / "result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
