"""WMS GetFeatureInfo and GetLegendGraphic over real HTTP, checked against PostGIS.

Two datasets: the demo county (`load_demo`, 500 parcels) for "the parcel under the point is
the one PostGIS says" and for legends of real land-use classes; and a few hand-made layers
(`import_batch`) for labels, escaping, feature counts, hidden layers and dashes.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import requests
import shapely
from django.core.management import call_command
from django.db import connection
from owslib.util import ServiceException
from owslib.wms import WebMapService
from PIL import Image

from layers import crs, landuse, services
from layers.fields import INDICATOR_FIELDS
from layers.importers.base import FeatureBatch
from layers.importers.writer import partition_name
from layers.models import Layer, LayerVersion
from layers.styles import class_items
from tests.conftest import SEAT_X, SEAT_Y, http_login, square, to_crs
from tiles import legend
from tiles import services as tile_services

pytestmark = pytest.mark.django_db(transaction=True)

# WMS 1.3.0 reads the BBOX of these CRSs northing/latitude first (EPSG axis order).
NORTH_FIRST = {4490, 4326, 4546, 4525}
# Pixel size per request CRS: about a metre (3857 units are ~1.19 m here).
RES = {3857: 1.0, 4490: 1e-5, 4326: 1e-5, 4546: 1.0, 4525: 1.0}
SCRIPT = '<script>alert("x")</script>'
KG_STYLE = {"fill_opacity": 0.75, "stroke": "#808080", "stroke_width": 0.5,
            "classes": {"field": "land_use_code", "scheme": "land_use", "match": "prefix"}}


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path, monkeypatch):
    """Generated MapProxy files in tmp, and no MapProxy application cached by an earlier
    test whose database happened to reach the same generation number."""
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.MAPPROXY_DIR = tmp_path / "mapproxy"
    monkeypatch.setattr(tile_services, "_apps", {})


def publish(code: str, geoms_4546: list, columns: dict, *, style: dict | None = None,
            access: str = "public", geometry_type: str = "polygon") -> Layer:
    layer = services.create_layer(code=code, name_zh=f"测试{code}", name_en=f"Test {code}",
                                  category="regulatory_plan", geometry_type=geometry_type,
                                  access_level=access, style=style or {})
    geoms = to_crs(geoms_4546, 4546, 4490)
    services.import_batch(layer, FeatureBatch(np.asarray(geoms, dtype=object), columns, 4490,
                                              "test"), source_name="test", publish=True)
    return layer


@pytest.fixture
def world(db):
    """KG: three parcels with indicators (one named with a script, one without a land-use
    name); NEST: three nested squares; SECRET: an internal layer; ROAD: a dashed line."""
    kg = publish("KG", [square(SEAT_X + i * 60, SEAT_Y) for i in range(3)], {
        "DKBH": ["NX-A01-01", "NX-A01-02", "NX-A01-03"],
        "MC": ["住宅地块", SCRIPT, "公园"],
        "YDXZDM": ["0701", "0901", "1401"],
        "YDXZMC": ["城镇住宅用地", "商业用地", ""],
        "RJLSX": [2.5, 3.0, 0.1],
        "JZMDZ": [30.0, 45.0, 5.0],
        "JZXG": [54.0, 80.0, 9.0],
        "备注": ["一", "<img src=x onerror=alert(1)>", "三"],
    }, style=KG_STYLE)
    centre = (SEAT_X + 100, SEAT_Y + 600)
    publish("NEST", [square(centre[0] - s / 2, centre[1] - s / 2, s) for s in (200, 40, 100)],
            {"MC": ["大", "小", "中"]}, style={"fill": "#00AA00"})
    secret = publish("SECRET", [square(SEAT_X, SEAT_Y + 1200)], {"DKBH": ["S-1"]},
                     access="internal", style={"fill": "#123456"})
    road = publish("ROAD", [shapely.LineString([(SEAT_X, SEAT_Y + 1800),
                                                (SEAT_X + 300, SEAT_Y + 1800)])],
                   {"MC": ["湍河路"]}, geometry_type="line",
                   style={"stroke": "#0000FF", "stroke_width": 3, "stroke_dasharray": [6, 3]})
    return {"kg": kg, "secret": secret, "road": road, "nest_centre": centre}


@pytest.fixture
def demo(db):
    call_command("load_demo", parcels=500, projects=5, seed=3, verbosity=0)
    return LayerVersion.objects.select_related("layer").get(
        layer__code="KGDK", state=LayerVersion.State.PUBLISHED)


# --- request helpers -------------------------------------------------------------------------

def frame(x: float, y: float, epsg: int, ij: tuple[int, int] = (100, 60),
          size: tuple[int, int] = (256, 200)) -> tuple[float, float, float, float]:
    """A BBOX (x/y order, in `epsg`) whose pixel (i, j) has its centre on the EPSG:4546
    point (x, y)."""
    (px,), (py,) = crs.transformer(4546, epsg).transform([x], [y])
    r = RES[epsg]
    minx = px - (ij[0] + 0.5) * r
    maxy = py + (ij[1] + 0.5) * r
    return minx, maxy - size[1] * r, minx + size[0] * r, maxy


def bbox_param(bbox: tuple[float, ...], epsg: int, version: str) -> str:
    x0, y0, x1, y1 = bbox
    values = (y0, x0, y1, x1) if version == "1.3.0" and epsg in NORTH_FIRST else bbox
    return ",".join(repr(v) for v in values)


def gfi_params(layers: str, x: float, y: float, *, epsg: int = 3857, version: str = "1.3.0",
               fmt: str = "application/json", **extra: str) -> dict[str, str]:
    ij, size = (100, 60), (256, 200)
    params = {"SERVICE": "WMS", "VERSION": version, "REQUEST": "GetFeatureInfo",
              "LAYERS": layers, "QUERY_LAYERS": layers, "STYLES": "", "FORMAT": "image/png",
              "BBOX": bbox_param(frame(x, y, epsg, ij, size), epsg, version),
              "WIDTH": str(size[0]), "HEIGHT": str(size[1]), "INFO_FORMAT": fmt}
    params["CRS" if version == "1.3.0" else "SRS"] = f"EPSG:{epsg}"
    i_name, j_name = ("I", "J") if version == "1.3.0" else ("X", "Y")
    params[i_name], params[j_name] = str(ij[0]), str(ij[1])
    params.update(extra)
    return params


def gfi(url: str, layers: str, x: float, y: float, session=requests, **kw) -> requests.Response:
    return session.get(f"{url}/ows/wms", params=gfi_params(layers, x, y, **kw), timeout=30)


def gfi_json(url: str, layers: str, x: float, y: float, **kw) -> dict:
    r = gfi(url, layers, x, y, **kw)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def legend_get(url: str, session=requests, **params: str) -> requests.Response:
    return session.get(f"{url}/ows/wms", timeout=30, params={
        "SERVICE": "WMS", "REQUEST": "GetLegendGraphic", "VERSION": "1.3.0", **params})


def exception_of(r: requests.Response, version: str = "1.3.0") -> tuple[str, str]:
    """(code, message) of an OGC exception report, checking status and content type."""
    assert r.status_code == 400, (r.status_code, r.text[:300])
    expected = "application/vnd.ogc.se_xml" if version == "1.1.1" else "text/xml"
    assert r.headers["Content-Type"].startswith(expected), r.headers["Content-Type"]
    root = ET.fromstring(r.content)  # well-formed XML whatever the request contained
    assert root.tag.endswith("ServiceExceptionReport") and root.get("version") == version
    exc = next(e for e in root.iter() if e.tag.endswith("ServiceException"))
    return exc.get("code"), exc.text or ""


def parcel_at(version: LayerVersion, lon: float, lat: float) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT parcel_no FROM {partition_name(version.pk)} WHERE ST_Intersects("
                    "geom, ST_SetSRID(ST_MakePoint(%s, %s), 4490))", [lon, lat])
        return [row[0] for row in cur.fetchall()]


def inner_points(version: LayerVersion, n: int) -> list[tuple[float, float]]:
    """Points well inside n parcels, in EPSG:4546."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Buffer("
                    f"ST_Transform(geom, 4546), -3)) AS p FROM {partition_name(version.pk)} "
                    "WHERE measure > 2000 ORDER BY feature_no LIMIT %s) s", [n])
        return [tuple(row) for row in cur.fetchall()]


