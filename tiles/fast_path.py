"""Cached tiles of public layers served before Django, as nginx does in production.

deploy/nginx.conf serves `/ows/wmts/{layer}/{matrix set}/{z}/{x}/{y}.png` straight from the
public-link folder (tiles/public_links.py) and passes every miss to the application. When the
application runs without nginx (`make run`), this WSGI middleware does the same thing, so a
warm map view does not pay the full request stack (middleware, MapProxy) a hundred times.

It serves only what nginx would: files under the public links (public layers' current
caches, switched atomically on publish and restyle, pruned tile by tile on edits), and never
a request that carries a token (Authorization or X-Api-Token header, `token` parameter), which
may be for non-public data and goes to the application's access checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any

from django.conf import settings

from tiles.before_django import carries_token

TILE_PATH = re.compile(r"^/ows/wmts/(?P<layer>[A-Za-z][A-Za-z0-9_]*)/"
                       r"(?P<tms>webmercator|cgcs2000)/(?P<z>[0-9]{1,2})/(?P<x>[0-9]{1,9})/"
                       r"(?P<y>[0-9]{1,9})\.png$")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PublicTileFastPath:
    def __init__(self, app: WSGIApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        match = TILE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or method not in ("GET", "HEAD") or carries_token(environ) \
                or not getattr(settings, "TILE_FAST_PATH", True):
            return self.app(environ, start_response)
        g = match.groupdict()
        path = (Path(settings.TILE_CACHE_DIR) / "public" / g["layer"] / g["tms"] / g["z"]
                / g["x"] / f"{g['y']}.png")
        try:
            with open(path, "rb") as f:
                stat = os.fstat(f.fileno())
                body = f.read()
        except OSError:  # not cached, or not a public layer: the application decides
            return self.app(environ, start_response)
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = [("Cache-Control", settings.TILE_CACHE_CONTROL), ("ETag", etag),
                   ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
                   ("X-Tile-Source", "cache")]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        start_response("200 OK", [("Content-Type", "image/png"),
                                  ("Content-Length", str(len(body))), *headers])
        return [b"" if method == "HEAD" else body]
