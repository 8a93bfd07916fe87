"""WMS and WMTS through the embedded MapProxy, driven by real OGC clients over HTTP."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests
import shapely
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from PIL import Image

from accounts import tokens
from accounts.roles import Role, Scope
from audit.models import AuditRecord
from layers import crs, services
from layers.importers.base import FeatureBatch
from layers.models import Feature
from tests.conftest import SEAT_X, SEAT_Y, http_login, publish_layer, square, to_crs
from tiles.grids import CGCS2000, WEBMERCATOR

pytestmark = pytest.mark.django_db(transaction=True)
RED = "#FF0000"
BLUE = "#0000FF"


publish = publish_layer


@pytest.fixture
def layers(db, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    public = publish("PUB", "public", [square(SEAT_X, SEAT_Y, 400)], RED)
    internal = publish("INT", "internal", [square(SEAT_X + 1000, SEAT_Y, 400)], BLUE)
    return {"public": public, "internal": internal}


def bbox_3857(x: float, y: float, size: float) -> tuple[float, float, float, float]:
    (cx,), (cy,) = crs.transformer(4546, 3857).transform([x], [y])
    return cx - size, cy - size, cx + size, cy + size


def pixel(png: bytes, xy=(128, 128)) -> tuple:
    return Image.open(io.BytesIO(png)).convert("RGBA").getpixel(xy)


def test_wms_capabilities_and_getmap_with_owslib(live_server, layers):
    for version in ("1.1.1", "1.3.0"):
        wms = WebMapService(f"{live_server.url}/ows/wms", version=version)
        assert "PUB" in wms.contents and "INT" not in wms.contents
        assert "EPSG:4490" in wms.contents["PUB"].crsOptions
        assert wms.contents["PUB"].queryable == 1  # feature info comes from PostGIS
        assert wms.contents["PUB"].styles["default"]["legend"]
        center = bbox_3857(SEAT_X + 200, SEAT_Y + 200, 100)
        img = wms.getmap(layers=["PUB"], srs="EPSG:3857", bbox=center, size=(256, 256),
                         format="image/png", transparent=True)
        assert pixel(img.read())[:3] == (255, 0, 0)


def test_wms_130_axis_order_in_4490(live_server, layers):
    lon0, lat0, lon1, lat1 = to_crs([square(SEAT_X + 100, SEAT_Y + 100, 200)], 4546,
                                    4490)[0].bounds
    base = (f"{live_server.url}/ows/wms?SERVICE=WMS&REQUEST=GetMap&LAYERS=PUB&STYLES="
            "&WIDTH=64&HEIGHT=64&FORMAT=image/png")
    v130 = requests.get(f"{base}&VERSION=1.3.0&CRS=EPSG:4490&BBOX={lat0},{lon0},{lat1},{lon1}",
                        timeout=30)
    v111 = requests.get(f"{base}&VERSION=1.1.1&SRS=EPSG:4490&BBOX={lon0},{lat0},{lon1},{lat1}",
                        timeout=30)
    assert v130.headers["Content-Type"] == "image/png"
    assert pixel(v130.content, (32, 32))[:3] == (255, 0, 0)
    assert pixel(v111.content, (32, 32))[:3] == (255, 0, 0)
    # Swapping the axes in 1.3.0 points somewhere else entirely: nothing drawn.
    wrong = requests.get(f"{base}&VERSION=1.3.0&CRS=EPSG:4490&BBOX={lon0},{lat0},{lon1},{lat1}",
                         timeout=30)
    assert wrong.status_code == 400 or pixel(wrong.content, (32, 32))[3] == 0


def wmts_tile_for(grid, lon, lat, z):
    if grid is WEBMERCATOR:
        (x,), (y,) = crs.transformer(4490, 3857).transform([lon], [lat])
        size = 2 * 20037508.342789244 / 2**z
        return int((x + 20037508.342789244) // size), int((20037508.342789244 - y) // size)
    size = 256 * 1.40625 / 2**z
    return int((lon + 180) // size), int((90 - lat) // size)


def test_wmts_with_owslib_in_both_matrix_sets(live_server, layers):
    wmts = WebMapTileService(f"{live_server.url}/ows/wmts/1.0.0/WMTSCapabilities.xml")
    assert "PUB" in wmts.contents and "INT" not in wmts.contents
    assert {"webmercator", "cgcs2000"} <= set(wmts.tilematrixsets)
    cg = wmts.tilematrixsets["cgcs2000"].tilematrix
    assert cg["1"].topleftcorner == (90.0, -180.0)  # lat/lon per EPSG:4490
    assert (cg["1"].matrixwidth, cg["1"].matrixheight) == (2, 1)  # Tianditu c, level 1
    lon, lat = to_crs([shapely.Point(SEAT_X + 200, SEAT_Y + 200)], 4546, 4490)[0].coords[0]
    for grid, z in ((WEBMERCATOR, 17), (CGCS2000, 16)):
        col, row = wmts_tile_for(grid, lon, lat, z)
        tile = wmts.gettile(layer="PUB", tilematrixset=grid.name, tilematrix=str(z), row=row,
                            column=col, format="image/png")
        image = Image.open(io.BytesIO(tile.read())).convert("RGBA")
        assert (255, 0, 0, 255) in {c for _, c in image.getcolors(65536)}


def test_wmts_kvp_capabilities(live_server, layers):
    r = requests.get(f"{live_server.url}/ows/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
                     timeout=30)
    assert r.status_code == 200 and b"<TileMatrixSet>" in r.content


def test_gdal_reads_wms_and_wmts(live_server, layers, tmp_path):
    x0, y0, x1, y1 = bbox_3857(SEAT_X + 200, SEAT_Y + 200, 150)
    wms = (f"WMS:{live_server.url}/ows/wms?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap"
           f"&LAYERS=PUB&SRS=EPSG:3857&BBOX={x0},{y0},{x1},{y1}&FORMAT=image/png")
    out = tmp_path / "wms.png"
    no_cache = ["--config", "GDAL_DEFAULT_WMS_CACHE_PATH", str(tmp_path / "gdalcache")]
    subprocess.run(["gdal_translate", "-q", *no_cache, "-of", "PNG", "-outsize", "128", "128",
                    wms, str(out)], check=True, timeout=60)
    assert pixel(out.read_bytes(), (64, 64))[:3] == (255, 0, 0)
    wmts = (f"WMTS:{live_server.url}/ows/wmts/1.0.0/WMTSCapabilities.xml,layer=PUB,"
            "tilematrixset=webmercator")
    out2 = tmp_path / "wmts.png"
    subprocess.run(["gdal_translate", "-q", *no_cache, "-of", "PNG", "-projwin", str(x0), str(y1),
                    str(x1), str(y0), "-outsize", "64", "64", wmts, str(out2)],
                   check=True, timeout=60)
    assert pixel(out2.read_bytes(), (32, 32))[:3] == (255, 0, 0)


def test_hidden_layers_are_refused_on_every_path(live_server, layers, make_user):
    code = "INT"
    box = bbox_3857(SEAT_X + 1200, SEAT_Y + 200, 100)
    getmap = (f"{live_server.url}/ows/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap"
              f"&LAYERS={code}&STYLES=&CRS=EPSG:3857&BBOX={','.join(map(str, box))}"
              "&WIDTH=256&HEIGHT=256&FORMAT=image/png")
    lon, lat = to_crs([shapely.Point(SEAT_X + 1200, SEAT_Y + 200)], 4546, 4490)[0].coords[0]
    col, row = wmts_tile_for(WEBMERCATOR, lon, lat, 16)
    tile = f"{live_server.url}/ows/wmts/{code}/webmercator/16/{col}/{row}.png"
    # A reviewer (entitled) draws it first, so the tile is in the cache...
    make_user(Role.REVIEWER, "rev")
    reviewer = http_login(live_server.url, "rev")
    assert reviewer.get(getmap, timeout=30).headers["Content-Type"] == "image/png"
    assert reviewer.get(tile, timeout=30).status_code == 200
    caps = reviewer.get(f"{live_server.url}/ows/wms?SERVICE=WMS&REQUEST=GetCapabilities",
                        timeout=30).text
    assert f"<Name>{code}</Name>" in caps
    # ...and anonymous callers still get nothing of it, cached or not.
    anon_caps = requests.get(f"{live_server.url}/ows/wms?SERVICE=WMS&REQUEST=GetCapabilities",
                             timeout=30).text
    assert f"<Name>{code}</Name>" not in anon_caps
    wmts_caps = requests.get(f"{live_server.url}/ows/wmts/1.0.0/WMTSCapabilities.xml",
                             timeout=30).text
    assert f"<ows:Identifier>{code}</ows:Identifier>" not in wmts_caps
    r = requests.get(getmap, timeout=30)
    assert r.status_code == 400 and b"LayerNotDefined" in r.content
    r = requests.get(tile, timeout=30)
    assert r.status_code == 400 and not r.headers["Content-Type"].startswith("image/")
    # An external system with a map token sees it (query-string token, as GIS clients use).
    system = make_user(Role.EXTERNAL_SYSTEM, "sys")
    issued = tokens.issue(system, name="gis", scopes=[Scope.MAP_READ])
    assert requests.get(f"{tile}?token={issued.secret}", timeout=30).status_code == 200


def test_confidential_reads_are_audited(live_server, layers, make_user):
    publish("SEC", "confidential", [square(SEAT_X, SEAT_Y + 1000, 300)], BLUE)
    make_user(Role.DEPARTMENT_HEAD, "head")
    session = http_login(live_server.url, "head")
    box = ",".join(map(str, bbox_3857(SEAT_X + 150, SEAT_Y + 1150, 100)))
    r = session.get(f"{live_server.url}/ows/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap"
                    f"&LAYERS=SEC&STYLES=&CRS=EPSG:3857&BBOX={box}&WIDTH=64&HEIGHT=64"
                    "&FORMAT=image/png", timeout=30)
    assert r.headers["Content-Type"] == "image/png"
    assert AuditRecord.objects.filter(event_type="layers.confidential_read", object="SEC",
                                      subject="head").exists()


def cached_tiles(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.png")}


def test_edit_then_fetch_refreshes_exactly_the_touched_tiles(live_server, layers, settings):
    far = publish("EDIT", "public", [square(SEAT_X, SEAT_Y, 200),
                                     square(SEAT_X + 3000, SEAT_Y + 3000, 200)], RED)
    lon, lat = to_crs([shapely.Point(SEAT_X + 100, SEAT_Y + 100)], 4546, 4490)[0].coords[0]
    lon2, lat2 = to_crs([shapely.Point(SEAT_X + 3100, SEAT_Y + 3100)], 4546, 4490)[0].coords[0]
    urls = {}
    for grid in (WEBMERCATOR, CGCS2000):
        for z in (14, 17):
            col, row = wmts_tile_for(grid, lon, lat, z)
            urls[(grid.name, z, "edited")] = \
                f"{live_server.url}/ows/wmts/EDIT/{grid.name}/{z}/{col}/{row}.png"
            col, row = wmts_tile_for(grid, lon2, lat2, z)
            urls[(grid.name, z, "other")] = \
                f"{live_server.url}/ows/wmts/EDIT/{grid.name}/{z}/{col}/{row}.png"
    before = {k: requests.get(u, timeout=30).content for k, u in urls.items()}
    assert pixel(before[("webmercator", 17, "edited")], (0, 0)) is not None
    root = Path(settings.TILE_CACHE_DIR) / "EDIT"
    cached_before = cached_tiles(root)
    assert len(cached_before) == len(urls)
    feature = Feature.objects.get(version__layer=far, parcel_no="EDIT-0")
    moved = to_crs([square(SEAT_X + 20_000, SEAT_Y, 200)], 4546, 4490)[0]
    services.edit_feature(feature.pk, geom_4490=moved)
    cached_after = cached_tiles(root)
    # Exactly the tiles of the edited parcel are gone; the other parcel's tiles stay.
    assert all("other" not in k or True for k in urls)
    assert len(cached_before - cached_after) == len(urls) // 2
    after = {k: requests.get(u, timeout=30).content for k, u in urls.items()}
    for key in urls:
        if key[2] == "edited":
            assert after[key] != before[key], key  # the parcel moved away: no stale tile
        else:
            assert after[key] == before[key], key


def test_publishing_an_amendment_is_visible_at_once(live_server, layers):
    layer = layers["public"]
    box = ",".join(map(str, bbox_3857(SEAT_X + 200, SEAT_Y + 200, 100)))
    url = (f"{live_server.url}/ows/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB"
           f"&STYLES=&CRS=EPSG:3857&BBOX={box}&WIDTH=64&HEIGHT=64&FORMAT=image/png"
           "&TRANSPARENT=TRUE")
    assert pixel(requests.get(url, timeout=30).content, (32, 32))[:3] == (255, 0, 0)
    geoms = to_crs([square(SEAT_X + 5000, SEAT_Y, 100)], 4546, 4490)
    services.import_batch(layer, FeatureBatch(np.asarray(geoms, dtype=object), {}, 4490, "t"),
                          source_name="amendment", publish=True)
    assert pixel(requests.get(url, timeout=30).content, (32, 32))[3] == 0


def test_restyling_a_layer_is_visible_at_once(live_server, layers):
    layer = layers["public"]
    box = ",".join(map(str, bbox_3857(SEAT_X + 200, SEAT_Y + 200, 100)))
    url = (f"{live_server.url}/ows/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB"
           f"&STYLES=&CRS=EPSG:3857&BBOX={box}&WIDTH=64&HEIGHT=64&FORMAT=image/png")
    assert pixel(requests.get(url, timeout=30).content, (32, 32))[:3] == (255, 0, 0)
    layer.style = {**layer.style, "fill": "#00FF00", "stroke": "#00FF00"}
    layer.save()
    assert pixel(requests.get(url, timeout=30).content, (32, 32))[:3] == (0, 255, 0)


BAD_WMS = [
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=2,2,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=NOPE&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:9999&BBOX=0,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=100000&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=256&HEIGHT=256"
    "&FORMAT=image/foo",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=2.0.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=nan,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=inf,0,1,1&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=1,2,3&WIDTH=256&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=abc&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=0&HEIGHT=256",
    "VERSION=1.3.0&REQUEST=NoSuchOperation",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=²&HEIGHT=256",
    "VERSION=1.3.%01&REQUEST=GetMap&LAYERS=PUB&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1",
    "VERSION=1.3.0&REQUEST=GetMap&LAYERS=PUB%00X&CRS=EPSG:3857&BBOX=0,0,1,1&WIDTH=1&HEIGHT=1",
    "VERSION=1.3.0",
]
BAD_WMTS = ["wmts/PUB/webmercator/-1/0/0.png", "wmts/PUB/webmercator/a/b/c.png",
            "wmts/PUB/webmercator/30/0/0.png", "wmts/PUB/webmercator/3/8/0.png",
            "wmts/PUB/nogrid/3/0/0.png", "wmts/NOPE/webmercator/3/0/0.png",
            "wmts/PUB/webmercator/3/0/0.gif", "wmts/PUB/cgcs2000/1/2/0.png",
            "wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=PUB&TILEMATRIXSET=webmercator"
            "&TILEMATRIX=3&TILEROW=99&TILECOL=0&FORMAT=image/png"]


def test_bad_requests_get_precise_ogc_exceptions(live_server, layers):
    from xml.etree import ElementTree

    for query in BAD_WMS:
        r = requests.get(f"{live_server.url}/ows/wms?SERVICE=WMS&STYLES=&FORMAT=image/png&"
                         f"{query}", timeout=30)
        assert r.status_code == 400, (query, r.status_code, r.text[:300])
        assert b"ServiceException" in r.content or b"ExceptionReport" in r.content, query
        ElementTree.fromstring(r.content)  # well-formed XML, whatever the input was
    for path in BAD_WMTS:
        r = requests.get(f"{live_server.url}/ows/{path}", timeout=30)
        assert r.status_code == 400, (path, r.status_code, r.text[:300])
        assert b"Exception" in r.content, path


def test_web_server_links_exist_for_public_layers_only(live_server, layers, settings):
    from tiles.public_links import public_root, refresh_public_links

    refresh_public_links()
    root = public_root()
    assert sorted(p.name for p in root.iterdir()) == ["PUB"]
    target = (root / "PUB").resolve()
    layer = layers["public"]
    layer.style = {**layer.style, "fill": "#00FF00"}
    layer.save()  # restyle: a new cache folder, the link follows at once
    assert (root / "PUB").resolve() != target
    layer.access_level = "internal"
    layer.save()
    assert not (root / "PUB").exists()


def test_request_rate_limit_per_address(client, layers, settings, monkeypatch):
    settings.MAP_RATE_LIMIT_PER_MINUTE = 3
    from django.test import Client

    from tiles import ratelimit

    # One fixed minute: a real clock could cross into the next window between requests.
    monkeypatch.setattr(ratelimit._counts, "clock", lambda: 1_800_000_030.0)

    fresh = Client(REMOTE_ADDR="10.9.9.9")
    codes = [fresh.get("/ows/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"}).status_code
             for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    other = Client(REMOTE_ADDR="10.9.9.10")
    assert other.get("/ows/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities"}
                     ).status_code == 200


def test_render_target_needs_no_zeroing_where_the_map_has_a_background():
    """tiles.mapnik_compat.blank_image skips zeroing the image when the map paints its
    background first: the same pixels as a zeroed image, even over memory left dirty, inside
    and outside the features; a map without a background still gets a zeroed image."""
    from tiles.mapnik_compat import blank_image, mapnik

    style = ('<Style name="s"><Rule><PolygonSymbolizer fill="#3366CC" fill-opacity="0.7"/>'
             '</Rule></Style><Layer name="l" srs="epsg:3857"><StyleName>s</StyleName>'
             '<Datasource><Parameter name="type">csv</Parameter><Parameter name="inline">wkt\n'
             '"POLYGON((10 10,180 30,150 170,20 150,10 10))"\n</Parameter></Datasource></Layer>')
    for background in (' background-color="transparent"', ''):
        m = mapnik.Map(256, 256, "epsg:3857")
        mapnik.load_map_from_string(m, f'<Map srs="epsg:3857"{background}>{style}</Map>')
        for box in ((0, 0, 256, 256), (5000, 5000, 6000, 6000)):  # features, nothing
            m.zoom_to_box(mapnik.Box2d(*box))
            zeroed = mapnik.Image(256, 256)
            mapnik.render(m, zeroed)
            for _ in range(3):  # freed memory full of opaque red, where malloc may reuse it
                dirty = mapnik.Image(256, 256)
                dirty.fill(mapnik.Color(200, 10, 10, 255))
                del dirty
            image = blank_image(m, 256, 256)
            mapnik.render(m, image)
            assert image.to_string() == zeroed.to_string(), (background, box)


@pytest.mark.django_db(transaction=False)
def test_png_encoder_writes_mapnik_pixels_exactly():
    """tiles.mapnik_compat.encode_png: the very RGBA pixels Mapnik's own png32 encoder
    writes (semi-transparent edges included), as a valid PNG that PIL and GDAL read."""
    from tiles.mapnik_compat import encode_png, mapnik

    m = mapnik.Map(300, 200, "epsg:3857")
    mapnik.load_map_from_string(m, (
        '<Map srs="epsg:3857" background-color="transparent"><Style name="s"><Rule>'
        '<PolygonSymbolizer fill="#3366CC" fill-opacity="0.7" gamma="0.6"/>'
        '<LineSymbolizer stroke="#A0522D" stroke-width="0.5"/></Rule></Style>'
        '<Layer name="l" srs="epsg:3857"><StyleName>s</StyleName><Datasource>'
        '<Parameter name="type">csv</Parameter><Parameter name="inline">wkt\n'
        '"POLYGON((10 10,180 30,150 170,20 150,10 10))"\n'
        '"POLYGON((160 20,290 60,250 190,170 140,160 20))"\n'
        '</Parameter></Datasource></Layer></Map>'))
    m.zoom_to_box(mapnik.Box2d(0, 0, 300, 200))
    image = mapnik.Image(300, 200)
    mapnik.render(m, image)
    ours = encode_png(image)
    theirs = np.asarray(Image.open(io.BytesIO(image.to_string("png32"))).convert("RGBA"))
    decoded = Image.open(io.BytesIO(ours))
    decoded.verify()
    got = np.asarray(Image.open(io.BytesIO(ours)))
    assert Image.open(io.BytesIO(ours)).mode == "RGBA" and got.shape == (200, 300, 4)
    assert (got == theirs).all()
    assert (got[..., 3] < 255).any() and (got[..., 3] == 0).any()  # veiled fill, background
    assert len(ours) < len(image.to_string("png32:z=0")) / 5  # compressed
    empty = encode_png(mapnik.Image(256, 256))
    assert (np.asarray(Image.open(io.BytesIO(empty)))[..., 3] == 0).all()


def test_polygon_styles_draw_fills_then_outlines(layers):
    """Polygon layers get two Mapnik styles, all fills first and then every outline, read
    once (cache-features); the outline style needs no filters when every class has the
    same outline."""
    from layers.models import LayerVersion
    from tiles.mapnik_xml import mapnik_map_xml

    layer = layers["public"]
    version = layer.versions.get(state=LayerVersion.State.PUBLISHED)
    xml = mapnik_map_xml(layer, version, 3857)
    assert '<StyleName>PUB</StyleName><StyleName>PUB:outline</StyleName>' in xml
    assert 'cache-features="true"' in xml
    fills, outlines = xml.split('<Style name="PUB:outline"')
    assert "<PolygonSymbolizer" in fills and "<LineSymbolizer" not in fills
    assert "<LineSymbolizer" in outlines and "<PolygonSymbolizer" not in outlines
    assert "<Filter>" not in outlines.split("</Style>")[0]
