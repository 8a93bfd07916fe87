"""The blueprint page's JSON API (identify, search, measure, boundary check) in PostGIS."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import ezdxf
import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.db import connection
from pyproj import Transformer

from accounts.roles import Role
from approvals_link.models import Project, ProjectFootprint
from audit.models import AuditRecord
from blueprint.api import TEMP_PREFIX
from layers import selectors
from layers.importers.writer import partition_name
from layers.models import Feature, Layer, LayerVersion
from tests.conftest import SEAT_X, SEAT_Y, sample_parcels, to_crs, zip_bytes

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"
SAMPLE_TXT = DATA / "redline_example.txt"
# DOMAIN.md: lon 111.84, lat 33.06 (EPSG:4490) <-> EPSG:4525 N 3 659 716.061, E 37 578 448.671.
REF_LON, REF_LAT, REF_N, REF_E = 111.84, 33.06, 3659716.061, 37578448.671
URL = "/blueprint/api/"


@pytest.fixture
def demo(db):
    call_command("load_demo", parcels=400, projects=20, seed=5, verbosity=0)


def _point_in(layer_code: str) -> tuple[int, float, float]:
    """A feature of a layer's published version and a point inside it."""
    layer = Layer.objects.get(code=layer_code)
    version = selectors.published_version(layer)
    with connection.cursor() as cur:
        cur.execute(f"SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) p "
                    f"FROM {partition_name(version.pk)} ORDER BY feature_no LIMIT 1) s")
        return cur.fetchone()


def _ids_at(layer: Layer, lon: float, lat: float) -> set[int]:
    version = selectors.published_version(layer)
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {partition_name(version.pk)} WHERE ST_Intersects(geom, "
                    "ST_SetSRID(ST_MakePoint(%s, %s), 4490))", [lon, lat])
        return {r[0] for r in cur.fetchall()}


# --- Identify --------------------------------------------------------------------------------

def test_identify_parcel_and_control_lines(demo, client):
    fid, lon, lat = _point_in("KGDK")
    r = client.get(f"{URL}identify", {"lon": lon, "lat": lat, "zoom": 17})
    assert r.status_code == 200, r.content
    body = r.json()
    by_layer = {x["layer"]: x for x in body["layers"]}
    kgdk = by_layer["KGDK"]
    assert {f["id"] for f in kgdk["features"]} == _ids_at(Layer.objects.get(code="KGDK"),
                                                          lon, lat)
    assert fid in {f["id"] for f in kgdk["features"]}
    feature = next(f for f in kgdk["features"] if f["id"] == fid)
    labels = {x["label"] for x in feature["fields"]}
    assert "地块编号" in labels and "用地性质代码" in labels
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert "crs" not in feature["geometry"]  # plain GeoJSON: EPSG:4490 lon/lat
    assert shapely.geometry.shape(feature["geometry"]).buffer(1e-6).contains(
        shapely.Point(lon, lat))
    # Every public polygon control line under the point is listed, and nothing else.
    for layer in Layer.objects.filter(category__in=["control_line", "other_control_line"],
                                      access_level="public", geometry_type="polygon"):
        expected = _ids_at(layer, lon, lat)
        got = {f["id"] for f in by_layer.get(layer.code, {"features": []})["features"]}
        assert got == expected, layer.code
    # English labels on request; a layer list narrows the answer.
    r = client.get(f"{URL}identify", {"lon": lon, "lat": lat, "layers": "KGDK", "lang": "en"})
    body = r.json()
    assert [x["layer"] for x in body["layers"]] == ["KGDK"]
    assert "Parcel no." in {x["label"] for x in body["layers"][0]["features"][0]["fields"]}


