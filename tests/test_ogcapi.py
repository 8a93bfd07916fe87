"""OGC API Features over real HTTP, read by real clients (OWSLib, GDAL's OAPIF driver).

Correctness is checked against independent computations: bbox results against shapely on
the stored geometries, projected coordinates against pyproj.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess

import numpy as np
import pytest
import requests
import shapely
from owslib.ogcapi.features import Features
from pyproj import Transformer

from accounts import tokens
from accounts.roles import Role, Scope
from audit.models import AuditRecord
from layers import services
from layers.importers.base import FeatureBatch
from layers.models import Feature
from tests.conftest import SEAT_X, SEAT_Y, http_login, square, to_crs

pytestmark = pytest.mark.django_db(transaction=True)

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
GEOJSON_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"
HTML_CLASS = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html"
OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"
CRS_CLASS = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
COLS, ROWS = 6, 5  # the public parcel grid: 30 parcels
USES = ["0701", "0901", "1401"]


def _grid_batch(cols: int, rows: int, prefix: str) -> FeatureBatch:
    """Parcels of 50 m on a 60 m grid near the county seat (EPSG:4546), with attributes."""
    geoms, parcel_no, use, far = [], [], [], []
    for r in range(rows):
        for c in range(cols):
            geoms.append(square(SEAT_X + c * 60, SEAT_Y + r * 60))
            parcel_no.append(f"{prefix}-{r}{c}")
            use.append(USES[(r * cols + c) % len(USES)])
            far.append(round(1.0 + 0.5 * (c % 4), 1))
    return FeatureBatch(geometries=np.asarray(geoms, dtype=object),
                        columns={"DKBH": parcel_no, "YDXZDM": use, "RJLSX": far,
                                 "PFDATE": ["2023-06-01"] * len(geoms)},
                        epsg=4546, source_format="test")


def _layer(code: str, level: str, batch: FeatureBatch | None, *, publish: bool = True):
    layer = services.create_layer(code=code, name_zh=f"测试{code}", name_en=code,
                                  category="regulatory_plan", geometry_type="polygon",
                                  access_level=level, description=f"{code} 测试图层")
    if batch is not None:
        services.import_batch(layer, batch, source_name=f"{code}.gpkg", publish=publish,
                              effective_date=dt.date(2024, 3, 1))
    return layer


@pytest.fixture
def data(db):
    return {
        "public": _layer("OGCKG", "public", _grid_batch(COLS, ROWS, "NX-B")),
        "internal": _layer("OGCNB", "internal", _grid_batch(2, 1, "NB")),
        "confidential": _layer("OGCSM", "confidential", _grid_batch(1, 1, "SM")),
        "draft": _layer("OGCCG", "public", _grid_batch(1, 1, "CG"), publish=False),
        "empty": _layer("OGCKONG", "public", None),
    }


def stored(code: str) -> dict[int, shapely.Geometry]:
    """Geometries of a layer's published features straight from the database (lon/lat)."""
    rows = Feature.objects.filter(version__layer__code=code, version__state="published")
    return {f.pk: shapely.from_wkb(bytes(f.geom.wkb)) for f in rows}


def get(url: str, **kw) -> requests.Response:
    return requests.get(url, timeout=30, **kw)


def items_url(base: str, code: str = "OGCKG") -> str:
    return f"{base}/ogcapi/collections/{code}/items"


def walk(url: str, params: dict, session=requests) -> tuple[list[dict], list[dict]]:
    """Every page from `url`, following `next` links: (features, pages)."""
    features, pages = [], []
    response = session.get(url, params=params, timeout=30)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        features += page["features"]
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            return features, pages
        assert nxt[0]["type"] == "application/geo+json"
        response = session.get(nxt[0]["href"], timeout=30)


# --- Real clients ------------------------------------------------------------------------