def to_4490(x: float, y: float) -> tuple[float, float]:
    (lon,), (lat,) = crs.transformer(4546, 4490).transform([x], [y])
    return lon, lat


# --- GetFeatureInfo --------------------------------------------------------------------------

def test_owslib_feature_info_is_the_parcel_postgis_finds(live_server, demo):
    url = f"{live_server.url}/ows/wms"
    clients = {v: WebMapService(url, version=v) for v in ("1.1.1", "1.3.0")}
    assert "KGDK" in clients["1.3.0"].contents
    points = inner_points(demo, 6)
    assert len(points) == 6
    for x, y in points:
        expected = parcel_at(demo, *to_4490(x, y))
        assert len(expected) == 1  # regulatory parcels do not overlap
        for version, epsg in (("1.1.1", 3857), ("1.3.0", 3857), ("1.1.1", 4490),
                              ("1.3.0", 4490), ("1.3.0", 4546)):
            # OWSLib takes the BBOX in x/y order and swaps it for north-first CRSs in 1.3.0.
            answer = clients[version].getfeatureinfo(
                layers=["KGDK"], query_layers=["KGDK"], styles=[""], srs=f"EPSG:{epsg}",
                bbox=frame(x, y, epsg), size=(256, 200), format="image/png",
                info_format="application/json", xy=(100, 60), feature_count=1)
            features = json.loads(answer.read())["features"]
            assert [f["properties"]["parcel_no"] for f in features] == expected, \
                (version, epsg)