def test_identify_hides_layers_the_caller_may_not_see(demo, client, make_user):
    fid, lon, lat = _point_in("STBHHX")  # internal: reviewers yes, public no
    for params in ({"lon": lon, "lat": lat}, {"lon": lon, "lat": lat, "layers": "STBHHX"}):
        r = client.get(f"{URL}identify", params)
        assert r.status_code == 200
        assert "STBHHX" not in {x["layer"] for x in r.json()["layers"]}
        assert "STBHHX" not in r.content.decode()
    client.force_login(make_user(Role.REVIEWER, "bp_reviewer"))
    r = client.get(f"{URL}identify", {"lon": lon, "lat": lat, "layers": "STBHHX,NOPE,x;drop"})
    assert [x["layer"] for x in r.json()["layers"]] == ["STBHHX"]
    assert fid in {f["id"] for f in r.json()["layers"][0]["features"]}


def test_identify_confidential_reads_are_audited(demo, client, make_user):
    fid, lon, lat = _point_in("KGDK")
    Layer.objects.filter(code="KGDK").update(access_level="confidential")
    assert "KGDK" not in {x["layer"] for x in client.get(
        f"{URL}identify", {"lon": lon, "lat": lat}).json()["layers"]}
    client.force_login(make_user(Role.DEPARTMENT_HEAD, "bp_head"))
    before = AuditRecord.objects.filter(event_type="layers.confidential_read").count()
    r = client.get(f"{URL}identify", {"lon": lon, "lat": lat})
    assert "KGDK" in {x["layer"] for x in r.json()["layers"]}
    assert AuditRecord.objects.filter(event_type="layers.confidential_read",
                                      object="KGDK").count() == before + 1


def test_identify_lines_use_a_pixel_tolerance(demo, client):
    layer = Layer.objects.filter(geometry_type="line", access_level="public").first()
    version = selectors.published_version(layer)
    with connection.cursor() as cur:  # a point ~2 m beside a line
        cur.execute(f"SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform(ST_Translate("
                    f"ST_LineInterpolatePoint(ST_GeometryN(geom_3857, 1), 0.5), 0, 2), 4490) p "
                    f"FROM {partition_name(version.pk)} ORDER BY feature_no LIMIT 1) s")
        fid, lon, lat = cur.fetchone()
    near = client.get(f"{URL}identify", {"lon": lon, "lat": lat, "zoom": 16,
                                         "layers": layer.code}).json()
    assert fid in {f["id"] for x in near["layers"] for f in x["features"]}
    far = client.get(f"{URL}identify", {"lon": lon, "lat": lat, "zoom": 22,
                                        "layers": layer.code}).json()
    assert fid not in {f["id"] for x in far["layers"] for f in x["features"]}


@pytest.mark.parametrize("params,code", [
    ({"lon": "abc", "lat": "33"}, "invalid_parameter"),
    ({"lat": "33.06"}, "invalid_parameter"),
    ({"lon": "nan", "lat": "33.06"}, "invalid_parameter"),
    ({"lon": "116.4", "lat": "39.9"}, "outside_county"),
    ({"lon": "33.06", "lat": "111.84"}, "outside_county"),
    ({"lon": "111.84", "lat": "33.06", "zoom": "99"}, "invalid_parameter"),
])
def test_identify_bad_input(db, client, params, code):
    r = client.get(f"{URL}identify", params)
    assert r.status_code == 400
    assert r.json()["error"] == code and r.json()["detail"]
    if params.get("lon") == "33.06":
        assert "交换" in r.json()["detail"] or "swapped" in r.json()["detail"]


# --- Search ----------------------------------------------------------------------------------

def _search(client, q, **headers):
    return client.get(f"{URL}search", {"q": q}, **headers)


