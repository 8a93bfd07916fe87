"""Query parameters of OGC API Features, validated: anything wrong is a 400 with a reason.

Unknown parameters are refused (Part 1, /req/core/query-param-unknown), and so is a
parameter given twice. `token` is the API token OGC clients may pass in the query
(accounts.middleware) and is accepted everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.http import HttpRequest
from django.utils import timezone

from layers.ogcapi import crs_uris
from layers.ogcapi.errors import invalid_parameter

COMMON = frozenset({"f", "token"})
ITEMS = COMMON | {"bbox", "bbox-crs", "limit", "offset", "crs", "datetime"}
ITEM = COMMON | {"crs"}
FORMATS = ("json", "html")
JSON_TYPES = ("application/json", "application/geo+json", "application/vnd.oai.openapi+json",
              "application/schema+json")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# An offset past this is refused rather than handed to the database as an overflow.
MAX_OFFSET = 2**31 - 1


def limit_default() -> int:
    return getattr(settings, "OGCAPI_LIMIT_DEFAULT", 10)


def limit_max() -> int:
    return getattr(settings, "OGCAPI_LIMIT_MAX", 10_000)


def check_known(request: HttpRequest, allowed: frozenset[str] | set[str]) -> None:
    for name in request.GET:
        if name not in allowed:
            raise invalid_parameter(name, "未知参数 (unknown query parameter); 可用参数: "
                                    + ", ".join(sorted(allowed - {"token"})))
        if len(request.GET.getlist(name)) > 1:
            raise invalid_parameter(name, "参数重复 (parameter given more than once)")


def _get(request: HttpRequest, name: str) -> str | None:
    return request.GET.get(name)


def output_format(request: HttpRequest) -> str:
    """'json' or 'html': `f` wins, then the Accept header; JSON unless HTML is preferred."""
    f = _get(request, "f")
    if f is not None:
        if f.lower() not in FORMATS:
            raise invalid_parameter("f", f"应为 {' 或 '.join(FORMATS)} (json or html)")
        return f.lower()
    best = {"json": 0.0, "html": 0.0}
    for item in request.META.get("HTTP_ACCEPT", "").split(","):
        media, *options = (part.strip() for part in item.split(";"))
        q = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media in HTML_TYPES:
            best["html"] = max(best["html"], q)
        elif media in JSON_TYPES or media in ("*/*", "application/*"):
            best["json"] = max(best["json"], q)
    return "html" if best["html"] > best["json"] else "json"


def _integer(request: HttpRequest, name: str, default: int, lo: int, hi: int) -> int:
    raw = _get(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_parameter(name, "应为整数 (integer expected)") from None
    if not lo <= value <= hi:
        raise invalid_parameter(name, f"应在 {lo}–{hi} 之间 (out of range {lo}..{hi})")
    return value


def limit(request: HttpRequest) -> int:
    return _integer(request, "limit", limit_default(), 1, limit_max())


def offset(request: HttpRequest) -> int:
    return _integer(request, "offset", 0, 0, MAX_OFFSET)


def _crs(request: HttpRequest, name: str) -> crs_uris.OgcCrs:
    raw = _get(request, name)
    if raw is None:
        return crs_uris.DEFAULT
    found = crs_uris.parse(raw)
    if found is None:
        raise invalid_parameter(name, "不支持的坐标系 (unsupported CRS); 可用: "
                                + ", ".join(crs_uris.uris()))
    return found


def output_crs(request: HttpRequest) -> crs_uris.OgcCrs:
    return _crs(request, "crs")


def bbox(request: HttpRequest) -> GEOSGeometry | None:
    """The bbox as a polygon in the storage CRS. Coordinates follow the axis order of
    bbox-crs (CRS84 by default: lon/lat; EPSG:4490 and 4326: lat/lon; the Gauss-Kruger
    CRSs: northing/easting); 6 numbers are a 3D box whose heights are checked and ignored."""
    src = _crs(request, "bbox-crs")
    raw = _get(request, "bbox")
    if raw is None:
        return None
    try:
        values = [float(p) for p in raw.split(",")]
    except ValueError:
        raise invalid_parameter("bbox", "应为逗号分隔的 4 或 6 个数 (4 or 6 numbers)") from None
    if len(values) not in (4, 6):
        raise invalid_parameter("bbox", "应为逗号分隔的 4 或 6 个数 (4 or 6 numbers)")
    if not all(math.isfinite(v) for v in values):
        raise invalid_parameter("bbox", "含非有限数 (NaN or infinite value)")
    if len(values) == 6:
        a0, b0, z0, a1, b1, z1 = values
        if z0 > z1:
            raise invalid_parameter("bbox", "最小高程大于最大高程 (min height above max)")
    else:
        a0, b0, a1, b1 = values
    x0, y0 = src.to_xy(a0, b0)
    x1, y1 = src.to_xy(a1, b1)
    if x0 >= x1 or y0 >= y1:
        raise invalid_parameter("bbox", "左下角须小于右上角 (lower corner must be below the "
                                "upper corner; boxes across the antimeridian are not served)")
    if src.geographic and not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise invalid_parameter("bbox", "经度应在 ±180、纬度应在 ±90 之内 (lon/lat out of range)")
    try:
        return crs_uris.bbox_polygon(x0, y0, x1, y1, src)
    except crs_uris.BboxOutOfDomain as exc:
        raise invalid_parameter("bbox", str(exc)) from None


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None is an open end."""

    start: dt.datetime | None
    end: dt.datetime | None

    def intersects(self, start: dt.datetime, end: dt.datetime | None) -> bool:
        return (self.end is None or self.end >= start) and \
            (end is None or self.start is None or self.start <= end)


