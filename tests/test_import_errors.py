"""Every class of bad input: a clear error naming what and where, a code, and nothing written."""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from pathlib import Path

import ezdxf
import numpy as np
import pyogrio.raw
import pytest
import shapely
from django.db import connection
from shapely.geometry import LineString, Point, Polygon

from layers import crs, services
from layers.importers import writer
from layers.models import Feature, LayerVersion
from tests.conftest import (
    SAMPLE_ATTRS,
    SEAT_X,
    SEAT_Y,
    sample_parcels,
    square,
    to_crs,
    write_vector,
    zip_bytes,
)

pytestmark = pytest.mark.django_db
SAMPLE_TXT = Path(__file__).resolve().parent / "data" / "redline_example.txt"
# The sample's lines (GBK): 1 [属性描述], 2-11 keys, 12 [地块坐标], 13 parcel header, 14-19 points.
SAMPLE_LINES = SAMPLE_TXT.read_bytes().decode("gbk").splitlines()


def counts() -> tuple[int, int]:
    return LayerVersion.objects.count(), Feature.objects.count()


def rejected(layer, path: Path, code: str | None = "invalid_input",
             **kwargs) -> services.ImportRejected:
    """Import `path`, expect ImportRejected with `code`, and check nothing was written."""
    before = counts()
    with pytest.raises(services.ImportRejected) as info:
        services.import_file(layer, path, **kwargs)
    assert counts() == before
    exc = info.value
    if code is not None:
        assert exc.code == code, str(exc)
    assert exc.report.written == 0
    assert exc.report.errors, "a rejection must say why"
    return exc


def error_text(exc: services.ImportRejected) -> str:
    return "\n".join(str(p) for p in exc.report.errors)


def error_at(exc: services.ImportRejected, location_part: str, *message_parts: str,
             field: str | None = None):
    """The error located at `location_part` whose message holds every part."""
    for p in exc.report.errors:
        if p.location and location_part in p.location \
                and all(m in p.message for m in message_parts) \
                and (field is None or p.field == field):
            return p
    raise AssertionError(f"no error at {location_part!r} with {message_parts}:\n"
                         + error_text(exc))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def shapefile_parts(tmp_path: Path, geoms: list, attrs: dict, epsg: int = 4546, *,
                    encoding: str = "UTF-8", name: str = "parcels") -> dict[str, bytes]:
    folder = tmp_path / f"parts-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    write_vector(folder / f"{name}.shp", geoms, attrs, epsg, "ESRI Shapefile", encoding=encoding)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def txt(tmp_path: Path, lines: list[str], name: str = "redline.txt",
        encoding: str = "gbk") -> Path:
    return write(tmp_path, name, ("\r\n".join(lines) + "\r\n").encode(encoding))


# --------------------------------------------------------------------------------------------
# Files that are not what they claim to be
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["parcels.gpkg", "parcels.zip", "redline.txt", "upload.bin"])
def test_empty_file(polygon_layer, tmp_path, name):
    exc = rejected(polygon_layer, write(tmp_path, name, b""), code="empty")
    assert "文件为空" in error_text(exc) and "empty" in error_text(exc)


@pytest.mark.parametrize("name", ["parcels.geojson", "redline.txt", "upload.bin"])
def test_whitespace_file(polygon_layer, tmp_path, name):
    exc = rejected(polygon_layer, write(tmp_path, name, b"  \r\n\t\n   \n"), code="empty")
    assert "whitespace" in error_text(exc)


@pytest.mark.parametrize("name,data", [
    ("map.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)),
    ("data.bin", np.random.default_rng(1).bytes(3000)),
])
def test_unknown_format(polygon_layer, tmp_path, name, data):
    exc = rejected(polygon_layer, write(tmp_path, name, data), code="unsupported_format")
    text = error_text(exc)
    assert "unrecognised format" in text and name in text
    assert "GeoPackage" in text  # says what is supported


def test_random_bytes_named_txt_is_not_text(polygon_layer, tmp_path):
    data = b"\x00" + np.random.default_rng(2).bytes(3000)
    exc = rejected(polygon_layer, write(tmp_path, "redline.txt", data), code="txt_format")
    p = exc.report.errors[0]
    assert p.location == "第 1 行 (line 1)" and "not a text file" in p.message


def test_truncated_zip(polygon_layer, tmp_path):
    full = zip_bytes(shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS))
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", full[:len(full) // 2]),
                   code="bad_archive")
    assert "damaged or truncated" in error_text(exc)


