"""Monitoring: /readyz, /metrics, alert rules and notifications, the operations page.

Everything is real: PostGIS, the WSGI stack through Django's test client, a local HTTP
server for the webhook, Django's locmem mail backend, an unreachable database made by
pointing the connection at a socket folder that does not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import statistics
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.access import public
from accounts.roles import Role
from audit.models import AuditRecord
from ops import alerts, errors, metrics, pending, readiness, scheduler, tally
from ops.models import Alert, ErrorEvent, EvaluatorState, RequestTally
from ops.rules import (
    AuditChainBroken,
    DatabaseUnreachable,
    ErrorRateSpike,
    Rule,
    SignInBruteForce,
)
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.django_db

# Nothing listens on port 1: the connection is refused at once.
BAD_DSN = "host=127.0.0.1 port=1 dbname=nothing user=nobody"


# --- A test-only URL configuration: the site plus views that fail --------------------------
@public
def boom(request):
    raise RuntimeError("测试用的故障 (test failure)")


@public
def unavailable(request):
    return HttpResponse("down", status=503)


SECRET = "nx_deadbeef_" + "s" * 43


@public
def library_error(request):
    logging.getLogger("mapproxy.wsgiapp").error(
        "fatal error in wms for /wms?SERVICE=WMS&REQUEST=GetMap&TOKEN=%s", SECRET)
    return HttpResponse("error", status=500)


def __getattr__(name: str):
    # This module is also the URL configuration of the tests marked urls("tests.test_ops"):
    # the site's URLs are included only when a request resolves them.
    if name == "urlpatterns":
        return [path("test-boom/", boom), path("test-unavailable/", unavailable),
                path("test-library-error/", library_error), path("", include("config.urls"))]
    raise AttributeError(name)


@pytest.fixture(autouse=True)
def isolated_ops(settings, tmp_path):
    """Each test: its own state folder (pending alerts, locks) and tile cache, no request
    counts left over from other tests, default rules' thresholds as configured."""
    settings.OPS_STATE_DIR = tmp_path / "ops-state"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.ALERT_EMAILS = []
    settings.ALERT_WEBHOOK_URL = ""
    settings.ALERT_WEBHOOK_RETRY_DELAY_SECONDS = 0
    settings.OPS_BACKGROUND_ENABLED = False
    with tally._lock:
        tally._pending.clear()
    errors._budget.update(minute=0, used=0)
    yield
    with tally._lock:
        tally._pending.clear()


def raw_client(**kwargs) -> Client:
    return Client(raise_request_exception=False, **kwargs)