def test_owslib_reads_landing_conformance_collections_and_items(live_server, data):
    api = Features(f"{live_server.url}/ogcapi/")
    rels = {link["rel"]: link for link in api.links}
    assert {"self", "alternate", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert api.api()["openapi"].startswith("3.0")  # OWSLib follows service-desc
    assert {CORE, GEOJSON_CLASS, HTML_CLASS, OAS30, CRS_CLASS} <= \
        set(api.conformance()["conformsTo"])
    # Only visible, published layers are collections.
    assert api.feature_collections() == ["OGCKG"]
    kg = api.collection("OGCKG")
    assert kg["title"] == "测试OGCKG" and kg["itemType"] == "feature"
    assert kg["storageCrs"] == EPSG + "4490"
    assert kg["crs"] == [CRS84] + [EPSG + c for c in ("4490", "4326", "3857", "4546", "4525")]
    np.testing.assert_allclose(kg["extent"]["spatial"]["bbox"][0],
                               shapely.total_bounds(list(stored("OGCKG").values())), atol=1e-7)
    assert kg["extent"]["spatial"]["crs"] == CRS84
    assert kg["extent"]["temporal"]["interval"] == [["2024-03-01T00:00:00+08:00", None]]
    # Items with bbox and limit: the first parcel's corner only.
    first = shapely.bounds(stored("OGCKG")[min(stored("OGCKG"))])
    page = api.collection_items("OGCKG", bbox=[first[0], first[1], first[0] + 1e-5,
                                               first[1] + 1e-5], limit=5)
    assert page["numberMatched"] == 1 and page["numberReturned"] == 1
    assert page["features"][0]["properties"]["parcel_no"] == "NX-B-00"
    page = api.collection_items("OGCKG", limit=5)
    assert page["numberMatched"] == COLS * ROWS and len(page["features"]) == 5
    one = api.collection_item("OGCKG", page["features"][0]["id"])
    assert one["properties"]["parcel_no"] == page["features"][0]["properties"]["parcel_no"]


def _gdal_env() -> dict[str, str]:
    return {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}


def test_gdal_ogrinfo_and_ogr2ogr_read_the_service(live_server, data, tmp_path):
    root = f"{live_server.url}/ogcapi"
    info = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{root}/", "OGCKG"],
                          capture_output=True, text=True, timeout=120, env=_gdal_env())
    assert info.returncode == 0, info.stderr
    assert f"Feature Count: {COLS * ROWS}" in info.stdout
    assert "Polygon" in info.stdout and "parcel_no" in info.stdout
    listing = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{root}/"], capture_output=True,
                             text=True, timeout=120, env=_gdal_env())
    assert "OGCKG" in listing.stdout and "OGCNB" not in listing.stdout

    out = tmp_path / "out.json"
    run = subprocess.run(["ogr2ogr", "-f", "GeoJSON", str(out),
                          f"OAPIF:{root}/collections/OGCKG"],
                         capture_output=True, text=True, timeout=300, env=_gdal_env())
    assert run.returncode == 0, run.stderr
    copied = json.loads(out.read_text())["features"]
    assert len(copied) == COLS * ROWS  # every page (GDAL pages by 10) followed once
    assert sorted(f["properties"]["parcel_no"] for f in copied) == \
        sorted(f"NX-B-{r}{c}" for r in range(ROWS) for c in range(COLS))

    # An attribute filter goes to the server as a query parameter (from the OpenAPI doc).
    out2 = tmp_path / "housing.json"
    run = subprocess.run(["ogr2ogr", "-f", "GeoJSON", "-where", "land_use_code = '0701'",
                          str(out2), f"OAPIF:{root}/collections/OGCKG"],
                         capture_output=True, text=True, timeout=300,
                         env={**_gdal_env(), "CPL_DEBUG": "ON"})
    assert run.returncode == 0, run.stderr
    assert re.search(r"/items\?[^ ]*land_use_code=0701", run.stderr), run.stderr[-3000:]
    housing = json.loads(out2.read_text())["features"]
    assert len(housing) == COLS * ROWS // 3
    assert {f["properties"]["land_use_code"] for f in housing} == {"0701"}


# --- Paging, bbox, properties, datetime ---------------------------------------------------