def test_zip_without_data_file(polygon_layer, tmp_path):
    data = zip_bytes({"readme.md": b"# parcels\n", "photo.jpg": b"\xff\xd8\xff\xe0" + bytes(99)})
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", data), code="bad_archive")
    text = error_text(exc)
    assert "no importable file" in text
    assert "readme.md" in text and "photo.jpg" in text  # says what the archive does hold


def test_zip_with_two_shapefiles(polygon_layer, tmp_path):
    members = shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS, name="a")
    members |= shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS, name="b")
    exc = rejected(polygon_layer, write(tmp_path, "two.zip", zip_bytes(members)),
                   code="bad_archive")
    text = error_text(exc)
    assert "one shapefile per upload" in text and "a.shp" in text and "b.shp" in text


def test_zip_with_two_data_files(polygon_layer, tmp_path):
    gpkg = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    data = zip_bytes({"plan.gpkg": gpkg.read_bytes(), "redline.txt": SAMPLE_TXT.read_bytes()})
    exc = rejected(polygon_layer, write(tmp_path, "two.zip", data), code="bad_archive")
    assert "plan.gpkg" in error_text(exc) and "redline.txt" in error_text(exc)


@pytest.mark.parametrize("missing", [".dbf", ".shx"])
def test_shapefile_zip_missing_part(polygon_layer, tmp_path, missing):
    members = shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS)
    del members[f"parcels{missing}"]
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", zip_bytes(members)),
                   code="bad_archive")
    text = error_text(exc)
    assert "parcels.shp" in text and missing in text and "missing" in text


def test_zip_bomb(polygon_layer, tmp_path):
    # 300 MB of zeros deflate to ~300 KB; written in chunks so nothing big is ever in memory.
    path = tmp_path / "bomb.zip"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z, \
            z.open("parcels.shp", "w", force_zip64=True) as member:
        for _ in range(300):
            member.write(chunk)
    assert path.stat().st_size < 1_000_000
    exc = rejected(polygon_layer, path, code="bad_archive")
    text = error_text(exc)
    assert "zip bomb" in text and "parcels.shp" in text


def test_zip_over_the_uncompressed_limit(polygon_layer, tmp_path, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_BYTES = 1000
    data = zip_bytes(shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS))
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", data), code="bad_archive")
    assert "over the limit" in error_text(exc) and "1000" in error_text(exc)


def test_zip_whose_directory_lies_about_sizes(polygon_layer, tmp_path):
    # A member that inflates to more than its directory entry says (a classic bomb trick).
    data = bytearray(zip_bytes({"parcels.txt": bytes(2 << 20)}))
    true_size = (2 << 20).to_bytes(4, "little")
    for at in (22, data.rfind(b"PK\x01\x02") + 24):  # local header, central directory
        assert data[at:at + 4] == true_size
        data[at:at + 4] = (1000).to_bytes(4, "little")
    exc = rejected(polygon_layer, write(tmp_path, "lying.zip", bytes(data)), code="bad_archive")
    assert "parcels.txt" in error_text(exc)


def test_zip_with_too_many_members(polygon_layer, tmp_path, settings):
    settings.IMPORT_MAX_ZIP_MEMBERS = 5
    members = shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS)
    members |= {f"extra{i}.md": b"x" for i in range(6 - len(members))}
    assert len(members) == 6
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", zip_bytes(members)),
                   code="bad_archive")
    text = error_text(exc)
    assert "too many files" in text and "6" in text and "5" in text


@pytest.mark.parametrize("template", ["../{}", "../../{}", "/tmp/{}", "..\\{}",
                                      "sub/../../{}"])
