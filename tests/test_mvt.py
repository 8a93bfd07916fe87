"""Vector tiles /tiles/{layer}/{z}/{x}/{y}.mvt: real PostGIS, real HTTP (live server).

Tiles are decoded with mapbox_vector_tile and compared with independent PostGIS queries;
access, caching headers, gzip, bad input, edits and publications are checked through HTTP.
"""

from __future__ import annotations

import gzip
import math
import time

import mapbox_vector_tile
import numpy as np
import pytest
import requests
import shapely
from django.core.management import call_command
from django.db import connection
from django.urls import resolve

from accounts import tokens
from accounts.roles import Role, Scope
from audit.models import AuditRecord
from layers import selectors, services
from layers.importers.base import FeatureBatch
from layers.models import Feature, Layer, LayerVersion
from tests.conftest import SEAT_X, SEAT_Y, http_login, square, to_crs
from tiles import mvt, mvt_cache

pytestmark = pytest.mark.django_db(transaction=True)
MVT = "application/vnd.mapbox-vector-tile"
MARGIN_SQL = "256/4096.0"


# --- helpers ----------------------------------------------------------------------------------
def lonlat_tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, x, y


def tile_of(geom_4490, z: int) -> tuple[int, int, int]:
    c = geom_4490.centroid
    return lonlat_tile(c.x, c.y, z)


def publish(code: str, squares: list, *, access: str = "public",
            category: str = "regulatory_plan", layer: Layer | None = None,
            attrs: dict | None = None) -> tuple[Layer, LayerVersion]:
    if layer is None:
        layer = services.create_layer(code=code, name_zh=f"图层{code}", name_en=code,
                                      category=category, geometry_type="polygon",
                                      access_level=access, style={"fill": "#FFCC00"})
    geoms = to_crs(squares, 4546, 4490)
    columns = attrs or {"DKBH": [f"{code}-{i}" for i in range(len(geoms))],
                        "YDXZDM": ["0701"] * len(geoms), "YDXZMC": ["城镇住宅用地"] * len(geoms),
                        "RJLSX": [2.5] * len(geoms)}
    version, _ = services.import_batch(layer, FeatureBatch(np.asarray(geoms, dtype=object),
                                                           columns, 4490, "test"),
                                       source_name="t", publish=True)
    return layer, version


def get(base: str, code: str, z: int, x: int, y: int, session=None, **kwargs):
    return (session or requests).get(f"{base}/tiles/{code}/{z}/{x}/{y}.mvt", timeout=30,
                                     **kwargs)


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body) if body else {}


def features(body: bytes, code: str) -> list[dict]:
    return decode(body).get(code, {}).get("features", [])


def ids_in_envelope(version_id: int, z: int, x: int, y: int) -> set[int]:
    """Independent answer: features meeting the tile's buffered envelope (ST_Intersects)."""
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM layers_feature WHERE version_id = %s AND ST_Intersects("
                    f"geom_3857, ST_TileEnvelope(%s, %s, %s, margin => {MARGIN_SQL}))",
                    [version_id, z, x, y])
        return {r[0] for r in cur.fetchall()}