def test_paging_walks_every_item_exactly_once(live_server, data):
    features, pages = walk(items_url(live_server.url), {"limit": 7})
    ids = [f["id"] for f in features]
    assert len(ids) == COLS * ROWS and set(ids) == set(stored("OGCKG"))
    assert [p["numberReturned"] for p in pages] == [7, 7, 7, 7, 2]
    assert all(p["numberMatched"] == COLS * ROWS for p in pages)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["timeStamp"]) for p in pages)
    last = pages[-1]
    types = {link["rel"]: link["type"] for link in last["links"]}
    assert types["self"] == "application/geo+json" and types["alternate"] == "text/html"
    assert types["prev"] == "application/geo+json" and types["collection"] == \
        "application/json"
    prev = next(link["href"] for link in last["links"] if link["rel"] == "prev")
    assert [f["id"] for f in get(prev).json()["features"]] == ids[21:28]
    # Default page size and an offset past the end.
    assert get(items_url(live_server.url)).json()["numberReturned"] == 10
    beyond = get(items_url(live_server.url), params={"offset": 1000}).json()
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == COLS * ROWS
    assert not [link for link in beyond["links"] if link["rel"] == "next"]


def test_bbox_results_match_an_independent_shapely_filter(live_server, data):
    geoms = stored("OGCKG")
    x0, y0, x1, y1 = shapely.total_bounds(list(geoms.values()))
    rng = random.Random(20241127)
    for _ in range(12):
        ax, bx = sorted(rng.uniform(x0 - 2e-4, x1 + 2e-4) for _ in range(2))
        ay, by = sorted(rng.uniform(y0 - 2e-4, y1 + 2e-4) for _ in range(2))
        expected = {pk for pk, g in geoms.items() if g.intersects(shapely.box(ax, ay, bx, by))}
        got, _ = walk(items_url(live_server.url), {"bbox": f"{ax},{ay},{bx},{by}",
                                                   "limit": 4})
        assert {f["id"] for f in got} == expected
        assert len(got) == len(expected)


def test_property_filters_are_typed_and_parameterised(live_server, data):
    url = items_url(live_server.url)
    housing = get(url, params={"land_use_code": "0701", "limit": 100}).json()
    assert housing["numberMatched"] == COLS * ROWS // 3
    assert {f["properties"]["land_use_code"] for f in housing["features"]} == {"0701"}
    one = get(url, params={"parcel_no": "NX-B-23"}).json()
    assert [f["properties"]["parcel_no"] for f in one["features"]] == ["NX-B-23"]
    far = get(url, params={"far_max": "2.5", "land_use_code": "0901", "limit": 100}).json()
    assert far["numberMatched"] == sum(
        1 for r in range(ROWS) for c in range(COLS)
        if 1.0 + 0.5 * (c % 4) == 2.5 and USES[(r * COLS + c) % 3] == "0901")
    assert get(url, params={"approval_date": "2023-06-01"}).json()["numberMatched"] == 30
    assert get(url, params={"feature_no": "3"}).json()["numberMatched"] == 1
    assert get(url, params={"feature_no": str(10**20)}).json()["numberMatched"] == 0
    for hostile in ("0701' OR '1'='1", "0701; DROP TABLE layers_feature; --", "%", "*"):
        r = get(url, params={"land_use_code": hostile})
        assert r.status_code == 200 and r.json()["numberMatched"] == 0
    assert Feature.objects.filter(version__layer__code="OGCKG").count() == COLS * ROWS


def test_datetime_compares_with_the_version_validity(live_server, data):
    url = items_url(live_server.url)
    matched = {value: get(url, params={"datetime": value}).json()["numberMatched"]
               for value in ("2024-02-29", "2024-03-01", "2025-01-01T08:00:00Z",
                             "../2024-02-29T23:59:59+08:00", "2024-02-01/2024-03-01",
                             "2024-03-02/..", "../..")}
    assert matched == {"2024-02-29": 0, "2024-03-01": 30, "2025-01-01T08:00:00Z": 30,
                       "../2024-02-29T23:59:59+08:00": 0, "2024-02-01/2024-03-01": 30,
                       "2024-03-02/..": 30, "../..": 30}


# --- Part 2: CRS --------------------------------------------------------------------------


def _first_ring(feature: dict) -> np.ndarray:
    geometry = feature["geometry"]
    coords = geometry["coordinates"][0][0] if geometry["type"] == "MultiPolygon" \
        else geometry["coordinates"][0]
    return np.asarray(coords, dtype=float)


