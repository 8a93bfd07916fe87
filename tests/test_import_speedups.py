"""The import's fast paths give the same results as the plain ones.

Attribute values are converted once per distinct value (memoised), the other attributes are
encoded as JSON fragments per distinct value: each must stay exactly what a value-by-value
conversion gives, errors included (every feature with a bad value is still named).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import shapely
from django.db import connection

from layers import services
from layers.importers.attributes import convert_attributes, plan_attributes
from layers.importers.base import FeatureBatch
from layers.models import Feature
from tests.conftest import SEAT_X, SEAT_Y, square, to_crs


def batch_of(columns: dict[str, list]) -> FeatureBatch:
    n = len(next(iter(columns.values())))
    return FeatureBatch(geometries=np.full(n, None, dtype=object),
                        columns={k: np.asarray(v, dtype=object) for k, v in columns.items()},
                        epsg=4490, source_format="test")


def test_repeated_bad_values_are_reported_for_every_feature():
    batch = batch_of({"PFDATE": ["2021-12-01", "昨天", "2021-12-01", "昨天", None],
                      "SFQZXNR": ["是", "也许", "否", "也许", "是"]})
    plan = plan_attributes(batch)
    typed, _, problems = convert_attributes(batch, np.arange(5), plan)
    assert typed["approval_date"] == [dt.date(2021, 12, 1), None, dt.date(2021, 12, 1), None,
                                      None]
    assert typed["mandatory"] == [True, None, False, None, True]
    bad = sorted((p.field, p.location) for p in problems if p.severity == "error")
    assert bad == [("PFDATE", "要素 2 (feature 2)"), ("PFDATE", "要素 4 (feature 4)"),
                   ("SFQZXNR", "要素 2 (feature 2)"), ("SFQZXNR", "要素 4 (feature 4)")]


def test_equal_values_of_different_types_convert_by_their_own_type():
    # 1, 1.0 and True are equal dict keys; as text they must still read "1", "1", "True".
    batch = batch_of({"DKBH": [1, 1.0, True, "1", 1.5]})
    typed, _, problems = convert_attributes(batch, np.arange(5), plan_attributes(batch))
    assert typed["parcel_no"] == ["1", "1", "True", "1", "1.5"]
    assert not problems


def test_too_long_values_are_cut_and_reported_each_time():
    long = "地" * 70
    batch = batch_of({"DKBH": [long, 7, long]})
    typed, _, problems = convert_attributes(batch, np.arange(3), plan_attributes(batch))
    assert typed["parcel_no"] == [long[:64], "7", long[:64]]
    assert [p.location for p in problems] == ["要素 1 (feature 1)", "要素 3 (feature 3)"]


def test_text_read_as_arrow_strings_is_trimmed_and_cut_as_str_would_be():
    # The OGR reader's text columns are pyarrow strings, converted in Arrow, not per value:
    # the outcome must be what str.strip() and len() give, on the rows asked for only.
    import pyarrow as pa

    spaces = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000"
    values = [f"{spaces}地块 A{spaces}", None, "", "  " + "号" * 70, "\u200bB\u200b", "C"]
    batch = FeatureBatch(geometries=np.full(len(values), None, dtype=object),
                         columns={"DKBH": pa.array(values)}, epsg=4490, source_format="test")
    rows = np.array([0, 1, 2, 3, 4])  # the last row was rejected by validation
    typed, _, problems = convert_attributes(batch, rows, plan_attributes(batch))
    expected = ["" if v is None else v.strip() for v in values[:5]]
    expected[3] = expected[3][:64]
    assert typed["parcel_no"] == expected  # U+200B is no whitespace to str.strip() either
    assert [(p.location, p.message) for p in problems] == [
        ("要素 4 (feature 4)", "长度 70 超过 64 (too long)")]


def test_other_attributes_are_json_objects_without_empty_values():
    batch = batch_of({"DKBH": ["A", "B", "C", "D"],
                      "GHDY": ["A单元", "", "A单元", None],
                      "备注": ['含"引号"\\与\t制表', None, "A单元", float("nan")],
                      "BH2": [np.int64(3), np.float64(2.5), dt.date(2024, 6, 1), b"\x01"]})
    rows = np.array([0, 1, 3])  # row 2 was rejected by validation
    _, extras, _ = convert_attributes(batch, rows, plan_attributes(batch))
    assert [json.loads(e) for e in extras] == [
        {"GHDY": "A单元", "备注": '含"引号"\\与\t制表', "BH2": 3},
        {"BH2": 2.5},
        {"BH2": "01"},
    ]
    assert "A单元" in extras[0]  # not \\u-escaped: jsonb keeps the text as is


@pytest.mark.django_db
def test_imported_rows_carry_exact_values(polygon_layer):
    geoms = to_crs([square(SEAT_X + 200 * i, SEAT_Y) for i in range(3)], 4546, 4490)
    batch = FeatureBatch(geometries=np.asarray(geoms, dtype=object), columns={
        "DKBH": np.asarray(["K-1", "K\t2", "K\\3"], dtype=object),
        "RJLSX": np.asarray([1.1, np.nan, 0.1 + 0.2]),
        "PFDATE": np.asarray(["2021-12-01", "2021/12/01", None], dtype=object),
        "GHDY": np.asarray(["A单元", "", "B\n单元"], dtype=object)},
        epsg=4490, source_format="test")
    version, report = services.import_batch(polygon_layer, batch, source_name="t")
    assert report.written == 3
    rows = list(Feature.objects.filter(version=version).order_by("feature_no").values_list(
        "parcel_no", "far_max", "approval_date", "attributes"))
    assert rows == [("K-1", 1.1, dt.date(2021, 12, 1), {"GHDY": "A单元"}),
                    ("K\t2", None, dt.date(2021, 12, 1), {}),
                    ("K\\3", 0.1 + 0.2, None, {"GHDY": "B\n单元"})]
    with connection.cursor() as cur:
        cur.execute("SELECT ST_AsBinary(geom_3857) FROM layers_feature WHERE version_id = %s "
                    "ORDER BY feature_no", [version.pk])
        stored = shapely.from_wkb([bytes(r[0]) for r in cur.fetchall()])
    expected = to_crs(geoms, 4490, 3857)
    assert all(shapely.hausdorff_distance(a, b) < 1e-6
               for a, b in zip(stored, expected, strict=True))


def test_a_version_has_planner_statistics_once_published(polygon_layer):
    # The import leaves statistics to autovacuum; publishing sooner gathers them at once.
    from layers.importers.writer import partition_name

    geoms = to_crs([square(SEAT_X + 200 * i, SEAT_Y) for i in range(4)], 4546, 4490)
    batch = FeatureBatch(geometries=np.asarray(geoms, dtype=object),
                         columns={"DKBH": np.asarray(["A", "B", "C", "D"], dtype=object)},
                         epsg=4490, source_format="test")
    version, _ = services.import_batch(polygon_layer, batch, source_name="t")

    def statistics() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stats WHERE tablename = %s",
                        [partition_name(version.pk)])
            return cur.fetchone()[0]

    assert statistics() == 0
    services.publish_version(version)
    assert statistics() > 0