def test_wms_130_reads_the_bbox_in_epsg_axis_order(live_server, demo):
    (x, y), = inner_points(demo, 1)
    expected = parcel_at(demo, *to_4490(x, y))
    for epsg in (4490, 4326, 4546, 4525, 3857):
        body = gfi_json(live_server.url, "KGDK", x, y, epsg=epsg, FEATURE_COUNT="1")
        assert [f["properties"]["parcel_no"] for f in body["features"]] == expected, epsg
        old = gfi_json(live_server.url, "KGDK", x, y, epsg=epsg, version="1.1.1",
                       FEATURE_COUNT="1")
        assert old["features"] == body["features"], epsg
    # The same numbers in lon/lat order under 1.3.0 name a latitude of 111°: refused, with
    # the reason.
    params = gfi_params("KGDK", x, y, epsg=4490, version="1.1.1")
    params.update(VERSION="1.3.0", CRS="EPSG:4490", I=params.pop("X"), J=params.pop("Y"))
    params.pop("SRS")
    r = requests.get(f"{live_server.url}/ows/wms", params=params, timeout=30)
    code, message = exception_of(r)
    assert code == "InvalidParameterValue" and "lat,lon" in message


def test_json_answer_is_geojson_with_chinese_labels(live_server, world):
    body = gfi_json(live_server.url, "KG", SEAT_X + 25, SEAT_Y + 25)
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 1
    feature = body["features"][0]
    props = feature["properties"]
    assert feature["id"] == f"KG.{props['id']}" and feature["geometry"] is None
    assert (props["layer"], props["layer_name"], props["version"]) == ("KG", "测试KG", 1)
    assert (props["parcel_no"], props["land_use_code"], props["far_max"]) == \
        ("NX-A01-01", "0701", 2.5)
    assert props["attributes"] == {"备注": "一"}
    assert body["labels"] == {**{f.name: f.label_zh for f in INDICATOR_FIELDS},
                              "measure": "面积/长度"}
    assert body["labels"]["parcel_no"] == "地块编号" and body["units"]["height_max"] == "米"
    assert body["layers"] == [{"code": "KG", "name": "测试KG", "version": 1,
                               "geometry_type": "polygon", "numberReturned": 1,
                               "measure_unit": "m²"}]
    # The land-use name comes from the code when the data lack it; English on request.
    third = gfi_json(live_server.url, "KG", SEAT_X + 145, SEAT_Y + 25, LANGUAGE="en")
    assert third["features"][0]["properties"]["land_use_name"] == \
        landuse.land_use_name("1401", "en")
    assert third["labels"]["parcel_no"] == "Parcel no."
    # Geometry on request: simplified, CGCS2000 lon/lat, containing the point.
    shaped = gfi_json(live_server.url, "KG", SEAT_X + 25, SEAT_Y + 25, WITH_GEOMETRY="true")
    geometry = shapely.geometry.shape(shaped["features"][0]["geometry"])
    assert geometry.contains(shapely.Point(to_4490(SEAT_X + 25, SEAT_Y + 25)))
    assert shaped["crs"]["properties"]["name"] == "EPSG:4490"
    # The shorthand names MapProxy advertises are accepted too.
    assert gfi_json(live_server.url, "KG", SEAT_X + 25, SEAT_Y + 25, fmt="json") == body