def _instant(text: str, end_of_day: bool) -> dt.datetime:
    """An RFC 3339 date-time (with offset) or a full date (the whole day, local time)."""
    if "T" not in text.upper():
        day = dt.date.fromisoformat(text)
        moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        return timezone.make_aware(moment)
    value = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("no offset")
    return value


def datetime_interval(request: HttpRequest) -> Interval | None:
    raw = _get(request, "datetime")
    if raw is None:
        return None
    parts = raw.split("/")
    if len(parts) > 2 or parts == ["", ""] or parts == [".."]:
        raise invalid_parameter("datetime", "应为时刻或区间，如 2024-01-01T00:00:00Z、"
                                "2024-01-01/..、../2024-06-30 (instant or interval)")
    try:
        if len(parts) == 1:
            start, end = _instant(parts[0], False), _instant(parts[0], True)
        else:
            start = None if parts[0] in ("", "..") else _instant(parts[0], False)
            end = None if parts[1] in ("", "..") else _instant(parts[1], True)
    except ValueError:
        raise invalid_parameter("datetime", "应为 RFC 3339 日期时间（含时区）或日期 "
                                "(RFC 3339 date-time with offset, or a date)") from None
    if start is not None and end is not None and start > end:
        raise invalid_parameter("datetime", "起始晚于结束 (start after end)")
    return Interval(start, end)


_TRUE = {"true", "1", "yes", "是"}
_FALSE = {"false", "0", "no", "否"}


def _typed(name: str, kind: str, raw: str) -> Any:
    try:
        if kind == "text":
            if "\x00" in raw or len(raw) > 200:
                raise ValueError
            return raw
        if kind == "int":
            return int(raw)
        if kind == "float":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind == "bool":
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError
        if kind == "date":
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    expected = {"text": "不含 NUL、至多 200 字的文本 (text)", "int": "整数 (integer)", "float": "数值 (number)", "bool": "true 或 false",
                "date": "日期 YYYY-MM-DD (date)"}.get(kind, kind)
    raise invalid_parameter(name, f"应为{expected}")


def property_filters(request: HttpRequest, fields: dict[str, str]) -> dict[str, Any]:
    """Equality filters on queryable properties, typed by the provider's `fields`."""
    return {name: _typed(name, fields[name], request.GET[name])
            for name in request.GET if name in fields}