def sub_resolution(version_id: int, z: int, x: int, y: int) -> set[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM layers_feature WHERE version_id = %s AND ST_Intersects("
                    f"geom_3857, ST_TileEnvelope(%s, %s, %s, margin => {MARGIN_SQL})) AND "
                    "ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%s, %s, %s), 4096, 256, true) "
                    "IS NULL", [version_id, z, x, y, z, x, y])
        found = {r[0] for r in cur.fetchall()}
    assert len(found) <= 3, (z, x, y, found)  # slivers at the edge of the buffer only
    return found


def coords_of(geometry: dict) -> np.ndarray:
    return np.array(list(_flatten(geometry["coordinates"])), dtype=float).reshape(-1, 2)


def _flatten(c):
    if isinstance(c[0], int | float):
        yield from c
        return
    for item in c:
        yield from _flatten(item)


@pytest.fixture
def tile_settings(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MVT_CACHE_ENABLED = True
    settings.TILE_CACHE_CONTROL = "public, max-age=60, must-revalidate"
    return settings


@pytest.fixture
def small(tile_settings):
    """A public, an internal and a confidential layer of three 50 m parcels each."""
    squares = [square(SEAT_X + i * 60, SEAT_Y) for i in range(3)]
    out = {}
    for code, access in (("MVTPUB", "public"), ("MVTINT", "internal"),
                         ("MVTSEC", "confidential")):
        out[access] = publish(code, squares, access=access)
    geom = to_crs([square(SEAT_X + 60, SEAT_Y)], 4546, 4490)[0]
    out["tile"] = tile_of(geom, 16)
    return out


# --- the view is enumerated by the permission matrix as an open view ------------------------
def test_view_is_marked_open_for_the_matrix():
    assert resolve("/tiles/ANY/1/0/0.mvt").func.required_function is None
    assert resolve("/tiles/ANY/-1/0/0.mvt").func.required_function is None


# --- content: complete, attributes, extent, size ----------------------------------------------
def test_demo_tiles_are_complete_attributed_and_small(live_server, tile_settings):
    call_command("load_demo", parcels=3000, projects=10, seed=1)
    version = LayerVersion.objects.get(layer__code="KGDK", state="published")
    # The densest z12 tile of the regulatory plan, and its neighbourhood at z12-16.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT floor((ST_X(c) + 20037508.342789244) / (40075016.68557849 / 4096))::int,"
            " floor((20037508.342789244 - ST_Y(c)) / (40075016.68557849 / 4096))::int, count(*)"
            " FROM (SELECT ST_Centroid(geom_3857) c FROM layers_feature WHERE version_id = %s)"
            " s GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1", [version.pk])
        x12, y12, n12 = cur.fetchone()
    assert n12 > 500
    checked = 0
    for z in range(12, 17):
        f = 2 ** (z - 12)
        for dx, dy in ((0, 0), (f // 2, f // 2), (f - 1, 0)):
            x, y = x12 * f + dx, y12 * f + dy
            r = get(live_server.url, "KGDK", z, x, y)
            assert r.status_code == 200 and r.headers["Content-Type"] == MVT
            tile = decode(r.content)
            # Independent answer: ST_Intersects with the buffered envelope, less the features
            # whose part there is below the output resolution (ST_AsMVTGeom of the raw
            # geometry drops those: slivers under half a tile unit, in the buffer).
            expected = ids_in_envelope(version.pk, z, x, y) - sub_resolution(version.pk, z, x, y)
            if not expected:
                assert r.content == b""
                continue
            layer = tile["KGDK"]
            assert layer["extent"] == 4096
            got = [feat["id"] for feat in layer["features"]]
            assert len(got) == len(set(got)) == len(expected), (z, x, y)
            assert set(got) == expected, (z, x, y)
            for feat in layer["features"]:
                props = feat["properties"]
                assert props["land_use_code"]  # styling and legend at every zoom
                if z >= 14:  # identify attributes from the detail zoom
                    assert props["id"] == feat["id"]
                    assert props["parcel_no"] and props["land_use_name"]
                    assert {"far_max", "density_max", "height_max"} & set(props)
                xy = coords_of(feat["geometry"])
                assert xy.min() >= -256 and xy.max() <= 4096 + 256
            checked += 1
            if z == 12:
                assert len(r.content) < 500 * 1024
    assert checked >= 10
    # Every z12 tile of every demo layer stays under 500 KB.
    for code in ("KGDK", "DLHX", "JTDL", "YJJBNT"):
        v = LayerVersion.objects.get(layer__code=code, state="published")
        x0, y0, x1, y1 = v.extent.extent
        _, tx0, ty0 = lonlat_tile(x0, y1, 12)
        _, tx1, ty1 = lonlat_tile(x1, y0, 12)
        for tx in range(tx0, tx1 + 1):
            for ty in range(ty0, ty1 + 1):
                r = get(live_server.url, code, 12, tx, ty)
                assert r.status_code == 200 and len(r.content) < 500 * 1024, (code, tx, ty)


def test_tiles_of_line_layers_carry_source_attributes(live_server, tile_settings):
    layer = services.create_layer(code="MVTROAD", name_zh="道路", name_en="Roads",
                                  category="base", geometry_type="line")
    line = to_crs([shapely.LineString([(SEAT_X, SEAT_Y), (SEAT_X + 300, SEAT_Y + 10)])],
                  4546, 4490)
    services.import_batch(layer, FeatureBatch(np.asarray(line, dtype=object),
                                              {"MC": ["县衙大街"], "DLDJ": ["主干路"],
                                               "HXKD": [40]}, 4490, "test"),
                          source_name="t", publish=True)
    z, x, y = tile_of(line[0], 16)
    feats = features(get(live_server.url, "MVTROAD", z, x, y).content, "MVTROAD")
    assert len(feats) == 1
    assert feats[0]["geometry"]["type"] == "LineString"
    assert feats[0]["properties"]["name"] == "县衙大街"
    assert feats[0]["properties"]["DLDJ"] == "主干路" and feats[0]["properties"]["HXKD"] == 40
    # Below the detail zoom: styling attributes only.
    z, x, y = tile_of(line[0], 12)
    props = features(get(live_server.url, "MVTROAD", z, x, y).content, "MVTROAD")[0][
        "properties"]
    assert props == {"name": "县衙大街"}


def test_empty_tile_is_an_empty_200(live_server, small):
    r = get(live_server.url, "MVTPUB", 16, 0, 0)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Type"] == MVT and r.headers["ETag"]
    assert decode(r.content) == {}


# --- gzip, ETag, Cache-Control ----------------------------------------------------------------
@pytest.mark.parametrize("cache", [True, False])
def test_gzip_etag_304_and_cache_control(live_server, small, tile_settings, cache):
    tile_settings.MVT_CACHE_ENABLED = cache
    z, x, y = small["tile"]
    plain = get(live_server.url, "MVTPUB", z, x, y, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert len(features(plain.content, "MVTPUB")) == 3
    etag = plain.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert plain.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
    assert "Accept-Encoding" in plain.headers["Vary"]

    raw = requests.get(f"{live_server.url}/tiles/MVTPUB/{z}/{x}/{y}.mvt", timeout=30,
                       headers={"Accept-Encoding": "gzip"}, stream=True)
    body = raw.raw.read()  # the bytes as sent, not decompressed by requests
    assert raw.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == plain.content
    again = get(live_server.url, "MVTPUB", z, x, y, headers={"Accept-Encoding": "identity"})
    assert again.content == plain.content and again.headers["ETag"] == etag
    assert raw.headers["ETag"] != etag and raw.headers["ETag"].strip('"').startswith(
        etag.strip('"'))

    for tag in (etag, raw.headers["ETag"], f'"nope", {etag}'):
        again = get(live_server.url, "MVTPUB", z, x, y, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["Cache-Control"] and again.headers["ETag"]
    assert get(live_server.url, "MVTPUB", z, x, y,
               headers={"If-None-Match": '"other"'}).status_code == 200

    tile_settings.TILE_CACHE_CONTROL = "public, max-age=300"
    assert get(live_server.url, "MVTPUB", z, x, y).headers["Cache-Control"] == \
        "public, max-age=300"


def test_non_public_layers_are_private(live_server, small, make_user):
    make_user(Role.REVIEWER, "rev")
    session = http_login(live_server.url, "rev")
    z, x, y = small["tile"]
    r = get(live_server.url, "MVTINT", z, x, y, session=session)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "private, max-age=60, must-revalidate"
    assert "Cookie" in r.headers["Vary"] and "Authorization" in r.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in r.headers


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path,status", [
    ("MVTPUB/23/0/0", 400), ("MVTPUB/99999999999/0/0", 400), ("MVTPUB/2/4/0", 400),
    ("MVTPUB/2/0/4", 400), ("MVTPUB/-1/0/0", 400), ("MVTPUB/3/-1/0", 400),
    ("MVTPUB/3/0/-2", 400), ("MVTPUB/a/0/0", 400), ("MVTPUB/3/1.5/0", 400),
    ("MVTPUB/3/0", 400), ("MVTPUB/3/0/0/0", 400), ("MVTPUB/%20/0/0", 400),
    ("NOPE/3/0/0", 404), ("x" * 300 + "/3/0/0", 404), ("%00/3/0/0", 404),
    ("MVT%00PUB/3/0/0", 404), ("MVTPUB/3/0/%00", 400), ("MVTPUB/3/0/%EF%BC%91", 400),
    ("MVTPUB/3/0/" + "9" * 250, 400), ("MVTPUB/0/0/0?token=", 200),
])
def test_bad_addresses_get_json_errors(live_server, small, path, status):
    path, _, query = path.partition("?")
    r = requests.get(f"{live_server.url}/tiles/{path}.mvt" + (f"?{query}" if query else ""),
                     timeout=30)
    assert r.status_code == status, r.text
    if status == 200:
        return
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] in ("invalid_tile", "unknown_layer") and body["detail"]


def test_layer_without_published_version_is_404(live_server, tile_settings):
    services.create_layer(code="MVTDRAFT", name_zh="草稿", name_en="Draft",
                          category="base", geometry_type="polygon")
    r = get(live_server.url, "MVTDRAFT", 0, 0, 0)
    assert r.status_code == 404 and r.json()["error"] == "no_published_version"


# --- access -------------------------------------------------------------------------------------
def test_access_by_level_session_and_token(live_server, small, make_user):
    z, x, y = small["tile"]
    url = live_server.url
    # Anonymous: public only; hidden layers answer exactly like unknown ones.
    assert get(url, "MVTPUB", z, x, y).status_code == 200
    for code in ("MVTINT", "MVTSEC"):
        r = get(url, code, z, x, y)
        assert r.status_code == 404 and r.json()["error"] == "unknown_layer"
        assert r.json()["detail"].replace(code, "NOPE") == \
            get(url, "NOPE", z, x, y).json()["detail"]
    # A reviewer (map.internal): internal yes, confidential no.
    make_user(Role.REVIEWER, "rev")
    rev = http_login(url, "rev")
    assert len(features(get(url, "MVTINT", z, x, y, session=rev).content, "MVTINT")) == 3
    assert get(url, "MVTSEC", z, x, y, session=rev).status_code == 404
    # A department head (map.confidential): confidential too, and every read is audited.
    make_user(Role.DEPARTMENT_HEAD, "head")
    head = http_login(url, "head")
    before = AuditRecord.objects.filter(event_type="layers.confidential_read").count()
    r = get(url, "MVTSEC", z, x, y, session=head)
    assert r.status_code == 200 and len(features(r.content, "MVTSEC")) == 3
    again = get(url, "MVTSEC", z, x, y, session=head,
                headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304
    reads = AuditRecord.objects.filter(event_type="layers.confidential_read").order_by("seq")
    assert reads.count() == before + 2
    assert reads.last().object == "MVTSEC" and reads.last().subject == "head"
    # The cache holds these tiles now: it must not serve them to anyone else.
    assert (mvt_cache.root() / "MVTSEC").is_dir()
    assert get(url, "MVTSEC", z, x, y).status_code == 404
    assert get(url, "MVTSEC", z, x, y, session=rev).status_code == 404
    assert get(url, "MVTINT", z, x, y).status_code == 404
    # An external system's token (scope map:read): as a query parameter and as a header.
    system = make_user(Role.EXTERNAL_SYSTEM, "approval_system")
    secret = tokens.issue(system, name="审批系统", scopes=[Scope.MAP_READ]).secret
    r = requests.get(f"{url}/tiles/MVTINT/{z}/{x}/{y}.mvt", params={"token": secret},
                     timeout=30)
    assert r.status_code == 200 and len(features(r.content, "MVTINT")) == 3
    r = get(url, "MVTINT", z, x, y, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and len(features(r.content, "MVTINT")) == 3
    assert get(url, "MVTINT", z, x, y,
               headers={"Authorization": "Bearer nx_bad_token"}).status_code == 401


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_visibility_is_the_selectors_rule(live_server, small, make_user, role):
    """For every role and level, a tile is served exactly when get_visible_layer sees the
    layer (the view applies the same allowed_access_levels rule in its one query)."""
    from accounts.access import principal_for_user

    z, x, y = small["tile"]
    session, user = None, None
    if role == Role.EXTERNAL_SYSTEM:
        user = make_user(role, "sys")
        secret = tokens.issue(user, name="t", scopes=[Scope.MAP_READ]).secret
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {secret}"
        principal = principal_for_user(user, tokens.authenticate(secret))
    elif role != Role.ANONYMOUS:
        user = make_user(role, f"u_{role}")
        session = http_login(live_server.url, f"u_{role}")
        principal = principal_for_user(user)
    else:
        principal = principal_for_user(None)
    for code in ("MVTPUB", "MVTINT", "MVTSEC"):
        visible = selectors.get_visible_layer(principal, code) is not None
        status = get(live_server.url, code, z, x, y, session=session).status_code
        assert status == (200 if visible else 404), (role, code, status)


# --- freshness: edits and publications ---------------------------------------------------------
def _moved(feature: Feature, dx: float):
    geom = shapely.from_wkb(bytes(feature.geom.wkb))
    t = to_crs([square(SEAT_X + dx, SEAT_Y + 400)], 4546, 4490)[0]
    return geom, t


@pytest.mark.parametrize("cache", [True, False])
def test_an_edit_is_visible_on_the_next_request(live_server, tile_settings, cache):
    tile_settings.MVT_CACHE_ENABLED = cache
    far = square(SEAT_X + 5000, SEAT_Y + 5000)
    layer, version = publish("MVTEDIT", [square(SEAT_X, SEAT_Y), far])
    feature = Feature.objects.get(version=version, parcel_no="MVTEDIT-0")
    old_geom = shapely.from_wkb(bytes(feature.geom.wkb))
    new_geom = to_crs([square(SEAT_X + 2000, SEAT_Y + 2000)], 4546, 4490)[0]
    old_tile, new_tile = tile_of(old_geom, 15), tile_of(new_geom, 15)
    far_tile = tile_of(to_crs([far], 4546, 4490)[0], 15)
    assert len({old_tile, new_tile, far_tile}) == 3
    url = live_server.url
    assert [f["id"] for f in features(get(url, "MVTEDIT", *old_tile).content, "MVTEDIT")] \
        == [feature.pk]
    assert features(get(url, "MVTEDIT", *new_tile).content, "MVTEDIT") == []
    far_before = get(url, "MVTEDIT", *far_tile)
    far_file = mvt_cache.tile_path("MVTEDIT", version.pk, *far_tile)
    if cache:
        assert far_file.is_file()
        far_mtime = far_file.stat().st_mtime_ns

    services.edit_feature(feature.pk, geom_4490=new_geom)

    assert features(get(url, "MVTEDIT", *old_tile).content, "MVTEDIT") == []
    moved = features(get(url, "MVTEDIT", *new_tile).content, "MVTEDIT")
    assert [f["id"] for f in moved] == [feature.pk]
    # Exactly the new square: compare with ST_AsMVTGeom of the edited row.
    with connection.cursor() as cur:
        cur.execute("SELECT ST_AsText(ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%s, %s, %s), "
                    "4096, 256, true)) FROM layers_feature WHERE id = %s", [*new_tile, feature.pk])
        expected = shapely.from_wkt(cur.fetchone()[0])
    got = mapbox_vector_tile.decode(get(url, "MVTEDIT", *new_tile).content,
                                    default_options={"y_coord_down": True})
    corners = {tuple(c) for c in coords_of(got["MVTEDIT"]["features"][0]["geometry"])}
    assert corners == {tuple(map(round, c)) for c in expected.exterior.coords}
    # A tile the edit did not touch keeps its cached file and its validator.
    far_after = get(url, "MVTEDIT", *far_tile)
    assert far_after.headers["ETag"] == far_before.headers["ETag"]
    if cache:
        assert far_file.stat().st_mtime_ns == far_mtime
    # Attribute edits change the tile too (detail zoom).
    z16 = tile_of(new_geom, 16)
    services.edit_feature(feature.pk, values={"far_max": 3.5})
    props = features(get(url, "MVTEDIT", *z16).content, "MVTEDIT")[0]["properties"]
    assert props["far_max"] == 3.5


def test_edit_invalidates_only_touched_tiles_at_every_zoom(tile_settings):
    layer, version = publish("MVTINV", [square(SEAT_X, SEAT_Y)])
    feature = Feature.objects.get(version=version)
    geom = shapely.from_wkb(bytes(feature.geom.wkb))
    target = mvt.lookup("MVTINV")[1]
    with connection.cursor() as cur:
        cur.execute("SELECT ST_XMin(geom_3857), ST_YMin(geom_3857), ST_XMax(geom_3857), "
                    "ST_YMax(geom_3857) FROM layers_feature WHERE id = %s", [feature.pk])
        box = shapely.box(*cur.fetchone())

    def window(z: int, x: int, y: int):  # the tile and its 256/4096 buffer, EPSG:3857
        size = 2 * mvt.WEBMERCATOR_HALF / 2**z
        x0, y1 = -mvt.WEBMERCATOR_HALF + x * size, mvt.WEBMERCATOR_HALF - y * size
        return shapely.box(x0, y1 - size, x0 + size, y1).buffer(size / 16, join_style="mitre")

    far = to_crs([square(SEAT_X + 2000, SEAT_Y + 2000)], 4546, 4490)[0]
    kept = []
    for z in range(0, 23):
        mvt_cache.write(target, *tile_of(geom, z), mvt_cache.CachedTile("0" * 24, b"", b""))
        if not window(*tile_of(far, z)).intersects(box):
            kept.append(tile_of(far, z))
            mvt_cache.write(target, *kept[-1], mvt_cache.CachedTile("0" * 24, b"", b""))
    assert len(kept) >= 10
    removed = mvt_cache.remove_touched("MVTINV", version.pk, [geom])
    gone = [t for t in kept if not mvt_cache.tile_path("MVTINV", version.pk, *t).exists()]
    assert gone == []
    assert removed == 23  # the tile holding the parcel at each zoom 0..22
    for z in range(0, 23):
        assert not mvt_cache.tile_path("MVTINV", version.pk, *tile_of(geom, z)).exists()
    for t in kept:
        assert mvt_cache.tile_path("MVTINV", version.pk, *t).exists(), t
    # The query window of a tile is the tile plus 256/4096 of it on every side: bounds that
    # reach into that margin of a neighbour touch the neighbour too.
    size = 2 * mvt.WEBMERCATOR_HALF / 2**18
    x0 = -mvt.WEBMERCATOR_HALF + 1000 * size  # the west edge of column 1000 at z18
    ranges = {r[0]: r[1:] for r in mvt_cache.touched_ranges((x0 + 0.03 * size, 0, x0 + 0.05 * size,
                                                              1))}
    assert ranges[18][:2] == (999, 1000)  # within 1/16 tile of column 999's east edge
    ranges = {r[0]: r[1:] for r in mvt_cache.touched_ranges((x0 + 0.3 * size, 0, x0 + 0.4 * size,
                                                              1))}
    assert ranges[18][:2] == (1000, 1000)
    assert ranges[0] == (0, 0, 0, 0) and len(ranges) == 23


def test_publishing_a_new_version_is_visible_at_once(live_server, tile_settings):
    layer, v1 = publish("MVTPUBV", [square(SEAT_X, SEAT_Y)])
    geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)[0]
    z, x, y = tile_of(geom, 16)
    first = get(live_server.url, "MVTPUBV", z, x, y)
    assert len(features(first.content, "MVTPUBV")) == 1
    assert mvt_cache.tile_path("MVTPUBV", v1.pk, z, x, y).is_file()
    _, v2 = publish("MVTPUBV", [square(SEAT_X, SEAT_Y), square(SEAT_X + 60, SEAT_Y)],
                    layer=layer)
    second = get(live_server.url, "MVTPUBV", z, x, y)
    got = features(second.content, "MVTPUBV")
    assert len(got) == 2
    assert {f["id"] for f in got} == set(Feature.objects.filter(version=v2).values_list(
        "pk", flat=True))
    assert second.headers["ETag"] != first.headers["ETag"]
    assert not mvt_cache.version_dir("MVTPUBV", v1.pk).exists()
    assert mvt_cache.tile_path("MVTPUBV", v2.pk, z, x, y).is_file()


def test_an_edit_whose_invalidation_never_ran_is_not_served_stale(live_server, tile_settings):
    """A process killed between an edit's commit and its signal handler: the cache of that
    version is bypassed (never stale), then dropped once after MVT_CACHE_HEAL_SECONDS."""
    layer, version = publish("MVTLOST", [square(SEAT_X, SEAT_Y)])
    feature = Feature.objects.get(version=version)
    geom = shapely.from_wkb(bytes(feature.geom.wkb))
    z, x, y = tile_of(geom, 16)
    assert len(features(get(live_server.url, "MVTLOST", z, x, y).content, "MVTLOST")) == 1
    path = mvt_cache.tile_path("MVTLOST", version.pk, z, x, y)
    assert path.is_file()
    tile_settings.MVT_CACHE_HEAL_SECONDS = 3600
    ok = services.features_changed.disconnect(dispatch_uid="tiles.mvt_cache.features_changed")
    assert ok
    try:
        away = to_crs([square(SEAT_X + 3000, SEAT_Y)], 4546, 4490)[0]
        services.edit_feature(feature.pk, geom_4490=away)
    finally:
        services.features_changed.connect(mvt_cache.on_features_changed,
                                          dispatch_uid="tiles.mvt_cache.features_changed")
    assert path.is_file()  # nobody removed it ...
    assert features(get(live_server.url, "MVTLOST", z, x, y).content, "MVTLOST") == []
    assert path.is_file()  # ... but it is not served, nor overwritten
    tile_settings.MVT_CACHE_HEAL_SECONDS = 0
    assert features(get(live_server.url, "MVTLOST", z, x, y).content, "MVTLOST") == []
    assert path.is_file()  # healed: cache dropped, then this tile cached again, fresh
    assert features(get(live_server.url, "MVTLOST", z, x, y).content, "MVTLOST") == []


def test_a_tile_rendered_before_an_edit_is_not_kept(tile_settings):
    """The race: rendered at revision r, an edit commits and is invalidated, then the old
    rendering is written. The write re-reads the revision and removes its file."""
    layer, version = publish("MVTRACE", [square(SEAT_X, SEAT_Y)])
    feature = Feature.objects.get(version=version)
    stale_target = mvt.lookup("MVTRACE")[1]
    z, x, y = tile_of(shapely.from_wkb(bytes(feature.geom.wkb)), 16)
    stale = mvt.render(stale_target, z, x, y)
    services.edit_feature(feature.pk, values={"far_max": 9.0})
    mvt_cache.write(stale_target, z, x, y, mvt_cache.CachedTile(
        mvt.digest(stale), mvt.gzip_bytes(stale), stale))
    assert not mvt_cache.tile_path("MVTRACE", version.pk, z, x, y).exists()
    fresh_target = mvt.lookup("MVTRACE")[1]
    mvt_cache.write(fresh_target, z, x, y, mvt_cache.CachedTile("0" * 24, b"", b""))
    assert mvt_cache.tile_path("MVTRACE", version.pk, z, x, y).exists()


def test_partition_and_parent_queries_agree(tile_settings):
    layer, version = publish("MVTPART", [square(SEAT_X + i * 60, SEAT_Y) for i in range(5)])
    target = mvt.lookup("MVTPART")[1]
    assert target.has_partition
    parent = mvt.Target(**{**target.__dict__, "has_partition": False})
    geom = to_crs([square(SEAT_X + 120, SEAT_Y)], 4546, 4490)[0]
    for z in (10, 14, 17):
        t = tile_of(geom, z)
        a, b = decode(mvt.render(target, *t)), decode(mvt.render(parent, *t))
        assert a == b and a["MVTPART"]["features"]


def test_cache_hits_are_counted(live_server, small):
    from ops import metrics

    def count(result: str) -> float:
        return metrics.TILE_CACHE.labels(result)._value.get()

    z, x, y = small["tile"]
    hits, misses = count("hit"), count("miss")
    get(live_server.url, "MVTPUB", z, x, y)
    get(live_server.url, "MVTPUB", z, x, y)
    time.sleep(0.05)
    assert count("miss") == misses + 1 and count("hit") == hits + 1


# --- prepared low-zoom geometry (migration 0004) ------------------------------------------------
def _blobs(n: int, seed: int) -> list:
    """Irregular star-shaped parcels (32 vertices, radius 80-100 m) on a jittered 250 m grid
    around the seat, with a few tiny ones and one large polygon crossing many tiles."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        for j in range(n):
            cx = SEAT_X - n * 125 + i * 250 + rng.uniform(-60, 60)
            cy = SEAT_Y - n * 125 + j * 250 + rng.uniform(-60, 60)
            a = np.sort(rng.uniform(0, 2 * np.pi, 32))
            r = rng.uniform(80, 100, 32)
            out.append(shapely.Polygon(np.c_[cx + r * np.cos(a), cy + r * np.sin(a)]))
    out += [square(SEAT_X + 7.3 + k * 31, SEAT_Y + 3.1, 1.5 + k) for k in range(4)]
    ring = shapely.Point(SEAT_X, SEAT_Y).buffer(4000, 64).difference(
        shapely.Point(SEAT_X, SEAT_Y).buffer(3500, 64))
    return [*out, ring]


def _reference(version_id: int, z: int, x: int, y: int) -> dict[int, dict]:
    """The straightforward tile: every feature meeting the buffered tile through plain
    ST_AsMVTGeom of its unsimplified geometry, decoded, by feature id."""
    with connection.cursor() as cur:
        cur.execute("SELECT ST_AsMVT(t, 'ref', 4096, 'geom', 'fid') FROM (SELECT id AS fid, "
                    "ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%s, %s, %s), 4096, 256, true) geom "
                    "FROM layers_feature WHERE version_id = %s AND geom_3857 && "
                    f"ST_TileEnvelope(%s, %s, %s, margin => {MARGIN_SQL})) t",
                    [z, x, y, version_id, z, x, y])
        body = bytes(cur.fetchone()[0] or b"")
    return {f["id"]: f for f in features(body, "ref")}


def _signed_areas(geom: dict) -> list[float]:
    rings = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
    return [float(shapely.LinearRing(r).is_ccw) for poly in rings for r in poly]


def test_prepared_low_zoom_tiles_are_complete_and_match_a_plain_reference(tile_settings):
    layer, version = publish("MVTPREP", list(_blobs(14, seed=3)))
    with connection.cursor() as cur:  # filled when the version was published
        cur.execute("SELECT count(*), count(geom_mvt12), count(geom_mvt13), count(geom_mvt14) "
                    "FROM layers_feature WHERE version_id = %s", [version.pk])
        total, *filled = cur.fetchone()
    assert min(filled) >= total - 4  # only the tiny parcels may collapse at z12
    target = mvt.lookup("MVTPREP")[1]
    seat = to_crs([shapely.Point(SEAT_X, SEAT_Y)], 4546, 4490)[0]
    plain_target = mvt.Target(**{**target.__dict__})
    checked = interior = 0
    distances: list[float] = []
    for z in (12, 13, 14):
        _, x0, y0 = lonlat_tile(seat.x, seat.y, z)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (-1, -1), (1, 1)):
            x, y = x0 + dx, y0 + dy
            sql, _ = mvt.statement(target, z, x, y)
            assert f"geom_mvt{z}" in sql
            ours = {f["id"]: f for f in features(mvt.render(target, z, x, y), "MVTPREP")}
            tile_settings.MVT_PREPARED = False
            plain = {f["id"]: f for f in features(mvt.render(plain_target, z, x, y), "MVTPREP")}
            tile_settings.MVT_PREPARED = True
            ref = _reference(version.pk, z, x, y)
            # Complete: every feature meeting the buffered tile, but for ST_AsMVTGeom's own
            # sub-resolution drops (tiny parcels at low zooms).
            expected = ids_in_envelope(version.pk, z, x, y)
            assert set(ref) <= set(ours) <= expected, (z, x, y)
            assert expected - set(ours) <= sub_resolution(version.pk, z, x, y) | \
                {i for i in expected if i not in ref}
            # The prepared copies may keep a parcel of about one tile unit that
            # ST_AsMVTGeom drops (a dot of 1/16 pixel): never the other way round.
            assert set(plain) <= set(ours)
            with connection.cursor() as cur:
                cur.execute("SELECT coalesce(max(ST_Area(geom_3857)), 0) FROM layers_feature "
                            "WHERE id = ANY(%s)", [sorted(set(ours) - set(plain))])
                assert cur.fetchone()[0] <= 4 * mvt.tile_unit(z) ** 2
            # At most a pixel (16 units): the 1/4-px simplification, snapping, and the repair
            # of a simplified ring that touches itself (ST_MakeValid here, wagyu in the
            # reference); the mean is checked below.
            unit_tol = 16
            for fid, feat in ours.items():
                assert feat["properties"] == plain.get(fid, feat)["properties"]
                shape = shapely.geometry.shape(feat["geometry"])
                assert shape.is_valid, (z, x, y, fid)
                if fid in ref:
                    other = shapely.geometry.shape(ref[fid]["geometry"])
                    distances.append(shape.hausdorff_distance(other))
                    assert distances[-1] <= unit_tol, (z, x, y, fid)
                    if feat["geometry"]["type"] == ref[fid]["geometry"]["type"] == "Polygon":
                        # the exterior's winding (MVT: exterior vs hole) as ST_AsMVTGeom's
                        assert _signed_areas(feat["geometry"])[:1] == \
                            _signed_areas(ref[fid]["geometry"])[:1]
                xy = coords_of(feat["geometry"])
                assert xy.min() >= -256 and xy.max() <= 4096 + 256
                interior += 1
            checked += 1
    assert checked == 15 and interior > 500
    assert float(np.mean(distances)) <= 3  # typically a unit or two


def test_prepared_geometry_follows_an_edit(live_server, tile_settings):
    layer, version = publish("MVTPEDIT", [square(SEAT_X, SEAT_Y, 200),
                                          square(SEAT_X + 5000, SEAT_Y, 200)])
    feature = Feature.objects.get(version=version, parcel_no="MVTPEDIT-0")

    def prepared() -> tuple:
        with connection.cursor() as cur:
            cur.execute("SELECT ST_AsText(ST_Centroid(geom_mvt13)) IS NOT NULL, "
                        "ST_Distance(ST_Centroid(geom_mvt13), ST_Centroid(geom_3857)) "
                        "FROM layers_feature WHERE id = %s", [feature.pk])
            return cur.fetchone()

    assert prepared()[0] and prepared()[1] < 5
    # The trigger empties the copies in the statement that changes the geometry ...
    with connection.cursor() as cur:
        cur.execute("UPDATE layers_feature SET geom_3857 = ST_Translate(geom_3857, 1, 0) "
                    "WHERE id = %s", [feature.pk])
        cur.execute("SELECT geom_mvt12, geom_mvt13, geom_mvt14 FROM layers_feature "
                    "WHERE id = %s", [feature.pk])
        assert cur.fetchone() == (None, None, None)
    # ... and an edit through the service recomputes them from the new geometry.
    new_geom = to_crs([square(SEAT_X + 2500, SEAT_Y + 2500, 300)], 4546, 4490)[0]
    services.edit_feature(feature.pk, geom_4490=new_geom)
    ok, dist = prepared()
    assert ok and dist < 5
    z, x, y = tile_of(new_geom, 13)
    got = features(get(live_server.url, "MVTPEDIT", z, x, y).content, "MVTPEDIT")
    assert [f["id"] for f in got] == [feature.pk]
    ref = _reference(version.pk, z, x, y)
    assert shapely.geometry.shape(got[0]["geometry"]).hausdorff_distance(
        shapely.geometry.shape(ref[feature.pk]["geometry"])) <= 8
    old_tile = tile_of(to_crs([square(SEAT_X, SEAT_Y, 200)], 4546, 4490)[0], 13)
    if old_tile != (z, x, y):
        assert features(get(live_server.url, "MVTPEDIT", *old_tile).content, "MVTPEDIT") == []