def test_html_answer_is_a_chinese_table_with_units(live_server, world):
    r = gfi(live_server.url, "KG,NEST", SEAT_X + 25, SEAT_Y + 25, fmt="text/html")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    html = r.text
    assert "Content-Security-Policy" in r.headers
    for text in ("<table", "测试KG", "地块编号", "NX-A01-01", "用地性质名称", "城镇住宅用地",
                 "容积率上限", "2.5", "建筑限高", "54 米", "30 %", "备注"):
        assert text in html, text
    # The second layer has nothing here, and says so.
    assert 'data-layer="NEST"' in html and "该位置没有要素" in html
    assert "<script" not in html and "style=" not in html.lower()
    assert "&lt;" not in html  # nothing needed escaping here
    fallback = gfi(live_server.url, "KG", SEAT_X + 145, SEAT_Y + 25, fmt="html").text
    assert "公园绿地" in fallback  # name from the land-use table
    plain = gfi(live_server.url, "KG", SEAT_X + 25, SEAT_Y + 25, fmt="text/plain")
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "地块编号 = NX-A01-01" in plain.text


def test_attribute_values_cannot_inject_markup(live_server, world):
    r = gfi(live_server.url, "KG", SEAT_X + 85, SEAT_Y + 25, fmt="text/html")
    html = r.text
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # JSON carries the text as data, under a JSON content type.
    body = gfi_json(live_server.url, "KG", SEAT_X + 85, SEAT_Y + 25)
    props = body["features"][0]["properties"]
    assert props["name"] == SCRIPT and props["attributes"]["备注"] == "<img src=x onerror=alert(1)>"


