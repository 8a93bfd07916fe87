"""Every importer format into real PostGIS, with areas checked independently."""

from __future__ import annotations

import json
from pathlib import Path

import ezdxf
import numpy as np
import pytest
import shapely
from django.db import connection
from shapely.geometry import Polygon

from layers import crs, services
from layers.models import Feature, LayerVersion
from tests.conftest import (
    SAMPLE_ATTRS,
    SEAT_X,
    SEAT_Y,
    sample_parcels,
    square,
    to_crs,
    write_vector,
)

pytestmark = pytest.mark.django_db
# A real-format sample (GBK, CRLF), copied from shared/samples/.
SAMPLE_TXT = Path(__file__).resolve().parent / "data" / "redline_example.txt"


def stored_areas(version: LayerVersion) -> list[float]:
    """Area computed by PostGIS from the stored 4490 geometry, in the county CRS."""
    with connection.cursor() as cur:
        cur.execute("select ST_Area(ST_Transform(geom, 4546)) from layers_feature "
                    "where version_id = %s order by feature_no", [version.pk])
        return [r[0] for r in cur.fetchall()]


def test_geopackage_in_county_crs(polygon_layer, tmp_path):
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    version, report = services.import_file(polygon_layer, path, imported_by="planner")
    assert (report.read, report.written, report.rejected, report.repaired) == (3, 3, 0, 0)
    assert report.source_epsg == 4546
    assert version.number == 1 and version.state == "draft"
    assert version.source_sha256 and version.source_format == "gpkg"
    feats = list(Feature.objects.filter(version=version).order_by("feature_no"))
    assert [f.parcel_no for f in feats] == SAMPLE_ATTRS["DKBH"]
    assert feats[0].land_use_code == "0701" and feats[0].far_max == 2.5
    assert feats[0].approval_date.isoformat() == "2023-06-01"
    assert feats[2].approval_date.isoformat() == "2023-06-01"
    assert feats[0].attributes == {"备注": "一"}
    assert feats[0].geom.srid == 4490 and feats[0].geom_3857.srid == 3857
    assert feats[0].geom.geom_type == "MultiPolygon"
    # 50 m squares: 2500 m² whichever way it is computed.
    for f, area in zip(feats, stored_areas(version), strict=True):
        assert f.measure == pytest.approx(2500, abs=0.01)
        assert area == pytest.approx(2500, abs=0.01)


def test_second_import_is_a_new_version_and_publish_retires_the_old(polygon_layer, tmp_path):
    path = write_vector(tmp_path / "plan.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    v1, _ = services.import_file(polygon_layer, path, publish=True)
    v2, _ = services.import_file(polygon_layer, path)
    assert (v1.number, v2.number) == (1, 2)
    services.publish_version(v2)
    v1.refresh_from_db()
    assert v1.state == "retired" and v2.state == "published"
    assert LayerVersion.objects.filter(layer=polygon_layer, state="published").count() == 1


@pytest.mark.parametrize("encoding,cpg", [("UTF-8", True), ("GBK", True), ("GBK", False)])
def test_shapefile_zip_encodings(polygon_layer, make_shapefile_zip, encoding, cpg):
    geoms = to_crs(sample_parcels(), 4546, 4525)
    archive = make_shapefile_zip(list(geoms), SAMPLE_ATTRS, 4525, encoding=encoding, cpg=cpg)
    version, report = services.import_file(polygon_layer, archive)
    assert report.written == 3
    names = list(Feature.objects.filter(version=version).order_by("feature_no")
                 .values_list("land_use_name", flat=True))
    assert names == SAMPLE_ATTRS["YDXZMC"]
    assert report.source_epsg == 4525


def test_geojson(polygon_layer, tmp_path):
    geoms = to_crs(sample_parcels(), 4546, 4490)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g),
         "properties": {"DKBH": f"G-{i}", "YDXZDM": "0901", "RJLSX": "2.0"}}
        for i, g in enumerate(geoms)]}
    path = tmp_path / "parcels.geojson"
    path.write_text(json.dumps(fc))
    version, report = services.import_file(polygon_layer, path)
    assert report.written == 3 and report.source_epsg == 4326 or report.source_epsg == 4490
    assert Feature.objects.filter(version=version, far_max=2.0).count() == 3


