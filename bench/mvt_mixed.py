#!/usr/bin/env python
"""N mixed requests against one gunicorn, then each worker's resident memory (RSS).

The mix (deterministic, --seed): vector tiles z0-22 over the data and far outside it (cache
hits and misses, empty tiles), half of them asking for gzip, revalidations with
If-None-Match (304), bad addresses and unknown layers (400/404), and the layer list API.
(No WMTS: its generated MapProxy files under var/mapproxy are named by generation, and the
bench database's would collide with those of a server on the demo database.)
Reports the status counts and, per worker (children of the gunicorn master), VmRSS before
and after and VmHWM (peak).

    .venv/bin/python bench/mvt_mixed.py http://127.0.0.1:8202 --master-pid 1234 -n 10000
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

EXTENT = (111.6, 32.9, 112.1, 33.4)  # the peer dataset (make_dataset.py)


def tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = min(n - 1, int((lon + 180) / 360 * n))
    y = min(n - 1, int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))
    return z, x, y


def plan(n: int, seed: int, layer: str) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rng.random()
        headers = {"Accept-Encoding": "gzip"} if rng.random() < 0.5 else {}
        if kind < 0.80:  # vector tiles over the data, any zoom
            z = rng.choice([*range(0, 12), *([12, 13, 14, 15, 16] * 4), *range(17, 23)])
            z, x, y = tile(rng.uniform(EXTENT[0], EXTENT[2]), rng.uniform(EXTENT[1], EXTENT[3]),
                           z)
            out.append((f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers | {"_etag": "1"}
                        if rng.random() < 0.1 else headers))
        elif kind < 0.87:  # empty vector tiles far away
            z = rng.randint(5, 20)
            out.append((f"/tiles/{layer}/{z}/{rng.randrange(2**z)}/0.mvt", headers))
        elif kind < 0.94:  # bad input
            out.append((rng.choice([f"/tiles/{layer}/23/0/0.mvt", f"/tiles/{layer}/-1/0/0.mvt",
                                    f"/tiles/{layer}/3/9/0.mvt", f"/tiles/{layer}/a/b/c.mvt",
                                    "/tiles/NOPE/3/1/1.mvt"]), {}))
        else:
            out.append(("/api/layers", {}))
    return out


def rss_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(c) for c in children]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("--master-pid", type=int, required=True)
    ap.add_argument("-n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--layer", default="parcels")
    args = ap.parse_args()
    pids = workers(args.master_pid)
    before = {p: rss_kb(p) for p in pids}
    requests_plan = plan(args.n, args.seed, args.layer)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def one(item: tuple[str, dict]) -> None:
        path, headers = item
        s = getattr(local, "s", None) or requests.Session()
        local.s = s
        headers = dict(headers)
        revalidate = headers.pop("_etag", None)
        r = s.get(args.base + path, headers=headers, timeout=120)
        codes = [r.status_code]
        if revalidate and r.headers.get("ETag"):
            codes.append(s.get(args.base + path, timeout=120, headers={
                **headers, "If-None-Match": r.headers["ETag"]}).status_code)
        with lock:
            statuses.update(codes)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(one, requests_plan))
    seconds = time.perf_counter() - started
    after = {p: rss_kb(p) for p in pids if Path(f"/proc/{p}").exists()}
    total = sum(statuses.values())
    print(f"mvt_mixed: {total} requests in {seconds:.0f} s; status "
          + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    for p in pids:
        b, a = before[p], after.get(p)
        if a is None:
            print(f"  worker {p}: EXITED during the run (restarted by gunicorn?)")
            continue
        print(f"  worker {p}: RSS {b['VmRSS'] / 1024:.0f} MB -> {a['VmRSS'] / 1024:.0f} MB, "
              f"peak {a['VmHWM'] / 1024:.0f} MB")
    worst = max((a["VmRSS"] for a in after.values()), default=0) / 1024
    print(f"mvt_mixed: largest worker RSS after {total} requests: {worst:.0f} MB "
          f"({'under' if worst < 300 else 'OVER'} 300 MB)")


if __name__ == "__main__":
    main()
