"""The project's own PostGIS cluster under var/, for when DATABASE_URL is not set.

A newcomer needs no database administration: `python -m config.localdb start` creates the
cluster on first use (initdb), starts it on a unix socket only (no TCP port to collide with)
and creates the database. Stdlib only, because it runs before the virtualenv is complete.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("NEIXIANG_VAR_DIR", ROOT / "var")).resolve()
DATA_DIR = VAR / "pg" / "data"
LOG_FILE = VAR / "pg" / "server.log"
PORT = 5432
DB_NAME = os.environ.get("NEIXIANG_DB_NAME", "neixiang")
DB_USER = "postgres"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def socket_dir() -> Path:
    """Unix socket paths are limited to 107 bytes; deep clones get a short /tmp folder."""
    preferred = VAR / "pg" / "run"
    if len(str(preferred)) + len(f"/.s.PGSQL.{PORT}") < 100:
        return preferred
    digest = hashlib.sha1(str(VAR).encode()).hexdigest()[:10]
    return Path(f"/tmp/neixiang-pg-{digest}")


def django_database_settings() -> dict:
    return {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": DB_NAME,
        "USER": DB_USER,
        "HOST": str(socket_dir()),
        "PORT": str(PORT),
    }


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _owner_ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        return pw.pw_uid, pw.pw_gid
    return os.geteuid(), os.getegid()


def _prepare_dirs() -> None:
    uid, gid = _owner_ids()
    for d in (VAR / "pg", socket_dir()):
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, uid, gid)


def is_running() -> bool:
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    res = subprocess.run(
        _as_cluster_owner([str(PG_BIN / "pg_ctl"), "-D", str(DATA_DIR), "status"]),
        capture_output=True,
    )
    return res.returncode == 0


def _psql(sql: str, db: str = "postgres") -> str:
    res = subprocess.run(
        ["psql", "-h", str(socket_dir()), "-p", str(PORT), "-U", DB_USER, "-d", db,
         "-tAc", sql],
        capture_output=True, text=True, check=True,
    )
    return res.stdout.strip()


def start() -> None:
    if not (PG_BIN / "initdb").exists():
        sys.exit(f"PostgreSQL 15 server binaries not found in {PG_BIN}; run `make setup` first.")
    _prepare_dirs()
    if not (DATA_DIR / "PG_VERSION").exists():
        print(f"creating PostGIS cluster in {DATA_DIR}")
        subprocess.run(
            _as_cluster_owner([str(PG_BIN / "initdb"), "-D", str(DATA_DIR), "-A", "trust",
                               "-U", DB_USER, "-E", "UTF8", "--locale=C.UTF-8"]),
            check=True, stdout=subprocess.DEVNULL,
        )
    if not is_running():
        opts = (f"-k {socket_dir()} -p {PORT} -c listen_addresses='' "
                "-c shared_buffers=256MB -c max_connections=200 -c fsync=on")
        subprocess.run(
            _as_cluster_owner([str(PG_BIN / "pg_ctl"), "-D", str(DATA_DIR), "-l", str(LOG_FILE),
                               "-o", opts, "-w", "-t", "60", "start"]),
            check=True, stdout=subprocess.DEVNULL,
        )
    for _ in range(50):
        try:
            _psql("select 1")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.2)
    if _psql(f"select 1 from pg_database where datname = '{DB_NAME}'") != "1":
        _psql(f'create database "{DB_NAME}"')
    _psql("create extension if not exists postgis", db=DB_NAME)


def stop() -> None:
    if is_running():
        subprocess.run(
            _as_cluster_owner([str(PG_BIN / "pg_ctl"), "-D", str(DATA_DIR), "-m", "fast",
                               "-w", "stop"]),
            check=True, stdout=subprocess.DEVNULL,
        )


def destroy() -> None:
    stop()
    shutil.rmtree(VAR / "pg", ignore_errors=True)


if __name__ == "__main__":
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    if action == "start":
        start()
    elif action == "stop":
        stop()
    elif action == "status":
        print("running" if is_running() else "stopped")
    elif action == "destroy":
        destroy()
    else:
        sys.exit(f"unknown action {action}; use start|stop|status|destroy")