def test_search_project_code_respects_visibility(demo, client, make_user):
    project = Project.objects.filter(footprints__isnull=False).first()
    assert _search(client, project.project_code).status_code == 404  # anonymous
    applicant = make_user(Role.APPLICANT, "bp_firm",
                          organization_credit_code=project.construction_unit_credit_code)
    client.force_login(applicant)
    r = _search(client, project.project_code)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["kind"] == "project_code"
    hit = body["results"][0]
    assert hit["project_code"] == project.project_code and hit["geometry"]["type"]
    x0, y0, x1, y1 = hit["bbox"]
    assert x0 < x1 and y0 < y1 and 111 < x0 < 113
    # A GB/T 40058-2021 style code (24 characters) is recognised as a code.
    r = _search(client, "A1B2C3D4E5F6G7H8J9K0L1M2")
    assert r.status_code == 404 and "项目代码" in r.json()["detail"]
    # Names: visible projects only.
    word = project.name[:4]
    r = _search(client, word)
    assert r.status_code == 200
    codes = {x.get("project_code") for x in r.json()["results"]}
    assert project.project_code in codes
    visible = set(Project.objects.filter(
        construction_unit_credit_code=project.construction_unit_credit_code)
        .values_list("project_code", flat=True))
    assert codes - {None} <= visible
    client.logout()
    r = _search(client, word)
    assert r.status_code == 404 or all(x["kind"] != "project" for x in r.json()["results"])


def test_search_parcel_number_exact_then_prefix(demo, client):
    kgdk = selectors.published_version(Layer.objects.get(code="KGDK"))
    parcel = Feature.objects.filter(version=kgdk).exclude(parcel_no="").order_by(
        "feature_no").first()
    r = _search(client, parcel.parcel_no)
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "parcel"
    first = body["results"][0]
    assert first["parcel_no"] == parcel.parcel_no and first["match"] == "exact"
    assert first["layer"] == "KGDK" and first["feature_id"] == parcel.pk
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    prefix = parcel.parcel_no[:-1]
    r = _search(client, prefix)
    assert r.status_code == 200
    assert all(x["parcel_no"].startswith(prefix) for x in r.json()["results"]
               if x["kind"] == "parcel")


@pytest.mark.parametrize("q,crs,swapped", [
    ("111.84,33.06", 4490, False),
    ("33.06 111.84", 4490, True),
    ("111.84，33.06", 4490, False),
    (f"{REF_N},{REF_E}", 4525, False),
    (f"{REF_E} {REF_N}", 4525, True),
    (f"{REF_N},{REF_E - 37_000_000:.3f}", 4546, False),
    (f"{REF_E - 37_000_000:.3f};{REF_N}", 4546, True),
])
def test_search_coordinates(db, client, q, crs, swapped):
    r = _search(client, q)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["kind"] == "coordinates"
    hit = body["results"][0]
    assert hit["crs"] == crs and hit["axes_swapped"] is swapped
    lon, lat = hit["point"]
    assert lon == pytest.approx(REF_LON, abs=1e-8) and lat == pytest.approx(REF_LAT, abs=1e-8)
    x0, y0, x1, y1 = hit["bbox"]
    assert x0 < lon < x1 and y0 < lat < y1


@pytest.mark.parametrize("q,status,code,words", [
    ("", 400, "invalid_parameter", []),
    ("x" * 101, 400, "invalid_parameter", []),
    ("111.84,33.06,5", 400, "invalid_coordinates", []),
    ("1234.5, 6789.1", 400, "invalid_coordinates", ["7"]),
    ("116.40,39.90", 400, "outside_county", ["内乡"]),
    (f"{REF_N},{REF_E + 1_000_000:.3f}", 400, "outside_county", ["带号"]),
    ("2019-411325-47-01-999999", 404, "not_found", ["项目代码"]),
    ("不存在的地块或项目", 404, "not_found", ["未找到"]),
])
def test_search_bad_input(db, client, q, status, code, words):
    r = _search(client, q)
    assert r.status_code == status, r.content
    assert r.json()["error"] == code
    for w in words:
        assert w in r.json()["detail"]


# --- Measure ---------------------------------------------------------------------------------

def _lonlat(points):
    t = Transformer.from_crs("EPSG:4546", "EPSG:4490", always_xy=True)
    return [list(t.transform(x, y)) for x, y in points]


