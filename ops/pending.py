"""Alerts raised while the database is unreachable: they cannot be stored, so they are
notified at once and kept in a small JSON file under var/ (shared by the workers of one host
through a file lock) until the database is back and ops.alerts stores them."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ops import conf


def _dir() -> Path:
    path = Path(conf.get("OPS_STATE_DIR"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def file_lock(name: str, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on var/ops/<name>; yields False when not blocking and busy."""
    with open(_dir() / name, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _path() -> Path:
    return _dir() / "pending-alerts.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text())
    except (FileNotFoundError, ValueError):
        return {"alerts": {}, "meta": {}}
    data.setdefault("alerts", {})
    data.setdefault("meta", {})
    return data


def _write(data: dict[str, Any]) -> None:
    tmp = _path().with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, default=str))
    os.replace(tmp, _path())


@contextlib.contextmanager
def editing() -> Iterator[dict[str, Any]]:
    """{"alerts": {"rule|key": {...}}, "meta": {...}} under the lock, written back after."""
    with file_lock("pending.lock"):
        data = _read()
        yield data
        _write(data)


def load() -> dict[str, dict[str, Any]]:
    with file_lock("pending.lock"):
        return _read()["alerts"]


def remove(entries: dict[str, dict[str, Any]]) -> None:
    """Forget entries once stored (unless they changed meanwhile)."""
    with editing() as data:
        for k, v in entries.items():
            if data["alerts"].get(k) == v:
                del data["alerts"][k]


def key(rule: str, alert_key: str) -> str:
    return f"{rule}|{alert_key}"