def test_crs_4490_is_lat_lon_and_crs84_lon_lat(live_server, data):
    url = items_url(live_server.url)
    plain = get(url, params={"limit": 3})
    assert plain.headers["Content-Crs"] == f"<{CRS84}>"
    lonlat = [_first_ring(f) for f in plain.json()["features"]]
    assert 111 < lonlat[0][0, 0] < 112.1 and 32.9 < lonlat[0][0, 1] < 33.6
    for code in ("4490", "4326"):
        r = get(url, params={"limit": 3, "crs": EPSG + code})
        assert r.status_code == 200 and r.headers["Content-Crs"] == f"<{EPSG}{code}>"
        latlon = [_first_ring(f) for f in r.json()["features"]]
        for a, b in zip(lonlat, latlon, strict=True):
            np.testing.assert_allclose(a[:, ::-1], b, atol=1e-8)
    # The CURIE and URN spellings name the same CRS.
    r = get(url, params={"limit": 3, "crs": "[EPSG:4490]"})
    assert r.headers["Content-Crs"] == f"<{EPSG}4490>"
    r = get(url, params={"limit": 3, "crs": CRS84})
    assert r.headers["Content-Crs"] == f"<{CRS84}>"
    np.testing.assert_allclose(_first_ring(r.json()["features"][0]), lonlat[0], atol=1e-9)


@pytest.mark.parametrize("epsg,authority_first_is_north", [(4546, True), (4525, True),
                                                           (3857, False)])
def test_projected_output_matches_pyproj(live_server, data, epsg, authority_first_is_north):
    url = items_url(live_server.url)
    lonlat = get(url, params={"limit": 5}).json()["features"]
    r = get(url, params={"limit": 5, "crs": f"{EPSG}{epsg}"})
    assert r.status_code == 200 and r.headers["Content-Crs"] == f"<{EPSG}{epsg}>"
    # Independent: pyproj in the CRS's authority axis order (4490 input is lat, lon).
    t = Transformer.from_crs(4490, epsg)
    for geo, projected in zip(lonlat, r.json()["features"], strict=True):
        ring = _first_ring(geo)
        expected = np.column_stack(t.transform(ring[:, 1], ring[:, 0]))
        np.testing.assert_allclose(_first_ring(projected), expected, atol=2e-3)
    first = _first_ring(r.json()["features"][0])[0]
    if authority_first_is_north:
        assert 3.6e6 < first[0] < 3.7e6  # northing first, metres
        assert first[1] > (3.7e7 if epsg == 4525 else 5e5)
    # The seat parcel in 4546 is where the survey put it (DOMAIN.md check point).
    if epsg == 4546:
        seat = next(f for f in r.json()["features"] if f["properties"]["parcel_no"] == "NX-B-00")
        corners = _first_ring(seat)
        assert np.min(np.abs(corners - [SEAT_Y, SEAT_X]).sum(axis=1)) < 0.01


def test_bbox_crs_follows_the_crs_axis_order(live_server, data):
    url = items_url(live_server.url)
    geoms = stored("OGCKG")
    target = next(pk for pk, g in geoms.items()
                  if Feature.objects.get(pk=pk).parcel_no == "NX-B-12")
    # A 10 m box inside parcel NX-B-12, in the county CRS (northing, easting order).
    e0, n0 = SEAT_X + 2 * 60 + 20, SEAT_Y + 1 * 60 + 20
    r = get(url, params={"bbox": f"{n0},{e0},{n0 + 10},{e0 + 10}", "bbox-crs": f"{EPSG}4546"})
    assert r.status_code == 200, r.text
    assert [f["id"] for f in r.json()["features"]] == [target]
    # The same box as lat/lon in EPSG:4490, and as lon/lat in CRS84.
    box = to_crs([shapely.box(e0, n0, e0 + 10, n0 + 10)], 4546, 4490)[0]
    lon0, lat0, lon1, lat1 = shapely.bounds(box)
    r = get(url, params={"bbox": f"{lat0},{lon0},{lat1},{lon1}", "bbox-crs": f"{EPSG}4490"})
    assert [f["id"] for f in r.json()["features"]] == [target]
    r = get(url, params={"bbox": f"{lon0},{lat0},{lon1},{lat1}", "bbox-crs": CRS84})
    assert [f["id"] for f in r.json()["features"]] == [target]
    # Web Mercator (easting, northing), combined with an output CRS.
    merc = to_crs([box], 4490, 3857)[0]
    r = get(url, params={"bbox": ",".join(map(str, shapely.bounds(merc))),
                         "bbox-crs": f"{EPSG}3857", "crs": f"{EPSG}4546"})
    assert [f["id"] for f in r.json()["features"]] == [target]
    assert r.headers["Content-Crs"] == f"<{EPSG}4546>"


