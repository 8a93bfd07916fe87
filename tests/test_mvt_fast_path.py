"""Vector tiles of public layers served before Django (tiles/mvt_fast_path.py), through the
real WSGI application gunicorn runs (config.wsgi.application)."""

from __future__ import annotations

import gzip

import pytest
import shapely

from config.wsgi import application
from layers import services
from layers.models import Feature
from tests.conftest import SEAT_X, SEAT_Y, square, to_crs
from tests.test_mvt import features, publish, tile_of
from tests.wsgi_call import call_wsgi
from tiles import mvt, mvt_cache
from tiles.mvt_fast_path import MvtFastPath

pytestmark = pytest.mark.django_db(transaction=True)
MVT = "application/vnd.mapbox-vector-tile"


class Refused(AssertionError):
    pass


def django_must_not_run(environ, start_response):
    raise Refused(f"reached Django: {environ['PATH_INFO']}")


FAST_ONLY = MvtFastPath(django_must_not_run)


def call(app, path: str, address: str = "127.0.0.1", method: str = "GET",
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    return call_wsgi(app, path, method=method, address=address, **headers)


@pytest.fixture
def tiles(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MVT_CACHE_ENABLED = True
    settings.TILE_CACHE_CONTROL = "public, max-age=60, must-revalidate"
    squares = [square(SEAT_X + i * 60, SEAT_Y) for i in range(3)]
    out = {access: publish(code, squares, access=access)
           for code, access in (("FMPUB", "public"), ("FMINT", "internal"),
                                ("FMSEC", "confidential"))}
    z, x, y = tile_of(to_crs([square(SEAT_X + 60, SEAT_Y)], 4546, 4490)[0], 16)
    out["path"] = f"/{z}/{x}/{y}.mvt"
    return out


@pytest.mark.parametrize("cache", [True, False])
def test_public_tiles_never_reach_django_and_answer_as_the_view(tiles, settings, cache):
    settings.MVT_CACHE_ENABLED = cache
    path = "/tiles/FMPUB" + tiles["path"]
    for _ in range(2):  # a miss, then (cache on) a hit
        status, headers, body = call(FAST_ONLY, path)
        assert status == 200 and headers["Content-Type"] == MVT
        assert len(features(body, "FMPUB")) == 3
    assert "Content-Encoding" not in headers and headers["Content-Length"] == str(len(body))
    # The Django view's answer, for comparison (MVT_FAST_PATH off).
    settings.MVT_FAST_PATH = False
    status, view_headers, view_body = call(application, path)
    settings.MVT_FAST_PATH = True
    assert status == 200 and view_body == body
    for name in ("ETag", "Cache-Control", "Access-Control-Allow-Origin",
                 "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
        assert headers[name] == view_headers[name], name
    # Django's locale and session middleware add Accept-Language and Cookie; a public
    # tile does not depend on either.
    assert headers["Vary"] == "Accept-Encoding" and "Accept-Encoding" in view_headers["Vary"]
    assert headers["Cache-Control"] == "public, max-age=60, must-revalidate"
    # gzip when accepted, same bytes inside; 304 on either validator; HEAD without a body.
    status, zh, zbody = call(FAST_ONLY, path, **{"Accept-Encoding": "gzip, deflate"})
    assert zh["Content-Encoding"] == "gzip" and gzip.decompress(zbody) == body
    assert zh["ETag"] == headers["ETag"][:-1] + '-gz"' and "Accept-Encoding" in zh["Vary"]
    for tag in (headers["ETag"], zh["ETag"]):
        status, h304, empty = call(FAST_ONLY, path, **{"If-None-Match": tag})
        assert status == 304 and empty == b"" and h304["ETag"] and h304["Cache-Control"]
    status, hh, hbody = call(FAST_ONLY, path, method="HEAD")
    assert status == 200 and hbody == b"" and hh["Content-Length"] == str(len(body))
    assert (mvt_cache.root() / "FMPUB").is_dir() == cache


def test_hidden_layers_credentials_and_bad_addresses_go_through_django(tiles, make_user):
    from accounts.roles import Role

    tail = tiles["path"]
    # Internal and confidential layers: the view decides, cached tiles included.
    for code in ("FMINT", "FMSEC"):
        with pytest.raises(Refused):
            call(FAST_ONLY, f"/tiles/{code}{tail}")
        z, x, y = (int(v) for v in tail.strip("/").removesuffix(".mvt").split("/"))
        mvt_cache.write(mvt.lookup(code)[1], z, x, y, mvt_cache.CachedTile("0" * 24, b"x", b"y"))
        assert mvt_cache.tile_path(code, mvt.lookup(code)[1].version_id, z, x, y).is_file()
        status, _, body = call(application, f"/tiles/{code}{tail}")
        assert status == 404 and b"unknown_layer" in body
    # Anything with credentials, whatever the layer.
    make_user(Role.REVIEWER, "rev")
    for path, headers in ((f"/tiles/FMPUB{tail}", {"Authorization": "Bearer nx_bad"}),
                          (f"/tiles/FMPUB{tail}?token=nx_bad", {}),
                          (f"/tiles/FMPUB{tail}?TOKEN=nx_bad", {}),
                          (f"/tiles/FMPUB{tail}", {"X-Api-Token": "nx_bad"}),
                          (f"/tiles/FMPUB{tail}", {"Cookie": "sessionid=abc"})):
        with pytest.raises(Refused):
            call(FAST_ONLY, path, **headers)
    assert call(application, f"/tiles/FMPUB{tail}",
                **{"Authorization": "Bearer nx_bad"})[0] == 401
    # Unknown layers and bad addresses: the view's JSON errors.
    for path, code in (("/tiles/NOPE/3/0/0.mvt", 404), ("/tiles/FMPUB/2/4/0.mvt", 400),
                       ("/tiles/FMPUB/23/0/0.mvt", 400), ("/tiles/FMPUB/3/0.mvt", 400)):
        with pytest.raises(Refused):
            call(FAST_ONLY, path)
        status, headers, _ = call(application, path)
        assert status == code and headers["Content-Type"].startswith("application/json")
    assert call(application, "/tiles/FMPUB/3/0/0.mvt", method="POST")[0] != 200


def test_an_edit_and_a_publication_are_seen_at_once(tiles):
    layer, version = tiles["public"]
    path = "/tiles/FMPUB" + tiles["path"]
    status, first, body = call(FAST_ONLY, path)
    assert status == 200 and call(FAST_ONLY, path)[1]["ETag"] == first["ETag"]
    feature = Feature.objects.get(version=version, parcel_no="FMPUB-1")
    services.edit_feature(feature.pk, values={"far_max": 7.5})  # an attribute at z16
    status, after, body = call(FAST_ONLY, path)
    assert after["ETag"] != first["ETag"]
    assert {f["properties"].get("far_max") for f in features(body, "FMPUB")
            if f["id"] == feature.pk} == {7.5}
    away = to_crs([square(SEAT_X + 4000, SEAT_Y)], 4546, 4490)[0]
    services.edit_feature(feature.pk, geom_4490=away)
    assert feature.pk not in {f["id"] for f in features(call(FAST_ONLY, path)[2], "FMPUB")}
    publish("FMPUB", [square(SEAT_X + 60, SEAT_Y)], layer=layer)
    assert len(features(call(FAST_ONLY, path)[2], "FMPUB")) == 1


def test_rate_limit_is_shared_with_the_middleware(tiles, settings):
    settings.MAP_RATE_LIMIT_PER_MINUTE = 3
    path = "/tiles/FMPUB" + tiles["path"]
    address = "10.7.7.7"
    assert call(FAST_ONLY, path, address)[0] == 200
    # One request through Django (a hidden layer) counts against the same limit.
    assert call(application, "/tiles/FMINT" + tiles["path"], address)[0] == 404
    assert call(FAST_ONLY, path, address)[0] == 200
    status, headers, body = call(FAST_ONLY, path, address)
    assert status == 429 and headers["Retry-After"] and b"RateLimitExceeded" in body
    assert call(application, "/tiles/FMINT" + tiles["path"], address)[0] == 429
    assert call(FAST_ONLY, path, "10.7.7.8")[0] == 200


def test_requests_and_cache_hits_are_counted(tiles):
    from ops import metrics, tally

    def value(counter, *labels) -> float:
        return counter.labels(*labels)._value.get()

    path = "/tiles/FMPUB" + tiles["path"]
    ok, hits, misses = (value(metrics.HTTP_REQUESTS, "tiles", "2xx"),
                        value(metrics.TILE_CACHE, "hit"), value(metrics.TILE_CACHE, "miss"))
    minutes = sum(r for r, _ in tally.pending().values())
    call(FAST_ONLY, path)
    call(FAST_ONLY, path)
    assert value(metrics.HTTP_REQUESTS, "tiles", "2xx") == ok + 2
    assert value(metrics.TILE_CACHE, "miss") == misses + 1
    assert value(metrics.TILE_CACHE, "hit") == hits + 1
    assert sum(r for r, _ in tally.pending().values()) >= minutes + 2


def test_a_broken_database_connection_falls_back_to_the_view(tiles):
    from django.db import connection

    path = "/tiles/FMPUB" + tiles["path"]
    connection.ensure_connection()
    seen = []

    def view(environ, start_response):
        seen.append(environ["PATH_INFO"])
        start_response("503 Service Unavailable", [])
        return [b""]

    connection.connection.close()  # as after a database restart
    try:
        assert call(MvtFastPath(view), path)[0] == 503 and seen == [path]
    finally:
        connection.close()
    connection.ensure_connection()
    assert call(FAST_ONLY, path)[0] == 200


def test_geometry_of_the_fast_path_is_the_views(tiles, settings):
    path = "/tiles/FMPUB" + tiles["path"]
    body = call(FAST_ONLY, path)[2]
    settings.MVT_FAST_PATH = False
    assert call(application, path)[2] == body
    assert all(shapely.geometry.shape(f["geometry"]).is_valid
               for f in features(body, "FMPUB"))
