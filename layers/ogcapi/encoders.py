"""Responses: JSON / GeoJSON / OpenAPI documents, the Chinese HTML pages, and exceptions."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from layers.fields import INDICATOR_FIELDS
from layers.ogcapi.errors import OGCAPIError

# Chinese labels of the feature properties, for the HTML pages.
PROPERTY_LABELS = {"feature_no": "源要素序号", "measure": "面积/长度",
                   **{f.name: f.label_zh for f in INDICATOR_FIELDS}, "attributes": "其他属性"}


def json_response(doc: Any, media_type: str = "application/json", *, status: int = 200,
                  headers: dict[str, str] | None = None) -> HttpResponse:
    body = json.dumps(doc, ensure_ascii=False, cls=DjangoJSONEncoder, separators=(",", ":"))
    response = HttpResponse(body.encode(), content_type=media_type, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_response(exc: OGCAPIError) -> HttpResponse:
    return json_response(exc.as_dict(), status=exc.status)


def _property_rows(feature: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(name, PROPERTY_LABELS.get(name, name), value)
            for name, value in feature.get("properties", {}).items()
            if value not in (None, "", {})]


def html_response(request: HttpRequest, kind: str, doc: dict[str, Any],
                  **context: Any) -> HttpResponse:
    """One template for every resource (ogcapi/page.html); `kind` picks the section."""
    if kind == "items":
        context["rows"] = [{"id": f["id"], "geometry_type": (f.get("geometry") or {}).get("type"),
                            "properties": _property_rows(f)} for f in doc["features"]]
    if kind == "item":
        context["properties"] = _property_rows(doc)
    links = doc.get("links", [])
    return render(request, "ogcapi/page.html", {
        "kind": kind, "doc": doc, "links": links,
        "nav": {link["rel"]: link["href"] for link in links
                if link["rel"] in ("alternate", "next", "prev")},
        **context,
    })
