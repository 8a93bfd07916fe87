"""/readyz, /metrics and the operations page (/ops/, function "ops.view")."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from accounts.access import principal_of, public, requires
from audit.services import record
from ops import conf, metrics, readiness, scheduler
from ops.models import Alert, ErrorEvent, EvaluatorState
from ops.rules import default_rules

log = logging.getLogger(__name__)

SEVERITY_RANK = {Alert.Severity.CRITICAL: 0, Alert.Severity.WARNING: 1, Alert.Severity.INFO: 2}
CHECK_LABELS = {"database": "数据库", "postgis": "PostGIS 扩展", "tile_cache": "瓦片缓存目录",
                "map_services": "地图服务"}
STATUS_LABELS = {readiness.OK: "正常", readiness.FAIL: "故障", readiness.SKIPPED: "未检查",
                 readiness.NOT_CONFIGURED: "未配置"}
ERRORS_PER_PAGE = 25


@public
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 with each check's status, or 503 naming the failed checks."""
    result = readiness.run()
    return JsonResponse(result, status=200 if result["status"] == "ok" else 503)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in conf.get("METRICS_ALLOWED_IPS"):
        if item := str(item).strip():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                log.warning("METRICS_ALLOWED_IPS: not an address or network: %r", item)
    return networks


def metrics_allowed(request: HttpRequest) -> bool:
    """The connecting address, and the client a proxy names last in X-Forwarded-For (the
    one it appended itself), must both be allowed."""
    addresses = [request.META.get("REMOTE_ADDR", "")]
    if forwarded := request.META.get("HTTP_X_FORWARDED_FOR", "").strip():
        addresses.append(forwarded.split(",")[-1].strip())
    networks = _allowed_networks()
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if not any(ip.version == n.version and ip in n for n in networks):
            return False
    return True


@public  # no account: restricted to METRICS_ALLOWED_IPS instead
@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        record("access.denied", request=request, obj="/metrics", result="denied",
               detail={"reason": "address not in METRICS_ALLOWED_IPS"})
        return HttpResponse("forbidden: address not allowed to scrape metrics\n", status=403,
                            content_type="text/plain; charset=utf-8")
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)


@requires("ops.view")
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    health = readiness.run()
    checks = []
    for name, check in health["checks"].items():
        checks.append({"name": name, "label": CHECK_LABELS.get(name, name),
                       "status": check["status"],
                       "status_label": STATUS_LABELS.get(check["status"], check["status"]),
                       "ms": check.get("ms"), "services": check.get("services", {})})
    open_alerts = sorted(Alert.objects.filter(resolved_at__isnull=True),
                         key=lambda a: (SEVERITY_RANK.get(a.severity, 9),
                                        -a.last_seen.timestamp()))
    recent = Alert.objects.filter(resolved_at__isnull=False).order_by("-resolved_at")[:20]
    errors = Paginator(ErrorEvent.objects.order_by("-time", "-id"), ERRORS_PER_PAGE) \
        .get_page(request.GET.get("page"))
    day_ago = timezone.now() - dt.timedelta(days=1)
    rules = [{"name": r.name, "title": r.title, "severity": r.severity,
              "severity_label": dict(Alert.Severity.choices).get(r.severity, r.severity),
              "describe": r.describe()} for r in default_rules()]
    return render(request, "ops/index.html", {
        "health": health, "checks": checks, "open_alerts": open_alerts, "recent": recent,
        "errors": errors, "errors_24h": ErrorEvent.objects.filter(time__gte=day_ago).count(),
        "state": EvaluatorState.objects.filter(pk=1).first(), "rules": rules,
        "scheduler_enabled": conf.get("OPS_BACKGROUND_ENABLED")
        and conf.get("ALERT_SCHEDULER_ENABLED"),
        "scheduler_running": scheduler.scheduler.running(),
        "interval": conf.get("ALERT_INTERVAL_SECONDS"),
        "channels": {"email": bool(conf.get("ALERT_EMAILS")),
                     "webhook": bool(conf.get("ALERT_WEBHOOK_URL"))},
    })


def _snapshot(alert: Alert) -> dict:
    return {"acknowledged_at": alert.acknowledged_at and alert.acknowledged_at.isoformat(),
            "acknowledged_by": alert.acknowledged_by,
            "resolved_at": alert.resolved_at and alert.resolved_at.isoformat(),
            "resolved_by": alert.resolved_by}


@require_POST
@requires("ops.view")
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    if alert.acknowledged_at is None and alert.resolved_at is None:
        before = _snapshot(alert)
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = principal_of(request).name[:200]
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record("ops.alert_acknowledged", request=request,
               obj=f"alert {alert.pk} {alert.rule}[{alert.key}]", before=before,
               after=_snapshot(alert))
        messages.success(request, f"已确认告警 #{alert.pk} (acknowledged)")
    return redirect("ops-index")


@require_POST
@requires("ops.view")
def resolve(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=alert_id)
    if alert.resolved_at is None:
        before = _snapshot(alert)
        alert.resolved_at = timezone.now()
        alert.resolved_by = principal_of(request).name[:200]
        alert.save(update_fields=["resolved_at", "resolved_by"])
        record("ops.alert_resolved", request=request,
               obj=f"alert {alert.pk} {alert.rule}[{alert.key}]", before=before,
               after=_snapshot(alert))
        messages.success(request, f"已解除告警 #{alert.pk}；若规则仍触发将重新告警 "
                                  "(resolved; it reopens if the rule still fires)")
    return redirect("ops-index")