def test_unsafe_member_names(polygon_layer, tmp_path, template):
    victim = f"evil-{uuid.uuid4().hex}.txt"
    member = template.format(victim)
    members = shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS)
    members[member] = SAMPLE_TXT.read_bytes()
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", zip_bytes(members)),
                   code="bad_archive")
    text = error_text(exc)
    assert "unsafe path" in text and member in text
    assert not list(Path(tempfile.gettempdir()).rglob(victim))
    assert not list(tmp_path.rglob(victim))


# --------------------------------------------------------------------------------------------
# Through the upload API: size limit, permissions, error shape
# --------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, make_user):
    """A plan data manager: may import."""
    client.force_login(make_user("plan_data_manager", "importadmin"))
    return client


def post_file(client, layer, path: Path, **fields):
    with open(path, "rb") as f:
        return client.post(f"/api/layers/{layer.code}/versions", {"file": f, **fields})


def test_api_upload_over_the_size_limit(polygon_layer, admin_client, tmp_path, settings):
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    assert path.stat().st_size > 1024
    before = counts()
    response = post_file(admin_client, polygon_layer, path)
    assert response.status_code == 400
    body = response.json()
    assert "file" in body["fields"] and "file too large" in body["fields"]["file"][0]
    assert "1024" in body["fields"]["file"][0]
    assert counts() == before


def test_api_rejected_import_returns_code_detail_and_report(polygon_layer, admin_client,
                                                            tmp_path):
    geoms = [Point(SEAT_X, SEAT_Y), square(SEAT_X + 100, SEAT_Y)]
    path = write_vector(tmp_path / "mixed.gpkg", geoms, {"DKBH": ["P", "Q"]}, 4546, "GPKG",
                        geometry_type="Unknown")
    before = counts()
    response = post_file(admin_client, polygon_layer, path)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input"
    assert "feature 1" in body["detail"] and "Point" in body["detail"]
    assert body["report"]["read"] == 2 and body["report"]["written"] == 0
    assert body["report"]["rejected"] == 1
    assert counts() == before
    # The same upload with allow_rejects writes the good feature.
    response = post_file(admin_client, polygon_layer, path, allow_rejects="true")
    assert response.status_code == 201
    assert response.json()["report"]["written"] == 1