def test_feature_count_order_and_tolerance(live_server, world):
    cx, cy = world["nest_centre"]
    names = [f["properties"]["name"]
             for f in gfi_json(live_server.url, "NEST", cx, cy)["features"]]
    assert names == ["小", "中", "大"]  # the smallest (inner) feature first
    two = gfi_json(live_server.url, "NEST", cx, cy, FEATURE_COUNT="2")
    assert [f["properties"]["name"] for f in two["features"]] == ["小", "中"]
    many = gfi_json(live_server.url, "NEST", cx, cy, FEATURE_COUNT="100000")
    assert many["numberReturned"] == 3  # capped at 50, and there are 3
    # Per layer: two layers, one feature each.
    both = gfi_json(live_server.url, "KG,NEST", SEAT_X + 25, SEAT_Y + 25, FEATURE_COUNT="1")
    assert [layer["numberReturned"] for layer in both["layers"]] == [1, 0]
    # A few pixels of tolerance around the click (1 px is ~0.84 m in EPSG:3857 here).
    edge = SEAT_X + 50  # east edge of the first parcel; the next starts 10 m further
    assert gfi_json(live_server.url, "KG", edge + 2, SEAT_Y + 25)["numberReturned"] == 1
    assert gfi_json(live_server.url, "KG", edge + 5, SEAT_Y + 25)["numberReturned"] == 0
    # Lines are found within the tolerance too.
    road = gfi_json(live_server.url, "ROAD", SEAT_X + 100, SEAT_Y + 1801)
    assert [f["properties"]["name"] for f in road["features"]] == ["湍河路"]


def test_a_point_with_no_feature(live_server, world):
    body = gfi_json(live_server.url, "KG", SEAT_X - 500, SEAT_Y - 500)
    assert body["features"] == [] and body["numberReturned"] == 0
    html = gfi(live_server.url, "KG", SEAT_X - 500, SEAT_Y - 500, fmt="text/html").text
    assert "该位置没有要素" in html and 'class="featureinfo-feature"' not in html


def test_hidden_layers_answer_like_unknown_ones(live_server, world, make_user):
    for version in ("1.1.1", "1.3.0"):
        hidden = exception_of(gfi(live_server.url, "SECRET", SEAT_X + 25, SEAT_Y + 1225,
                                  version=version), version)
        unknown = exception_of(gfi(live_server.url, "NOSUCH", SEAT_X + 25, SEAT_Y + 1225,
                                   version=version), version)
        assert hidden[0] == unknown[0] == "LayerNotDefined"
        assert hidden[1].replace("SECRET", "X") == unknown[1].replace("NOSUCH", "X")
        # A visible layer alongside does not turn the request into a partial answer.
        mixed = gfi(live_server.url, "KG,SECRET", SEAT_X + 25, SEAT_Y + 1225, version=version)
        assert exception_of(mixed, version)[0] == "LayerNotDefined"
    code, _ = exception_of(legend_get(live_server.url, LAYER="SECRET"))
    assert code == "LayerNotDefined"
    # OWSLib surfaces the report as a ServiceException.
    wms = WebMapService(f"{live_server.url}/ows/wms", version="1.1.1")
    assert "SECRET" not in wms.contents
    with pytest.raises(ServiceException, match="LayerNotDefined"):
        wms.getfeatureinfo(layers=["SECRET"], srs="EPSG:3857", styles=[""],
                           bbox=frame(SEAT_X + 25, SEAT_Y + 1225, 3857), size=(256, 200),
                           format="image/png", info_format="application/json", xy=(100, 60))
    # Someone who may see internal layers gets the feature and its legend.
    make_user("plan_data_manager", "planner")
    planner = http_login(live_server.url, "planner")
    body = gfi(live_server.url, "SECRET", SEAT_X + 25, SEAT_Y + 1225, session=planner).json()
    assert [f["properties"]["parcel_no"] for f in body["features"]] == ["S-1"]
    r = legend_get(live_server.url, session=planner, LAYER="SECRET")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"


