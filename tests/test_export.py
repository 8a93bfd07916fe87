"""export_layer round trips: what goes out comes back in unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.core.management.base import CommandError

from layers import services
from layers.models import Feature
from tests.conftest import SAMPLE_ATTRS, SEAT_X, SEAT_Y, sample_parcels, write_vector

pytestmark = pytest.mark.django_db
INDICATORS = ["parcel_no", "land_use_code", "land_use_name", "far_max", "far_min",
              "density_max", "green_min", "height_max", "approval_date"]


def holed_parcels() -> list:
    outer = shapely.Polygon([(SEAT_X, SEAT_Y), (SEAT_X + 120, SEAT_Y),
                             (SEAT_X + 120, SEAT_Y + 90), (SEAT_X, SEAT_Y + 90)],
                            [[(SEAT_X + 30, SEAT_Y + 30), (SEAT_X + 60, SEAT_Y + 30),
                              (SEAT_X + 60, SEAT_Y + 60), (SEAT_X + 30, SEAT_Y + 60)]])
    multi = shapely.MultiPolygon([
        shapely.box(SEAT_X + 200, SEAT_Y, SEAT_X + 250, SEAT_Y + 50),
        shapely.box(SEAT_X + 300, SEAT_Y, SEAT_X + 350, SEAT_Y + 50)])
    return [*sample_parcels(), outer, multi]


def published_with(layer, tmp_path):
    attrs = {k: [*v, v[0], v[1]] for k, v in SAMPLE_ATTRS.items()}
    attrs["DKBH"] = ["P1", "P2", "P3", "P4", "P5"]
    path = write_vector(tmp_path / "in.gpkg", holed_parcels(), attrs, 4546, "GPKG",
                        geometry_type="Unknown")
    version, _ = services.import_file(layer, path, publish=True)
    return version


def features(version):
    rows = list(Feature.objects.filter(version=version).order_by("feature_no")
                .values("geom", "measure", *INDICATORS))
    return rows, np.array([shapely.from_wkb(bytes(r["geom"].wkb)) for r in rows])


@pytest.mark.parametrize("fmt,tol", [("gpkg", 1e-12), ("geojson", 1e-7)])
def test_round_trip_keeps_geometry_and_indicators(polygon_layer, tmp_path, fmt, tol):
    original = published_with(polygon_layer, tmp_path)
    out = tmp_path / f"out.{fmt}"
    call_command("export_layer", "TESTKG", str(out), verbosity=0)
    again, report = services.import_file(polygon_layer, out)
    assert report.written == 5 and report.repaired == 0
    rows_a, geoms_a = features(original)
    rows_b, geoms_b = features(again)
    for a, b in zip(rows_a, rows_b, strict=True):
        assert {k: a[k] for k in INDICATORS} == {k: b[k] for k in INDICATORS}
        assert b["measure"] == pytest.approx(a["measure"], rel=1e-6)
    assert shapely.equals_exact(geoms_a, geoms_b, tolerance=tol).all()


def test_txt_round_trip_in_zone_37(polygon_layer, tmp_path):
    original = published_with(polygon_layer, tmp_path)
    out = tmp_path / "out.txt"
    call_command("export_layer", "TESTKG", str(out), verbosity=0)
    text = out.read_bytes().decode("gbk")
    assert "[地块坐标]" in text and "带号=37" in text
    again, report = services.import_file(polygon_layer, out)
    assert report.written == 5 and report.source_epsg == 4525
    rows_a, geoms_a = features(original)
    rows_b, geoms_b = features(again)
    assert [r["parcel_no"] for r in rows_b] == ["P1", "P2", "P3", "P4", "P5"]
    # TXT keeps millimetres: compare in metres through the stored areas and a 1e-8° match.
    for a, b in zip(rows_a, rows_b, strict=True):
        assert b["measure"] == pytest.approx(a["measure"], abs=0.01)
    assert shapely.equals_exact(shapely.normalize(geoms_a), shapely.normalize(geoms_b),
                                tolerance=1e-7).all()
    assert len(geoms_b[3].geoms[0].interiors) == 1 and len(geoms_b[4].geoms) == 2


def test_export_errors_are_clear(polygon_layer, tmp_path):
    with pytest.raises(CommandError, match="没有可导出的版本"):
        call_command("export_layer", "TESTKG", str(tmp_path / "x.gpkg"))
    with pytest.raises(CommandError, match="不存在"):
        call_command("export_layer", "NOPE", str(tmp_path / "x.gpkg"))
    published_with(polygon_layer, tmp_path)
    with pytest.raises(CommandError, match="format"):
        call_command("export_layer", "TESTKG", str(tmp_path / "x.bin"))
