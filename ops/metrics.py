"""Prometheus metrics (`/metrics`), safe across gunicorn workers.

prometheus_client runs in multi-process mode when PROMETHEUS_MULTIPROC_DIR is set (the
settings set it, under var/): every process writes its samples to memory-mapped files there
and a scrape merges them. Values that live in the database (connections, audit records, open
alerts) and registered gauge sources (outbox backlog, ...) are read at scrape time.

For other apps:
    ops.metrics.tile_cache_hit() / ops.metrics.tile_cache_miss()
    ops.metrics.register_gauge_source("neixiang_outbox_backlog", "Messages waiting", fn)
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def _forget_finished_test_runs(folder: Path) -> None:
    """A test run's folder (var/prometheus/test-<db>) would keep 1 MB files of every earlier
    run: drop those of processes that are gone. (A server's folder keeps them: its counters
    must survive a worker restart; `clear_metrics` empties it when the server starts.)"""
    for f in folder.glob("*.db"):
        pid = f.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            f.unlink(missing_ok=True)


if _MULTIPROC_DIR:  # must exist before the first sample is written
    Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    if Path(_MULTIPROC_DIR).name.startswith("test-") and Path("/proc/self").exists():
        _forget_finished_test_runs(Path(_MULTIPROC_DIR))

from prometheus_client import REGISTRY, Counter, Histogram  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

log = logging.getLogger(__name__)

PREFIX = "neixiang"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# The fixed set of service groups: request metrics never carry raw paths.
SERVICE_GROUPS = ("api", "ows", "tiles", "ogcapi", "blueprint", "admin", "accounts", "audit",
                  "ops", "static", "other")
_FIRST_SEGMENT_GROUP = {
    "api": "api", "ows": "ows", "tiles": "tiles", "ogcapi": "ogcapi",
    "blueprint": "blueprint", "projects": "blueprint",  # the project page is a map page
    "admin": "admin", "accounts": "accounts", "i18n": "accounts", "audit": "audit",
    "ops": "ops", "healthz": "ops", "readyz": "ops", "metrics": "ops", "static": "static",
}
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

HTTP_REQUESTS = Counter(f"{PREFIX}_http_requests", "HTTP requests by service group and status "
                        "class", ["service", "status"])
HTTP_LATENCY = Histogram(f"{PREFIX}_http_request_duration_seconds", "HTTP request latency "
                         "(until the response object is ready) by service group and status "
                         "class", ["service", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                                  30.0))
TILE_CACHE_NAME = f"{PREFIX}_tile_cache_requests"
TILE_CACHE = Counter(TILE_CACHE_NAME, "Tile cache look-ups by result",
                     ["result"])


def service_group(path: str) -> str:
    segment = path.lstrip("/").split("/", 1)[0]
    return _FIRST_SEGMENT_GROUP.get(segment, "other")


def status_class(status: int) -> str:
    cls = f"{status // 100}xx"
    return cls if cls in STATUS_CLASSES else "5xx"


@functools.cache
def _request_series(group: str, status_cls: str) -> tuple[Any, Any]:
    """The counter and histogram children of one service group and status class (a few
    dozen in all): `labels()` looks them up under a lock on every call."""
    return HTTP_REQUESTS.labels(group, status_cls), HTTP_LATENCY.labels(group, status_cls)


def observe_request(path: str, status: int, seconds: float) -> None:
    requests, latency = _request_series(service_group(path), status_class(status))
    requests.inc()
    latency.observe(seconds)


def tile_cache_hit(n: int = 1) -> None:
    """A tile served from the cache (the tiles app calls this)."""
    TILE_CACHE.labels("hit").inc(n)


def tile_cache_miss(n: int = 1) -> None:
    """A tile that had to be rendered (the tiles app calls this)."""
    TILE_CACHE.labels("miss").inc(n)


# --- Gauges read at scrape time -----------------------------------------------------------
@dataclass(frozen=True)
class GaugeSource:
    name: str
    help: str
    read: Callable[[], float | Mapping[Any, float]]
    labelnames: tuple[str, ...] = ()


_sources: dict[str, GaugeSource] = {}
_sources_lock = threading.Lock()


def register_gauge_source(name: str, help: str, read: Callable[[], Any],
                          labelnames: Iterable[str] = ()) -> None:
    """Expose `read()` as a gauge at every scrape. Without labelnames it returns a number;
    with them a mapping {label value or tuple of values: number}. Keep it fast (one query).
    Registering the same name again replaces the source."""
    with _sources_lock:
        _sources[name] = GaugeSource(name, help, read, tuple(labelnames))


def unregister_gauge_source(name: str) -> None:
    with _sources_lock:
        _sources.pop(name, None)


def _gauge_source_families() -> Iterable[GaugeMetricFamily]:
    with _sources_lock:
        sources = list(_sources.values())
    for src in sources:
        try:
            value = src.read()
            family = GaugeMetricFamily(src.name, src.help,
                                       labels=list(src.labelnames) or None)
            if src.labelnames:
                for key, v in dict(value).items():
                    family.add_metric([str(k) for k in (key if isinstance(key, tuple)
                                                        else (key,))], float(v))
            else:
                family.add_metric([], float(value))
        except Exception:  # one broken source must not break the scrape
            log.warning("gauge source %s failed", src.name, exc_info=True)
            continue
        yield family


def _database_families() -> Iterable[GaugeMetricFamily]:
    from django.db import connection
    from django.db.models import Count

    from audit.models import AuditRecord
    from ops.models import Alert

    up = GaugeMetricFamily(f"{PREFIX}_db_up", "1 if the database answered this scrape")
    try:
        with connection.cursor() as cur:
            cur.execute("""
                select count(*),
                       count(*) filter (where state = 'active'),
                       count(*) filter (where state = 'idle'),
                       count(*) filter (where state like 'idle in transaction%%'),
                       current_setting('max_connections')::int
                from pg_stat_activity where datname = current_database()""")
            total, active, idle, idle_tx, max_conn = cur.fetchone()
            # An exact count of a large append-only table is slow: estimate past a million.
            cur.execute("select reltuples::bigint from pg_class where oid = %s::regclass",
                        [AuditRecord._meta.db_table])
            estimate = cur.fetchone()[0]
            if estimate < 1_000_000:
                cur.execute(f'select count(*) from "{AuditRecord._meta.db_table}"')
                audit_records = cur.fetchone()[0]
            else:
                audit_records = estimate
        open_alerts = dict.fromkeys(Alert.Severity.values, 0)
        for row in (Alert.objects.filter(resolved_at__isnull=True).values("severity")
                    .annotate(n=Count("id"))):
            open_alerts[row["severity"]] = row["n"]
    except Exception:  # the scrape still answers, with db_up 0
        log.warning("metrics: database unavailable", exc_info=True)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    conns = GaugeMetricFamily(f"{PREFIX}_db_connections", "Connections to this database by "
                              "state (pg_stat_activity)", labels=["state"])
    for state, n in (("total", total), ("active", active), ("idle", idle),
                     ("idle_in_transaction", idle_tx)):
        conns.add_metric([state], n)
    yield conns
    yield GaugeMetricFamily(f"{PREFIX}_db_max_connections", "The server's max_connections",
                            value=max_conn)
    yield GaugeMetricFamily(f"{PREFIX}_audit_records", "Audit records stored (estimated "
                            "past one million)", value=audit_records)
    alerts = GaugeMetricFamily(f"{PREFIX}_alerts_open", "Open alerts by severity",
                               labels=["severity"])
    for severity, n in open_alerts.items():
        alerts.add_metric([severity], n)
    yield alerts


class _Exposition:
    """Everything /metrics shows: the merged process metrics, the tile cache hit ratio
    derived from them, and the scrape-time gauges."""

    def __init__(self, base: Any):
        self.base = base

    def collect(self) -> Iterable[Any]:
        hits = misses = 0.0
        for family in self.base.collect():
            if family.name == TILE_CACHE_NAME:
                for s in family.samples:
                    if s.name.endswith("_total"):
                        if s.labels.get("result") == "hit":
                            hits += s.value
                        elif s.labels.get("result") == "miss":
                            misses += s.value
            yield family
        if hits + misses:
            yield GaugeMetricFamily(f"{PREFIX}_tile_cache_hit_ratio", "Tile cache hits / "
                                    "look-ups since the metrics were reset",
                                    value=hits / (hits + misses))
        yield from _database_families()
        yield from _gauge_source_families()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def render() -> bytes:
    """The exposition text (Prometheus text format 0.0.4)."""
    path = multiprocess_dir()
    base = MultiProcessCollector(None, path=path) if path else REGISTRY
    return generate_latest(_Exposition(base))  # type: ignore[arg-type]


def clear_multiprocess_dir() -> int:
    """Delete the sample files of earlier server runs (call before the workers start)."""
    path = multiprocess_dir()
    if not path or not Path(path).is_dir():
        return 0
    removed = 0
    for f in Path(path).glob("*.db"):
        f.unlink(missing_ok=True)
        removed += 1
    return removed