# Every class of bad input: (query overrides, version, expected code, text in the message).
BAD_FEATURE_INFO = [
    ({"QUERY_LAYERS": None}, "1.3.0", "MissingParameterValue", "QUERY_LAYERS"),
    ({"QUERY_LAYERS": ","}, "1.3.0", "MissingParameterValue", "QUERY_LAYERS"),
    ({"QUERY_LAYERS": "NOSUCH"}, "1.3.0", "LayerNotDefined", "NOSUCH"),
    ({"QUERY_LAYERS": "KG\x01<x>"}, "1.1.1", "LayerNotDefined", "unknown layer"),
    ({"QUERY_LAYERS": "KG\x00"}, "1.3.0", "LayerNotDefined", "unknown layer"),
    ({"QUERY_LAYERS": ",".join(f"L{i}" for i in range(30))}, "1.3.0",
     "InvalidParameterValue", "QUERY_LAYERS"),
    ({"CRS": "EPSG:9999"}, "1.3.0", "InvalidCRS", "EPSG:9999"),
    ({"CRS": "EPSG:2000000"}, "1.3.0", "InvalidCRS", "EPSG:2000000"),
    ({"SRS": "EPSG:4544"}, "1.1.1", "InvalidSRS", "EPSG:4544"),
    ({"SRS": "<script>"}, "1.1.1", "InvalidSRS", "<script>"),
    ({"CRS": None}, "1.3.0", "MissingParameterValue", "CRS"),
    ({"BBOX": "1,2,3"}, "1.3.0", "InvalidParameterValue", "BBOX"),
    ({"BBOX": "a,b,c,d"}, "1.3.0", "InvalidParameterValue", "BBOX"),
    ({"BBOX": "0,0,nan,1"}, "1.3.0", "InvalidParameterValue", "BBOX"),
    ({"BBOX": "0,0,inf,1"}, "1.1.1", "InvalidParameterValue", "BBOX"),
    ({"BBOX": "12450000,3903000,12449000,3904000"}, "1.3.0", "InvalidParameterValue", "BBOX"),
    ({"BBOX": None}, "1.3.0", "MissingParameterValue", "BBOX"),
    ({"WIDTH": "100000"}, "1.3.0", "InvalidParameterValue", "WIDTH"),
    ({"WIDTH": "0"}, "1.3.0", "InvalidParameterValue", "WIDTH"),
    ({"HEIGHT": "-5"}, "1.1.1", "InvalidParameterValue", "HEIGHT"),
    ({"HEIGHT": None}, "1.3.0", "MissingParameterValue", "HEIGHT"),
    ({"I": "256"}, "1.3.0", "InvalidPoint", "I"),
    ({"I": "-1"}, "1.3.0", "InvalidPoint", "I"),
    ({"J": "NaN"}, "1.3.0", "InvalidPoint", "J"),
    ({"J": "²"}, "1.3.0", "InvalidPoint", "J"),
    ({"X": "1e999"}, "1.1.1", "InvalidPoint", "X"),
    ({"J": None}, "1.3.0", "MissingParameterValue", "J"),
    ({"Y": None}, "1.1.1", "MissingParameterValue", "Y"),
    ({"INFO_FORMAT": "text/xml"}, "1.3.0", "InvalidFormat", "INFO_FORMAT"),
    ({"INFO_FORMAT": "<b>&"}, "1.1.1", "InvalidFormat", "<b>&"),
    ({"FEATURE_COUNT": "0"}, "1.3.0", "InvalidParameterValue", "FEATURE_COUNT"),
    ({"FEATURE_COUNT": "-3"}, "1.3.0", "InvalidParameterValue", "FEATURE_COUNT"),
    ({"FEATURE_COUNT": "²"}, "1.3.0", "InvalidParameterValue", "FEATURE_COUNT"),
    ({"WITH_GEOMETRY": "maybe"}, "1.3.0", "InvalidParameterValue", "WITH_GEOMETRY"),
    ({"LANGUAGE": "fr"}, "1.3.0", "InvalidParameterValue", "LANGUAGE"),
    ({"VERSION": "9.9.9"}, "1.3.0", "InvalidParameterValue", "VERSION"),
    ({"VERSION": "1.0.0"}, "1.3.0", "InvalidParameterValue", "VERSION"),
]