# --- /readyz ------------------------------------------------------------------------------
def test_readyz_is_ready_fast_and_says_nothing_sensitive(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["postgis"]["status"] == "ok"
    assert checks["tile_cache"]["status"] == "ok"
    # The map services register their own check (tiles/apps.py): ready with no data too.
    assert checks["map_services"] == {"status": "ok", "services": {"wms_wmts": "ok"}}
    assert settings.TILE_CACHE_DIR.is_dir()  # created when missing
    text = response.content.decode()
    for secret in (str(settings.VAR_DIR), str(settings.TILE_CACHE_DIR),
                   connection.settings_dict["NAME"], str(connection.settings_dict["HOST"])):
        assert secret not in text
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        assert client.get("/readyz").status_code == 200
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.05, timings


def test_readyz_503_names_the_tile_cache_when_it_is_not_a_writable_folder(client, settings,
                                                                          tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.TILE_CACHE_DIR = blocker
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    # The map services cannot work without their cache either.
    assert body["status"] == "unavailable"
    assert body["failed"] == ["tile_cache", "map_services.wms_wmts"]
    assert body["checks"]["tile_cache"] == {"status": "fail", "detail": "not writable"}
    assert body["checks"]["database"]["status"] == "ok"
    assert str(blocker) not in response.content.decode()


def test_readyz_map_service_checks_from_the_registry(client):
    readiness.register("wms", lambda: True)
    readiness.register("wmts", lambda: None)
    try:
        body = client.get("/readyz").json()
        assert body["checks"]["map_services"] == {
            "status": "ok", "services": {"wms": "ok", "wmts": "ok", "wms_wmts": "ok"}}

        def broken():
            raise OSError("mapproxy.yaml missing")

        readiness.register("wmts", broken)
        readiness.register("mvt", lambda: False)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["failed"] == ["map_services.mvt", "map_services.wmts"]
        assert "mapproxy.yaml" not in response.content.decode()
    finally:
        for name in ("wms", "wmts", "mvt"):
            readiness.unregister(name)


# --- /metrics -----------------------------------------------------------------------------
def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_service_groups_are_a_fixed_small_set():
    cases = {"/api/layers": "api", "/ows/wms": "ows", "/tiles/KGDK/1/2/3.mvt": "tiles",
             "/ogcapi/collections": "ogcapi", "/ogcapi": "ogcapi", "/blueprint/": "blueprint",
             "/projects/2024-1/": "blueprint", "/admin/": "admin",
             "/accounts/login/": "accounts", "/audit/": "audit", "/ops/": "ops",
             "/healthz": "ops", "/readyz": "ops", "/metrics": "ops",
             "/static/css/site.css": "static", "/": "other", "/wp-login.php": "other",
             "/apix/": "other"}
    for path_, group in cases.items():
        assert metrics.service_group(path_) == group, path_
    assert set(cases.values()) <= set(metrics.SERVICE_GROUPS)
    assert [metrics.status_class(s) for s in (200, 302, 404, 503, 999)] == [
        "2xx", "3xx", "4xx", "5xx", "5xx"]


def test_metrics_parse_and_count_requests_by_group():
    client = raw_client()  # whatever the map services answer, even an error, is counted
    before = scrape(client)
    for url in ("/healthz", "/healthz", "/api/layers", "/ows/wms", "/tiles/X/1/2/3.mvt",
                "/no/such/page/12345", "/static/css/site.css"):
        client.get(url)
    after = scrape(client)

    def delta(service, status=None):
        name = "neixiang_http_requests_total"
        statuses = [status] if status else metrics.STATUS_CLASSES
        return sum(value(after, name, service=service, status=s)
                   - value(before, name, service=service, status=s) for s in statuses)

    # The first scrape itself counts under ops/2xx as well.
    assert delta("ops", "2xx") == 3
    assert delta("api", "2xx") == 1
    assert delta("other", "4xx") == 1
    assert delta("static", "2xx") == 1
    # Map services answer as their apps decide (not found, or not configured yet).
    assert delta("ows") == 1 and delta("tiles") == 1
    hist = "neixiang_http_request_duration_seconds_count"
    assert value(after, hist, service="api", status="2xx") - value(
        before, hist, service="api", status="2xx") == 1
    assert value(after, "neixiang_http_request_duration_seconds_bucket", service="api",
                 status="2xx", le="+Inf") >= 1
    # Labels never carry raw paths.
    services = {dict(labels).get("service") for (name, labels) in after
                if name.startswith("neixiang_http_")}
    assert services <= set(metrics.SERVICE_GROUPS)


def test_tile_cache_counters_and_hit_ratio(client):
    before = scrape(client)
    metrics.tile_cache_hit()
    metrics.tile_cache_hit(2)
    metrics.tile_cache_miss()
    after = scrape(client)
    name = "neixiang_tile_cache_requests_total"
    assert value(after, name, result="hit") - value(before, name, result="hit") == 3
    assert value(after, name, result="miss") - value(before, name, result="miss") == 1
    hits, misses = value(after, name, result="hit"), value(after, name, result="miss")
    assert value(after, "neixiang_tile_cache_hit_ratio") == pytest.approx(hits / (hits + misses))


def test_metrics_database_and_audit_gauges(client):
    AuditRecord.objects.create(event_type="test.event", subject="t", result="success")
    Alert.objects.create(rule="r", key="k", severity="warning", message="m",
                         first_seen=timezone.now(), last_seen=timezone.now())
    samples = scrape(client)
    assert value(samples, "neixiang_db_up") == 1
    assert value(samples, "neixiang_db_connections", state="total") >= 1
    assert value(samples, "neixiang_db_connections", state="active") >= 1  # this scrape
    assert value(samples, "neixiang_db_max_connections") > 0
    assert value(samples, "neixiang_audit_records") == AuditRecord.objects.count()
    assert value(samples, "neixiang_alerts_open", severity="warning") == 1
    assert value(samples, "neixiang_alerts_open", severity="critical") == 0


def test_gauge_sources_registered_by_other_apps(client):
    metrics.register_gauge_source("neixiang_outbox_backlog", "Messages waiting", lambda: 7)
    metrics.register_gauge_source("neixiang_outbox_backlog_by_target", "Waiting per target",
                                  lambda: {"province": 3, "nation": 1}, labelnames=["target"])
    metrics.register_gauge_source("neixiang_broken", "Raises", lambda: 1 / 0)
    try:
        samples = scrape(client)
    finally:
        for name in ("neixiang_outbox_backlog", "neixiang_outbox_backlog_by_target",
                     "neixiang_broken"):
            metrics.unregister_gauge_source(name)
    assert value(samples, "neixiang_outbox_backlog") == 7
    assert value(samples, "neixiang_outbox_backlog_by_target", target="province") == 3
    assert not any(name == "neixiang_broken" for name, _ in samples)
    assert ("neixiang_outbox_backlog", frozenset()) not in scrape(client)


def test_metrics_forbidden_from_addresses_not_allowed(client, settings):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert b"neixiang_" not in response.content
    assert AuditRecord.objects.filter(event_type="access.denied", object="/metrics",
                                      source_ip="10.1.2.3").exists()
    # Through a local proxy: the client the proxy names is judged too.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="evil, 127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics").status_code == 403  # 127.0.0.1 no longer listed


def test_clear_metrics_removes_sample_files_of_earlier_runs(tmp_path, monkeypatch):
    folder = tmp_path / "prom"
    folder.mkdir()
    for name in ("counter_111.db", "histogram_111.db", "keep.txt"):
        (folder / name).write_text("")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    out = io.StringIO()
    call_command("clear_metrics", stdout=out)
    assert "removed 2 metrics file(s)" in out.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


# --- Errors -------------------------------------------------------------------------------
@pytest.mark.urls("tests.test_ops")
def test_errors_are_recorded_once_with_their_traceback():
    c = raw_client()
    assert c.get("/test-boom/?token=secret-value").status_code == 500
    assert c.get("/test-unavailable/").status_code == 503
    events = list(ErrorEvent.objects.order_by("id"))
    assert len(events) == 2
    raised, returned = events
    assert raised.logger == "django.request" and raised.status_code == 500
    assert raised.path == "/test-boom/" and "RuntimeError" in raised.traceback
    assert "secret-value" not in raised.path + raised.message
    assert returned.logger == "ops.response" and returned.status_code == 503
    assert returned.path == "/test-unavailable/" and returned.traceback == ""


@pytest.mark.urls("tests.test_ops")
def test_an_error_a_library_logs_is_attached_to_its_request_and_scrubbed():
    c = raw_client()
    assert c.get("/test-library-error/").status_code == 500
    event = ErrorEvent.objects.get()  # one event for the request, not two
    assert event.logger == "mapproxy.wsgiapp" and event.status_code == 500
    assert event.path == "/test-library-error/" and event.method == "GET"
    assert SECRET not in event.message and "TOKEN=***" in event.message


def test_scrub_removes_secrets():
    from ops.errors import scrub

    text = scrub(f"a?token={SECRET}&x=1 password=hunter2 Authorization: Bearer abc.def "
                 f"raw {SECRET}")
    assert "hunter2" not in text and "abc.def" not in text and SECRET not in text
    assert "x=1" in text and "nx_deadbeef_***" in text


def test_error_logs_outside_requests_are_recorded():
    try:
        raise ValueError("导入任务失败")
    except ValueError:
        logging.getLogger("layers.jobs").exception("import job failed")
    logging.getLogger("layers.jobs").warning("only a warning")
    event = ErrorEvent.objects.get()
    assert event.logger == "layers.jobs" and "ValueError" in event.traceback


def test_an_error_storm_is_not_a_write_storm(settings):
    settings.OPS_ERROR_EVENTS_PER_MINUTE = 3
    for i in range(5):
        logging.getLogger("layers.jobs").error("failure %s", i)
    assert ErrorEvent.objects.count() == 3


# --- Alert rules --------------------------------------------------------------------------
def test_database_unreachable_fires_dedups_and_resolves():
    bad = DatabaseUnreachable(dsn=BAD_DSN, timeout=2)
    report = alerts.evaluate(rules=[bad])
    assert [a.rule for a in report.opened] == ["database_unreachable"]
    alert = Alert.objects.get()
    assert alert.severity == "critical" and alert.key == "default" and alert.count == 1
    assert alert.details["error"] == "OperationalError"
    later = timezone.now() + dt.timedelta(minutes=1)
    report = alerts.evaluate(now=later, rules=[bad])
    assert report.opened == [] and len(report.updated) == 1
    alert = Alert.objects.get()  # still one record
    assert alert.count == 2 and alert.last_seen == later and alert.resolved_at is None
    # The real database (the test database's settings) answers: resolved.
    report = alerts.evaluate(now=later + dt.timedelta(minutes=1),
                             rules=[DatabaseUnreachable()])
    assert [a.pk for a in report.resolved] == [alert.pk]
    alert.refresh_from_db()
    assert alert.resolved_at == later + dt.timedelta(minutes=1) and alert.resolved_by == ""


def test_a_manually_resolved_alert_reopens_as_a_new_one_if_the_rule_still_fires():
    bad = DatabaseUnreachable(dsn=BAD_DSN, timeout=2)
    alerts.evaluate(rules=[bad])
    Alert.objects.update(resolved_at=timezone.now(), resolved_by="sysadmin")
    alerts.evaluate(rules=[bad])
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_a_failing_or_skipped_rule_leaves_its_alerts_alone():
    class Flaky(Rule):
        name = "flaky"
        fire = True

        def evaluate(self, now):
            if self.fire is None:
                raise RuntimeError("cannot tell")
            return [self.finding("x", "fires")] if self.fire else []

    rule = Flaky()
    alerts.evaluate(rules=[rule])
    rule.fire = None
    report = alerts.evaluate(rules=[rule])
    assert "flaky" in report.errors and report.resolved == []
    assert Alert.objects.get().resolved_at is None
    rule.fire = False
    assert len(alerts.evaluate(rules=[rule]).resolved) == 1


@pytest.mark.urls("tests.test_ops")
def test_error_rate_spike_fires_and_resolves(settings):
    settings.ALERT_ERROR_MIN_REQUESTS = 10
    settings.ALERT_ERROR_RATE = 0.2
    c = raw_client()
    for _ in range(10):
        assert c.get("/healthz").status_code == 200
    assert alerts.evaluate(rules=[ErrorRateSpike()]).opened == []  # 0 of 10
    for _ in range(5):
        assert c.get("/test-boom/").status_code == 500
    now = timezone.now()
    report = alerts.evaluate(now=now, rules=[ErrorRateSpike()])
    assert len(report.opened) == 1
    alert = report.opened[0]
    assert alert.rule == "error_rate_spike" and alert.key == "all"
    assert alert.details["requests"] == 15 and alert.details["errors"] == 5
    assert alert.details["top_paths"] == [{"path": "/test-boom/", "count": 5}]
    assert "33.3%" in alert.message
    assert sum(RequestTally.objects.values_list("server_errors", flat=True)) == 5
    # Ten minutes later the window holds no requests: resolved.
    report = alerts.evaluate(now=now + dt.timedelta(minutes=10), rules=[ErrorRateSpike()])
    assert [a.pk for a in report.resolved] == [alert.pk]


def test_error_rate_needs_enough_requests(settings):
    settings.ALERT_ERROR_MIN_REQUESTS = 20
    now = timezone.now()
    RequestTally.objects.create(minute=now.replace(second=0, microsecond=0), requests=5,
                                server_errors=5)
    assert alerts.evaluate(now=now, rules=[ErrorRateSpike()]).opened == []


@pytest.mark.parametrize("failure_log", [False, True])
def test_sign_in_brute_force_by_address_and_by_user(client, make_user, settings, failure_log):
    settings.AXES_ENABLE_ACCESS_FAILURE_LOG = failure_log
    settings.ALERT_BRUTE_FORCE_FAILURES = 3
    make_user(Role.REVIEWER, "alice")
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice",
                                                    "password": "wrong-Passw0rd!"})
        assert response.status_code == 200  # the form again, with the error
    now = timezone.now()
    report = alerts.evaluate(now=now, rules=[SignInBruteForce()])
    keys = sorted(a.key for a in report.opened)
    assert keys == ["ip:127.0.0.1", "user:alice"]
    by_ip = Alert.objects.get(key="ip:127.0.0.1")
    assert by_ip.details["failures"] == 3 and by_ip.severity == "warning"
    # The right password still works (not locked: the policy allows 5 failures).
    assert client.post("/accounts/login/", {"username": "alice",
                                            "password": STRONG_PASSWORD}).status_code == 302
    report = alerts.evaluate(now=now + dt.timedelta(minutes=11), rules=[SignInBruteForce()])
    assert sorted(a.key for a in report.resolved) == keys


