"""`GET /tiles/{layer}/{z}/{x}/{y}.mvt`: vector tiles of a layer's published version.

Access: the layer's access level decides (the same `allowed_access_levels` rule that
`layers.selectors.get_visible_layer` applies); a layer the caller may not see answers 404
exactly like an unknown one, on every path (the check runs before the cache is read).
Reads of confidential layers are audited, cache hits and 304s included.

Responses:
- 200 `application/vnd.mapbox-vector-tile`, gzip-encoded when the client accepts it. A tile
  without features is a 200 with an empty body (a valid MVT with no layers): MapLibre and
  Leaflet.VectorGrid both draw nothing for it, and unlike 204 it keeps a content type, an
  ETag and Cache-Control, so it is cached and revalidated like any other tile.
- `ETag`: a hash of the tile bytes (strong; `-gz` suffix for the gzip representation), so an
  edit or a new version that leaves the tile unchanged keeps it; `If-None-Match` -> 304.
- `Cache-Control`: `settings.TILE_CACHE_CONTROL` for public layers; the same with `private`
  for internal and confidential ones, which also vary on Cookie and Authorization.
- Bad z/x/y (outside the matrix, negative, z > 22, not an integer) -> 400, unknown or hidden
  layer -> 404, as JSON `{"error": ..., "detail": ...}`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.access import public
from layers.models import Layer
from layers.selectors import allowed_access_levels
from tiles import mvt, mvt_cache

DEFAULT_CACHE_CONTROL = "public, max-age=60, must-revalidate"


def _metrics(hit: bool) -> None:
    try:
        from ops import metrics
    except ImportError:  # the ops app is optional
        return
    with contextlib.suppress(Exception):  # metrics never break a tile
        (metrics.tile_cache_hit if hit else metrics.tile_cache_miss)()


def error(status: int, code: str, detail: str) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status,
                            json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response


def accepts_gzip(request: HttpRequest) -> bool:
    return gzip_accepted(request.META.get("HTTP_ACCEPT_ENCODING", ""))


@lru_cache(maxsize=64)  # clients send a handful of distinct headers
def gzip_accepted(header: str) -> bool:
    """Does Accept-Encoding allow gzip (`gzip` or `x-gzip`, else `*`, with q above 0)?"""
    if not header:
        return False
    qs: dict[str, float] = {}
    for part in header.lower().split(","):
        name, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        qs[name.strip()] = q
    for name in ("gzip", "x-gzip", "*"):
        if name in qs:
            return qs[name] > 0
    return False


def cache_control(target: mvt.Target) -> str:
    value = str(mvt.setting("TILE_CACHE_CONTROL", DEFAULT_CACHE_CONTROL))
    if target.is_public:
        return value
    parts = [p.strip() for p in value.split(",") if p.strip().lower() not in ("public",
                                                                             "private")]
    return ", ".join(["private", *parts])


def _matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if tag.endswith("-gz"):
            tag = tag[:-3]
        if tag == etag:
            return True
    return False


@public  # layer visibility is the data permission (checked below, 404 when hidden)
def mvt_tile(request: HttpRequest, layer: str, z: Any, x: Any, y: Any) -> HttpResponse:
    try:
        z, x, y = mvt.parse_tile(z, x, y)
    except mvt.TileError as exc:
        return error(exc.status, exc.code, exc.detail)
    level, target = mvt.lookup(layer)
    if level is None or level not in allowed_access_levels(request):
        return error(404, "unknown_layer", f"图层 {layer[:40]} 不存在 (no such layer)")
    if target is None:
        return error(404, "no_published_version",
                     f"图层 {layer} 没有已发布的版本 (the layer has no published version)")
    if target.access_level == Layer.Access.CONFIDENTIAL:
        from audit.services import record

        record("layers.confidential_read", request=request, obj=target.code,
               detail={"tile": f"{z}/{x}/{y}", "version": target.version_number})

    reply = tile_reply(target, z, x, y, gzip_ok=accepts_gzip(request),
                       if_none_match=request.META.get("HTTP_IF_NONE_MATCH", ""))
    response = HttpResponse(reply.body, status=reply.status,
                            content_type=mvt.CONTENT_TYPE if reply.status == 200 else None)
    for name, value in reply.headers:
        response[name] = value
    return response


@dataclass(frozen=True)
class TileReply:
    status: int  # 200 or 304
    body: bytes
    headers: list[tuple[str, str]]  # all but Content-Type and Content-Length


def tile_reply(target: mvt.Target, z: int, x: int, y: int, *, gzip_ok: bool,
               if_none_match: str) -> TileReply:
    """The tile of a request already allowed to see `target`: from the cache or rendered
    (and cached), gzip as negotiated, 304 on a matching validator. Shared by the view and
    the WSGI fast path (tiles/mvt_fast_path.py), so both answer byte for byte alike."""
    use_cache = mvt_cache.enabled() and mvt_cache.trusted(target)
    cached = mvt_cache.read(target, z, x, y) if use_cache else None
    if cached is not None:
        _metrics(True)
        etag, gz, raw = cached.etag, cached.gz, cached.raw
    else:
        _metrics(False)
        raw = mvt.render(target, z, x, y)
        etag = mvt.digest(raw)
        gz = mvt.gzip_bytes(raw, stored=use_cache) if (use_cache or gzip_ok) else b""
        if use_cache:
            mvt_cache.write(target, z, x, y, mvt_cache.CachedTile(etag, gz, raw))

    encoded = gzip_ok and bool(gz)
    headers: list[tuple[str, str]] = []
    if _matches(if_none_match, etag):
        status, body = 304, b""
    else:
        status, body = 200, (gz if encoded else raw)
        if encoded:
            headers.append(("Content-Encoding", "gzip"))
    headers += [("ETag", f'"{etag}-gz"' if encoded else f'"{etag}"'),
                ("Cache-Control", cache_control(target)),
                ("Vary", "Accept-Encoding" if target.is_public
                 else "Accept-Encoding, Cookie, Authorization")]
    if target.is_public:  # map clients on other origins (MapLibre fetches tiles)
        headers.append(("Access-Control-Allow-Origin", "*"))
    return TileReply(status, body, headers)


@public
def mvt_bad_address(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other `/tiles/....mvt` address (negative or non-integer numbers, missing parts)."""
    return error(400, "invalid_tile",
                 "瓦片地址应为 /tiles/{图层}/{z}/{x}/{y}.mvt，z、x、y 为非负整数 "
                 "(expected /tiles/{layer}/{z}/{x}/{y}.mvt with non-negative integers)")