def test_bad_feature_info_requests_get_ogc_exceptions(live_server, world):
    for overrides, version, code, text in BAD_FEATURE_INFO:
        params = gfi_params("KG", SEAT_X + 25, SEAT_Y + 25, version=version)
        for key, value in overrides.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        r = requests.get(f"{live_server.url}/ows/wms", params=params, timeout=30)
        got_code, message = exception_of(r, version)
        assert (got_code, text in message) == (code, True), (overrides, got_code, message)


BAD_LEGEND = [
    ({}, "MissingParameterValue", "LAYER"),
    ({"LAYER": "NOSUCH"}, "LayerNotDefined", "NOSUCH"),
    ({"LAYER": "\x00'--"}, "LayerNotDefined", "unknown layer"),
    ({"LAYER": "KG", "FORMAT": "image/gif"}, "InvalidFormat", "image/gif"),
    ({"LAYER": "KG", "FORMAT": "text/html<x>"}, "InvalidFormat", "text/html<x>"),
    ({"LAYER": "KG", "WIDTH": "100000"}, "InvalidParameterValue", "WIDTH"),
    ({"LAYER": "KG", "HEIGHT": "0"}, "InvalidParameterValue", "HEIGHT"),
    ({"LAYER": "KG", "HEIGHT": "²"}, "InvalidParameterValue", "HEIGHT"),
    ({"LAYER": "KG", "LANGUAGE": "de"}, "InvalidParameterValue", "LANGUAGE"),
    ({"LAYER": "KG", "TRANSPARENT": "perhaps"}, "InvalidParameterValue", "TRANSPARENT"),
    ({"LAYER": "KG", "VERSION": "2.0"}, "InvalidParameterValue", "VERSION"),
]


def test_bad_legend_requests_get_ogc_exceptions(live_server, world):
    for params, code, text in BAD_LEGEND:
        r = legend_get(live_server.url, **params)
        got_code, message = exception_of(r)
        assert (got_code, text in message) == (code, True), (params, got_code, message)
    r = legend_get(live_server.url, LAYER="NOSUCH", VERSION="1.1.1")
    assert exception_of(r, "1.1.1")[0] == "LayerNotDefined"


# --- GetLegendGraphic ------------------------------------------------------------------------