# --- Single item, errors ------------------------------------------------------------------


def test_single_item_follows_visibility(live_server, data):
    """Covers ogcapi/collections/<id>/items/<feature_id> in the permission matrix."""
    pk = min(stored("OGCKG"))
    r = get(f"{items_url(live_server.url)}/{pk}", params={"crs": f"{EPSG}4490"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/geo+json"
    assert r.headers["Content-Crs"] == f"<{EPSG}4490>"
    body = r.json()
    assert body["type"] == "Feature" and body["id"] == pk
    assert {link["rel"] for link in body["links"]} >= {"self", "alternate", "collection"}
    # A feature of a hidden layer is not reachable, neither directly nor through a visible one.
    hidden = min(stored("OGCNB"))
    assert get(f"{items_url(live_server.url, 'OGCNB')}/{hidden}").status_code == 404
    assert get(f"{items_url(live_server.url)}/{hidden}").status_code == 404


# (path under /ogcapi, query, status, parameter named in the exception)
BAD_INPUT = [
    ("/collections/OGCKG/items", {"bbox": "1,2,3"}, 400, "bbox"),
    ("/collections/OGCKG/items", {"bbox": "a,b,c,d"}, 400, "bbox"),
    ("/collections/OGCKG/items", {"bbox": "112,33,111,34"}, 400, "bbox"),  # inverted
    ("/collections/OGCKG/items", {"bbox": "111,34,112,33"}, 400, "bbox"),  # inverted
    ("/collections/OGCKG/items", {"bbox": "nan,33,112,34"}, 400, "bbox"),
    ("/collections/OGCKG/items", {"bbox": "111,33,inf,34"}, 400, "bbox"),
    ("/collections/OGCKG/items", {"bbox": "111,33,112,3400"}, 400, "bbox"),
    ("/collections/OGCKG/items", {"bbox": "111,33,5,112,34,1"}, 400, "bbox"),  # z0 > z1
    ("/collections/OGCKG/items", {"bbox": "1,2,3,4", "bbox-crs": "EPSG:9999"}, 400,
     "bbox-crs"),
    ("/collections/OGCKG/items", {"bbox": "0,0,1e300,1e300", "bbox-crs": f"{EPSG}3857"},
     400, "bbox"),  # outside the projection's domain
    ("/collections/OGCKG/items", {"bbox": "0,0,1e12,1e12", "bbox-crs": f"{EPSG}4546"},
     400, "bbox"),
    ("/collections/OGCKG/items", {"crs": f"{EPSG}2000"}, 400, "crs"),
    ("/collections/OGCKG/items", {"crs": "nonsense"}, 400, "crs"),
    ("/collections/OGCKG/items/1", {"crs": f"{EPSG}4544"}, 400, "crs"),
    ("/collections/OGCKG/items", {"limit": "0"}, 400, "limit"),
    ("/collections/OGCKG/items", {"limit": "10001"}, 400, "limit"),
    ("/collections/OGCKG/items", {"limit": "ten"}, 400, "limit"),
    ("/collections/OGCKG/items", {"offset": "-1"}, 400, "offset"),
    ("/collections/OGCKG/items", {"offset": str(2**63)}, 400, "offset"),
    ("/collections/OGCKG/items", {"datetime": "yesterday"}, 400, "datetime"),
    ("/collections/OGCKG/items", {"datetime": "2024-03-01T00:00:00"}, 400, "datetime"),
    ("/collections/OGCKG/items", {"datetime": "2024-05-01/2024-03-01"}, 400, "datetime"),
    ("/collections/OGCKG/items", {"far_max": "lots"}, 400, "far_max"),
    ("/collections/OGCKG/items", {"mandatory": "maybe"}, 400, "mandatory"),
    ("/collections/OGCKG/items", {"approval_date": "2023-13-45"}, 400, "approval_date"),
    ("/collections/OGCKG/items", {"parcel_no": "NX\x00"}, 400, "parcel_no"),
    ("/collections/OGCKG/items", {"bbox-crs": "EPSG:4490\x00"}, 400, "bbox-crs"),
    ("/collections/OGCKG/items", {"colour": "red"}, 400, "colour"),  # unknown parameter
    ("/collections/OGCKG/items", {"LIMIT": "5"}, 400, "LIMIT"),  # names are case-sensitive
    ("/collections/OGCKG/items", {"f": "xml"}, 400, "f"),
    ("/collections/OGCKG", {"bbox": "1,2,3,4"}, 400, "bbox"),
    ("/collections", {"limit": "5"}, 400, "limit"),
    ("/", {"foo": "bar"}, 400, "foo"),
    ("/conformance", {"f": "pdf"}, 400, "f"),
    ("/collections/NOPE", {}, 404, None),
    ("/collections/OGCNB/items", {"bbox": "x"}, 404, None),  # hidden wins over bad input
    ("/collections/OGCSM", {"f": "xml"}, 404, None),
    ("/collections/NOPE/items", {}, 404, None),
    ("/collections/OGCCG/items", {}, 404, None),  # only a draft version
    ("/collections/OGCKONG", {}, 404, None),  # nothing imported
    ("/collections/OGCKG/items/999999999", {}, 404, None),
    ("/collections/OGCKG/items/abc", {}, 404, None),
    ("/collections/%00", {}, 404, None),
    ("/collections/%00/items/%00", {}, 404, None),
    ("/collections/OGCKG/items/1e3", {}, 404, None),
    ("/collections/OGCKG/items/%EF%BC%91", {}, 404, None),  # a full-width digit
    ("/collections/OGCKG/items/99999999999999999999999", {}, 404, None),
    ("/nothing/here", {}, 404, None),
]


def test_bad_input_is_a_4xx_ogc_exception_never_a_500(live_server, data):
    wrong = []
    for path, params, status, parameter in BAD_INPUT:
        r = get(f"{live_server.url}/ogcapi{path}", params=params)
        body = r.json() if r.headers.get("Content-Type") == "application/json" else {}
        expected = {"status": status, "code": "InvalidParameterValue" if status == 400
                    else "NotFound", "parameter": parameter, "described": True}
        found = {"status": r.status_code, "code": body.get("code"),
                 "parameter": body.get("parameter"), "described": bool(body.get("description"))}
        if found != expected:
            wrong.append((path, params, found, r.text[:200]))
    assert wrong == []


def test_repeated_parameters_are_refused(live_server, data):
    r = get(f"{items_url(live_server.url)}?limit=1&limit=2")
    assert r.status_code == 400 and r.json()["parameter"] == "limit"


# --- Access -------------------------------------------------------------------------------


def _codes(session, base: str) -> set[str]:
    r = session.get(f"{base}/ogcapi/collections", timeout=30)
    assert r.status_code == 200
    return {c["id"] for c in r.json()["collections"]}


def test_collections_follow_the_callers_access(live_server, data, make_user):
    base = live_server.url
    assert _codes(requests, base) == {"OGCKG"}
    for code in ("OGCNB", "OGCSM"):
        for suffix in ("", "/items", f"/items/{min(stored(code))}"):
            r = get(f"{base}/ogcapi/collections/{code}{suffix}")
            assert r.status_code == 404 and r.json()["code"] == "NotFound", (code, suffix)

    make_user(Role.REVIEWER, "ogc_reviewer")  # map.internal, not map.confidential
    reviewer = http_login(base, "ogc_reviewer")
    assert _codes(reviewer, base) == {"OGCKG", "OGCNB"}
    r = reviewer.get(f"{items_url(base, 'OGCNB')}", timeout=30)
    assert r.status_code == 200 and r.json()["numberMatched"] == 2
    assert reviewer.get(f"{items_url(base, 'OGCSM')}", timeout=30).status_code == 404
    assert not AuditRecord.objects.filter(event_type="layers.confidential_read").exists()

    make_user(Role.DEPARTMENT_HEAD, "ogc_head")  # map.confidential
    head = http_login(base, "ogc_head")
    assert _codes(head, base) == {"OGCKG", "OGCNB", "OGCSM"}
    assert head.get(f"{base}/ogcapi/collections/OGCSM", timeout=30).status_code == 200
    features, _ = walk(items_url(base, "OGCSM"), {}, session=head)
    pk = features[0]["id"]
    assert head.get(f"{items_url(base, 'OGCSM')}/{pk}", timeout=30).status_code == 200
    reads = AuditRecord.objects.filter(event_type="layers.confidential_read").order_by("seq")
    assert [(r.object, r.subject, r.detail["resource"]) for r in reads] == [
        ("OGCSM", "ogc_head", "collection"), ("OGCSM", "ogc_head", "items"),
        ("OGCSM", "ogc_head", "item")]
    assert reads[1].detail["returned"] == 1
    # Reading public and internal layers leaves no confidential-read record.
    head.get(items_url(base), timeout=30)
    assert reads.count() == 3


def test_token_in_the_query_works_and_is_never_echoed(live_server, data, make_user):
    account = make_user(Role.EXTERNAL_SYSTEM, "ogc_system")
    secret = tokens.issue(account, name="审批系统", scopes=[Scope.MAP_READ]).secret
    base = live_server.url
    r = get(f"{base}/ogcapi/collections", params={"token": secret})
    assert r.status_code == 200
    assert {c["id"] for c in r.json()["collections"]} == {"OGCKG", "OGCNB"}
    page = get(items_url(base, "OGCNB"), params={"token": secret, "limit": 1})
    assert page.status_code == 200 and secret not in page.text
    assert get(items_url(base, "OGCNB"), params={"token": "nx_bad_token"}).status_code == 401


# --- HTML, OpenAPI ------------------------------------------------------------------------


def test_every_resource_has_a_chinese_html_page_without_inline_code(live_server, data):
    base = f"{live_server.url}/ogcapi"
    pk = min(stored("OGCKG"))
    for path in ("/", "/api", "/conformance", "/collections", "/collections/OGCKG",
                 "/collections/OGCKG/items", f"/collections/OGCKG/items/{pk}"):
        r = get(f"{base}{path}", params={"f": "html"})
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), path
        assert "内乡县" in r.text and "<script" not in r.text and "style=" not in r.text, path
        assert "f=json" in r.text, path  # the page links its JSON alternate
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    browser = get(f"{base}/collections/OGCKG/items",
                  headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["Content-Type"].startswith("text/html")
    assert "NX-B-00" in browser.text and "下一页" in browser.text
    client = get(f"{base}/collections/OGCKG/items", headers={"Accept": "application/json"})
    assert client.headers["Content-Type"] == "application/geo+json"


def test_openapi_document_describes_what_is_served(live_server, data, settings):
    base = f"{live_server.url}/ogcapi"
    r = get(f"{base}/api")
    assert r.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    doc = r.json()
    assert doc["openapi"] == "3.0.3" and doc["servers"][0]["url"] == base
    params = doc["components"]["parameters"]
    assert params["limit"]["schema"]["maximum"] == settings.OGCAPI_LIMIT_MAX == 10_000
    assert params["limit"]["schema"]["default"] == 10
    assert set(params["crs"]["schema"]["enum"]) == {CRS84} | {
        EPSG + c for c in ("4490", "4326", "3857", "4546", "4525")}
    items = {p["$ref"].rsplit("/", 1)[1]
             for p in doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]}
    assert {"bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "land_use_code",
            "parcel_no"} <= items
    # Every $ref resolves, and every path answers 200 with an example id.
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = doc
        for part in ref.split("/"):
            node = node[part]
    pk = min(stored("OGCKG"))
    for path in doc["paths"]:
        concrete = path.replace("{collectionId}", "OGCKG").replace("{featureId}", str(pk))
        assert get(f"{base}{concrete}").status_code == 200, path
