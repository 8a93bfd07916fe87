"""Large imports on several processes (the staged partition) give what the import in one
transaction gives, are still all or nothing, and leave no table behind when they fail.

The real command runs as a subprocess against the test database (committed data): forking
import workers is only done in a process with no other thread, which pytest is not.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import shapely
from django.db import connection

from layers import services
from layers.models import Feature, LayerVersion
from tests.conftest import SEAT_X, SEAT_Y, run_import_command, square, to_crs, write_vector

ROOT = Path(__file__).resolve().parent.parent
N = 2_400  # chunks of 500 (IMPORT_CHUNK set below): several per worker

pytestmark = pytest.mark.django_db(transaction=True)


def _parcels(n: int, *, broken: int | None = None) -> tuple[list, dict[str, list]]:
    geoms = [square(SEAT_X + (i % 60) * 60, SEAT_Y + (i // 60) * 60) for i in range(n)]
    if broken is not None:  # a bow-tie: invalid, repaired
        x, y = SEAT_X + (broken % 60) * 60, SEAT_Y + (broken // 60) * 60
        geoms[broken] = shapely.Polygon([(x, y), (x + 50, y + 50), (x + 50, y), (x, y + 50)])
    attrs = {
        "DKBH": [f"NX-{i:05d}" for i in range(n)],
        "YDXZDM": [("0701", "0901", "1401")[i % 3] for i in range(n)],
        "RJLSX": [float(1 + i % 4) for i in range(n)],
        "PFDATE": ["2023-06-01" if i % 7 else "昨天" for i in range(n)],
        "备注": [f"第{i}号" for i in range(n)],
    }
    return list(to_crs(geoms, 4546, 4490)), attrs


def _command(path: Path, *extra: str, workers: int) -> subprocess.CompletedProcess:
    return run_import_command("TESTKG", path, *extra, env={
        "IMPORT_WORKERS": str(workers), "IMPORT_PARALLEL_MIN_FEATURES": "1000",
        "IMPORT_CHUNK": "500"})


def _rows(version: LayerVersion) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute("SELECT feature_no, ST_AsEWKB(geom), ST_AsEWKB(geom_3857), measure, "
                    "parcel_no, land_use_code, far_max, approval_date, attributes::text "
                    "FROM layers_feature WHERE version_id = %s ORDER BY feature_no",
                    [version.pk])
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in cur.fetchall()]


def _unattached_partitions() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
                    "AND relname ~ '^layers_feature_v[0-9]+$'")
        return [r[0] for r in cur.fetchall()]


@pytest.fixture
def layer():
    return services.create_layer(code="TESTKG", name_zh="测试地块", name_en="Test parcels",
                                 category="regulatory_plan", geometry_type="polygon",
                                 style={"fill": "#FFCC00"})


def test_staged_import_equals_the_import_in_one_transaction(layer, tmp_path):
    geoms, attrs = _parcels(N, broken=1234)
    path = write_vector(tmp_path / "parcels.gpkg", geoms, attrs, 4490, "GPKG")

    runs = {}
    for workers in (1, 2):
        done = _command(path, "--allow-rejects", workers=workers)
        assert done.returncode == 0, done.stderr
        report = json.loads(path.with_suffix(".json").read_text())
        version = LayerVersion.objects.filter(layer=layer).order_by("-number").first()
        runs[workers] = (version, report)

    (one, report_one), (two, report_two) = runs[1], runs[2]
    assert report_one["workers"] == 1 and report_two["workers"] == 2
    assert two.feature_count == one.feature_count == N - report_one["rejected"]
    assert report_one["rejected"] == len(range(0, N, 7))  # the bad dates
    assert _rows(two) == _rows(one)
    assert two.extent.equals_exact(one.extent, 1e-12)
    for key in ("read", "written", "repaired", "rejected"):
        assert report_two[key] == report_one[key], key
    # Every problem, in source order, named alike (the bad dates, the repaired bow-tie).
    assert report_two["problems"] == report_one["problems"]
    assert report_two["repaired"] == 1
    # The partition is attached with every index of layers_feature.
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indrelid = "
                    "i.inhrelid WHERE i.inhrelid = %s::regclass",
                    [f"layers_feature_v{two.pk}"])
        indexes_two = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'layers_feature'::regclass")
        assert indexes_two == cur.fetchone()[0]
    assert Feature.objects.filter(version=two, parcel_no="NX-01234").count() == 1
    assert _unattached_partitions() == []


def test_failed_staged_import_writes_nothing_and_leaves_no_table(layer, tmp_path):
    geoms, attrs = _parcels(N)
    geoms[2000] = shapely.Point(0, 0)  # strict mode: one bad feature refuses the file
    path = write_vector(tmp_path / "bad.gpkg", geoms, attrs, 4490, "GPKG",
                        geometry_type="Unknown")
    done = _command(path, workers=2)
    assert done.returncode != 0
    assert "未写入任何数据" in done.stderr
    report = json.loads(path.with_suffix(".json").read_text())
    assert any(p["location"].startswith("要素 2001 ") and "Point" in p["message"]
               for p in report["problems"])
    assert report["written"] == 0 and report["workers"] == 2
    assert not LayerVersion.objects.filter(layer=layer).exists()
    assert _unattached_partitions() == []


def test_a_table_left_by_a_killed_import_is_swept(layer, tmp_path):
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('layers_layerversion', 'id'))")
        orphan = f"layers_feature_v{cur.fetchone()[0]}"
        cur.execute(f"CREATE TABLE {orphan} (LIKE layers_feature)")
    geoms, attrs = _parcels(N)
    path = write_vector(tmp_path / "ok.gpkg", geoms, attrs, 4490, "GPKG")
    done = _command(path, "--allow-rejects", workers=2)
    assert done.returncode == 0, done.stderr
    assert _unattached_partitions() == []
    report = json.loads(path.with_suffix(".json").read_text())
    assert report["workers"] == 2
    assert LayerVersion.objects.get(layer=layer).feature_count == report["written"] > 0
