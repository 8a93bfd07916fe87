"""OGC exception reports, and the checks that keep malformed requests away from MapProxy.

Every malformed or hostile request gets a precise exception report in the format its
service and version define, with HTTP 400 — never a 500, and never an image for a request
that makes no sense (MapProxy itself renders NaN bounding boxes and unknown versions).
"""

from __future__ import annotations

import math
import re
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse

WMS_VERSIONS = ("1.1.1", "1.3.0")
GEOGRAPHIC = {"EPSG:4490", "EPSG:4326", "CRS:84"}
_WMTS_REST = re.compile(
    r"^wmts/(?P<layer>[A-Za-z][A-Za-z0-9_]*)/(?P<set>[A-Za-z0-9_]+)/(?P<z>\d{1,2})/"
    r"(?P<x>\d{1,9})/(?P<y>\d{1,9})\.(?P<ext>png|jpeg|jpg)$")


class OgcError(Exception):
    def __init__(self, code: str, message: str, locator: str = ""):
        self.code = code
        self.message = message
        self.locator = locator
        super().__init__(message)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text(value: str) -> str:
    """Escaped for XML, without the control characters XML 1.0 cannot carry."""
    return escape(_CONTROL.sub("", value))


def wms_exception(error: OgcError, version: str) -> HttpResponse:
    locator = f' locator="{_text(error.locator)}"' if error.locator else ""
    if version == "1.1.1":
        locator = ""  # the 1.1.1 DTD has no locator attribute
        body = ('<?xml version="1.0"?>\n<!DOCTYPE ServiceExceptionReport SYSTEM '
                '"http://schemas.opengis.net/wms/1.1.1/exception_1_1_1.dtd">\n'
                '<ServiceExceptionReport version="1.1.1">\n'
                f'  <ServiceException code="{error.code}"{locator}>{_text(error.message)}'
                "</ServiceException>\n</ServiceExceptionReport>\n")
        content_type = "application/vnd.ogc.se_xml"
    else:
        body = ('<?xml version="1.0"?>\n<ServiceExceptionReport version="1.3.0" '
                'xmlns="http://www.opengis.net/ogc" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                'xsi:schemaLocation="http://www.opengis.net/ogc '
                'http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd">\n'
                f'  <ServiceException code="{error.code}"{locator}>{_text(error.message)}'
                "</ServiceException>\n</ServiceExceptionReport>\n")
        content_type = "text/xml; charset=utf-8"
    return HttpResponse(body.encode(), status=400, content_type=content_type)


def ows_exception(error: OgcError, status: int = 400) -> HttpResponse:
    locator = f' locator="{_text(error.locator)}"' if error.locator else ""
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.0.0" '
            'xml:lang="zh-CN">\n'
            f'  <ows:Exception exceptionCode="{error.code}"{locator}>\n'
            f"    <ows:ExceptionText>{_text(error.message)}</ows:ExceptionText>\n"
            "  </ows:Exception>\n</ows:ExceptionReport>\n")
    return HttpResponse(body.encode(), status=status, content_type="text/xml; charset=utf-8")


def _number_list(raw: str, name: str, count: int) -> list[float]:
    parts = raw.split(",")
    if len(parts) != count:
        raise OgcError("InvalidParameterValue", f"{name} 应为 {count} 个数 "
                       f"({name} must have {count} numbers)", name.lower())
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise OgcError("InvalidParameterValue", f"{name} 含非数值 ({name} is not numeric)",
                       name.lower()) from None
    if not all(math.isfinite(v) for v in values):
        raise OgcError("InvalidParameterValue", f"{name} 含 NaN 或无穷大 ({name} must be "
                       "finite)", name.lower())
    return values


def _size(params: dict[str, str], name: str, limit: int) -> int:
    raw = params.get(name)
    if raw is None:
        raise OgcError("MissingParameterValue", f"缺少参数 {name} (missing {name})",
                       name.lower())
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= limit:
        raise OgcError("InvalidParameterValue", f"{name} 应为 1–{limit} 的整数 "
                       f"({name} must be an integer from 1 to {limit})", name.lower())
    return int(raw)


def check_wms(params: dict[str, str]) -> str:
    """Validate the parts of a WMS request MapProxy does not; returns the version."""
    operation = params.get("REQUEST", "")
    version = params.get("VERSION") or params.get("WMTVER") or "1.3.0"
    if not operation:
        raise OgcError("MissingParameterValue", "缺少参数 REQUEST (missing REQUEST)", "request")
    if operation.lower() == "getcapabilities":
        return version if version in WMS_VERSIONS else "1.3.0"  # version negotiation
    if version not in WMS_VERSIONS:
        raise OgcError("InvalidParameterValue", f"不支持的 VERSION {version}，支持 1.1.1、1.3.0 "
                       f"(unsupported version)", "version")
    if operation.lower() in ("getmap", "getfeatureinfo"):
        if "BBOX" not in params:
            raise OgcError("MissingParameterValue", "缺少参数 BBOX (missing BBOX)", "bbox")
        x0, y0, x1, y1 = _number_list(params["BBOX"], "BBOX", 4)
        if x0 >= x1 or y0 >= y1:
            raise OgcError("InvalidParameterValue", "BBOX 最小值须小于最大值 (BBOX min must be "
                           "below max)", "bbox")
        srs = (params.get("CRS") if version == "1.3.0" else params.get("SRS")) or ""
        if srs.upper() in GEOGRAPHIC:
            # WMS 1.3.0 follows the EPSG axis order: latitude first for these.
            lat_first = version == "1.3.0" and srs.upper() != "CRS:84"
            lat0, lon0, lat1, lon1 = (x0, y0, x1, y1) if lat_first else (y0, x0, y1, x1)
            if not (-90 <= lat0 <= 90 and -90 <= lat1 <= 90 and -180 <= lon0 <= 180
                    and -180 <= lon1 <= 180):
                order = "纬度,经度 (lat,lon)" if lat_first else "经度,纬度 (lon,lat)"
                raise OgcError("InvalidParameterValue", f"BBOX 超出经纬度范围；{srs} 在 WMS "
                               f"{version} 中的轴序为 {order}", "bbox")
        max_w, max_h = settings.WMS_MAX_SIZE
        _size(params, "WIDTH", max_w)
        _size(params, "HEIGHT", max_h)
        if not params.get("LAYERS"):
            raise OgcError("MissingParameterValue", "缺少参数 LAYERS (missing LAYERS)",
                           "layers")
    return version


def check_wmts_path(path: str) -> None:
    """REST tile addresses: integers only, before MapProxy parses them."""
    if path.startswith("wmts/1.0.0/"):
        return
    parts = path.split("/")
    if len(parts) >= 4 and not _WMTS_REST.match(path):
        raise OgcError("InvalidParameterValue", "瓦片地址应为 /wmts/{图层}/{矩阵集}/{级别}/{列}/{行}"
                       ".png (malformed tile address)", "TileMatrix")
