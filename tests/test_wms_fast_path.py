"""WMS GetMap of public layers before the Django stack (tiles/wms_fast_path.py): the same
answers as the full path, and everything it must not answer reaches the full path."""

from __future__ import annotations

import io
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np
import pytest
from owslib.wms import WebMapService
from PIL import Image

from accounts import tokens
from accounts.roles import Role, Scope
from config.wsgi import application, django_application
from layers import crs
from ops import metrics, tally
from tests.conftest import SEAT_X, SEAT_Y, publish_layer, square
from tests.wsgi_call import call_wsgi
from tiles.wms_fast_path import WmsFastPath

pytestmark = pytest.mark.django_db(transaction=True)  # Mapnik reads with its own connection

RED, BLUE, GREEN = "#FF0000", "#0000FF", "#00FF00"


class Recording:
    """The full path (Django), noting each request that reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return django_application(environ, start_response)


def call(app, query: str, path: str = "/ows/wms", address: str = "127.0.0.1",
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    return call_wsgi(app, path, query=query, address=address, **headers)


def bbox_3857(x: float, y: float, size: float) -> str:
    (cx,), (cy,) = crs.transformer(4546, 3857).transform([x], [y])
    return f"{cx - size},{cy - size},{cx + size},{cy + size}"


def getmap(layers: str = "FPUB", bbox: str | None = None, **extra: str) -> str:
    params = {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layers,
              "STYLES": "", "CRS": "EPSG:3857", "WIDTH": "256", "HEIGHT": "256",
              "FORMAT": "image/png", "TRANSPARENT": "TRUE",
              "BBOX": bbox or bbox_3857(SEAT_X + 200, SEAT_Y + 200, 300), **extra}
    return "&".join(f"{k}={v}" for k, v in params.items())


def pixel(png: bytes, xy=(128, 128)) -> tuple:
    return Image.open(io.BytesIO(png)).convert("RGBA").getpixel(xy)


@pytest.fixture
def layers(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    return {
        "public": publish_layer("FPUB", "public", [square(SEAT_X, SEAT_Y, 400)], RED),
        "other": publish_layer("FPUB2", "public", [square(SEAT_X + 500, SEAT_Y, 400)],
                               GREEN),
        "internal": publish_layer("FINT", "internal", [square(SEAT_X + 1000, SEAT_Y, 400)],
                                  BLUE),
        "confidential": publish_layer("FSEC", "confidential",
                                      [square(SEAT_X + 1500, SEAT_Y, 400)], BLUE),
    }


@pytest.fixture
def fast() -> tuple[WmsFastPath, Recording]:
    full = Recording()
    return WmsFastPath(full), full


def test_the_served_application_has_the_fast_path():
    wrappers = []
    app = application
    while hasattr(app, "app"):
        wrappers.append(type(app))
        app = app.app
    assert WmsFastPath in wrappers and app is django_application


def test_same_images_and_headers_as_the_full_path(layers, fast):
    path, full = fast
    (lon,), (lat,) = crs.transformer(4546, 4490).transform([SEAT_X + 200], [SEAT_Y + 200])
    queries = [
        getmap(),
        getmap("FPUB,FPUB2", bbox_3857(SEAT_X + 450, SEAT_Y + 200, 600), WIDTH="300"),
        getmap(FORMAT="image/jpeg", TRANSPARENT="FALSE"),
        # Percent-encoded as OWSLib and GDAL send it, and lower-case names.
        getmap(CRS="EPSG%3A3857", FORMAT="image%2Fpng").lower().replace("fpub", "FPUB"),
        # 1.3.0 in EPSG:4490 is latitude first; 1.1.1 longitude first.
        getmap(CRS="EPSG:4490", bbox=f"{lat - 0.002},{lon - 0.002},{lat + 0.002},{lon + 0.002}"),
        getmap(VERSION="1.1.1", SRS="EPSG:4490",
               bbox=f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"),
    ]
    for query in queries:
        for address, headers in (("/ows/wms", {}), ("/ows", {"Accept-Language": "en"}),
                                 ("/ows/", {"Cookie": f"csrftoken={'a' * 32}; django_language=en"})):
            before = full.calls
            got = call(path, query, address, **headers)
            assert full.calls == before, (query, address)  # answered by the fast path
            want = call(django_application, query, address, **headers)
            assert got[0] == want[0] == 200, (query, got[2][:300])
            assert got[1] == want[1], query
            assert got[2] == want[2], query
            assert got[1]["Content-Type"] in ("image/png", "image/jpeg")
    # The squares are drawn where they are.
    assert pixel(call(path, queries[0])[2])[:3] == (255, 0, 0)
    mixed = call(path, queries[1])[2]
    assert pixel(mixed, (60, 150))[:3] == (255, 0, 0) and pixel(mixed, (200, 150))[:3] == \
        (0, 255, 0)


def test_hidden_and_unknown_layers_go_to_the_full_path(layers, fast):
    path, full = fast
    for names in ("FINT", "FSEC", "NOPE", "FPUB,FINT", "FSEC,FPUB", "empty"):
        query = getmap(names, bbox_3857(SEAT_X + 1200, SEAT_Y, 900))
        before = full.calls
        status, headers, body = call(path, query)
        assert full.calls == before + 1, names
        assert status == 400 and b"LayerNotDefined" in body, (names, body[:300])
        assert (status, headers, body) == call(django_application, query), names
    # Not a GetMap, or not WMS: the full path.
    for query in ("SERVICE=WMS&REQUEST=GetCapabilities",
                  "SERVICE=WMTS&REQUEST=GetCapabilities",
                  getmap().replace("GetMap", "GetFeatureInfo"),
                  getmap().replace("SERVICE=WMS&", "")):
        before = full.calls
        call(path, query)
        assert full.calls == before + 1, query


def test_credentials_go_to_the_full_path(layers, fast, make_user):
    path, full = fast
    account = make_user(Role.EXTERNAL_SYSTEM, "sys")
    secret = tokens.issue(account, name="gis", scopes=[Scope.MAP_READ]).secret
    cases = [({"Authorization": f"Bearer {secret}"}, ""), ({"X-Api-Token": secret}, ""),
             ({"Cookie": "sessionid=notasession"}, ""),
             ({}, f"&token={secret}"), ({}, f"&TOKEN={secret}"), ({}, "&Token=wrong"),
             ({"Authorization": "Bearer wrong"}, "")]
    for headers, extra in cases:
        before = full.calls
        status, _, body = call(path, getmap("FINT", bbox_3857(SEAT_X + 1200, SEAT_Y + 200,
                                                              300)) + extra, **headers)
        assert full.calls == before + 1, (headers, extra)
        if "Token=" in extra:  # no token parameter (`token` or `TOKEN` are): anonymous
            assert status == 400
        elif "wrong" in str(headers):
            assert status == 401
        elif "sessionid" in str(headers):  # not signed in: the layer does not exist for it
            assert status == 400
        else:  # the token's account may see the internal layer: only the full path knows
            assert status == 200 and pixel(body)[:3] == (0, 0, 255), (headers, extra)


def test_malformed_requests_get_the_full_paths_exception_report(layers, fast, settings):
    path, full = fast
    settings.WMS_MAX_SIZE = (512, 512)
    bad = [getmap(BBOX="1,2,3"), getmap(BBOX="nan,0,1,1"), getmap(BBOX="3,3,1,1"),
           getmap(WIDTH="513"), getmap(HEIGHT="0"), getmap(WIDTH="２５６"),
           getmap(VERSION="9.9.9"), getmap(CRS="EPSG:99999"), getmap(FORMAT="image/bogus"),
           getmap(LAYERS=""), getmap().replace("&BBOX=", "&X="),
           getmap() + "&LAYERS=FPUB2",  # a repeated parameter
           getmap(CRS="EPSG:4490", BBOX="112.0,33.0,112.1,33.1")]  # 1.3.0: lat first
    for query in bad:
        before = full.calls
        got = call(path, query)
        assert full.calls == before + 1, query
        want = call(django_application, query)
        assert got[0] == want[0] and got[0] in (400, 200), (query, got[0])
        assert got[2] == want[2], query
        if got[0] == 400:
            assert b"Exception" in got[2], query
    # WMS_MAX_SIZE: the limit itself is served fast, one pixel more is refused.
    before = full.calls
    status, _, body = call(path, getmap(WIDTH="512", HEIGHT="512"))
    assert status == 200 and full.calls == before
    status, _, body = call(path, getmap(WIDTH="4096"))
    assert status == 400 and b"WIDTH" in body and full.calls == before + 1


def test_the_rate_limit_counts_fast_and_full_requests_once(layers, fast, settings):
    path, full = fast
    settings.MAP_RATE_LIMIT_PER_MINUTE = 3
    address = "10.77.0.1"
    codes = [call(path, getmap(), address=address)[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    status, headers, body = call(path, getmap(), address=address)
    assert int(headers["Retry-After"]) in range(1, 61) and b"RateLimitExceeded" in body
    assert headers["X-Frame-Options"] == "DENY" and full.calls == 0
    # One counter for both paths: two fast GetMaps, then the capabilities (full path).
    other = "10.77.0.2"
    assert [call(path, getmap(), address=other)[0] for _ in range(2)] == [200, 200]
    caps = "SERVICE=WMS&REQUEST=GetCapabilities"
    assert [call(path, caps, address=other)[0] for _ in range(2)] == [200, 429]
    # A request counted here and then passed on (MapProxy refuses the CRS) counts once.
    third = "10.77.0.3"
    assert call(path, getmap(CRS="EPSG:2000"), address=third)[0] == 400
    assert [call(path, getmap(), address=third)[0] for _ in range(3)] == [200, 200, 429]


def test_fast_requests_are_in_the_request_metrics(layers, fast):
    path, full = fast
    ok = metrics.HTTP_REQUESTS.labels("ows", "2xx")
    before, pending = ok._value.get(), sum(sum(v) for v in tally.pending().values())
    for _ in range(3):
        assert call(path, getmap())[0] == 200
    assert full.calls == 0
    assert ok._value.get() == before + 3
    assert sum(sum(v) for v in tally.pending().values()) >= pending + 3


def test_the_fast_path_can_be_switched_off(layers, fast, settings):
    path, full = fast
    settings.WMS_FAST_PATH = False
    assert call(path, getmap())[0] == 200 and full.calls == 1


def test_a_dead_database_connection_takes_the_full_path_once(layers, fast):
    """The fast path skips Django's per-request health check: a connection that died
    between requests fails the generation query, the request is answered by the full path
    (which reconnects), and the next one is fast again."""
    from django.db import connection

    path, full = fast
    assert call(path, getmap())[0] == 200 and full.calls == 0
    connection.ensure_connection()
    connection.connection.close()  # the server side went away; Django does not know yet
    status, headers, body = call(path, getmap())
    assert status == 200 and headers["Content-Type"] == "image/png" and full.calls == 1
    assert pixel(body)[:3] == (255, 0, 0)
    assert call(path, getmap())[0] == 200 and full.calls == 1


def test_a_real_server_with_owslib_gets_the_same_maps(live_server, layers):
    """OWSLib against gunicorn's application (fast path) and against the full path."""
    server = make_server("127.0.0.1", 0, application, WSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        images = {}
        for name, base in (("fast", f"http://127.0.0.1:{server.server_port}"),
                           ("full", live_server.url)):
            wms = WebMapService(f"{base}/ows/wms", version="1.3.0")
            assert "FPUB" in wms.contents and "FINT" not in wms.contents
            (cx,), (cy,) = crs.transformer(4546, 3857).transform([SEAT_X + 200],
                                                                 [SEAT_Y + 200])
            images[name] = [wms.getmap(layers=[layer], srs="EPSG:3857",
                                       bbox=(cx - 300, cy - 300, cx + 300, cy + 300),
                                       size=(256, 256), format="image/png",
                                       transparent=True).read()
                            for layer in ("FPUB", "FPUB2")]
        assert images["fast"] == images["full"]
        red = np.asarray(Image.open(io.BytesIO(images["fast"][0])).convert("RGBA"))
        assert (red[128, 128] == [255, 0, 0, 255]).all()
    finally:
        server.shutdown()
        server.server_close()


def test_header_middleware_run_once_per_shape_of_request(layers, fast, monkeypatch):
    """The header middleware's verdict and headers are kept per shape of request (path,
    scheme, host, agent, cookies, Accept-Language) and reused, Content-Length apart; each new
    shape runs them again, and every answer has the full path's headers."""
    from django.middleware.clickjacking import XFrameOptionsMiddleware

    path, full = fast
    runs = []
    original = XFrameOptionsMiddleware.process_response

    def counted(self, request, response):
        runs.append(request.path)
        return original(self, request, response)

    monkeypatch.setattr(XFrameOptionsMiddleware, "process_response", counted)
    small = getmap(bbox=bbox_3857(SEAT_X + 200, SEAT_Y + 200, 300))
    edge = getmap(bbox=bbox_3857(SEAT_X - 380, SEAT_Y + 200, 100))  # half red, half empty
    shapes = [{}, {"Accept-Language": "en"}, {"Cookie": "django_language=en"},
              {"User-Agent": "QGIS/3.34"}, {"Host": "127.0.0.1:8000"}]
    for headers in shapes:
        for query in (small, edge, small):
            got = call(path, query, **headers)
            before = len(runs)
            want = call(django_application, query, **headers)
            assert len(runs) == before + 1  # the full path always runs them
            assert got[0] == want[0] == 200 and full.calls == 0
            assert got[1] == want[1] and got[2] == want[2], (headers, query)
            assert got[1]["Content-Length"] == str(len(got[2]))
    fast_runs = len(runs) - 3 * len(shapes)  # less the full path's own
    assert fast_runs == len(shapes), runs  # once per shape: the first request of each
    assert call(path, small, **{"Accept-Language": "en"})[1]["Content-Language"] == "en"
    assert call(path, small)[1]["Content-Language"] == "zh-hans"


def test_header_memory_follows_scheme_and_settings(layers, fast, settings):
    """HTTPS behind the proxy (SECURE_PROXY_SSL_HEADER) gets HSTS and plain HTTP does not,
    whichever came first; a changed setting is seen at once."""
    from django.core.handlers.wsgi import WSGIHandler

    path, full = fast
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    reference = WSGIHandler()  # the full path with these settings (read at its start)
    for proto in ("https", "http", "https"):
        got = call(path, getmap(), **{"X-Forwarded-Proto": proto})
        assert got == call(reference, getmap(), **{"X-Forwarded-Proto": proto})
        assert ("Strict-Transport-Security" in got[1]) == (proto == "https"), proto
    assert call(path, getmap())[1]["X-Frame-Options"] == "DENY"
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    got = call(path, getmap())
    assert got[1]["X-Frame-Options"] == "SAMEORIGIN" and got == call(reference, getmap())
    assert full.calls == 0


def test_a_renewed_csrf_cookie_is_never_reused(layers, fast):
    """A malformed CSRF cookie is replaced by a new random one on every answer, as the full
    path does: such an answer is not kept."""
    path, full = fast
    cookies = []
    for _ in range(3):
        status, headers, _ = call(path, getmap(), Cookie="csrftoken=bad")
        _, want, _ = call(django_application, getmap(), Cookie="csrftoken=bad")
        assert status == 200 and full.calls == 0
        assert headers.keys() == want.keys() and "Cookie" in headers["Vary"]
        cookies.append(headers["Set-Cookie"])
    assert len(set(cookies)) == 3 and all(c.startswith(" csrftoken=") for c in cookies)


def test_refused_hosts_always_take_the_full_path(layers, fast):
    path, full = fast
    for n in range(1, 4):
        status, _, _ = call(path, getmap(), Host="evil.example")
        assert status == 400 and full.calls == n


def test_every_service_change_is_seen_by_the_next_fast_request(layers, fast):
    """Never stale: the generation is read on every request (a prepared statement), so a
    restyle is on the next map, also after the session was reset (DISCARD ALL)."""
    from django.db import connection

    path, full = fast
    layer = layers["public"]
    assert pixel(call(path, getmap())[2])[:3] == (255, 0, 0)
    layer.style = {**layer.style, "fill": GREEN, "stroke": GREEN}
    layer.save()
    assert pixel(call(path, getmap())[2])[:3] == (0, 255, 0)
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")  # e.g. a pooler resetting the session
    layer.style = {**layer.style, "fill": BLUE, "stroke": BLUE}
    layer.save()
    assert pixel(call(path, getmap())[2])[:3] == (0, 0, 255)
    assert full.calls == 0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # no access log in the test output
        pass