def test_measure_matches_an_independent_pyproj_computation(db, client):
    ring = [(SEAT_X, SEAT_Y), (SEAT_X + 120, SEAT_Y), (SEAT_X + 150, SEAT_Y + 90),
            (SEAT_X, SEAT_Y + 100), (SEAT_X, SEAT_Y)]
    geom = {"type": "Polygon", "coordinates": [_lonlat(ring)]}
    r = client.post(f"{URL}measure", geom, content_type="application/json")
    assert r.status_code == 200, r.content
    body = r.json()
    back = Transformer.from_crs("EPSG:4490", "EPSG:4546", always_xy=True)
    projected = shapely.Polygon([back.transform(*p) for p in geom["coordinates"][0]])
    assert body["srid"] == 4546
    assert body["area_m2"] == pytest.approx(projected.area, abs=1e-3)
    assert body["area_m2"] == pytest.approx(shapely.Polygon(ring).area, rel=1e-6)
    assert body["area_ha"] == pytest.approx(projected.area / 10_000, abs=1e-6)
    assert body["area_mu"] == pytest.approx(projected.area / 666.6667, rel=1e-6)
    assert body["perimeter_m"] == pytest.approx(projected.length, abs=1e-3)
    line = {"type": "Feature", "geometry": {"type": "LineString",
                                            "coordinates": _lonlat(ring[:3])}}
    r = client.post(f"{URL}measure", line, content_type="application/json")
    assert r.status_code == 200
    assert r.json()["length_m"] == pytest.approx(120 + np.hypot(30, 90), abs=1e-3)
    assert len(r.json()["segments_m"]) == 2