def test_api_truncated_archive(polygon_layer, admin_client, tmp_path):
    full = zip_bytes(shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS))
    path = write(tmp_path, "parcels.zip", full[:len(full) // 2])
    before = counts()
    response = post_file(admin_client, polygon_layer, path)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_archive"
    assert counts() == before


@pytest.mark.parametrize("who", ["anonymous", "applicant", "reviewer", "system_admin"])
def test_api_import_needs_permission(polygon_layer, client, make_user, tmp_path, who):
    if who != "anonymous":
        client.force_login(make_user(who))
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    before = counts()
    response = post_file(client, polygon_layer, path)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert counts() == before


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------

ATTRS_ASCII_NAMES = {k: v for k, v in SAMPLE_ATTRS.items() if k.isascii()}


def test_gbk_dbf_with_a_utf8_cpg(polygon_layer, tmp_path):
    members = shapefile_parts(tmp_path, sample_parcels(), ATTRS_ASCII_NAMES, encoding="GBK")
    members["parcels.cpg"] = b"UTF-8"
    path = write(tmp_path, "parcels.zip", zip_bytes(members))
    exc = rejected(polygon_layer, path, code="encoding")
    p = exc.report.errors[0]
    # Names the encoding tried, where it came from, the place, and the probable right one.
    assert "utf-8" in p.message and ".cpg" in p.message and "gbk" in p.message
    assert p.location == "要素 1 (feature 1)" and p.field == "YDXZMC"
    # Declaring the right encoding overrides the .cpg.
    version, report = services.import_file(polygon_layer, path, encoding="gbk")
    assert report.written == 3
    assert list(Feature.objects.filter(version=version).order_by("feature_no")
                .values_list("land_use_name", flat=True)) == SAMPLE_ATTRS["YDXZMC"]


def test_gbk_column_name_with_a_utf8_cpg(polygon_layer, tmp_path):
    members = shapefile_parts(tmp_path, sample_parcels(), SAMPLE_ATTRS, encoding="GBK")
    members["parcels.cpg"] = b"UTF-8"
    exc = rejected(polygon_layer, write(tmp_path, "parcels.zip", zip_bytes(members)),
                   code="encoding")
    p = exc.report.errors[0]
    assert p.field == "备注" and "field name" in p.message and "gbk" in p.message


def test_utf8_dbf_with_a_gbk_cpg_is_not_read_as_mojibake(polygon_layer, tmp_path):
    members = shapefile_parts(tmp_path, sample_parcels(), ATTRS_ASCII_NAMES, encoding="UTF-8")
    members["parcels.cpg"] = b"936"
    path = write(tmp_path, "parcels.zip", zip_bytes(members))
    exc = rejected(polygon_layer, path, code="encoding")
    text = error_text(exc)
    assert "gbk" in text and ".cpg (936)" in text and "utf-8" in text
    version, _ = services.import_file(polygon_layer, path, encoding="utf-8")
    assert Feature.objects.filter(version=version, land_use_name="城镇住宅用地").count() == 1


def test_txt_in_utf16_without_bom(polygon_layer, tmp_path):
    path = txt(tmp_path, SAMPLE_LINES, encoding="utf-16-le")
    exc = rejected(polygon_layer, path, code="txt_format")
    p = exc.report.errors[0]
    assert "UTF-16" in p.message and p.location == "第 1 行 (line 1)"


def test_txt_in_utf16_with_bom_is_read_with_a_warning(polygon_layer, tmp_path):
    # Notepad's "Unicode" is unambiguous thanks to the BOM: accepted, but reported.
    version, report = services.import_file(polygon_layer,
                                           txt(tmp_path, SAMPLE_LINES, encoding="utf-16"))
    assert report.written == 1
    assert any("UTF-16" in p.message and p.severity == "warning" for p in report.problems)


def test_txt_with_binary_garbage_after_the_header(polygon_layer, tmp_path):
    data = "\r\n".join(SAMPLE_LINES[:13]).encode("gbk") + b"\r\n\x00\x01\x02\xff\xfe" * 4
    exc = rejected(polygon_layer, write(tmp_path, "redline.txt", data), code="txt_format")
    p = exc.report.errors[0]
    assert p.location == "第 14 行 (line 14)" and "not a text file" in p.message


# --------------------------------------------------------------------------------------------
# Geometry types, unclosed rings
# --------------------------------------------------------------------------------------------


def test_points_where_polygons_are_required(polygon_layer, tmp_path):
    geoms = [Point(SEAT_X + i, SEAT_Y) for i in range(2)]
    path = write_vector(tmp_path / "pts.gpkg", geoms, {"DKBH": ["A", "B"]}, 4546, "GPKG",
                        geometry_type="Point")
    exc = rejected(polygon_layer, path)
    for i in (1, 2):
        error_at(exc, f"feature {i}", "Point", "expected polygon")
    assert exc.report.rejected == 2


def test_lines_where_polygons_are_required(polygon_layer, tmp_path):
    line = LineString([(SEAT_X, SEAT_Y), (SEAT_X + 50, SEAT_Y), (SEAT_X + 50, SEAT_Y + 50)])
    path = write_vector(tmp_path / "lines.gpkg", [line], {"DKBH": ["L"]}, 4546, "GPKG",
                        geometry_type="LineString")
    exc = rejected(polygon_layer, path)
    error_at(exc, "feature 1", "LineString", "close the ring")


def test_mixed_geometry_types(polygon_layer, tmp_path):
    geoms = [square(SEAT_X, SEAT_Y), Point(SEAT_X, SEAT_Y),
             LineString([(SEAT_X, SEAT_Y), (SEAT_X + 9, SEAT_Y)]), square(SEAT_X + 60, SEAT_Y)]
    path = write_vector(tmp_path / "mixed.gpkg", geoms, {"DKBH": list("ABCD")}, 4546, "GPKG",
                        geometry_type="Unknown")
    exc = rejected(polygon_layer, path)
    error_at(exc, "feature 2", "Point")
    error_at(exc, "feature 3", "LineString")
    assert not any("feature 1" in (p.location or "") or "feature 4" in (p.location or "")
                   for p in exc.report.errors)
    assert (exc.report.read, exc.report.rejected) == (4, 2)


def test_polygons_where_lines_are_required(line_layer, tmp_path):
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(1), {"MC": ["x"]}, 4546, "GPKG")
    exc = rejected(line_layer, path)
    error_at(exc, "feature 1", "Polygon", "expected line")


def test_txt_parcel_of_kind_line(polygon_layer, tmp_path):
    lines = [s.replace(",面,", ",线,") for s in SAMPLE_LINES]
    exc = rejected(polygon_layer, txt(tmp_path, lines), code="txt_format")
    p = exc.report.errors[0]
    assert p.location == "第 13 行 (line 13)" and "线" in p.message


def dxf_with_open_polyline(tmp_path: Path) -> tuple[Path, str]:
    doc = ezdxf.new()
    msp = doc.modelspace()
    x, y = SEAT_X + 37_000_000, SEAT_Y
    msp.add_lwpolyline([(x, y), (x + 100, y), (x + 100, y + 80), (x, y + 80)], close=True,
                       dxfattribs={"layer": "红线"})
    open_line = msp.add_lwpolyline([(x + 200, y), (x + 300, y), (x + 300, y + 80),
                                    (x + 200, y + 80)], dxfattribs={"layer": "红线"})
    msp.add_lwpolyline([(x, y + 500), (x + 10, y + 500), (x + 10, y + 510)], close=True,
                       dxfattribs={"layer": "其他"})
    path = tmp_path / "redline.dxf"
    doc.saveas(path)
    return path, open_line.dxf.handle


def test_dxf_open_polyline_on_a_polygon_layer(polygon_layer, tmp_path):
    path, handle = dxf_with_open_polyline(tmp_path)
    exc = rejected(polygon_layer, path, declared_epsg=4525, dxf_layers=["红线"])
    error_at(exc, f"entity {handle}", "LineString", "close the ring")
    assert exc.report.rejected == 1
    assert any(handle in (p.location or "") and "not closed" in p.message
               for p in exc.report.problems if p.severity == "warning")


def test_dxf_without_declared_crs(polygon_layer, tmp_path):
    path, _ = dxf_with_open_polyline(tmp_path)
    exc = rejected(polygon_layer, path, code="unknown_crs", dxf_layers=["红线"])
    assert "DXF" in error_text(exc) and "declare" in error_text(exc)


def test_dxf_layer_that_does_not_exist(polygon_layer, tmp_path):
    path, _ = dxf_with_open_polyline(tmp_path)
    exc = rejected(polygon_layer, path, code="no_dxf_layer", declared_epsg=4525,
                   dxf_layers=["规划红线"])
    text = error_text(exc)
    assert "规划红线" in text and "红线" in text and "其他" in text


def test_geojson_polygon_with_an_unclosed_ring(polygon_layer, tmp_path):
    ring = [list(xy) for xy in to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)[0]
            .exterior.coords[:-1]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"DKBH": "OPEN"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    path = tmp_path / "open.geojson"
    path.write_text(json.dumps(fc))
    # GDAL hands the ring over unclosed; the import closes it and says so (never a crash,
    # never "missing geometry").
    version, report = services.import_file(polygon_layer, path)
    assert report.written == 1 and report.repaired == 1
    assert any(p.severity == "repaired" and "not closed" in p.message
               and p.location == "要素 1 (feature 1)" for p in report.problems)
    feat = Feature.objects.get(version=version)
    assert feat.measure == pytest.approx(2500, abs=0.5)


# --------------------------------------------------------------------------------------------
# Coordinates outside the county, with the probable cause named
# --------------------------------------------------------------------------------------------


def swap(geoms):
    return list(shapely.transform(np.asarray(geoms, dtype=object), lambda xy: xy[:, ::-1]))


def beijing():
    x, y = crs.transform_point(116.40, 39.90, 4490, 4546)
    return [square(x, y)]


@pytest.mark.parametrize("geoms,file_epsg,declared,cause", [
    # X/Y exchanged in a file declared 4525
    (lambda: swap(to_crs(sample_parcels(1), 4546, 4525)), 4525, 4525, "axes probably swapped"),
    # easting 578xxx (no zone prefix) declared as 4525
    (lambda: sample_parcels(1), 4546, 4525, "lacks the zone prefix"),
    # longitude/latitude numbers declared as projected
    (lambda: list(to_crs(sample_parcels(1), 4546, 4490)), 4490, 4546, "looks geographic"),
    # projected metres in a file that says 4490
    (lambda: sample_parcels(1), 4490, None, "projected metres declared as geographic"),
    # latitude first in a geographic file
    (lambda: swap(to_crs(sample_parcels(1), 4546, 4490)), 4490, None, "lat/lon order"),
    # latitude first and declared projected
    (lambda: swap(to_crs(sample_parcels(1), 4546, 4490)), 4490, 4546, "lat/lon order"),
    # zone-37 coordinates declared as the no-prefix CRS
    (lambda: list(to_crs(sample_parcels(1), 4546, 4525)), 4525, 4546,
     "easting carries the zone prefix"),
    # really somewhere else
    (beijing, 4546, None, "no probable cause"),
], ids=["swapped", "no-zone-prefix", "geographic-as-projected", "metres-as-geographic",
        "lat-lon", "lat-lon-declared-projected", "wrong-zone", "beijing"])
def test_outside_the_county(polygon_layer, tmp_path, geoms, file_epsg, declared, cause):
    path = write_vector(tmp_path / "far.gpkg", geoms(), {"DKBH": ["F"]}, file_epsg, "GPKG")
    exc = rejected(polygon_layer, path, declared_epsg=declared)
    p = error_at(exc, "feature 1", "不在内乡县范围内", cause)
    if cause == "lacks the zone prefix":
        assert "EPSG:4546" in p.message
    if cause == "easting carries the zone prefix":
        assert "EPSG:4525" in p.message
    if cause == "projected metres declared as geographic":
        assert "EPSG:4546" in p.message
    if cause == "lat/lon order" and declared == 4546:
        assert "declare EPSG:4490" in p.message


def test_txt_with_points_in_another_zone(polygon_layer, tmp_path):
    lines = [s.replace(",37", ",38").replace("带号=37", "带号=38") for s in SAMPLE_LINES]
    exc = rejected(polygon_layer, txt(tmp_path, lines))
    p = error_at(exc, "line 13", "不在内乡县范围内")
    assert "zone prefix 38" in p.message and "zone 37" in p.message


def test_txt_whose_zone_disagrees_with_the_prefix(polygon_layer, tmp_path):
    lines = [s.replace(",37", ",38") for s in SAMPLE_LINES]
    exc = rejected(polygon_layer, txt(tmp_path, lines), code="txt_format")
    p = exc.report.errors[0]
    assert p.location == "第 9 行 (line 9)" and "37" in p.message and "38" in p.message
    assert not p.message.startswith("第")  # the line number is in the location, once


# --------------------------------------------------------------------------------------------
# Broken coordinates and geometries
# --------------------------------------------------------------------------------------------


def test_nan_infinite_empty_and_missing_geometries(polygon_layer, tmp_path):
    x, y = SEAT_X, SEAT_Y
    geoms = [Polygon([(x, y), (np.nan, y), (x + 50, y + 50)]),
             Polygon([(x, y), (np.inf, y), (x + 50, y + 50)]),
             Polygon(), None, square(x, y)]
    path = write_vector(tmp_path / "broken.gpkg", geoms, {"DKBH": list("ABCDE")}, 4546, "GPKG")
    exc = rejected(polygon_layer, path)
    error_at(exc, "feature 1", "NaN/Inf")
    error_at(exc, "feature 2", "NaN/Inf")
    error_at(exc, "feature 3", "empty or missing geometry")
    error_at(exc, "feature 4", "empty or missing geometry")
    assert (exc.report.read, exc.report.rejected) == (5, 4)


def test_file_without_a_geometry_column(polygon_layer, tmp_path):
    path = tmp_path / "table.gpkg"
    pyogrio.raw.write(str(path), None, [np.array(["A", "B"], dtype=object)], ["DKBH"],
                      driver="GPKG", geometry_type=None)
    exc = rejected(polygon_layer, path, code="no_geometry")
    assert "no geometry" in error_text(exc)


def test_txt_with_nan_coordinate(polygon_layer, tmp_path):
    lines = list(SAMPLE_LINES)
    lines[15] = "J3,1,nan,37579731.268"
    exc = rejected(polygon_layer, txt(tmp_path, lines), code="txt_format")
    p = exc.report.errors[0]
    assert p.location == "第 16 行 (line 16)" and "NaN" in p.message


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column,bad,reason", [
    ("RJLSX", "abc", "not a valid float"),
    ("DKBH", "NX-" + "9" * 97, "too long"),
    ("PFDATE", "2023-02-30", "not a valid date"),
    ("SFQZXNR", "maybe", "not a valid bool"),
])
def test_attribute_errors_name_field_and_feature(polygon_layer, tmp_path, column, bad, reason):
    attrs = {"DKBH": ["A", "B", "C"], "RJLSX": ["1.0", "2.0", "3.0"],
             "PFDATE": ["2023-06-01"] * 3, "SFQZXNR": ["是", "否", "是"]}
    attrs[column] = [attrs[column][0], bad, attrs[column][2]]
    path = write_vector(tmp_path / "attrs.gpkg", sample_parcels(), attrs, 4546, "GPKG")
    exc = rejected(polygon_layer, path)
    p = error_at(exc, "feature 2", reason, field=column)
    assert str(p).startswith("要素 2 (feature 2): [" + column + "]")
    assert exc.report.rejected == 1 and len(exc.report.errors) == 1


