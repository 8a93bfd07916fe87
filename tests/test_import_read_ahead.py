"""`manage.py import_layer` reads its file while Django starts (layers/importers/read_ahead.py):
what it reads is used only for exactly the file and options the command imports, and an
import through it records and reports what an import without it does."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.db import connection

from layers import services
from layers.importers import read_ahead
from layers.importers.base import ImportFailed
from layers.importers.sources import read_source
from layers.models import LayerVersion
from tests.conftest import SEAT_X, SEAT_Y, run_import_command, square, to_crs, write_vector

ROOT = Path(__file__).resolve().parent.parent


def _gpkg(path: Path, n: int = 40) -> Path:
    geoms = [square(SEAT_X + (i % 10) * 60, SEAT_Y + (i // 10) * 60) for i in range(n)]
    attrs = {"DKBH": [f"RA-{i:03d}" for i in range(n)],
             "YDXZDM": [("0701", "0901")[i % 2] for i in range(n)],
             "备注": [f"第{i}号" for i in range(n)]}
    return write_vector(path, list(to_crs(geoms, 4546, 4490)), attrs, 4490, "GPKG")


@pytest.fixture(autouse=True)
def _no_leftover():
    yield
    read_ahead.discard()


def test_read_ahead_gives_what_reading_gives(tmp_path):
    path = _gpkg(tmp_path / "a.gpkg")
    read_ahead.start(["KGDK", str(path), "--by", "x"])
    assert read_ahead.pending_path() == str(path.resolve())
    batch, checksum = read_ahead.take(path, source_name=path.name, encoding=None,
                                      layer_name=None)
    direct = read_source(path, workdir=tmp_path, source_name=path.name)
    assert checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert batch.wkb.equals(direct.wkb) and batch.epsg == direct.epsg == 4490
    assert {k: v.to_pylist() for k, v in batch.columns.items()} == \
        {k: v.to_pylist() for k, v in direct.columns.items()}
    # Taken once: a second import in the same process reads for itself.
    assert read_ahead.take(path, source_name=path.name, encoding=None, layer_name=None) is None


@pytest.mark.parametrize("asked", [
    {"encoding": "gbk", "layer_name": None},  # other options than the command line's
    {"encoding": None, "layer_name": "other"},
])
def test_other_options_are_not_served(tmp_path, asked):
    path = _gpkg(tmp_path / "a.gpkg")
    read_ahead.start(["KGDK", str(path)])
    assert read_ahead.take(path, source_name=path.name, **asked) is None


def test_another_file_or_a_changed_file_is_not_served(tmp_path):
    path, other = _gpkg(tmp_path / "a.gpkg"), _gpkg(tmp_path / "b.gpkg", n=12)
    read_ahead.start(["KGDK", str(path)])
    assert read_ahead.take(other, source_name=other.name, encoding=None,
                           layer_name=None) is None

    read_ahead.start(["KGDK", str(path)])
    _gpkg(tmp_path / "new.gpkg", n=12).replace(path)  # replaced after reading began
    assert read_ahead.take(path, source_name=path.name, encoding=None,
                           layer_name=None) is None


@pytest.mark.parametrize("argv", [
    ["KGDK"], ["--crs", "4490", "KGDK", "x.gpkg"], ["KGDK", "missing.gpkg"],
    ["KGDK", "a.gpkg", "--help"],
])
def test_arguments_in_doubt_start_nothing(tmp_path, argv):
    _gpkg(tmp_path / "a.gpkg")
    read_ahead.start([str(tmp_path / a) if a.endswith(".gpkg") else a for a in argv])
    assert read_ahead.pending_path() is None


def test_formats_that_need_unpacking_are_read_by_the_import(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_text("[属性描述]\n格式版本号=1.0\n[地块坐标]\n", encoding="utf-8")
    read_ahead.start(["KGDK", str(path)])
    assert read_ahead.pending_path() is None


def test_a_read_error_is_raised_where_the_import_reads(tmp_path):
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + bytes(200))  # a GeoPackage cut short
    read_ahead.start(["KGDK", str(path)])
    with pytest.raises(ImportFailed) as found:
        read_ahead.take(path, source_name=path.name, encoding=None, layer_name=None)
    with pytest.raises(ImportFailed) as direct:
        read_source(path, workdir=tmp_path, source_name=path.name)
    assert found.value.code == direct.value.code
    assert [p.message for p in found.value.problems] == \
        [p.message for p in direct.value.problems]


def _command(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_import_command("TESTRA", path, *extra)


@pytest.mark.django_db(transaction=True)
def test_the_command_imports_what_it_read_ahead(tmp_path):
    layer = services.create_layer(code="TESTRA", name_zh="预读测试", name_en="Read-ahead test",
                                  category="regulatory_plan", geometry_type="polygon",
                                  style={"fill": "#FFCC00"})
    path = _gpkg(tmp_path / "parcels.gpkg")
    done = _command(path)
    assert done.returncode == 0, done.stderr
    version = LayerVersion.objects.get(layer=layer)
    assert version.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert version.feature_count == 40 and version.source_name == "parcels.gpkg"
    report = json.loads(path.with_suffix(".json").read_text())
    assert report["read"] == report["written"] == 40
    with connection.cursor() as cur:
        cur.execute("SELECT parcel_no, attributes->>'备注' FROM layers_feature "
                    "WHERE version_id = %s ORDER BY feature_no", [version.pk])
        rows = cur.fetchall()
    assert rows[0] == ("RA-000", "第0号") and rows[-1] == ("RA-039", "第39号")

    # A file that cannot be read fails the command as before, naming the problem.
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"SQLite format 3\x00" + bytes(200))
    done = _command(broken)
    assert done.returncode != 0 and "未写入任何数据" in done.stderr
    assert LayerVersion.objects.filter(layer=layer).count() == 1
    assert np.isfinite(version.extent.area)
