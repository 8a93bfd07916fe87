#!/usr/bin/env python
"""Fetch every distinct path of a request list once; report tile sizes per zoom.

Used by bench/mvt_bench.sh to fill the cached server's tile cache before the "cached" pass
and to find the largest tile of the uncached server (every tile of the list, z12-16).

    .venv/bin/python bench/mvt_warm.py http://127.0.0.1:8201 /tmp/bench/mvt/urls.txt \
        --threads 4 --json sizes.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("paths")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--json", help="write per-zoom size statistics here")
    args = ap.parse_args()
    with open(args.paths) as f:
        paths = sorted({line.strip() for line in f if line.strip()})
    session_per_thread: dict[int, requests.Session] = {}

    def fetch(path: str) -> tuple[str, int, int]:
        import threading

        s = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        r = s.get(args.base + path, timeout=120)
        return path, r.status_code, len(r.content)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(fetch, paths))
    bad = [(p, c) for p, c, _ in results if c != 200]
    by_zoom: dict[int, list[int]] = {}
    for p, _, n in results:
        z = int(p.split("/")[3])
        by_zoom.setdefault(z, []).append(n)
    stats = {str(z): {"tiles": len(v), "max_bytes": max(v), "p50_bytes": int(statistics.median(v)),
                      "empty": sum(1 for n in v if n == 0)} for z, v in sorted(by_zoom.items())}
    largest = max(results, key=lambda r: r[2])
    summary = {"distinct_paths": len(paths), "seconds": round(time.perf_counter() - started, 1),
               "non_200": len(bad), "largest": {"path": largest[0], "bytes": largest[2]},
               "by_zoom": stats}
    print(f"mvt_warm: {len(paths)} tiles in {summary['seconds']} s, {len(bad)} not 200; "
          f"largest {largest[2] / 1024:.1f} KB ({largest[0]})")
    for z, s in stats.items():
        print(f"  z{z}: {s['tiles']} tiles, median {s['p50_bytes'] / 1024:.1f} KB, "
              f"max {s['max_bytes'] / 1024:.1f} KB, empty {s['empty']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    if bad:
        print(f"mvt_warm: first failures: {bad[:5]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