def drawn_classes(version: LayerVersion) -> list[dict]:
    """The classes of the KGDK style the version's features are drawn with (most specific
    prefix wins, as in the Mapnik style), in style order."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT land_use_code FROM {partition_name(version.pk)}")
        codes = [row[0] for row in cur.fetchall()]
    items = class_items(version.layer.style)
    used = set()
    for code in codes:
        hits = [i["value"] for i in items if code.startswith(i["value"])]
        assert hits, code
        used.add(max(hits, key=len))
    return [i for i in items if i["value"] in used]


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


def test_json_legend_lists_the_classes_present(live_server, demo):
    expected = drawn_classes(demo)
    assert 3 <= len(expected) < len(class_items(demo.layer.style))
    r = legend_get(live_server.url, LAYER="KGDK", FORMAT="application/json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert (body["layer"], body["title"], body["language"]) == ("KGDK", "控制性详细规划地块",
                                                                "zh")
    assert [e["value"] for e in body["entries"]] == [i["value"] for i in expected]
    for entry, item in zip(body["entries"], expected, strict=True):
        assert entry["label"] == item["label_zh"] == landuse.land_use_name(item["value"])
        assert (entry["fill"], entry["fill_opacity"], entry["stroke"]) == \
            (item["fill"], 0.75, "#808080")
    english = legend_get(live_server.url, LAYER="KGDK", FORMAT="json", LANGUAGE="en").json()
    assert [e["label"] for e in english["entries"]] == [i["label_en"] for i in expected]


def test_png_legend_draws_each_present_class(live_server, demo):
    expected = drawn_classes(demo)
    r = legend_get(live_server.url, LAYER="KGDK", FORMAT="image/png", WIDTH="30",
                   HEIGHT="24", TRANSPARENT="TRUE")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "PNG"
    image = image.convert("RGBA")
    pad, row = legend.PAD, 24 + legend.PAD  # rows of swatch height (taller than the text)
    assert image.height == pad + row * len(expected)
    assert image.width > pad + 30 + legend.GAP + 2 * 12  # labels of at least two characters
    alpha = round(0.75 * 255)
    for n, item in enumerate(expected):
        centre = image.getpixel((pad + 15, pad + n * row + 12))
        assert centre == (*rgb(item["fill"]), alpha), (item, centre)
    # Opaque white by default; the label text is dark.
    opaque = Image.open(io.BytesIO(legend_get(live_server.url, LAYER="KGDK").content))
    opaque = opaque.convert("RGBA")
    assert opaque.getpixel((opaque.width - 1, 0)) == (255, 255, 255, 255)
    assert min(sum(c[:3]) for _, c in opaque.getcolors(1 << 20)) < 200


def test_legend_of_single_symbol_and_dashed_lines(live_server, world):
    r = legend_get(live_server.url, LAYER="ROAD", WIDTH="40", HEIGHT="30", TRANSPARENT="true")
    image = Image.open(io.BytesIO(r.content)).convert("RGBA")
    assert image.height == legend.PAD + 30 + legend.PAD
    line_y = legend.PAD + 15
    across = [image.getpixel((legend.PAD + x, line_y)) for x in range(2, 38)]
    blue = [p[:3] == (0, 0, 255) and p[3] == 255 for p in across]
    assert any(blue) and not all(blue)  # a dashed stroke
    body = legend_get(live_server.url, LAYER="ROAD", FORMAT="application/json").json()
    assert body["entries"] == [{"label": "测试ROAD", "stroke": "#0000FF", "stroke_width": 3,
                                "stroke_dasharray": [6, 3]}]
    nest = legend_get(live_server.url, LAYER="NEST", WIDTH="20", HEIGHT="40",
                      TRANSPARENT="true")
    image = Image.open(io.BytesIO(nest.content)).convert("RGBA")
    assert image.height == legend.PAD + 40 + legend.PAD
    assert image.getpixel((legend.PAD + 10, legend.PAD + 20)) == (0, 0xAA, 0, round(0.7 * 255))
    jpeg = legend_get(live_server.url, LAYER="NEST", FORMAT="image/jpeg")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"


def test_legend_lists_classed_layer_values_and_follows_restyles(live_server, world):
    body = legend_get(live_server.url, LAYER="KG", FORMAT="json").json()
    assert [(e["value"], e["label"]) for e in body["entries"]] == \
        [("0701", "城镇住宅用地"), ("0901", "商业用地"), ("1401", "公园绿地")]
    before = legend_get(live_server.url, LAYER="NEST", TRANSPARENT="true").content
    assert legend_get(live_server.url, LAYER="NEST", TRANSPARENT="true").content == before
    layer = Layer.objects.get(code="NEST")
    layer.style = {"fill": "#AA0000"}
    layer.save()
    after = legend_get(live_server.url, LAYER="NEST", TRANSPARENT="true").content
    image = Image.open(io.BytesIO(after)).convert("RGBA")
    assert image.getpixel((legend.PAD + 10, legend.PAD + 10))[:3] == (0xAA, 0, 0)


def test_legend_file_for_mapproxy_capabilities(world):
    version = LayerVersion.objects.get(layer__code="KG", state=LayerVersion.State.PUBLISHED)
    url = legend.legend_file_url(version.layer, version)
    assert url.startswith("file:///") and url.endswith(".png")
    path = url[len("file://"):]
    assert Image.open(path).size == Image.open(io.BytesIO(legend.legend_image(
        version.layer, version))).size
    assert legend.legend_file_url(version.layer, version) == url  # stable while unchanged
