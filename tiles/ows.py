"""/ows/: WMS and WMTS through the embedded MapProxy, with access control in front.

The caller's access levels pick the MapProxy application (see mapproxy_conf), so
capabilities, maps, tiles (cached ones included) and feature info only ever contain layers
the caller may see. GetFeatureInfo and GetLegendGraphic are answered from PostGIS and the
style specification rather than by MapProxy.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.access import layer_access_levels
from audit.services import record
from layers.models import Layer
from tiles.ogc_errors import OgcError, check_wms, check_wmts_path, ows_exception, wms_exception


def _params(request: HttpRequest) -> dict[str, str]:
    return {k.upper(): v for k, v in request.GET.items()}


def _requested_layers(params: dict[str, str], path: str) -> list[str]:
    names = []
    for key in ("LAYERS", "LAYER", "QUERY_LAYERS"):
        names += [n for n in params.get(key, "").split(",") if n]
    if path.startswith("wmts/"):
        parts = path.split("/")
        if len(parts) > 3 and parts[1] != "1.0.0":
            names.append(parts[1])
    return names


_LAYER_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def _audit_confidential(request: HttpRequest, names: list[str], levels: tuple[str, ...]) -> None:
    names = [n for n in names if _LAYER_CODE.match(n)]  # anything else is no layer code
    if "confidential" not in levels or not names:
        return
    for code in Layer.objects.filter(code__in=names, access_level=Layer.Access.CONFIDENTIAL
                                     ).values_list("code", flat=True):
        record("layers.confidential_read", request=request, obj=code,
               detail={"service": "ows", "request": request.GET.get("REQUEST", "")})


@csrf_exempt
def ows(request: HttpRequest, path: str = "") -> HttpResponse:
    from tiles.services import mapproxy_app

    levels = tuple(layer_access_levels(request))
    params = _params(request)
    service = params.get("SERVICE", "").upper() or ("WMTS" if path.startswith("wmts") else
                                                    "WMS")
    version = params.get("VERSION", "1.3.0")
    try:
        if service == "WMS" and params:
            version = check_wms(params)
        elif path.startswith("wmts/"):
            check_wmts_path(path)
    except OgcError as error:
        return wms_exception(error, version) if service == "WMS" else ows_exception(error)
    _audit_confidential(request, _requested_layers(params, path), levels)
    operation = params.get("REQUEST", "").lower()
    if operation == "getfeatureinfo" and params.get("SERVICE", "WMS").upper() == "WMS":
        from tiles.featureinfo import get_feature_info

        return get_feature_info(request, params, levels)
    if operation == "getlegendgraphic":
        from tiles.legend import get_legend_graphic

        return get_legend_graphic(request, params, levels)
    environ = dict(request.META)
    environ["SCRIPT_NAME"] = request.META.get("SCRIPT_NAME", "").rstrip("/") + "/ows"
    # KVP requests may come to /ows/wms, /ows/wmts or /ows; MapProxy answers KVP on /service.
    if path in ("", "wms", "wmts", "service", "ows") and params:
        environ["PATH_INFO"] = "/service" if path != "wms" else "/wms"
    else:
        environ["PATH_INFO"] = "/" + path
    response = _call_wsgi(mapproxy_app(levels), environ)
    if response.status_code == 500 and response.content.startswith(b"internal error: invalid"):
        # MapProxy's answer to an address it has no handler for (e.g. a bare /ows/wmts).
        return ows_exception(OgcError("OperationNotSupported", "无效的服务地址或请求；参见 "
                                      "/api/services (invalid service address or request)"))
    if response.status_code == 500 and b"ExceptionReport" in response.content[:600]:
        # MapProxy reports a client's mistake (unknown layer, CRS, format) as a 500, and
        # echoes the request's text verbatim, control characters included.
        response.status_code = 400
        response.content = _CONTROL_BYTES.sub(b"", response.content)
    if b"<TileMatrixSet>" in response.content[:4096] or path.endswith("WMTSCapabilities.xml"):
        response.content = _unpadded_matrix_ids(response.content)
    elif operation == "getcapabilities" and service == "WMS" and response.status_code == 200:
        response.content = _mark_queryable(response.content)
    return response


def _mark_queryable(xml: bytes) -> bytes:
    """Feature info is answered here, from PostGIS, for every named layer; MapProxy, which
    does not know that, leaves `queryable` out and clients would not offer identify."""
    from lxml import etree

    try:
        root = etree.fromstring(xml)
    except etree.XMLSyntaxError:
        return xml
    for layer in root.iter("{*}Layer", "Layer"):
        if layer.find("{*}Name") is not None or layer.find("Name") is not None:
            layer.set("queryable", "1")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PADDED_ID = re.compile(rb"(<TileMatrix>\s*<ows:Identifier>)0(\d)(</ows:Identifier>)")


def _unpadded_matrix_ids(xml: bytes) -> bytes:
    """MapProxy names tile matrices "00", "01", …; Tianditu and most servers say "0", "1"
    (requests with either form are accepted)."""
    return _PADDED_ID.sub(rb"\1\2\3", xml)


ows.required_function = None  # type: ignore[attr-defined]  # layer levels are the permission


def wsgi_result(app: Any, environ: dict[str, Any]
                ) -> tuple[int, str | None, tuple[tuple[str, str], ...], bytes]:
    """(status, content type, other headers, body) of a WSGI call, the headers as
    _call_wsgi puts them on its response (usual spelling, no Connection or Content-Length)."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = headers

    body = app(environ, start_response)
    try:
        content = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    headers = {name.lower(): value for name, value in captured["headers"]}
    content_type = headers.pop("content-type", None)
    # MapProxy writes "Content-type"; answer with the usual spelling.
    others = tuple((_HEADER_NAMES.get(name, name.title()), value)
                   for name, value in headers.items()
                   if name not in ("connection", "content-length"))
    return captured["status"], content_type, others, content


def _call_wsgi(app: Any, environ: dict[str, Any]) -> HttpResponse:
    return as_response(*wsgi_result(app, environ))


def as_response(status: int, content_type: str | None, headers: tuple[tuple[str, str], ...],
                content: bytes) -> HttpResponse:
    response = HttpResponse(content, status=status, content_type=content_type)
    for name, value in headers:
        response[name] = value
    return response


_HEADER_NAMES = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}
