"""The OpenAPI 3.0 definition of these endpoints (conformance class oas30).

Built from the same constants the views use (parameters, limits, CRSs, queryable fields), so
the description cannot drift from what the server does. GDAL's OAPIF driver reads the items
parameters from it to send attribute filters to the server.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from layers.fields import BY_NAME
from layers.ogcapi import crs_uris, documents, params
from layers.ogcapi.providers import queryables

_KIND_SCHEMA = {"text": {"type": "string"}, "int": {"type": "integer"},
                "float": {"type": "number"}, "bool": {"type": "boolean"},
                "date": {"type": "string", "format": "date"}}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _parameters() -> dict[str, Any]:
    crs_schema = {"type": "string", "format": "uri", "enum": crs_uris.uris()}
    found = {
        "f": {"name": "f", "in": "query", "required": False, "style": "form",
              "description": "输出格式 (output format); 缺省按 Accept 头，JSON 优先",
              "schema": {"type": "string", "enum": list(params.FORMATS)}},
        "collectionId": {"name": "collectionId", "in": "path", "required": True,
                         "description": "图层代码 (layer code)", "schema": {"type": "string"}},
        "featureId": {"name": "featureId", "in": "path", "required": True,
                      "description": "要素标识 (feature id)", "schema": {"type": "string"}},
        "bbox": {"name": "bbox", "in": "query", "required": False, "style": "form",
                 "explode": False,
                 "description": "范围：4 或 6 个数，轴序按 bbox-crs（CRS84 为经度,纬度）",
                 "schema": {"type": "array", "minItems": 4, "maxItems": 6,
                            "items": {"type": "number"}}},
        "bbox-crs": {"name": "bbox-crs", "in": "query", "required": False, "style": "form",
                     "explode": False, "description": "bbox 的坐标系，缺省 CRS84",
                     "schema": {**crs_schema, "default": crs_uris.CRS84}},
        "crs": {"name": "crs", "in": "query", "required": False, "style": "form",
                "explode": False, "description": "输出坐标系，缺省 CRS84；轴序按 EPSG 定义",
                "schema": {**crs_schema, "default": crs_uris.CRS84}},
        "limit": {"name": "limit", "in": "query", "required": False, "style": "form",
                  "explode": False, "description": "每页要素数 (page size)",
                  "schema": {"type": "integer", "minimum": 1, "maximum": params.limit_max(),
                             "default": params.limit_default()}},
        "offset": {"name": "offset", "in": "query", "required": False, "style": "form",
                   "explode": False, "description": "跳过的要素数 (features skipped)",
                   "schema": {"type": "integer", "minimum": 0, "maximum": params.MAX_OFFSET,
                              "default": 0}},
        "datetime": {"name": "datetime", "in": "query", "required": False, "style": "form",
                     "explode": False,
                     "description": "时刻或区间（RFC 3339），与图层版本的生效期比较",
                     "schema": {"type": "string"}},
    }
    for name, kind in queryables().items():
        label = BY_NAME[name].label_zh if name in BY_NAME else "源要素序号"
        found[name] = {"name": name, "in": "query", "required": False, "style": "form",
                       "explode": False, "description": f"{label}等于 (equals)",
                       "schema": _KIND_SCHEMA[kind]}
    return found


def _responses() -> dict[str, Any]:
    def body(media: str, description: str) -> dict[str, Any]:
        return {"description": description,
                "content": {media: {"schema": {"type": "object"}},
                            documents.HTML: {"schema": {"type": "string"}}}}

    exception = {"description": "错误 (exception)", "content": {documents.JSON: {"schema": {
        "type": "object", "required": ["code"],
        "properties": {"code": {"type": "string"}, "description": {"type": "string"},
                       "parameter": {"type": "string"}}}}}}
    return {
        "LandingPage": body(documents.JSON, "服务首页 (landing page)"),
        "ConformanceDeclaration": body(documents.JSON, "符合的标准类 (conformance classes)"),
        "Collections": body(documents.JSON, "要素集合列表 (collections)"),
        "Collection": body(documents.JSON, "要素集合 (collection)"),
        "Features": {**body(documents.GEOJSON, "要素 (features)"),
                     "headers": {"Content-Crs": {"schema": {"type": "string"}}}},
        "Feature": {**body(documents.GEOJSON, "要素 (feature)"),
                    "headers": {"Content-Crs": {"schema": {"type": "string"}}}},
        "API": {"description": "本接口定义 (this API definition)",
                "content": {documents.OPENAPI: {"schema": {"type": "object"}},
                            documents.HTML: {"schema": {"type": "string"}}}},
        "InvalidParameter": {**exception, "description": "参数错误 (invalid parameter)"},
        "NotFound": {**exception, "description": "不存在或不可见 (not found)"},
        "ServerError": {**exception, "description": "服务器错误 (server error)"},
    }


def _operation(op_id: str, summary: str, response: str, parameters: list[str]
               ) -> dict[str, Any]:
    return {"get": {
        "operationId": op_id, "summary": summary, "tags": ["OGC API Features"],
        "parameters": [_ref("parameters", p) for p in parameters],
        "responses": {"200": _ref("responses", response),
                      "400": _ref("responses", "InvalidParameter"),
                      "404": _ref("responses", "NotFound"),
                      "500": _ref("responses", "ServerError")},
    }}


def document(request: HttpRequest) -> dict[str, Any]:
    fields = list(queryables())
    items = ["collectionId", "f", "bbox", "bbox-crs", "limit", "offset", "crs", "datetime",
             *fields]
    return {
        "openapi": "3.0.3",
        "info": {"title": documents.TITLE, "version": "1.0.0",
                 "description": documents.DESCRIPTION},
        "servers": [{"url": request.build_absolute_uri(reverse("ogcapi-landing")).rstrip("/"),
                     "description": "本服务 (this service)"}],
        "tags": [{"name": "OGC API Features"}],
        "paths": {
            "/": _operation("getLandingPage", "服务首页 (landing page)", "LandingPage", ["f"]),
            "/api": _operation("getAPI", "接口定义 (API definition)", "API", ["f"]),
            "/conformance": _operation("getConformance", "符合的标准类 (conformance)",
                                       "ConformanceDeclaration", ["f"]),
            "/collections": _operation("getCollections", "要素集合 (collections)",
                                       "Collections", ["f"]),
            "/collections/{collectionId}": _operation(
                "describeCollection", "要素集合说明 (collection)", "Collection",
                ["collectionId", "f"]),
            "/collections/{collectionId}/items": _operation(
                "getFeatures", "要素，可按范围、时间与属性过滤，分页 (features)", "Features",
                items),
            "/collections/{collectionId}/items/{featureId}": _operation(
                "getFeature", "单个要素 (one feature)", "Feature",
                ["collectionId", "featureId", "f", "crs"]),
        },
        "components": {
            "parameters": _parameters(),
            "responses": _responses(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "接口令牌 (API token of an external system)"},
                "token": {"type": "apiKey", "in": "query", "name": "token",
                          "description": "接口令牌作查询参数 (token as a query parameter)"},
            },
        },
        "security": [{}, {"bearer": []}, {"token": []}],
    }
