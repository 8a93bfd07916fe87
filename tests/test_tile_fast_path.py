"""Cached public tiles served before Django (tiles/fast_path.py), through the real WSGI
application gunicorn runs (config.wsgi.application)."""

from __future__ import annotations

import pytest
import shapely

from config.wsgi import application
from layers import crs
from tests.conftest import SEAT_X, SEAT_Y, publish_layer, square, to_crs
from tests.wsgi_call import call_wsgi
from tiles.public_links import refresh_public_links

pytestmark = pytest.mark.django_db(transaction=True)  # Mapnik reads with its own connection


def call(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return call_wsgi(application, path, **headers)


def tile_path(code: str, x: float, y: float, z: int = 16) -> str:
    lon, lat = to_crs([shapely.Point(x, y)], 4546, 4490)[0].coords[0]
    (mx,), (my,) = crs.transformer(4490, 3857).transform([lon], [lat])
    size = 2 * 20037508.342789244 / 2**z
    col = int((mx + 20037508.342789244) // size)
    row = int((20037508.342789244 - my) // size)
    return f"/ows/wmts/{code}/webmercator/{z}/{col}/{row}.png"


@pytest.fixture
def layers(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    public = publish_layer("FPUB", "public", [square(SEAT_X, SEAT_Y, 400)], "#FF0000")
    internal = publish_layer("FINT", "internal", [square(SEAT_X + 1000, SEAT_Y, 400)],
                             "#0000FF")
    refresh_public_links()  # what the publish receivers do after commit
    return {"public": public, "internal": internal}


def test_a_cached_public_tile_is_served_before_django(layers):
    path = tile_path("FPUB", SEAT_X + 200, SEAT_Y + 200)
    status, headers, first = call(path)  # a miss: the application renders and caches it
    assert status == 200 and headers.get("X-Tile-Source") != "cache"
    status, headers, again = call(path)
    assert status == 200 and headers["X-Tile-Source"] == "cache"
    assert again == first and headers["Content-Type"] == "image/png"
    assert call(path, **{"If-None-Match": headers["ETag"]})[0] == 304


def test_credentials_and_non_public_layers_always_reach_the_application(layers, settings):
    hidden = tile_path("FINT", SEAT_X + 1200, SEAT_Y + 200)
    for _ in range(2):
        status, headers, _ = call(hidden)
        assert status != 200 and headers.get("X-Tile-Source") != "cache"
    public = tile_path("FPUB", SEAT_X + 200, SEAT_Y + 200)
    call(public)
    _, headers, _ = call(public, Authorization="Bearer nonsense")
    assert headers.get("X-Tile-Source") != "cache"
    _, headers, _ = call(public + "?token=abc")
    assert headers.get("X-Tile-Source") != "cache"
    settings.TILE_FAST_PATH = False
    assert call(public)[1].get("X-Tile-Source") != "cache"


def test_a_restyle_switches_the_link_so_old_tiles_are_never_served(layers):
    path = tile_path("FPUB", SEAT_X + 200, SEAT_Y + 200)
    call(path)
    assert call(path)[1]["X-Tile-Source"] == "cache"
    layer = layers["public"]
    layer.style = {**layer.style, "fill": "#00FF00"}
    layer.save()  # a new cache folder: the public link follows at once
    status, headers, _ = call(path)
    assert status == 200 and headers.get("X-Tile-Source") != "cache"