# --------------------------------------------------------------------------------------------
# Choosing a layer
# --------------------------------------------------------------------------------------------


@pytest.fixture
def two_layer_gpkg(tmp_path) -> Path:
    path = tmp_path / "two.gpkg"
    for name in ("地块", "道路"):
        pyogrio.raw.write(str(path), shapely.to_wkb(np.asarray(sample_parcels(), dtype=object)),
                          [np.array(["A", "B", "C"], dtype=object)], ["DKBH"], driver="GPKG",
                          layer=name, geometry_type="Polygon", crs="EPSG:4546")
    return path


def test_geopackage_with_several_layers_and_none_chosen(polygon_layer, two_layer_gpkg):
    exc = rejected(polygon_layer, two_layer_gpkg, code="ambiguous_layer")
    assert "地块" in error_text(exc) and "道路" in error_text(exc)
    version, report = services.import_file(polygon_layer, two_layer_gpkg, source_layer="地块")
    assert report.written == 3


def test_geopackage_layer_that_does_not_exist(polygon_layer, two_layer_gpkg):
    exc = rejected(polygon_layer, two_layer_gpkg, code="no_layer", source_layer="绿地")
    text = error_text(exc)
    assert "绿地" in text and "地块" in text and "道路" in text


# --------------------------------------------------------------------------------------------
# TXT parser errors come through with their line numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit,line,reason", [
    (lambda ls: ls[:14] + ["J2,1,3658062.190,abc"] + ls[15:], 15, "is not a number"),
    (lambda ls: ls[:12] + ["J0,1,3658059.919,37579396.074"] + ls[12:], 13,
     "point line before any parcel header"),
    (lambda ls: ls[:13] + ["J1,1,3658059.919,37579396.074", "J2,1,3658062.190,37579676.304",
                           "J1,1,3658059.919,37579396.074"], 14, "at least 3 needed"),
    (lambda ls: ls[:12] + ["6,8.5476,NX-2024-001,示例地块,面,,,"] + ls[13:], 13,
     "lacks the final @"),
    (lambda ls: ls[:14] + ["J2,x,3658062.190,37579676.304"] + ls[15:], 15,
     "not a positive integer"),
], ids=["non-numeric", "point-before-header", "short-ring", "header-without-@", "bad-ring-no"])
def test_txt_parser_errors_carry_line_numbers(polygon_layer, tmp_path, edit, line, reason):
    exc = rejected(polygon_layer, txt(tmp_path, edit(list(SAMPLE_LINES))), code="txt_format")
    error_at(exc, f"(line {line})", reason)