def test_sign_in_failures_below_the_threshold_do_not_fire(client, make_user, settings):
    settings.ALERT_BRUTE_FORCE_FAILURES = 3
    make_user(Role.REVIEWER, "bob")
    for _ in range(2):
        client.post("/accounts/login/", {"username": "bob", "password": "nope-Nope-1"})
    assert alerts.evaluate(rules=[SignInBruteForce()]).opened == []


@pytest.fixture
def fake_audit_chain(monkeypatch):
    chain = types.ModuleType("audit.chain")
    chain.result = types.SimpleNamespace(ok=True, message="")
    chain.verify = lambda: chain.result
    monkeypatch.setitem(sys.modules, "audit.chain", chain)
    return chain


def test_audit_chain_broken_fires_and_resolves(fake_audit_chain, settings):
    settings.ALERT_AUDIT_CHAIN_INTERVAL_SECONDS = 0
    assert alerts.evaluate(rules=[AuditChainBroken()]).opened == []
    fake_audit_chain.result = types.SimpleNamespace(ok=False, message="第 42 条记录的哈希不符")
    report = alerts.evaluate(rules=[AuditChainBroken()])
    assert len(report.opened) == 1
    alert = report.opened[0]
    assert alert.severity == "critical" and "第 42 条记录的哈希不符" in alert.message
    fake_audit_chain.result = types.SimpleNamespace(ok=True, message="")
    assert [a.pk for a in alerts.evaluate(rules=[AuditChainBroken()]).resolved] == [alert.pk]