def test_dxf_polylines_and_hatch_with_hole(polygon_layer, tmp_path):
    doc = ezdxf.new()
    msp = doc.modelspace()
    x, y = SEAT_X + 37_000_000, SEAT_Y
    msp.add_lwpolyline([(x, y), (x + 100, y), (x + 100, y + 80), (x, y + 80)], close=True,
                       dxfattribs={"layer": "红线"})
    msp.add_text("NX-DXF-01", dxfattribs={"layer": "注记", "insert": (x + 10, y + 10)})
    hatch = msp.add_hatch(dxfattribs={"layer": "红线"})
    hx = x + 200
    hatch.paths.add_polyline_path([(hx, y), (hx + 100, y), (hx + 100, y + 100), (hx, y + 100)],
                                  is_closed=True)
    hatch.paths.add_polyline_path([(hx + 40, y + 40), (hx + 60, y + 40), (hx + 60, y + 60),
                                   (hx + 40, y + 60)], is_closed=True)
    msp.add_lwpolyline([(x, y + 500), (x + 10, y + 500), (x + 10, y + 510)], close=True,
                       dxfattribs={"layer": "其他"})
    path = tmp_path / "redline.dxf"
    doc.saveas(path)
    version, report = services.import_file(polygon_layer, path, declared_epsg=4525,
                                           dxf_layers=["红线"])
    assert report.written == 2
    feats = list(Feature.objects.filter(version=version).order_by("feature_no"))
    assert feats[0].name == "NX-DXF-01"
    assert feats[0].measure == pytest.approx(8000, abs=0.01)
    assert feats[1].measure == pytest.approx(10000 - 400, abs=0.01)
    assert feats[1].attributes["DXF_LAYER"] == "红线"


def test_boundary_txt_sample(polygon_layer):
    version, report = services.import_file(polygon_layer, SAMPLE_TXT)
    assert report.written == 1 and report.source_epsg == 4525
    feat = Feature.objects.get(version=version)
    assert feat.parcel_no == "NX-2024-001"
    # Independent area: shapely on the file's own coordinates (4525 is metric).
    ring = [(37579396.074, 3658059.919), (37579676.304, 3658062.190),
            (37579731.268, 3658195.738), (37579674.052, 3658339.466),
            (37579393.830, 3658337.195)]
    expected = Polygon(ring).area
    assert feat.measure == pytest.approx(expected, rel=1e-4)  # CM 111E vs zone 37: same grid
    assert feat.land_area_ha == pytest.approx(8.5476)


def test_txt_with_swapped_axes_is_accepted_with_a_warning(polygon_layer, tmp_path):
    lines = SAMPLE_TXT.read_bytes().decode("gbk").splitlines()
    swapped = []
    for line in lines:
        parts = line.split(",")
        if len(parts) == 4 and parts[0].startswith("J"):
            parts[2], parts[3] = parts[3], parts[2]
        swapped.append(",".join(parts))
    path = tmp_path / "swapped.txt"
    path.write_bytes("\r\n".join(swapped).encode("gbk"))
    version, report = services.import_file(polygon_layer, path)
    assert report.written == 1
    assert any(p.severity == "warning" for p in report.problems)
    sample_version, _ = services.import_file(polygon_layer, SAMPLE_TXT)
    assert Feature.objects.get(version=version).measure == pytest.approx(
        Feature.objects.get(version=sample_version).measure, abs=0.01)


def test_repair_is_reported_per_feature(polygon_layer, tmp_path):
    bowtie = Polygon([(SEAT_X, SEAT_Y), (SEAT_X + 50, SEAT_Y + 50), (SEAT_X + 50, SEAT_Y),
                      (SEAT_X, SEAT_Y + 50)])
    geoms = [square(SEAT_X + 100, SEAT_Y), bowtie]
    path = write_vector(tmp_path / "bad.gpkg", geoms, {"DKBH": ["A", "B"]}, 4546, "GPKG",
                        geometry_type="Unknown")
    version, report = services.import_file(polygon_layer, path)
    assert report.repaired == 1 and report.written == 2
    repaired = [p for p in report.problems if p.severity == "repaired"]
    assert len(repaired) == 1 and "feature 2" in repaired[0].location
    assert "Self-intersection" in repaired[0].message
    assert Feature.objects.get(version=version, parcel_no="B").geom.valid


