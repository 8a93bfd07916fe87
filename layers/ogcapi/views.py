"""OGC API Features endpoints: parse, ask the provider, encode.

Open to everyone (`required_function = None` for the permission matrix): what a caller may
read is decided per layer by `layers.selectors`, and a collection the caller may not see is
answered exactly like one that does not exist (404). Reads of confidential layers are
audited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from accounts.access import public
from audit.services import record
from layers import selectors
from layers.models import LAYER_CODE_VALIDATOR, Layer, LayerVersion
from layers.ogcapi import documents, encoders, openapi, params
from layers.ogcapi.errors import OGCAPIError, not_found
from layers.ogcapi.providers import BaseProvider, Query, provider_for


def endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET/HEAD only; OGC exceptions become their JSON responses; open to all (data
    visibility is checked per collection)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except OGCAPIError as exc:
            return encoders.error_response(exc)

    return public(require_safe(wrapped))


def _collection(request: HttpRequest, collection_id: str) -> tuple[Layer, BaseProvider]:
    # Not a possible layer code (e.g. a NUL byte): no need to ask the database.
    valid = LAYER_CODE_VALIDATOR.regex.fullmatch(collection_id) is not None
    layer = selectors.get_visible_layer(request, collection_id) if valid else None
    version = selectors.published_version(layer) if layer is not None else None
    if layer is None or version is None:
        raise not_found(f"集合 {collection_id[:100]!r} 不存在 (no such collection)")
    return layer, provider_for(version)


def _audit_read(request: HttpRequest, layer: Layer, **detail: Any) -> None:
    if layer.access_level == Layer.Access.CONFIDENTIAL:
        record("layers.confidential_read", request=request, obj=layer.code,
               detail={"service": "ogcapi", **detail})


def _simple(request: HttpRequest) -> str:
    params.check_known(request, params.COMMON)
    return params.output_format(request)


@endpoint
def landing(request: HttpRequest) -> HttpResponse:
    fmt = _simple(request)
    doc = documents.landing(request, fmt)
    if fmt == "html":
        return encoders.html_response(request, "landing", doc)
    return encoders.json_response(doc)


@endpoint
def api(request: HttpRequest) -> HttpResponse:
    fmt = _simple(request)
    doc = openapi.document(request)
    if fmt == "html":
        return encoders.html_response(request, "api", doc, paths=[
            {"path": path, "summary": op["get"]["summary"],
             "parameters": [p["$ref"].rsplit("/", 1)[1] for p in op["get"]["parameters"]]}
            for path, op in doc["paths"].items()])
    return encoders.json_response(doc, documents.OPENAPI)


@endpoint
def conformance(request: HttpRequest) -> HttpResponse:
    fmt = _simple(request)
    doc = documents.conformance(request, fmt)
    if fmt == "html":
        return encoders.html_response(request, "conformance", doc)
    return encoders.json_response(doc)


@endpoint
def collections(request: HttpRequest) -> HttpResponse:
    fmt = _simple(request)
    published = (LayerVersion.objects
                 .filter(state=LayerVersion.State.PUBLISHED,
                         layer__in=selectors.visible_layers(request))
                 .select_related("layer").order_by("layer__sort_order", "layer__code"))
    doc = documents.collections(request, [(v.layer, provider_for(v)) for v in published], fmt)
    if fmt == "html":
        return encoders.html_response(request, "collections", doc)
    return encoders.json_response(doc)


@endpoint
def collection(request: HttpRequest, collection_id: str) -> HttpResponse:
    layer, provider = _collection(request, collection_id)
    fmt = _simple(request)
    doc = documents.collection(request, layer, provider, fmt)
    _audit_read(request, layer, resource="collection")
    if fmt == "html":
        return encoders.html_response(request, "collection", doc)
    return encoders.json_response(doc)


@endpoint
def items(request: HttpRequest, collection_id: str) -> HttpResponse:
    layer, provider = _collection(request, collection_id)
    params.check_known(request, params.ITEMS | set(provider.fields))
    fmt = params.output_format(request)
    query = Query(bbox=params.bbox(request),
                  properties=params.property_filters(request, provider.fields),
                  interval=params.datetime_interval(request),
                  limit=params.limit(request), offset=params.offset(request),
                  crs=params.output_crs(request))
    result = provider.query(query)
    doc = documents.feature_collection(request, layer, result, fmt=fmt, limit=query.limit,
                                       offset=query.offset)
    _audit_read(request, layer, resource="items", returned=len(result.features),
                matched=result.number_matched)
    if fmt == "html":
        return encoders.html_response(request, "items", doc, layer=layer)
    return encoders.json_response(doc, documents.GEOJSON,
                                  headers={"Content-Crs": f"<{query.crs.uri}>"})


@endpoint
def item(request: HttpRequest, collection_id: str, feature_id: str) -> HttpResponse:
    layer, provider = _collection(request, collection_id)
    params.check_known(request, params.ITEM)
    fmt = params.output_format(request)
    crs = params.output_crs(request)
    found = provider.get(feature_id, crs)
    if found is None:
        raise not_found(f"要素 {feature_id[:100]} 不在集合 {layer.code} 中 (no such feature)")
    doc = documents.feature(request, layer, found, fmt=fmt)
    _audit_read(request, layer, resource="item", feature=found["id"])
    if fmt == "html":
        return encoders.html_response(request, "item", doc, layer=layer)
    return encoders.json_response(doc, documents.GEOJSON,
                                  headers={"Content-Crs": f"<{crs.uri}>"})


@endpoint
def unknown(request: HttpRequest, rest: str) -> HttpResponse:
    raise not_found(f"没有此资源 (no such resource): /ogcapi/{rest[:200]}")