@pytest.mark.parametrize("payload,code", [
    ({"type": "Point", "coordinates": [111.84, 33.06]}, "invalid_geometry"),
    ({"type": "LineString", "coordinates": [[111.84, 33.06]]}, "invalid_geometry"),
    ({"type": "LineString", "coordinates": [["a", 33.06], [111.85, 33.06]]},
     "invalid_geometry"),
    ({"type": "LineString", "coordinates": [[116.4, 39.9], [116.5, 39.9]]}, "outside_county"),
    ({"type": "LineString", "coordinates": [[111.84, 33.06]] * 10_001}, "too_large"),
    ({"type": "Polygon", "coordinates": [[[111.84, 33.06], [111.85, 33.07], [111.85, 33.06],
                                          [111.84, 33.07], [111.84, 33.06]]]},
     "invalid_geometry"),
    ({"type": "Polygon", "coordinates": [[[111.84, 33.06], [111.85, 33.06]]]},
     "invalid_geometry"),
    ({}, "invalid_geometry"),
])
def test_measure_bad_input(db, client, payload, code):
    r = client.post(f"{URL}measure", payload, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["error"] == code and r.json()["detail"]


def test_measure_rejects_nan(db, client):
    r = client.post(f"{URL}measure", '{"type": "LineString", "coordinates": [[NaN, 33.0], '
                    '[111.8, 33.0]]}', content_type="application/json")
    assert r.status_code == 400


# --- Boundary check --------------------------------------------------------------------------

def _counts():
    return (LayerVersion.objects.count(), Feature.objects.count(), Project.objects.count(),
            ProjectFootprint.objects.count())


def _temp_dirs():
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")}


def _upload(client, name, data, **fields):
    f = io.BytesIO(data)
    f.name = name
    return client.post(f"{URL}boundary-check", {"file": f, **fields})


def _swapped_txt() -> bytes:
    lines = SAMPLE_TXT.read_bytes().decode("gbk").splitlines()
    out = []
    for line in lines:
        parts = line.split(",")
        if len(parts) == 4 and parts[0].startswith("J"):
            parts[2], parts[3] = parts[3], parts[2]
        out.append(",".join(parts))
    return ("\r\n".join(out) + "\r\n").encode("gbk")


def test_boundary_check_sample_txt(demo, client):
    counts, temps = _counts(), _temp_dirs()
    r = _upload(client, "redline_example.txt", SAMPLE_TXT.read_bytes())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["stored"] is False and body["ok"] is True
    assert body["source_format"] == "txt" and body["crs"]["epsg"] == 4525
    assert len(body["features"]) == 1
    feature = body["features"][0]
    assert feature["properties"]["label"] == "NX-2024-001"
    # The ring, measured independently in the county CRS (the zone-37 easting less 37e6).
    ring = [(37579396.074, 3658059.919), (37579676.304, 3658062.190),
            (37579731.268, 3658195.738), (37579674.052, 3658339.466),
            (37579393.830, 3658337.195)]
    expected = shapely.Polygon([(e - 37_000_000, n) for e, n in ring]).area
    assert feature["properties"]["area_m2"] == pytest.approx(expected, abs=0.01)
    assert body["total_area_ha"] == pytest.approx(expected / 10_000, abs=1e-4)
    assert abs(body["total_area_ha"] - 8.5476) < 0.01  # the file's own figure
    geom = shapely.geometry.shape(feature["geometry"])
    assert 111.5 < geom.centroid.x < 112.1 and 32.9 < geom.centroid.y < 33.6
    # Touched parcels: the same set and overlap areas as PostGIS gives independently.
    kgdk = selectors.published_version(Layer.objects.get(code="KGDK"))
    with connection.cursor() as cur:
        cur.execute(f"SELECT id, ST_Area(ST_Transform(ST_Intersection(geom, "
                    f"ST_GeomFromText(%s, 4490)), 4546)) FROM {partition_name(kgdk.pk)} "
                    f"WHERE ST_Intersects(geom, ST_GeomFromText(%s, 4490))",
                    [geom.wkt, geom.wkt])
        expected_parcels = dict(cur.fetchall())
    got = {p["feature_id"]: p["overlap_m2"] for p in body["touches"]["parcels"]}
    assert set(got) == set(expected_parcels)
    for k, v in expected_parcels.items():
        assert got[k] == pytest.approx(v, abs=0.1)
    assert sum(got.values()) <= expected + 1
    assert all(c["category"] in ("control_line", "other_control_line")
               for c in body["touches"]["control_lines"])
    assert not {c["layer"] for c in body["touches"]["control_lines"]} & {"STBHHX"}  # hidden
    assert _counts() == counts and _temp_dirs() == temps
    rec = AuditRecord.objects.filter(event_type="blueprint.boundary_check").latest("seq")
    assert rec.object == "redline_example.txt" and rec.result == "success"
    assert rec.detail["file"] == "redline_example.txt"


def test_boundary_check_swapped_axes(db, client):
    plain = _upload(client, "a.txt", SAMPLE_TXT.read_bytes()).json()
    r = _upload(client, "swapped.txt", _swapped_txt())
    assert r.status_code == 200, r.content
    body = r.json()
    warnings = [p for p in body["problems"] if p["severity"] == "warning"]
    assert any("swapped" in p["message"] or "交换" in p["message"] for p in warnings)
    assert "X/Y 已交换" in body["crs"]["note"]
    assert body["total_area_m2"] == pytest.approx(plain["total_area_m2"], abs=1e-6)


def test_boundary_check_dxf_needs_a_crs(db, client, tmp_path):
    doc = ezdxf.new()
    x, y = SEAT_X + 37_000_000, SEAT_Y
    doc.modelspace().add_lwpolyline([(x, y), (x + 100, y), (x + 100, y + 80), (x, y + 80)],
                                    close=True, dxfattribs={"layer": "红线"})
    path = tmp_path / "redline.dxf"
    doc.saveas(path)
    counts = _counts()
    r = _upload(client, "redline.dxf", path.read_bytes())
    assert r.status_code == 400
    assert r.json()["error"] == "unknown_crs"
    assert any("DXF" in p["message"] for p in r.json()["problems"])
    r = _upload(client, "redline.dxf", path.read_bytes(), crs="4525", dxf_layer="红线")
    assert r.status_code == 200, r.content
    assert r.json()["crs"]["epsg"] == 4525
    assert r.json()["total_area_m2"] == pytest.approx(8000, abs=0.01)
    r = _upload(client, "redline.dxf", path.read_bytes(), crs="EPSG:999999")
    assert r.status_code == 400 and r.json()["error"] == "unknown_crs"
    assert _counts() == counts


def test_boundary_check_geojson_and_validation_messages(db, client):
    t = Transformer.from_crs("EPSG:4546", "EPSG:4490", always_xy=True)
    good = [list(t.transform(SEAT_X + dx, SEAT_Y + dy))
            for dx, dy in ((0, 0), (60, 0), (60, 60), (0, 60), (0, 0))]
    far = [[116.4, 39.9], [116.5, 39.9], [116.5, 40.0], [116.4, 39.9]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"DKBH": "A"},
         "geometry": {"type": "Polygon", "coordinates": [good]}},
        {"type": "Feature", "properties": {"DKBH": "B"},
         "geometry": {"type": "Polygon", "coordinates": [far]}}]}
    r = _upload(client, "b.geojson", json.dumps(fc).encode())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["ok"] is False and len(body["features"]) == 1
    assert body["features"][0]["properties"]["area_m2"] == pytest.approx(3600, abs=0.01)
    errors = [p for p in body["problems"] if p["severity"] == "error"]
    assert errors and "要素 2" in errors[0]["location"] and "内乡" in errors[0]["message"]


