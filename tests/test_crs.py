"""The CRS registry against the reference values of DOMAIN.md."""

import pytest
from pyproj import CRS

from layers import crs


def test_reference_point_4490_to_4525():
    e, n = crs.transform_point(111.84, 33.06, 4490, 4525)
    assert e == pytest.approx(37_578_448.671, abs=0.001)
    assert n == pytest.approx(3_659_716.061, abs=0.001)


def test_reference_point_round_trip_and_cm_variant():
    e, n = crs.transform_point(111.84, 33.06, 4490, 4546)
    # Same projection without the zone prefix.
    assert e == pytest.approx(578_448.671, abs=0.001)
    assert n == pytest.approx(3_659_716.061, abs=0.001)
    lon, lat = crs.transform_point(37_578_448.671, 3_659_716.061, 4525, 4490)
    assert (lon, lat) == (pytest.approx(111.84, abs=1e-8), pytest.approx(33.06, abs=1e-8))


@pytest.mark.parametrize("epsg,fragment", [
    (4490, "China Geodetic Coordinate System 2000"),
    (4525, "CGCS2000 / 3-degree Gauss-Kruger zone 37"),
    (4546, "CGCS2000 / 3-degree Gauss-Kruger CM 111E"),
    (2361, "Xian 1980 / 3-degree Gauss-Kruger zone 37"),
    (2382, "Xian 1980 / 3-degree Gauss-Kruger CM 111E"),
    (2413, "Beijing 1954 / 3-degree Gauss-Kruger zone 37"),
    (2434, "Beijing 1954 / 3-degree Gauss-Kruger CM 111E"),
    (4326, "WGS 84"),
    (3857, "Pseudo-Mercator"),
])
def test_registry_codes_are_what_they_claim(epsg, fragment):
    assert fragment in CRS.from_epsg(epsg).name
    info = crs.info(epsg)
    assert info.epsg == epsg
    assert info.urn == f"urn:ogc:def:crs:EPSG::{epsg}"


def test_codes_often_confused_are_not_in_the_registry():
    for wrong in (4544, 4526, 4538):
        assert not crs.is_supported(wrong)
        with pytest.raises(crs.UnknownCrs):
            crs.info(wrong)


def test_axis_order_facts():
    assert crs.info(4490).epsg_axis_lat_first
    assert crs.info(4326).epsg_axis_lat_first
    assert not crs.info(3857).epsg_axis_lat_first
    assert crs.info(4525).zone_prefixed and not crs.info(4546).zone_prefixed


def test_esri_prj_without_authority_is_recognised():
    wkt = CRS.from_epsg(4525).to_wkt(version="WKT1_ESRI")
    assert crs.epsg_from_wkt(wkt) == 4525
    assert crs.epsg_from_wkt("not a crs") is None


@pytest.mark.parametrize("src,dst", [(4490, 4546), (4546, 4490), (4525, 3857),
                                     (4326, 4525), (4546, 4525)])
def test_gauss_kruger_transforms_use_proj_auto_algorithm_within_a_tenth_of_a_millimetre(
        src, dst):
    import numpy as np
    from pyproj import Transformer

    fast = crs.transformer(src, dst)
    assert "algo=auto" in fast.definition
    exact = Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)
    assert "algo=" not in exact.definition
    # The county and a margin of a degree around it, in the source CRS.
    lon, lat = np.meshgrid(np.linspace(110.8, 112.9, 60), np.linspace(32.4, 33.8, 60))
    xs, ys = crs.transformer(4490, src).transform(lon.ravel(), lat.ravel())
    fx, fy = fast.transform(xs, ys)
    ex, ey = exact.transform(xs, ys)
    unit = 1 / 111_000 if crs.info(dst).geographic else 1.0  # metres, in degrees
    assert np.abs(fx - ex).max() < 1e-4 * unit and np.abs(fy - ey).max() < 1e-4 * unit


def test_transforms_without_gauss_kruger_steps_are_left_as_pyproj_chose_them():
    from pyproj import Transformer

    for src, dst in ((4490, 3857), (4490, 4326), (3857, 4326)):
        chosen = Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)
        assert crs.transformer(src, dst).definition == chosen.definition


@pytest.mark.parametrize("src,dst,bounds", [
    (4490, 4546, (111.7, 32.9, 112.0, 33.2)),
    (4546, 4490, (565_000.0, 3_641_000.0, 594_000.0, 3_676_000.0)),
    (4525, 3857, (37_565_000.0, 3_641_000.0, 37_594_000.0, 3_676_000.0)),
])
def test_registry_transformers_know_their_crs_for_bounds(src, dst, bounds):
    """The fast Gauss-Kruger pipelines are built from text, which carries no source CRS;
    the registry's transformer still transforms bounds (densified edges) like pyproj's."""
    from pyproj import Transformer

    exact = Transformer.from_crs(CRS.from_epsg(src), CRS.from_epsg(dst), always_xy=True)
    got = crs.transformer(src, dst).transform_bounds(*bounds)
    assert got == pytest.approx(exact.transform_bounds(*bounds), abs=1e-3)
    # Densified: the exact corners alone would give a smaller box in a rotated grid.
    corners = exact.transform([bounds[0], bounds[2]], [bounds[1], bounds[3]])
    assert got[0] <= min(corners[0]) and got[2] >= max(corners[0])
