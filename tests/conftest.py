"""Shared fixtures: layers to import into and builders of real input files."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import Polygon

from layers import crs

# The headless-Chromium fixtures (browser, live_static) for the page tests.
pytest_plugins = ["tests.browser"]

# A few blocks near the county seat, in the county projected CRS (EPSG:4546, metres).
SEAT_X, SEAT_Y = 578_448.671, 3_659_716.061  # lon 111.84, lat 33.06


def square(x: float, y: float, size: float = 50.0) -> Polygon:
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def to_crs(geoms: list, src: int, dst: int) -> np.ndarray:
    arr = np.asarray(geoms, dtype=object)
    if src == dst:
        return arr
    t = crs.transformer(src, dst)
    return shapely.transform(arr, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def sample_parcels(n: int = 3) -> list[Polygon]:
    return [square(SEAT_X + i * 60, SEAT_Y) for i in range(n)]


SAMPLE_ATTRS = {
    "DKBH": ["NX-A01-01", "NX-A01-02", "NX-A01-03"],
    "YDXZDM": ["0701", "0901", "1401"],
    "YDXZMC": ["城镇住宅用地", "商业用地", "公园绿地"],
    "RJLSX": [2.5, 3.0, 0.1],
    "RJLXX": [1.0, 1.5, 0.0],
    "JZMDZ": [30.0, 45.0, 5.0],
    "LDLLX": [35.0, 20.0, 70.0],
    "JZXG": [54.0, 80.0, 9.0],
    "PFDATE": ["2023-06-01", "2023-06-01", "2023/06/01"],
    "备注": ["一", "二", "三"],
}


def write_vector(path: Path, geoms: list, attrs: dict[str, list], epsg: int, driver: str,
                 encoding: str | None = None, geometry_type: str = "Polygon") -> Path:
    fields = list(attrs)
    data = [np.asarray(v, dtype=float if isinstance(v[0], float) else object)
            for v in attrs.values()]
    kwargs = {"encoding": encoding} if encoding else {}
    pyogrio.raw.write(str(path), shapely.to_wkb(np.asarray(geoms, dtype=object)), data, fields,
                  driver=driver, geometry_type=geometry_type, crs=f"EPSG:{epsg}", **kwargs)
    return path


def run_import_command(layer_code: str, path: Path, *extra: str,
                       env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`manage.py import_layer` as a subprocess against the test database (committed data)."""
    from django.db import connection

    env = {**os.environ, **(env or {})}
    name = connection.settings_dict["NAME"]
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    else:
        env["NEIXIANG_DB_NAME"] = name
    return subprocess.run([sys.executable, "manage.py", "import_layer", layer_code, str(path),
                           "--by", "test", "--report", str(path.with_suffix(".json")), *extra],
                          cwd=Path(__file__).resolve().parent.parent, env=env,
                          capture_output=True, text=True, timeout=300)


def zip_files(paths: list[Path], dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in paths:
            z.write(p, p.name)
    return dest


@pytest.fixture
def make_shapefile_zip(tmp_path: Path) -> Callable[..., Path]:
    def build(geoms: list, attrs: dict[str, list], epsg: int, *, encoding: str = "UTF-8",
              cpg: bool = True, name: str = "parcels") -> Path:
        folder = tmp_path / f"shp-{name}-{encoding}-{cpg}"
        folder.mkdir()
        shp = write_vector(folder / f"{name}.shp", geoms, attrs, epsg, "ESRI Shapefile",
                           encoding=encoding)
        if not cpg:
            shp.with_suffix(".cpg").unlink(missing_ok=True)
        return zip_files(sorted(folder.iterdir()), tmp_path / f"{name}-{encoding}-{cpg}.zip")

    return build


@pytest.fixture
def polygon_layer(db):
    from layers import services
    return services.create_layer(code="TESTKG", name_zh="测试地块", name_en="Test parcels",
                                 category="regulatory_plan", geometry_type="polygon",
                                 style={"fill": "#FFCC00"})


@pytest.fixture
def line_layer(db):
    from layers import services
    return services.create_layer(code="TESTLINE", name_zh="测试线", name_en="Test lines",
                                 category="base", geometry_type="line")


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="session", autouse=True)
def collected_static(django_db_blocker):
    """Pages use the manifest static storage of production: collect once per run."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("collectstatic", interactive=False, verbosity=0)


STRONG_PASSWORD = "Str0ng!Pass-2024"


@pytest.fixture
def make_user(db):
    """An account with a role (department roles get a department)."""
    from accounts.models import Department, User
    from accounts.roles import DEPARTMENT_ROLES

    def build(role: str, username: str | None = None, *, department=None,
              password: str = STRONG_PASSWORD, **extra) -> User:
        if role in DEPARTMENT_ROLES and department is None:
            department, _ = Department.objects.get_or_create(
                code="ZRZY", defaults={"name_zh": "县自然资源局", "name_en": "Natural Resources"})
        user = User(username=username or role, role=role, department=department, **extra)
        user.set_password(password)
        user.save()
        return user

    return build


def http_login(base_url: str, username: str, password: str = STRONG_PASSWORD):
    """A requests session signed in through the real sign-in page (CSRF included)."""
    import requests

    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=10)
    token = session.cookies["csrftoken"]
    r = session.post(f"{base_url}/accounts/login/", timeout=10,
                     data={"username": username, "password": password,
                           "csrfmiddlewaretoken": token},
                     headers={"Referer": f"{base_url}/accounts/login/"})
    r.raise_for_status()
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    session.headers["Referer"] = f"{base_url}/"
    return session


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher
    (test_accounts checks that production hashes with argon2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_map_services():
    """Each test's database starts at service generation 1 again: forget the MapProxy
    applications a previous test built (in production the generation only grows)."""
    from tiles import services

    services._apps.clear()
    yield
    services._apps.clear()


@pytest.fixture(scope="session", autouse=True)
def close_renderer_connections(django_db_setup, django_db_blocker):
    """Mapnik keeps its own PostGIS connections open (as it should in production); end them
    before the test database is dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(autouse=True)
def private_audit_anchors(settings, tmp_path_factory):
    """Each test its own audit anchor file: anchors left by another test (another chain, or
    records since rolled back) would otherwise make verification report tampering."""
    settings.AUDIT_ANCHOR_FILE = tmp_path_factory.mktemp("audit") / "anchors.log"


def publish_layer(code: str, access: str, squares: list, fill: str, *,
                  name_zh: str | None = None, category: str = "control_line",
                  style_extra: dict | None = None):
    """A published polygon layer of opaque single-colour squares (given in EPSG:4546),
    feature i numbered "{code}-{i}": what map-service tests draw and look for."""
    from layers import services
    from layers.importers.base import FeatureBatch

    layer = services.create_layer(code=code, name_zh=name_zh or f"图层{code}", name_en=code,
                                  category=category, geometry_type="polygon",
                                  access_level=access,
                                  style={"fill": fill, "fill_opacity": 1.0, "stroke": fill,
                                         **(style_extra or {})})
    geoms = to_crs(squares, 4546, 4490)
    batch = FeatureBatch(np.asarray(geoms, dtype=object),
                         {"DKBH": [f"{code}-{i}" for i in range(len(geoms))]}, 4490, "test")
    services.import_batch(layer, batch, source_name="t", publish=True)
    return layer
