#!/usr/bin/env python
"""CPU seconds per process group over a window: where a load run's time goes.

Groups: our gunicorn (the master given and its workers), our PostgreSQL backends (children
of our cluster's postmaster connected to --db), the peer cluster's backends and parallel
workers, tipg, wrk, everything else (other users of the machine). Short-lived processes
that start and end inside the window (PostgreSQL parallel workers) are not seen; the
service runs without them.

    .venv/bin/python bench/mvt_cpu.py --seconds 12 --gunicorn 1234 --requests-from out.txt
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def snapshot() -> dict[int, tuple[int, int, str]]:
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(proc.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]), cmd)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--gunicorn", type=int, required=True, help="our gunicorn master pid")
    ap.add_argument("--postmaster", type=int, required=True, help="our cluster's postmaster")
    ap.add_argument("--db", default="neixiang_bench")
    ap.add_argument("--requests-from", help="load.sh output file: per-request figures")
    args = ap.parse_args()
    a = snapshot()
    time.sleep(args.seconds)
    b = snapshot()
    groups: dict[str, float] = {}
    for pid, (ppid, ticks, cmd) in b.items():
        delta = ticks - a.get(pid, (0, 0, ""))[1]
        if delta <= 0:
            continue
        if pid == args.gunicorn or ppid == args.gunicorn:
            key = "our gunicorn"
        elif ppid == args.postmaster and f" {args.db} " in cmd:
            key = "our postgres"
        elif "venv-tipg" in cmd:
            key = "tipg"
        elif cmd.startswith("postgres: ") and (" bench " in cmd or "parallel worker" in cmd):
            key = "peer postgres (tipg)"
        elif cmd.startswith("wrk "):
            key = "wrk"
        else:
            key = "other processes"
        groups[key] = groups.get(key, 0) + delta / HZ
    line = " ".join(f"{k.replace(' ', '_')}={v:.2f}s" for k, v in
                    sorted(groups.items(), key=lambda kv: -kv[1]))
    if args.requests_from and Path(args.requests_from).exists():
        text = Path(args.requests_from).read_text()
        m = re.search(r"rps=([0-9.]+)", text)
        if m:
            n = float(m.group(1)) * args.seconds
            line += (f" | per request: gunicorn {groups.get('our gunicorn', 0) / n * 1000:.2f} ms,"
                     f" postgres {groups.get('our postgres', 0) / n * 1000:.2f} ms")
    print(f"mvt_cpu ({args.seconds:.0f} s): {line}")


if __name__ == "__main__":
    main()
