"""Site-wide pages that belong to no domain app."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.access import principal_of, public
from approvals_link.selectors import recent_projects
from layers import selectors

# Links to the pages each role administers, shown only to those who may use them.
ADMIN_LINKS = (
    ("accounts.manage", "/admin/", "账号与资源管理 (accounts and resources)"),
    ("layers.import", "/admin/layers/", "图层数据管理 (layer data)"),
    ("roles.assign", "/accounts/roles/", "角色授权 (roles)"),
    ("tokens.manage", "/accounts/tokens/", "接口令牌 (API tokens)"),
    ("policy.manage", "/accounts/policy/", "安全策略 (security policy)"),
    ("audit.read", "/audit/", "审计记录 (audit trail)"),
    ("ops.view", "/ops/", "运行监控 (operations)"),
)


@public
def home(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    links = [{"url": url, "label": label} for fn, url, label in ADMIN_LINKS
             if principal.can(fn)]
    return render(request, "home.html", {"layers": selectors.layer_summaries(request),
                                         "admin_links": links,
                                         "projects": recent_projects(request),
                                         "plan_impacts": principal.can("conformity.run")})


@public
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness plus a database round trip (readiness checks come with monitoring)."""
    try:
        with connection.cursor() as cur:
            cur.execute("select postgis_lib_version()")
            postgis = cur.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "postgis": postgis})
