"""Mapnik 4 inside GeoDjango and MapProxy 7: the three known incompatibilities, fixed once.

1. Importing the `mapnik` wheel points PROJ_LIB and GDAL_DATA at its own folders, which
   breaks GeoDjango's GDAL transforms ("Cannot find proj.db"): unset them right after import.
2. MapProxy's mapnik source sets `m.srs = '+init=epsg:<code>'` (refused by PROJ 6+), stores a
   `map_obj_pid` attribute on the map (mapnik 4 maps take no new attributes) and calls
   `Image.tostring` (now `to_string`). `PatchedMapnikSource` replaces those three calls.
3. Mapnik's own PNG encoder is slow: maps and tiles are written as PNG by `encode_png`.
Import this module (not `mapnik`) everywhere the application renders.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from io import BytesIO
from pathlib import Path

import mapnik
import numpy as np

try:  # ISA-L's deflate: the same zlib stream, several times faster than zlib at level 1-2
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal is in requirements.txt
    _deflate = zlib  # type: ignore[assignment]

_MAPNIK_DIR = str(Path(mapnik.__file__).resolve().parent)
for _var in ("PROJ_LIB", "GDAL_DATA", "PROJ_DATA"):
    if os.environ.get(_var, "").startswith(_MAPNIK_DIR):
        del os.environ[_var]

from mapproxy.image import ImageResult  # noqa: E402 - after the environment fix above
from mapproxy.image.opts import ImageOptions  # noqa: E402
from mapproxy.source import mapnik as mapproxy_mapnik  # noqa: E402

_local = threading.local()
# PNG maps and tiles are encoded here (encode_png), other formats by Mapnik as requested.
PNG_FORMATS = frozenset({"png", "png32", "image/png"})
PNG_LEVEL = 2
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, data: bytes) -> bytes:
    # ISA-L's CRC-32 is zlib's, about eight times faster on a tile's IDAT.
    crc = _deflate.crc32(data, _deflate.crc32(tag))
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def encode_png(img: mapnik.Image) -> bytes:
    """The rendered image as a 32-bit RGBA PNG: lossless, the very pixels Mapnik's own
    `png32` encoder writes, and the same stream layout (no row filter, deflate level 2).

    Mapnik's encoder (libpng inside the wheel) took about 5 ms of CPU for a 256x256 map, as
    much as rendering it, holding the GIL throughout; this takes about 0.4 ms: the raw
    (non-premultiplied) pixels from Mapnik, one filter byte per row, ISA-L deflate."""
    if img.premultiplied():  # never after mapnik.render; an image built otherwise may be
        img = img.copy()
        img.demultiply()
    width, height = img.width(), img.height()
    # Rows of RGBA bytes, top to bottom, each after its filter byte (0: none), copied into
    # place by numpy (about 15 us for 256x256; joining 256 sliced rows took 0.1-0.3 ms).
    rows = np.empty((height, 4 * width + 1), np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = np.frombuffer(img.to_string(), np.uint8).reshape(height, 4 * width)
    return b"".join((_PNG_SIGNATURE,
                     _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)),
                     _chunk(b"IDAT", _deflate.compress(rows, PNG_LEVEL)),
                     _chunk(b"IEND", b"")))


def blank_image(m: mapnik.Map, width: int, height: int) -> mapnik.Image:
    """The image `m` renders into. Mapnik's renderer first fills it with the map's background
    (ours is transparent), so zeroing it before is done only for maps without one (the
    zeroing was 1.7 % of an uncached GetMap's instructions)."""
    return mapnik.Image(width, height, mapnik.ImageType.rgba8, m.background is None)


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
        img = blank_image(m, query.size[0], query.size[1])
        if self.scale_factor:
            mapnik.render(m, img, self.scale_factor)
        else:
            mapnik.render(m, img)
        fmt = str(query.format)
        data = encode_png(img) if fmt in PNG_FORMATS else img.to_string(fmt)
        mapproxy_mapnik.log_request(f"{mapfile}:{query.bbox}:{query.srs.srs_code}:{query.size}",
                                    status="200", size=len(data), method="API",
                                    duration=time.time() - started)
        return ImageResult(BytesIO(data), size=query.size,
                           image_opts=ImageOptions(format=query.format))


def install() -> None:
    """Make MapProxy's configuration loader build our source for `type: mapnik`."""
    mapproxy_mapnik.MapnikSource = PatchedMapnikSource


install()