def test_orientation_and_repeated_points_are_normalised(polygon_layer, tmp_path):
    cw = Polygon([(SEAT_X, SEAT_Y), (SEAT_X, SEAT_Y + 50), (SEAT_X, SEAT_Y + 50),
                  (SEAT_X + 50, SEAT_Y + 50), (SEAT_X + 50, SEAT_Y)])
    path = write_vector(tmp_path / "cw.gpkg", [cw], {"DKBH": ["CW"]}, 4546, "GPKG")
    version, _ = services.import_file(polygon_layer, path)
    g = shapely.from_wkb(bytes(Feature.objects.get(version=version).geom.wkb))
    ring = g.geoms[0].exterior
    assert ring.is_ccw
    assert len(ring.coords) == 5  # the duplicated vertex is gone


def test_slivers_and_spikes_are_flagged(polygon_layer, tmp_path):
    sliver = Polygon([(SEAT_X, SEAT_Y), (SEAT_X + 200, SEAT_Y), (SEAT_X + 200, SEAT_Y + 0.5),
                      (SEAT_X, SEAT_Y + 0.5)])
    spike = Polygon([(SEAT_X, SEAT_Y + 100), (SEAT_X + 50, SEAT_Y + 100),
                     (SEAT_X + 50, SEAT_Y + 150), (SEAT_X + 25, SEAT_Y + 150),
                     (SEAT_X + 25.05, SEAT_Y + 400), (SEAT_X + 24.95, SEAT_Y + 150),
                     (SEAT_X, SEAT_Y + 150)])
    path = write_vector(tmp_path / "odd.gpkg", [sliver, spike], {"DKBH": ["S", "P"]}, 4546,
                        "GPKG")
    _, report = services.import_file(polygon_layer, path)
    warnings = [p for p in report.problems if p.severity == "warning"]
    assert any("碎片" in p.message and "feature 1" in p.location for p in warnings)
    assert any("尖刺" in p.message and "feature 2" in p.location for p in warnings)


def test_lines_layer_measures_length(line_layer, tmp_path):
    line = shapely.LineString([(SEAT_X, SEAT_Y), (SEAT_X + 300, SEAT_Y + 400)])
    path = write_vector(tmp_path / "roads.gpkg", [line], {"MC": ["人民路"]}, 4546, "GPKG",
                        geometry_type="LineString")
    version, _ = services.import_file(line_layer, path)
    f = Feature.objects.get(version=version)
    assert f.name == "人民路" and f.measure == pytest.approx(500, abs=0.001)
    assert f.geom.geom_type == "MultiLineString"


def test_measure_matches_independent_pyproj_computation(polygon_layer, tmp_path):
    rng = np.random.default_rng(7)
    geoms = [shapely.Point(SEAT_X + rng.uniform(0, 5000), SEAT_Y + rng.uniform(0, 5000))
             .buffer(rng.uniform(20, 80), quad_segs=8) for _ in range(20)]
    lonlat = to_crs(geoms, 4546, 4490)
    path = write_vector(tmp_path / "round.gpkg", list(lonlat), {"DKBH": [str(i) for i in
                                                                         range(20)]},
                        4490, "GPKG")
    version, _ = services.import_file(polygon_layer, path)
    measures = list(Feature.objects.filter(version=version).order_by("feature_no")
                    .values_list("measure", flat=True))
    expected = shapely.area(to_crs(list(lonlat), 4490, crs.CGCS2000_GK_CM111))
    np.testing.assert_allclose(measures, expected, rtol=1e-9)


def test_dxf_polylines_on_a_line_layer_stay_lines(line_layer, tmp_path):
    doc = ezdxf.new()
    msp = doc.modelspace()
    x, y = SEAT_X, SEAT_Y
    msp.add_lwpolyline([(x, y), (x + 300, y), (x + 300, y + 400)], dxfattribs={"layer": "道路"})
    msp.add_lwpolyline([(x, y + 1000), (x + 100, y + 1000), (x + 100, y + 1100)], close=True,
                       dxfattribs={"layer": "道路"})
    path = tmp_path / "roads.dxf"
    doc.saveas(path)
    version, report = services.import_file(line_layer, path, declared_epsg=4546)
    assert report.written == 2 and not [p for p in report.problems if p.severity != "repaired"]
    lengths = list(Feature.objects.filter(version=version).order_by("feature_no")
                   .values_list("measure", flat=True))
    assert lengths == [pytest.approx(700), pytest.approx(100 + 100 + 100 * 2 ** 0.5)]