def test_audit_chain_rule_runs_at_most_once_per_interval(fake_audit_chain, settings):
    settings.ALERT_AUDIT_CHAIN_INTERVAL_SECONDS = 600
    calls = []
    fake_audit_chain.verify = lambda: calls.append(1) or fake_audit_chain.result
    now = timezone.now()
    alerts.evaluate(now=now, rules=[AuditChainBroken()])
    report = alerts.evaluate(now=now + dt.timedelta(minutes=5), rules=[AuditChainBroken()])
    assert report.skipped == {"audit_chain_broken": "not due"} and len(calls) == 1
    alerts.evaluate(now=now + dt.timedelta(minutes=11), rules=[AuditChainBroken()])
    assert len(calls) == 2


def test_audit_chain_rule_with_the_real_verify(settings):
    settings.ALERT_AUDIT_CHAIN_INTERVAL_SECONDS = 0
    from audit.services import record

    for i in range(3):
        record("test.event", obj=f"x{i}")
    report = alerts.evaluate(rules=[AuditChainBroken()])
    assert report.errors == {} and report.opened == []
    assert "audit_chain_broken" not in report.skipped


def test_audit_chain_rule_is_skipped_without_audit_chain(monkeypatch, fake_audit_chain,
                                                         settings):
    settings.ALERT_AUDIT_CHAIN_INTERVAL_SECONDS = 0
    fake_audit_chain.result = types.SimpleNamespace(ok=False, message="broken")
    alerts.evaluate(rules=[AuditChainBroken()])
    monkeypatch.setitem(sys.modules, "audit.chain", None)  # as if the module were absent
    report = alerts.evaluate(rules=[AuditChainBroken()])
    assert "audit_chain_broken" in report.skipped and report.errors == {}
    assert Alert.objects.get().resolved_at is None  # not resolved by a rule that did not run


