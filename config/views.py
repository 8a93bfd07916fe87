"""Site-wide pages that belong to no domain app."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from layers import selectors


def home(request: HttpRequest) -> HttpResponse:
    layers = selectors.layer_summaries(request.user)
    return render(request, "home.html", {"layers": layers})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness plus a database round trip (readiness checks come with monitoring)."""
    try:
        with connection.cursor() as cur:
            cur.execute("select postgis_lib_version()")
            postgis = cur.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "postgis": postgis})
