"""The documents of the API (landing page, conformance, collections, features) as dicts.

Links carry their media type; `self` names the format served and `alternate` the other one.
The caller's `token` query parameter is never copied into a link.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone

from layers.models import Layer
from layers.ogcapi import crs_uris
from layers.ogcapi.providers import BaseProvider, QueryResult

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
TITLE = "内乡县一张蓝图 · OGC API Features"
DESCRIPTION = ("内乡县（411325）国土空间规划“一张蓝图”图层要素服务：三区三线、控制性详细规划地块与"
               "各类控制线，存储坐标系 CGCS2000 (EPSG:4490)。Planning layers of Neixiang County "
               "as OGC API Features.")


def url(request: HttpRequest, name: str, *args: Any, query: QueryDict | dict | None = None,
        f: str | None = None) -> str:
    """Absolute URL of a named route; `query` minus the token, with `f` set if given."""
    params = QueryDict(mutable=True)
    if isinstance(query, QueryDict):
        params.update(query)
    elif query:
        for k, v in query.items():
            params[k] = str(v)
    params.pop("token", None)
    if f is not None:
        params["f"] = f
    href = request.build_absolute_uri(reverse(name, args=args))
    return f"{href}?{params.urlencode()}" if params else href


def self_links(request: HttpRequest, name: str, *args: Any, fmt: str, json_type: str = JSON,
               query: QueryDict | None = None, titles: tuple[str, str] = ("本文档", "本文档")
               ) -> list[dict[str, str]]:
    other = "html" if fmt == "json" else "json"
    types = {"json": json_type, "html": HTML}
    names = {"json": "JSON", "html": "HTML"}
    return [
        {"href": url(request, name, *args, query=query, f=fmt), "rel": "self",
         "type": types[fmt], "title": f"{titles[0]} ({names[fmt]})"},
        {"href": url(request, name, *args, query=query, f=other), "rel": "alternate",
         "type": types[other], "title": f"{titles[1]} ({names[other]})"},
    ]


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_rfc3339(moment: dt.datetime | None) -> str | None:
    """A date-time with the local offset (2024-01-01T00:00:00+08:00): reads as the date."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def landing(request: HttpRequest, fmt: str) -> dict[str, Any]:
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "links": [
            *self_links(request, "ogcapi-landing", fmt=fmt),
            {"href": url(request, "ogcapi-api"), "rel": "service-desc", "type": OPENAPI,
             "title": "OpenAPI 3.0 接口定义 (API definition)"},
            {"href": url(request, "ogcapi-api", f="html"), "rel": "service-doc", "type": HTML,
             "title": "接口说明 (API documentation)"},
            {"href": url(request, "ogcapi-conformance"), "rel": "conformance", "type": JSON,
             "title": "符合的标准类 (conformance classes)"},
            {"href": url(request, "ogcapi-collections"), "rel": "data", "type": JSON,
             "title": "图层要素集合 (collections)"},
        ],
    }


def conformance(request: HttpRequest, fmt: str) -> dict[str, Any]:
    return {"links": self_links(request, "ogcapi-conformance", fmt=fmt),
            "conformsTo": CONFORMANCE}


def collection(request: HttpRequest, layer: Layer, provider: BaseProvider,
               fmt: str = "json") -> dict[str, Any]:
    extent = provider.extent()
    links = [
        *self_links(request, "ogcapi-collection", layer.code, fmt=fmt,
                    titles=(layer.name_zh, layer.name_zh)),
        {"href": url(request, "ogcapi-items", layer.code, f="json"), "rel": "items",
         "type": GEOJSON, "title": f"{layer.name_zh} 要素 (GeoJSON)"},
        {"href": url(request, "ogcapi-items", layer.code, f="html"), "rel": "items",
         "type": HTML, "title": f"{layer.name_zh} 要素 (HTML)"},
    ]
    doc: dict[str, Any] = {
        "id": layer.code,
        "title": layer.name_zh,
        "description": layer.description or layer.name_en,
        "keywords": [str(layer.get_category_display()), layer.name_en],
        "itemType": "feature",
        "extent": {
            "temporal": {"interval": [[local_rfc3339(extent.start),
                                       local_rfc3339(extent.end)]], "trs": TRS},
        },
        "crs": crs_uris.uris(),
        "storageCrs": crs_uris.storage().uri,
        "links": links,
    }
    if extent.bbox_crs84 is not None:
        doc["extent"]["spatial"] = {"bbox": [list(extent.bbox_crs84)], "crs": crs_uris.CRS84}
    return doc


def collections(request: HttpRequest, entries: list[tuple[Layer, BaseProvider]],
                fmt: str) -> dict[str, Any]:
    return {
        "links": self_links(request, "ogcapi-collections", fmt=fmt),
        "collections": [collection(request, layer, provider, fmt) for layer, provider in entries],
    }


def feature_collection(request: HttpRequest, layer: Layer, result: QueryResult, *, fmt: str,
                       limit: int, offset: int) -> dict[str, Any]:
    args = (layer.code,)
    query = request.GET.copy()
    query.pop("f", None)
    links = self_links(request, "ogcapi-items", *args, fmt=fmt, json_type=GEOJSON,
                       query=query, titles=("本页", "本页"))
    page = {"json": GEOJSON, "html": HTML}[fmt]
    if offset + limit < result.number_matched:
        query["offset"], query["limit"] = str(offset + limit), str(limit)
        links.append({"href": url(request, "ogcapi-items", *args, query=query, f=fmt),
                      "rel": "next", "type": page, "title": "下一页 (next page)"})
    if offset > 0:
        query["offset"], query["limit"] = str(max(0, offset - limit)), str(limit)
        links.append({"href": url(request, "ogcapi-items", *args, query=query, f=fmt),
                      "rel": "prev", "type": page, "title": "上一页 (previous page)"})
    links.append({"href": url(request, "ogcapi-collection", *args), "rel": "collection",
                  "type": JSON, "title": layer.name_zh})
    return {
        "type": "FeatureCollection",
        "features": result.features,
        "links": links,
        "numberMatched": result.number_matched,
        "numberReturned": len(result.features),
        "timeStamp": rfc3339(timezone.now()),
    }


def feature(request: HttpRequest, layer: Layer, feature_doc: dict[str, Any], *,
            fmt: str) -> dict[str, Any]:
    args = (layer.code, str(feature_doc["id"]))
    query = request.GET.copy()
    query.pop("f", None)
    return {
        **feature_doc,
        "links": [
            *self_links(request, "ogcapi-item", *args, fmt=fmt, json_type=GEOJSON, query=query,
                        titles=("本要素", "本要素")),
            {"href": url(request, "ogcapi-collection", layer.code), "rel": "collection",
             "type": JSON, "title": layer.name_zh},
        ],
    }