# --- Notifications ------------------------------------------------------------------------
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((dict(self.headers), body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received, server.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield server
    server.shutdown()
    server.server_close()


def test_email_notification_on_firing_and_on_resolution(settings, mailoutbox):
    settings.ALERT_EMAILS = ["ops@neixiang.example", "duty@neixiang.example"]
    alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["ops@neixiang.example", "duty@neixiang.example"]
    assert "database_unreachable" in mail.subject and "严重" in mail.subject
    assert "数据库无法连接" in mail.body and "/ops/" in mail.body
    alert = Alert.objects.get()
    assert alert.notified_at is not None and alert.details["_notifications"] == {"email": "ok"}
    alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
    assert len(mailoutbox) == 1  # a repeat is not notified again
    alerts.evaluate(rules=[DatabaseUnreachable()])
    assert len(mailoutbox) == 2 and "已解除" in mailoutbox[1].subject


def test_webhook_notification_retries_and_signs(settings, webhook_server):
    settings.ALERT_WEBHOOK_URL = webhook_server.url
    settings.ALERT_WEBHOOK_SECRET = "s3cret"
    webhook_server.statuses = [502]  # the first try fails, the retry succeeds
    alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
    assert len(webhook_server.received) == 2
    headers, body = webhook_server.received[-1]
    payload = json.loads(body)
    assert payload["event"] == "firing" and payload["source"] == "neixiang-blueprint"
    assert payload["alert"]["rule"] == "database_unreachable"
    assert payload["alert"]["severity"] == "critical" and payload["alert"]["count"] == 1
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Neixiang-Signature"] == f"sha256={expected}"
    alert = Alert.objects.get()
    assert alert.notified_at is not None
    alerts.evaluate(rules=[DatabaseUnreachable()])
    assert json.loads(webhook_server.received[-1][1])["event"] == "resolved"


def test_undelivered_notification_is_retried_at_the_next_evaluation(settings, webhook_server):
    settings.ALERT_WEBHOOK_URL = webhook_server.url
    settings.ALERT_WEBHOOK_RETRIES = 1
    webhook_server.statuses = [500, 500]
    alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
    alert = Alert.objects.get()
    assert alert.notified_at is None
    assert alert.details["_notifications"] == {"webhook": "error: HTTP 500"}
    alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
    alert.refresh_from_db()
    assert alert.notified_at is not None and len(webhook_server.received) == 3


def test_webhook_that_does_not_answer_times_out(settings):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.ALERT_WEBHOOK_RETRIES = 0
    try:
        start = time.monotonic()
        alerts.evaluate(rules=[DatabaseUnreachable(dsn=BAD_DSN, timeout=2)])
        assert time.monotonic() - start < 5
    finally:
        silent.close()
    assert Alert.objects.get().details["_notifications"]["webhook"].startswith("error:")


# --- The database itself unreachable ------------------------------------------------------
@pytest.fixture
def database_down():
    """Point the application's connection at a socket folder that does not exist."""
    saved = dict(connection.settings_dict)

    def down():
        connection.close()
        connection.settings_dict.update(HOST="/nonexistent-neixiang-socket", PORT="5432")

    def up():
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)

    yield types.SimpleNamespace(down=down, up=up)
    up()


@pytest.mark.django_db(transaction=True)
def test_database_down_notifies_directly_and_stores_the_alert_when_back(
        settings, mailoutbox, database_down):
    settings.ALERT_EMAILS = ["ops@neixiang.example"]
    database_down.down()
    report = alerts.evaluate(rules=[DatabaseUnreachable()])
    assert report.offline and [a.rule for a in report.opened] == ["database_unreachable"]
    assert len(mailoutbox) == 1 and "database_unreachable" in mailoutbox[0].subject
    # A second evaluation while down (through the scheduler, which falls back to a file
    # lock): counted, not notified again.
    assert scheduler.evaluate_if_due(0, force=True) == scheduler.RAN_OFFLINE
    assert len(mailoutbox) == 1
    entry = pending.load()["database_unreachable|default"]
    assert entry["count"] == 2 and entry["notified_at"]
    database_down.up()
    report = alerts.evaluate(rules=[DatabaseUnreachable()])
    assert not report.offline
    assert [a.rule for a in report.recovered] == ["database_unreachable"]
    alert = Alert.objects.get()
    assert alert.count == 2 and alert.notified_at is not None
    assert alert.resolved_at is not None  # and resolved, since it answers again
    assert alert.details["_stored_after_outage"] is True
    assert len(mailoutbox) == 2 and "已解除" in mailoutbox[1].subject
    assert pending.load() == {}


# --- Scheduling ---------------------------------------------------------------------------
def test_only_one_evaluator_at_a_time_and_once_per_interval():
    conninfo = DatabaseUnreachable().conninfo()
    with psycopg.connect(conninfo, autocommit=True) as other_worker:
        other_worker.execute("select pg_advisory_lock(%s)", [scheduler.ADVISORY_LOCK_KEY])
        assert scheduler.evaluate_if_due(60, force=True) == scheduler.BUSY
        other_worker.execute("select pg_advisory_unlock(%s)", [scheduler.ADVISORY_LOCK_KEY])
    assert scheduler.evaluate_if_due(60) == scheduler.RAN
    assert scheduler.evaluate_if_due(60) == scheduler.NOT_DUE
    state = EvaluatorState.objects.get()
    assert state.last_finished is not None and state.last_summary["offline"] is False


@pytest.mark.django_db(transaction=True)
def test_scheduler_thread_starts_on_first_request_when_enabled(client, settings):
    settings.OPS_BACKGROUND_ENABLED = True
    settings.ALERT_SCHEDULER_ENABLED = True
    settings.ALERT_INTERVAL_SECONDS = 1
    settings.OPS_TALLY_FLUSH_SECONDS = 0.2
    try:
        assert client.get("/healthz").status_code == 200
        assert scheduler.scheduler.running()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = EvaluatorState.objects.filter(pk=1).first()
            if state and state.last_finished and RequestTally.objects.exists():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the scheduler did not evaluate")
    finally:
        scheduler.scheduler.stop()
    assert not scheduler.scheduler.running()


def test_scheduler_stays_off_in_tests(client):
    client.get("/healthz")
    assert not scheduler.scheduler.running()


def test_evaluate_alerts_command(capsys):
    call_command("evaluate_alerts")
    out = capsys.readouterr().out
    assert out.startswith("alert evaluation: ran")
    assert EvaluatorState.objects.get().last_finished is not None


# --- The operations page ------------------------------------------------------------------
@pytest.fixture
def some_alerts():
    now = timezone.now()
    open_alert = Alert.objects.create(rule="signin_brute_force", key="ip:198.51.100.7",
                                      severity="warning", message="登录失败过多：来源地址",
                                      first_seen=now, last_seen=now)
    Alert.objects.create(rule="database_unreachable", key="default", severity="critical",
                         message="数据库无法连接", first_seen=now - dt.timedelta(hours=1),
                         last_seen=now - dt.timedelta(hours=1), resolved_at=now)
    return open_alert


def test_ops_page_for_the_system_administrator(client, make_user, some_alerts):
    for i in range(30):
        ErrorEvent.objects.create(logger="django.request", message=f"错误 {i}", path="/api/x",
                                  status_code=500, traceback="Traceback...\nRuntimeError")
    client.force_login(make_user(Role.SYSTEM_ADMIN, "sysadmin"))
    response = client.get("/ops/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("运行监控", "运行状况", "未解除的告警", "最近解除的告警", "最近的错误",
                 "ip:198.51.100.7", "数据库无法连接", 'href="/metrics"', 'href="/readyz"',
                 "错误 29", "第 1 / 2 页", "登录暴力破解"):
        assert text in html, text
    assert "错误 0<" not in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert "unsafe-inline" not in response.get("Content-Security-Policy", "")
    page2 = client.get("/ops/?page=2").content.decode()
    assert "错误 0" in page2 and "第 2 / 2 页" in page2


@pytest.mark.parametrize("role", [r.value for r in Role
                                  if r not in (Role.SYSTEM_ADMIN, Role.ANONYMOUS)])
def test_ops_page_refused_to_every_other_role(client, make_user, role, some_alerts):
    client.force_login(make_user(role, f"u_{role}"))
    assert client.get("/ops/").status_code == 403
    assert client.post(f"/ops/alerts/{some_alerts.pk}/resolve/").status_code == 403
    assert client.post(f"/ops/alerts/{some_alerts.pk}/acknowledge/").status_code == 403
    some_alerts.refresh_from_db()
    assert some_alerts.resolved_at is None and some_alerts.acknowledged_at is None


def test_ops_page_sends_the_anonymous_to_sign_in(client, some_alerts):
    response = client.get("/ops/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post(f"/ops/alerts/{some_alerts.pk}/resolve/").status_code == 302
    some_alerts.refresh_from_db()
    assert some_alerts.resolved_at is None


def test_acknowledge_and_resolve_are_audited(client, make_user, some_alerts):
    client.force_login(make_user(Role.SYSTEM_ADMIN, "sysadmin"))
    assert client.get(f"/ops/alerts/{some_alerts.pk}/resolve/").status_code == 405
    response = client.post(f"/ops/alerts/{some_alerts.pk}/acknowledge/")
    assert response.status_code == 302 and response["Location"] == "/ops/"
    some_alerts.refresh_from_db()
    assert some_alerts.acknowledged_by == "sysadmin" and some_alerts.resolved_at is None
    ack = AuditRecord.objects.get(event_type="ops.alert_acknowledged")
    assert ack.subject == "sysadmin" and str(some_alerts.pk) in ack.object
    assert ack.detail["before"]["acknowledged_at"] is None
    assert ack.detail["after"]["acknowledged_by"] == "sysadmin"
    client.post(f"/ops/alerts/{some_alerts.pk}/resolve/")
    some_alerts.refresh_from_db()
    assert some_alerts.resolved_at is not None and some_alerts.resolved_by == "sysadmin"
    assert AuditRecord.objects.filter(event_type="ops.alert_resolved").count() == 1
    client.post(f"/ops/alerts/{some_alerts.pk}/resolve/")  # already resolved: no new record
    assert AuditRecord.objects.filter(event_type="ops.alert_resolved").count() == 1
    assert client.post("/ops/alerts/999999/resolve/").status_code == 404
