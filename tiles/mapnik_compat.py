"""Mapnik 4 inside GeoDjango and MapProxy 7: the three known incompatibilities, fixed once.

1. Importing the `mapnik` wheel points PROJ_LIB and GDAL_DATA at its own folders, which
   breaks GeoDjango's GDAL transforms ("Cannot find proj.db"): unset them right after import.
2. MapProxy's mapnik source sets `m.srs = '+init=epsg:<code>'` (refused by PROJ 6+), stores a
   `map_obj_pid` attribute on the map (mapnik 4 maps take no new attributes) and calls
   `Image.tostring` (now `to_string`). `PatchedMapnikSource` replaces those three calls.
Import this module (not `mapnik`) everywhere the application renders.
"""

from __future__ import annotations

import os
import threading
import time
from io import BytesIO
from pathlib import Path

import mapnik

_MAPNIK_DIR = str(Path(mapnik.__file__).resolve().parent)
for _var in ("PROJ_LIB", "GDAL_DATA", "PROJ_DATA"):
    if os.environ.get(_var, "").startswith(_MAPNIK_DIR):
        del os.environ[_var]

from mapproxy.image import ImageResult  # noqa: E402 - after the environment fix above
from mapproxy.image.opts import ImageOptions  # noqa: E402
from mapproxy.source import mapnik as mapproxy_mapnik  # noqa: E402

_local = threading.local()
# PNG at zlib level 2 instead of 6: encoding was the largest cost of an uncached map (about
# 6 of 13 ms of CPU), level 2 takes half of that for files ~10% larger. Still lossless
# 32-bit RGBA, as MapServer's AGG/PNG; other formats are encoded as requested.
ENCODINGS = {"png": "png32:z=2", "png32": "png32:z=2"}


class PatchedMapnikSource(mapproxy_mapnik.MapnikSource):
    """MapProxy's Mapnik source for mapnik 4: one loaded map per thread and mapfile."""

    def map_obj(self, mapfile: str) -> mapnik.Map:
        maps = getattr(_local, "maps", None)
        if maps is None:
            maps = _local.maps = {}
        m = maps.get(mapfile)
        if m is None:
            m = mapnik.Map(0, 0)
            mapnik.load_map(m, str(mapfile))
            maps[mapfile] = m
        return m

    def _render_mapfile(self, mapfile: str, query) -> ImageResult:
        started = time.time()
        m = self.map_obj(mapfile)
        m.resize(query.size[0], query.size[1])
        m.srs = str(query.srs.srs_code).lower()  # "epsg:3857", not "+init=epsg:3857"
        m.zoom_to_box(mapnik.Box2d(*query.bbox))
        img = mapnik.Image(query.size[0], query.size[1])
        if self.scale_factor:
            mapnik.render(m, img, self.scale_factor)
        else:
            mapnik.render(m, img)
        data = img.to_string(ENCODINGS.get(str(query.format), str(query.format)))
        mapproxy_mapnik.log_request(f"{mapfile}:{query.bbox}:{query.srs.srs_code}:{query.size}",
                                    status="200", size=len(data), method="API",
                                    duration=time.time() - started)
        return ImageResult(BytesIO(data), size=query.size,
                           image_opts=ImageOptions(format=query.format))


def install() -> None:
    """Make MapProxy's configuration loader build our source for `type: mapnik`."""
    mapproxy_mapnik.MapnikSource = PatchedMapnikSource


install()