# --------------------------------------------------------------------------------------------
# allow_rejects, and writing failures
# --------------------------------------------------------------------------------------------


def partly_bad_gpkg(tmp_path: Path) -> Path:
    geoms = [*sample_parcels(3), Point(SEAT_X, SEAT_Y), square(SEAT_X + 300, SEAT_Y),
             square(SEAT_X - 37_000_000, SEAT_Y)]
    attrs = {"DKBH": ["A", "B", "C", "D", "E", "F"],
             "RJLSX": ["1.5", "2", "2.5", "1", "abc", "1"]}
    return write_vector(tmp_path / "partly.gpkg", geoms, attrs, 4546, "GPKG",
                        geometry_type="Unknown")


def test_default_rejects_the_whole_file(polygon_layer, tmp_path):
    exc = rejected(polygon_layer, partly_bad_gpkg(tmp_path))
    assert (exc.report.read, exc.report.written, exc.report.rejected) == (6, 0, 3)
    error_at(exc, "feature 4", "Point")
    error_at(exc, "feature 5", "not a valid float", field="RJLSX")
    error_at(exc, "feature 6", "不在内乡县范围内")


def test_allow_rejects_writes_the_valid_rest(polygon_layer, tmp_path):
    version, report = services.import_file(polygon_layer, partly_bad_gpkg(tmp_path),
                                           allow_rejects=True)
    assert (report.read, report.written, report.rejected) == (6, 3, 3)
    assert version.feature_count == 3
    assert sorted(Feature.objects.filter(version=version).values_list("parcel_no", flat=True)) \
        == ["A", "B", "C"]
    reasons = {p.location: p.message for p in report.errors}
    assert "Point" in reasons["要素 4 (feature 4)"]
    assert "abc" in reasons["要素 5 (feature 5)"]
    assert "不在内乡县范围内" in reasons["要素 6 (feature 6)"]
    assert version.import_report["rejected"] == 3  # kept with the version