@pytest.mark.parametrize("name,data,code", [
    ("broken.zip", None, None),
    ("empty.txt", b"", "empty"),
    ("garbage.bin", b"\x00\x01\x02hello", None),
    ("bad.txt", "[地块坐标]\r\n5,1,X,名,面,,,,@\r\nJ1,1,abc,def\r\n".encode("gbk"), None),
    ("evil.zip", zip_bytes({"../../evil.geojson": b"{}"}), "bad_archive"),
    ("bomb.zip", zip_bytes({"big.geojson": b" " * (20 * 1024 * 1024)}), "bad_archive"),
])
def test_boundary_check_broken_files(db, client, tmp_path, name, data, code):
    if data is None:  # a zipped shapefile cut short
        import zipfile
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("p.shp", b"x" * 5000)
            z.writestr("p.dbf", b"y" * 5000)
        data = buf.getvalue()[:3000]
    counts, temps = _counts(), _temp_dirs()
    r = _upload(client, name, data)
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] and body["detail"] and body["problems"]
    assert body["stored"] is False
    if code:
        assert body["error"] == code
    assert _counts() == counts and _temp_dirs() == temps
    assert AuditRecord.objects.filter(event_type="blueprint.boundary_check",
                                      result="failure").exists()


def test_boundary_check_size_limit_and_access(db, client, settings, make_user):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    r = _upload(client, "redline_example.txt", SAMPLE_TXT.read_bytes())
    assert r.status_code == 400 and r.json()["error"] == "too_large"
    assert client.post(f"{URL}boundary-check").status_code == 400  # no file
    client.force_login(make_user(Role.AUDIT_ADMIN, "bp_auditor"))
    r = _upload(client, "redline_example.txt", SAMPLE_TXT.read_bytes())
    assert r.status_code == 403


def test_boundary_check_zipped_shapefile(db, client, make_shapefile_zip):
    counts, temps = _counts(), _temp_dirs()
    geoms = to_crs(sample_parcels(2), 4546, 4490)
    path = make_shapefile_zip(list(geoms), {"DKBH": ["S-1", "S-2"]}, 4490)
    r = _upload(client, "parcels.zip", path.read_bytes())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["source_format"] == "shp" and body["crs"]["epsg"] == 4490
    assert [f["properties"]["label"] for f in body["features"]] == ["S-1", "S-2"]
    assert body["total_area_m2"] == pytest.approx(5000, abs=0.05)
    assert _counts() == counts and _temp_dirs() == temps


def test_identify_is_one_query_per_layer(demo, client):
    from django.test.utils import CaptureQueriesContext

    _, lon, lat = _point_in("KGDK")
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(f"{URL}identify", {"lon": lon, "lat": lat})
    assert r.status_code == 200
    per_layer = [q for q in ctx.captured_queries if "layers_feature_v" in q["sql"]]
    public = Layer.objects.filter(access_level="public", versions__state="published").count()
    assert len(per_layer) == public
    assert len(ctx.captured_queries) <= public + 10
