"""In-process alert evaluation for the web app.

A daemon thread per process, started lazily by the first request (OPS_BACKGROUND_ENABLED;
off in tests unless a test turns it on). Every OPS_TALLY_FLUSH_SECONDS it adds the process's
request counts to the database; every ALERT_INTERVAL_SECONDS it offers to evaluate the alert
rules (unless ALERT_SCHEDULER_ENABLED is off: then `manage.py evaluate_alerts --loop N`). A PostgreSQL advisory lock plus the last start time in EvaluatorState make one
evaluation per interval across all workers and hosts. With the database unreachable, a file
lock under var/ops/ keeps it to one evaluator per host.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import threading
import time
from collections.abc import Iterator

from django.db import close_old_connections, connection
from django.utils import timezone

from ops import alerts, conf, pending, tally

log = logging.getLogger(__name__)

# pg_try_advisory_lock key: "nxops" as a number, the same in every process of the service.
ADVISORY_LOCK_KEY = int.from_bytes(b"nxops", "big")

RAN, RAN_OFFLINE, BUSY, NOT_DUE = "ran", "ran offline", "busy", "not due"


@contextlib.contextmanager
def advisory_lock(key: int = ADVISORY_LOCK_KEY) -> Iterator[bool]:
    """A session-level advisory lock on this thread's connection (released on exit, or by
    the server if the connection dies)."""
    with connection.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s)", [key])
        got = cur.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            try:
                with connection.cursor() as cur:
                    cur.execute("select pg_advisory_unlock(%s)", [key])
            except alerts.DB_DOWN:
                pass  # the connection is gone, and the lock with it


def _due(last: dt.datetime | None, interval: float) -> bool:
    return last is None or timezone.now() - last >= dt.timedelta(seconds=interval * 0.9)


def evaluate_if_due(interval: float | None = None, *, force: bool = False) -> str:
    """Evaluate unless another process is evaluating or did so less than an interval ago."""
    interval = float(conf.get("ALERT_INTERVAL_SECONDS") if interval is None else interval)
    try:
        with advisory_lock() as got:
            if not got:
                return BUSY
            from ops.models import EvaluatorState

            state = EvaluatorState.get()
            if not force and not _due(state.last_started, interval):
                return NOT_DUE
            state.last_started = timezone.now()
            state.save(update_fields=["last_started"])
            report = alerts.evaluate()
            if report.offline:
                return RAN_OFFLINE
            state.refresh_from_db()
            state.last_finished = timezone.now()
            state.last_summary = report.summary()
            state.save(update_fields=["last_finished", "last_summary"])
            return RAN
    except alerts.DB_DOWN:
        pass
    with pending.file_lock("evaluate.lock", blocking=False) as got:
        if not got:
            return BUSY
        with pending.editing() as data:
            last = data["meta"].get("last_offline_run")
        if not force and not _due(dt.datetime.fromisoformat(last) if last else None, interval):
            return NOT_DUE
        alerts.evaluate()
        return RAN_OFFLINE


class Scheduler:
    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.pid: int | None = None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.runs = 0  # evaluations attempted by this process (for tests and the page)

    def running(self) -> bool:
        return self.thread is not None and self.pid == os.getpid() and self.thread.is_alive()

    def ensure_started(self) -> None:
        if self.running() or not conf.get("OPS_BACKGROUND_ENABLED"):
            return
        with self.lock:
            if self.running():
                return
            self.stop_event = threading.Event()
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._loop, name="ops-alerts", daemon=True,
                                           args=(self.stop_event,))
            self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        with self.lock:
            thread, self.thread = self.thread, None
            self.stop_event.set()
        if thread is not None and thread.is_alive():
            thread.join(timeout)

    def _loop(self, stop: threading.Event) -> None:
        # Start at a random point of the first interval so workers do not all ask at once.
        next_eval = time.monotonic() + random.uniform(0, min(
            5.0, float(conf.get("ALERT_INTERVAL_SECONDS"))))
        while not stop.is_set():
            interval = float(conf.get("ALERT_INTERVAL_SECONDS"))
            flush_every = float(conf.get("OPS_TALLY_FLUSH_SECONDS"))
            try:
                close_old_connections()
                tally.flush()
                if time.monotonic() >= next_eval and conf.get("ALERT_SCHEDULER_ENABLED"):
                    next_eval = time.monotonic() + interval
                    self.runs += 1
                    outcome = evaluate_if_due(interval)
                    log.debug("alert evaluation: %s", outcome)
            except Exception:
                log.exception("alert scheduler tick failed")
            finally:
                close_old_connections()
            stop.wait(max(0.05, min(flush_every, next_eval - time.monotonic())))
        connection.close()


scheduler = Scheduler()
ensure_started = scheduler.ensure_started