def test_allow_rejects_with_nothing_valid_writes_nothing(polygon_layer, tmp_path):
    path = write_vector(tmp_path / "pts.gpkg", [Point(SEAT_X, SEAT_Y)], {"DKBH": ["A"]}, 4546,
                        "GPKG", geometry_type="Point")
    exc = rejected(polygon_layer, path, allow_rejects=True)
    assert exc.report.rejected == 1


def test_failure_while_writing_rolls_back(polygon_layer, tmp_path, monkeypatch):
    real = writer.PartitionWriter.write
    seen: list[int] = []

    def write_then_fail(self, **kwargs):
        real(self, **kwargs)  # the rows really go into the COPY stream first
        seen.append(self.version.pk)
        raise OSError("disk full")

    monkeypatch.setattr(writer.PartitionWriter, "write", write_then_fail)
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    before = counts()
    with pytest.raises(OSError, match="disk full"):
        services.import_file(polygon_layer, path, publish=True)
    assert seen and counts() == before
    with connection.cursor() as cur:  # no orphan partition either
        cur.execute("select to_regclass(%s)", [writer.partition_name(seen[0])])
        assert cur.fetchone()[0] is None
    monkeypatch.undo()
    version, _ = services.import_file(polygon_layer, path)
    assert version.number == 1  # no gap left by the failed attempt


def test_failure_after_writing_rolls_back(polygon_layer, tmp_path, monkeypatch):
    # Publishing is the last step of the import transaction: failing there undoes it all.
    def fail(version):
        assert Feature.objects.filter(version=version).count() == 3
        raise RuntimeError("publish failed")

    monkeypatch.setattr(services, "publish_version", fail)
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    before = counts()
    with pytest.raises(RuntimeError, match="publish failed"):
        services.import_file(polygon_layer, path, publish=True)
    assert counts() == before


def test_failure_creating_the_version_rolls_back(polygon_layer, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("insert failed")

    monkeypatch.setattr(LayerVersion.objects, "create", fail)
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    before = counts()
    with pytest.raises(RuntimeError, match="insert failed"):
        services.import_file(polygon_layer, path)
    assert counts() == before
