"""The service directory (`/api/services`, `/services/`) over real HTTP: every address it
gives a connected system is fetched and must work, its CRS lists are mapproxy.yaml's, and it
only ever names the layers the caller may see."""

from __future__ import annotations

import gzip
import io
import math
import re
from typing import Any
from urllib.parse import urlsplit

import mapbox_vector_tile
import pytest
import requests
import yaml
from django.conf import settings as django_settings
from django.urls import Resolver404, resolve
from django.utils.html import escape
from owslib.wms import WebMapService
from owslib.wmts import WebMapTileService
from PIL import Image

from accounts import tokens
from accounts.roles import Role, Scope
from layers import crs, services
from tests.conftest import SEAT_X, SEAT_Y, http_login, publish_layer, square
from tiles import directory

pytestmark = pytest.mark.django_db(transaction=True)
RED = (255, 0, 0)
BLUE = (0, 0, 255)
HOSTILE_NAME = '<script>alert("x")</script>规划地块 & 控制线'
HIDDEN = "SECRET_INT"
TIMEOUT = 60


publish = publish_layer


@pytest.fixture
def world(db, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    public = publish("PUB", "public", [square(SEAT_X, SEAT_Y, 400)], "#FF0000",
                     name_zh="公开图层")
    hidden = publish(HIDDEN, "internal", [square(SEAT_X + 1000, SEAT_Y, 400)], "#0000FF",
                     category="regulatory_plan")
    services.create_layer(code="NOT_PUBLISHED", name_zh="未发布", name_en="draft only",
                          category="base", geometry_type="polygon")
    return {"public": public, "hidden": hidden}


@pytest.fixture
def hostile(world):
    """A public layer whose name is markup."""
    return publish("XSS", "public", [square(SEAT_X, SEAT_Y + 1000, 400)], "#00FF00",
                   name_zh=HOSTILE_NAME)


def get_directory(base: str, session: Any = requests) -> dict[str, Any]:
    r = session.get(f"{base}/api/services", timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def layer_of(doc: dict[str, Any], code: str) -> dict[str, Any]:
    return next(x for x in doc["layers"] if x["code"] == code)


def image(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, (response.url, response.text[:300])
    assert response.headers["Content-Type"].startswith("image/png"), response.headers
    return Image.open(io.BytesIO(response.content)).convert("RGBA")


def colours(img: Image.Image) -> set[tuple[int, int, int]]:
    return {c[:3] for _, c in img.getcolors(1 << 20) if c[3] == 255}


def urls_in(value: Any, base: str, path: str = "") -> list[tuple[str, str]]:
    """(where, url) of every address under `base` in the document."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += urls_in(v, base, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += urls_in(v, base, f"{path}[{i}]")
    elif isinstance(value, str) and value.startswith(base + "/"):
        found.append((path, value))
    return found


def center_lonlat(entry: dict[str, Any]) -> tuple[float, float]:
    x0, y0, x1, y1 = entry["extent"]["bbox"]
    return (x0 + x1) / 2, (y0 + y1) / 2


def matrix_tile(matrix: dict[str, Any], lon: float, lat: float, level: int) -> tuple[int, int]:
    """Column and row from the directory's own numbers (top-left, resolution, tile size)."""
    if matrix["crs"] == "EPSG:4490":
        x, y = lon, lat
    else:
        (x,), (y,) = crs.transformer(4490, int(matrix["crs"].split(":")[1])).transform([lon],
                                                                                       [lat])
    res = matrix["matrices"][level]["resolution"]
    w, h = matrix["tile_size"]
    left, top = matrix["top_left_xy"]
    return int((x - left) // (res * w)), int((top - y) // (res * h))


def xyz_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    (x,), (y,) = crs.transformer(4490, 3857).transform([lon], [lat])
    half = 20037508.342789244
    size = 2 * half / 2**z
    return int((x + half) // size), int((half - y) // size)


def mvt_layers(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 204), (response.url, response.status_code)
    if response.status_code == 204 or not response.content:
        return {}
    assert response.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    raw = response.content
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return mapbox_vector_tile.decode(raw)


# --- what the directory says -----------------------------------------------------------------

def test_directory_describes_the_public_layer(live_server, world):
    doc = get_directory(live_server.url)
    assert doc["base_url"] == live_server.url
    assert [x["code"] for x in doc["layers"]] == ["PUB"]  # no hidden, no unpublished layer
    pub = layer_of(doc, "PUB")
    version = world["public"].versions.get()
    assert pub["name_zh"] == "公开图层" and pub["name_en"] == "PUB"
    assert (pub["category"], pub["geometry_type"], pub["access_level"]) == (
        "control_line", "polygon", "public")
    assert pub["category_label"] == "三区三线" and pub["access_level_label"] == "公开"
    assert pub["version"] == {"number": version.number,
                              "effective_date": version.effective_date.isoformat(),
                              "feature_count": 1}
    assert pub["extent"]["crs"] == "EPSG:4490"
    assert pub["extent"]["bbox"] == pytest.approx(list(version.extent.extent), abs=1e-7)
    caller = doc["authentication"]["caller"]
    assert caller["user"] == "anonymous" and caller["access_levels"] == ["public"]
    assert doc["authentication"]["token_query_paths"] == ["/ows/", "/tiles/", "/ogcapi/"]
    s = doc["services"]
    for name in ("wms", "wmts", "vector_tiles", "ogcapi_features", "rest"):
        assert s[name]["status"] == "available", name
    try:
        resolve("/blueprint/")
        blueprint_exists = True
    except Resolver404:
        blueprint_exists = False
    assert s["blueprint"]["status"] == ("available" if blueprint_exists else "planned")
    assert s["blueprint"]["template"] == (
        f"{live_server.url}/blueprint/?project=&parcel=&layers=&bbox=&center=&zoom=&crs=&embed="
        "&lang=")
    assert s["wms"]["max_size"] == {"width": django_settings.WMS_MAX_SIZE[0],
                                    "height": django_settings.WMS_MAX_SIZE[1]}
    assert s["wmts"]["capabilities"][0]["url"] == (
        f"{live_server.url}/ows/wmts/1.0.0/WMTSCapabilities.xml")
    assert s["vector_tiles"]["template"] == f"{live_server.url}/tiles/{{layer}}/{{z}}/{{x}}/{{y}}.mvt"
    assert s["ogcapi_features"]["landing"] == f"{live_server.url}/ogcapi/"
    r = requests.get(f"{live_server.url}/api/services", timeout=TIMEOUT)
    assert "private" in r.headers["Cache-Control"] and "Authorization" in r.headers["Vary"]
    assert requests.post(f"{live_server.url}/api/services", timeout=TIMEOUT).status_code in (
        403, 405)  # read-only (CSRF refuses an anonymous POST before the view does)


def test_crs_lists_and_matrix_sets_match_mapproxy_yaml(live_server, world):
    conf = yaml.safe_load((django_settings.BASE_DIR / "mapproxy.yaml").read_text("utf-8"))
    wms_conf, wmts_conf = conf["services"]["wms"], conf["services"]["wmts"]
    ne = set(conf["globals"]["srs"]["axis_order_ne"])
    wms = get_directory(live_server.url)["services"]["wms"]
    assert [c["code"] for c in wms["crs"]] == wms_conf["srs"]
    assert wms["bbox_crs"] == wms_conf["bbox_srs"]
    assert wms["formats"] == wms_conf["image_formats"]
    assert wms["versions"] == wms_conf["versions"]
    for c in wms["crs"]:
        geographic = crs.info(int(c["code"].split(":")[1])).geographic
        first = ("lat" if geographic else "northing") if c["code"] in ne else (
            "lon" if geographic else "easting")
        assert c["axis_order"]["wms_1_3_0"].split(",")[0] == first, c
        assert c["axis_order"]["wms_1_1_1"].split(",")[0] in ("lon", "easting")
    assert "EPSG:4490" in wms["axis_order_note_zh"] and "minlat,minlon" in wms["axis_order_note_en"]

    wmts = get_directory(live_server.url)["services"]["wmts"]
    assert wmts["tile_template"] == (live_server.url + "/ows/wmts" + wmts_conf[
        "restful_template"].replace("{Format}", "png"))
    sets = {m["id"]: m for m in wmts["tile_matrix_sets"]}
    assert set(sets) == {"webmercator", "cgcs2000"} and set(sets) <= set(conf["grids"])
    cg, wm = sets["cgcs2000"], sets["webmercator"]
    assert cg["crs"] == conf["grids"]["cgcs2000"]["srs"] == "EPSG:4490"
    assert [m["resolution"] for m in cg["matrices"]] == conf["grids"]["cgcs2000"]["res"]
    assert len(wm["matrices"]) == conf["grids"]["webmercator"]["num_levels"]
    assert wm["crs"] == "EPSG:3857" and wm["well_known_scale_set"] == "GoogleMapsCompatible"
    # Tianditu `c`: top-left 90N 180W (lat/lon in EPSG:4490 order), level 1 is 2 x 1 tiles.
    assert cg["top_left_corner"] == [90.0, -180.0] and cg["top_left_xy"] == [-180.0, 90.0]
    assert cg["matrices"][1] | {"scale_denominator": 0} == {
        "id": "1", "resolution": 0.703125, "scale_denominator": 0, "matrix_width": 2,
        "matrix_height": 1}
    assert "天地图" in cg["note_zh"] and "Tianditu" in cg["note_en"] and "0.703125" in cg["note_zh"]
    assert [m["id"] for m in cg["matrices"]] == [str(i) for i in range(len(cg["matrices"]))]


# --- every address works ------------------------------------------------------------------------

def test_every_listed_address_answers(live_server, world):
    """Every concrete address (no placeholder) of a service that is not "planned" answers."""
    doc = get_directory(live_server.url)
    planned = {k for k, v in doc["services"].items() if v["status"] == "planned"}
    checked = 0
    for where, url in urls_in(doc, live_server.url):
        if "{" in url or any(where.startswith(f".services.{p}") for p in planned):
            continue
        if where.endswith((".wms.url", ".kvp_url")):
            continue  # an OGC endpoint clients add a request to, not a request itself
        r = requests.get(url, timeout=TIMEOUT)
        assert r.status_code == 200, (where, url, r.status_code, r.text[:300])
        checked += 1
    assert checked > 20
    for p in planned:
        path = urlsplit(doc["services"][p].get("url", "")).path
        assert requests.get(live_server.url + path, timeout=TIMEOUT).status_code == 404


def test_wms_capabilities_examples_and_legend(live_server, world):
    doc = get_directory(live_server.url)
    wms = doc["services"]["wms"]
    yaml_crs = set(wms_c["code"] for wms_c in wms["crs"])
    assert [c["version"] for c in wms["capabilities"]] == ["1.1.1", "1.3.0"]
    for cap in wms["capabilities"]:
        r = requests.get(cap["url"], timeout=TIMEOUT)
        assert r.status_code == 200
        service = WebMapService(cap["url"], version=cap["version"], xml=r.content)
        assert service.identification.version == cap["version"]
        assert "PUB" in service.contents and HIDDEN not in service.contents
        assert yaml_crs <= set(service.contents["PUB"].crsOptions)
        assert set(wms["formats"]) <= set(service.getOperationByName("GetMap").formatOptions)
    examples = {(e["operation"], e["version"]): e["url"] for e in wms["examples"]}
    assert "LAYERS=PUB" in examples[("GetMap", "1.3.0")]  # the caller's first layer
    for key in (("GetMap", "1.3.0"), ("GetMap", "1.1.1")):
        img = image(requests.get(examples[key], timeout=TIMEOUT))
        # The example frames the layer's extent: the square fills the middle of the map.
        assert img.getpixel((img.width // 2, img.height // 2))[:3] == RED, key
        assert max(img.size) <= max(django_settings.WMS_MAX_SIZE)
    info = requests.get(examples[("GetFeatureInfo", "1.3.0")], timeout=TIMEOUT)
    assert info.status_code == 200 and info.headers["Content-Type"].startswith(
        "application/json")
    assert "PUB-0" in info.text  # the feature under the middle pixel
    pub = layer_of(doc, "PUB")["services"]["wms"]
    assert pub["layer"] == "PUB" and pub["legend"] == examples[("GetLegendGraphic", "1.3.0")]
    assert RED in colours(image(requests.get(pub["getmap"], timeout=TIMEOUT)))
    # The legend is drawn from the style specification (tiles/legend.py).
    legend = image(requests.get(pub["legend"], timeout=TIMEOUT))
    assert RED in colours(legend)


def test_wmts_capabilities_and_tiles(live_server, world):
    doc = get_directory(live_server.url)
    wmts = doc["services"]["wmts"]
    sets = {m["id"]: m for m in wmts["tile_matrix_sets"]}
    for cap in wmts["capabilities"]:
        r = requests.get(cap["url"], timeout=TIMEOUT)
        assert r.status_code == 200, cap
        service = WebMapTileService(cap["url"], xml=r.content)
        assert "PUB" in service.contents and HIDDEN not in service.contents
        assert set(service.tilematrixsets) == set(sets)
        assert set(wmts["formats"]) <= set(service.contents["PUB"].formats)
        for name, ours in sets.items():
            theirs = service.tilematrixsets[name]
            assert theirs.crs.replace("::", ":").endswith(ours["crs"].split(":")[1])
            assert [m["id"] for m in ours["matrices"]] == list(theirs.tilematrix)
            for m in ours["matrices"]:
                t = theirs.tilematrix[m["id"]]
                assert list(t.topleftcorner) == pytest.approx(ours["top_left_corner"])
                assert t.scaledenominator == pytest.approx(m["scale_denominator"], rel=1e-9)
                assert (t.matrixwidth, t.matrixheight) == (m["matrix_width"],
                                                           m["matrix_height"])
                assert (t.tilewidth, t.tileheight) == tuple(ours["tile_size"])
    pub = layer_of(doc, "PUB")
    lon, lat = center_lonlat(pub)
    by_set = {t["tile_matrix_set"]: t for t in pub["services"]["wmts"]["tiles"]}
    assert set(by_set) == set(sets)
    for name, tiles in by_set.items():
        assert tiles["template"] == wmts["tile_template"].replace("{Layer}", "PUB").replace(
            "{TileMatrixSet}", name)
        level = 16
        col, row = matrix_tile(sets[name], lon, lat, level)
        url = (tiles["template"].replace("{TileMatrix}", str(level))
               .replace("{TileCol}", str(col)).replace("{TileRow}", str(row)))
        assert RED in colours(image(requests.get(url, timeout=TIMEOUT))), url
        assert RED in colours(image(requests.get(tiles["example"], timeout=TIMEOUT)))
        kvp = (wmts["kvp_gettile"].replace("{Layer}", "PUB").replace("{TileMatrixSet}", name)
               .replace("{TileMatrix}", str(level)).replace("{TileCol}", str(col))
               .replace("{TileRow}", str(row)))
        assert RED in colours(image(requests.get(kvp, timeout=TIMEOUT))), kvp


def test_vector_tiles_ogcapi_and_rest_addresses(live_server, world):
    doc = get_directory(live_server.url)
    mvt = doc["services"]["vector_tiles"]
    pub = layer_of(doc, "PUB")
    tiles = pub["services"]["vector_tiles"]
    assert tiles["template"] == mvt["template"].replace("{layer}", "PUB")
    lon, lat = center_lonlat(pub)
    for z in (mvt["detail_min_zoom"] - 2, mvt["detail_min_zoom"]):
        x, y = xyz_tile(lon, lat, z)
        url = tiles["template"].format(z=z, x=x, y=y)
        decoded = mvt_layers(requests.get(url, timeout=TIMEOUT))
        assert list(decoded) == ["PUB"]
        props = set(decoded["PUB"]["features"][0]["properties"])
        listed = set(tiles["attributes"]["detailed" if z >= mvt["detail_min_zoom"] else "basic"])
        assert props <= listed, (z, props - listed)
        if z >= mvt["detail_min_zoom"]:
            assert "parcel_no" in props
    assert list(mvt_layers(requests.get(tiles["example"], timeout=TIMEOUT))) == ["PUB"]
    assert mvt["zoom"]["min"] == 0 and mvt["zoom"]["max"] >= 20

    ogc = doc["services"]["ogcapi_features"]
    landing = requests.get(ogc["landing"], timeout=TIMEOUT)
    assert landing.status_code == 200 and "links" in landing.json()
    ids = [c["id"] for c in requests.get(ogc["collections"], timeout=TIMEOUT).json()[
        "collections"]]
    assert "PUB" in ids and HIDDEN not in ids
    collection = pub["services"]["ogcapi_features"]
    assert requests.get(collection["collection"], timeout=TIMEOUT).json()["id"] == "PUB"
    items = requests.get(collection["items"], timeout=TIMEOUT)
    assert items.status_code == 200 and len(items.json()["features"]) == 1
    assert "http://www.opengis.net/def/crs/EPSG/0/4490" in ogc["crs"]

    rest = doc["services"]["rest"]
    feature_id = world["public"].versions.get().features.get().pk
    for endpoint in rest["endpoints"]:
        if endpoint["method"] != "GET" or endpoint["status"] != "available":
            continue
        url = (endpoint["url"].replace("{code}", "PUB").replace("{id}", str(feature_id))
               .replace("{project_code}", "2024-411325-47-01-000001"))
        r = requests.get(url, timeout=TIMEOUT)
        if "{project_code}" in endpoint["url"]:
            assert r.status_code == 404 and r.json()["error"]  # no such project: JSON 404
        else:
            assert r.status_code == 200, (url, r.status_code)
    for url in (rest["openapi"], rest["docs"], pub["services"]["rest"]["features"]):
        assert requests.get(url, timeout=TIMEOUT).status_code == 200


# --- who sees what ------------------------------------------------------------------------------

def test_hidden_layers_only_for_those_who_may_see_them(live_server, world, make_user):
    anonymous = requests.get(f"{live_server.url}/api/services", timeout=TIMEOUT)
    assert HIDDEN not in anonymous.text
    assert HIDDEN not in requests.get(f"{live_server.url}/services/", timeout=TIMEOUT).text

    make_user(Role.REVIEWER, "rev")
    reviewer = http_login(live_server.url, "rev")
    doc = get_directory(live_server.url, reviewer)
    assert [x["code"] for x in doc["layers"]] == ["PUB", HIDDEN]
    assert doc["authentication"]["caller"]["access_levels"] == ["public", "internal"]
    hidden = layer_of(doc, HIDDEN)
    assert hidden["access_level"] == "internal" and hidden["category"] == "regulatory_plan"
    got = hidden["services"]
    assert BLUE in colours(image(reviewer.get(got["wms"]["getmap"], timeout=TIMEOUT)))
    assert BLUE in colours(image(reviewer.get(got["wms"]["legend"], timeout=TIMEOUT)))
    for tile in got["wmts"]["tiles"]:
        assert BLUE in colours(image(reviewer.get(tile["example"], timeout=TIMEOUT)))
    assert list(mvt_layers(reviewer.get(got["vector_tiles"]["example"], timeout=TIMEOUT))) == [
        HIDDEN]
    assert reviewer.get(got["ogcapi_features"]["items"], timeout=TIMEOUT).status_code == 200
    page = reviewer.get(f"{live_server.url}/services/", timeout=TIMEOUT).text
    assert HIDDEN in page

    # The same addresses, asked anonymously, do not reveal the layer.
    assert requests.get(got["vector_tiles"]["example"], timeout=TIMEOUT).status_code == 404
    assert requests.get(got["ogcapi_features"]["items"], timeout=TIMEOUT).status_code == 404
    refused = requests.get(got["wms"]["getmap"], timeout=TIMEOUT)
    assert refused.status_code in (400, 404) or not refused.headers["Content-Type"].startswith(
        "image/")
    legend = requests.get(got["wms"]["legend"], timeout=TIMEOUT)
    assert not legend.headers["Content-Type"].startswith("image/")

    # An external system's token: header for the directory, ?token= for map clients.
    system = make_user(Role.EXTERNAL_SYSTEM, "approval-system")
    secret = tokens.issue(system, name="审批系统", scopes=[Scope.MAP_READ]).secret
    by_token = get_directory(live_server.url, _BearerSession(secret))
    assert HIDDEN in [x["code"] for x in by_token["layers"]]
    example = layer_of(by_token, HIDDEN)["services"]["vector_tiles"]["example"]
    assert "token" not in example  # the directory never copies a secret into an address
    assert requests.get(f"{example}?token={secret}", timeout=TIMEOUT).status_code == 200


class _BearerSession(requests.Session):
    def __init__(self, secret: str):
        super().__init__()
        self.headers["Authorization"] = f"Bearer {secret}"


# --- the page -----------------------------------------------------------------------------------

def test_page_shows_the_same_content_escaped(live_server, world, hostile, settings):
    marker = "@@MISSING:%s@@"
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "OPTIONS": {
        **settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": marker}}]
    doc = get_directory(live_server.url)
    r = requests.get(f"{live_server.url}/services/", timeout=TIMEOUT)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    missing = set(re.findall(r"@@MISSING:([^@]*)@@", page)) - {"LANGUAGE_CODE"}  # base.html
    assert missing == set(), missing
    # Strict CSP: no inline script or style anywhere on the page.
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "<script" not in page.lower()
    assert "<style" not in page.lower()
    assert not re.search(r"<[^>]*\sstyle\s*=", page, re.IGNORECASE)
    # Names are escaped, never markup; the JSON carries them as they are.
    assert escape(HOSTILE_NAME) in page
    assert layer_of(doc, "XSS")["name_zh"] == HOSTILE_NAME
    # Every address of the JSON document is on the page.
    for where, url in urls_in(doc, live_server.url):
        assert escape(url) in page, (where, url)
    wms = doc["services"]["wms"]
    for c in wms["crs"]:
        assert c["code"] in page
    for m in doc["services"]["wmts"]["tile_matrix_sets"]:
        assert escape(m["note_zh"]) in page
    pub = layer_of(doc, "PUB")
    for text in (pub["version"]["effective_date"], pub["category_label"],
                 pub["access_level_label"], pub["geometry_type_label"]):
        assert escape(text) in page
    for value in pub["extent"]["bbox"]:
        assert str(value) in page
    assert ("规划中" in page) == (doc["services"]["blueprint"]["status"] == "planned")


def test_capabilities_stay_valid_with_markup_in_a_layer_name(live_server, hostile):
    doc = get_directory(live_server.url)
    for cap in doc["services"]["wms"]["capabilities"]:
        r = requests.get(cap["url"], timeout=TIMEOUT)
        service = WebMapService(cap["url"], version=cap["version"], xml=r.content)
        assert service.contents["XSS"].title == HOSTILE_NAME
    r = requests.get(doc["services"]["wmts"]["capabilities"][0]["url"], timeout=TIMEOUT)
    assert WebMapTileService("x", xml=r.content).contents["XSS"].title == HOSTILE_NAME


# --- base URL and the permission matrix --------------------------------------------------------

def test_public_base_url_when_configured(world, client, settings):
    settings.PUBLIC_BASE_URL = directory.UNCONFIGURED_PUBLIC_BASE_URL
    assert client.get("/api/services").json()["base_url"] == "http://testserver"
    settings.PUBLIC_BASE_URL = "https://gis.example.gov.cn/neixiang/"
    doc = client.get("/api/services").json()
    assert doc["base_url"] == "https://gis.example.gov.cn/neixiang"
    found = urls_in(doc, "https://gis.example.gov.cn/neixiang")
    assert len(found) > 30
    assert "http://testserver" not in str(doc)
    assert layer_of(doc, "PUB")["services"]["vector_tiles"]["template"] == (
        "https://gis.example.gov.cn/neixiang/tiles/PUB/{z}/{x}/{y}.mvt")


def test_views_are_public_and_in_the_permission_matrix():
    from tests.test_permission_matrix import ENDPOINTS

    assert directory.services_json.required_function is None
    assert directory.services_page.required_function is None
    rows = {(method, path, function, route) for method, path, function, route in ENDPOINTS}
    assert ("get", "/api/services", None, "api/services") in rows
    assert ("get", "/services/", None, "services/") in rows


def test_example_map_size_keeps_ground_proportions():
    box = (111.8, 33.0, 111.81, 33.01)
    width, height = directory._map_size(box)
    assert width == 512
    assert height / width == pytest.approx(1 / math.cos(math.radians(33.005)), rel=0.01)
