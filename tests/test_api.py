"""The REST API over real HTTP (live WSGI server), as an integrator calls it."""

from __future__ import annotations

import io
import os

import pytest
import requests

from layers import services
from tests.conftest import SAMPLE_ATTRS, http_login, sample_parcels, to_crs, write_vector

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(tmp_path, polygon_layer):
    geoms = sample_parcels(3)
    path = write_vector(tmp_path / "p.gpkg", geoms, SAMPLE_ATTRS, 4546, "GPKG")
    services.import_file(polygon_layer, path, publish=True)
    secret = services.create_layer(code="SECRET", name_zh="内部图层", name_en="Internal",
                                   category="control_line", geometry_type="polygon",
                                   access_level="internal")
    services.import_file(secret, path, publish=True)
    return polygon_layer


@pytest.fixture
def manager(live_server, make_user):
    """A plan data manager signed in over HTTP (imports, publishes, sees all levels)."""
    make_user("plan_data_manager", "planner")
    return http_login(live_server.url, "planner")


def test_layer_list_hides_internal_layers_from_anonymous(live_server, published, manager):
    body = requests.get(f"{live_server.url}/api/layers", timeout=10).json()
    codes = [layer["code"] for layer in body["layers"]]
    assert "TESTKG" in codes and "SECRET" not in codes
    kg = next(layer for layer in body["layers"] if layer["code"] == "TESTKG")
    assert kg["published_version"]["number"] == 1
    assert kg["published_version"]["feature_count"] == 3
    r = requests.get(f"{live_server.url}/api/layers/SECRET", timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "unknown_layer"
    r = requests.get(f"{live_server.url}/api/layers/SECRET/features", timeout=10)
    assert r.status_code == 404
    r = manager.get(f"{live_server.url}/api/layers/SECRET", timeout=10)
    assert r.status_code == 200


def test_features_by_bbox_are_paged_geojson(live_server, published):
    url = f"{live_server.url}/api/layers/TESTKG/features"
    page = requests.get(url, params={"limit": 2}, timeout=10).json()
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == 3 and page["numberReturned"] == 2
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    rest = requests.get(nxt, timeout=10).json()
    assert [f["properties"]["parcel_no"] for f in page["features"] + rest["features"]] == \
        SAMPLE_ATTRS["DKBH"]
    first = page["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon"
    assert first["properties"]["far_max"] == 2.5
    # bbox around the first parcel only (lon/lat, 4490)
    lon0, lat0, lon1, lat1 = to_crs(sample_parcels(1), 4546, 4490)[0].bounds
    one = requests.get(url, params={"bbox": f"{lon0},{lat0},{lon0 + 1e-5},{lat0 + 1e-5}"},
                       timeout=10).json()
    assert one["numberMatched"] == 1
    single = requests.get(f"{url}/{first['id']}", timeout=10).json()
    assert single["properties"]["parcel_no"] == "NX-A01-01"


@pytest.mark.parametrize("params,parameter", [
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "112,33,111,34"}, "bbox"),
    ({"bbox": "nan,33,112,34"}, "bbox"),
    ({"bbox": "111,33,112,3400"}, "bbox"),
    ({"limit": "0"}, "limit"),
    ({"limit": "100000"}, "limit"),
    ({"offset": "-1"}, "offset"),
    ({"version": "x"}, "version"),
])
def test_bad_parameters_get_400_with_reason(live_server, published, params, parameter):
    r = requests.get(f"{live_server.url}/api/layers/TESTKG/features", params=params, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid_parameter" and body["parameter"] == parameter
    assert body["detail"]


def test_unknown_version_and_layer_are_404(live_server, published):
    r = requests.get(f"{live_server.url}/api/layers/TESTKG/features", params={"version": 9},
                     timeout=10)
    assert r.status_code == 404 and r.json()["error"] == "unknown_version"
    assert requests.get(f"{live_server.url}/api/layers/NOPE", timeout=10).status_code == 404


def test_upload_import_and_publish_over_http(live_server, polygon_layer, manager, tmp_path):
    path = write_vector(tmp_path / "up.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    with open(path, "rb") as f:
        r = manager.post(f"{live_server.url}/api/layers/TESTKG/versions",
                          files={"file": ("规划.gpkg", f)},
                          data={"effective_date": "2024-01-01", "note": "首次导入"}, timeout=30)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["report"]["written"] == 3 and body["version"]["state"] == "draft"
    assert body["version"]["source_name"] == "规划.gpkg"
    r = manager.post(f"{live_server.url}/api/layers/TESTKG/versions/1/publish", timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "published"
    versions = requests.get(f"{live_server.url}/api/layers/TESTKG/versions", timeout=10).json()
    assert versions["versions"][0]["effective_date"] == "2024-01-01"


def test_upload_rejected_file_returns_report(live_server, polygon_layer, manager, tmp_path):
    path = write_vector(tmp_path / "far.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    with open(path, "rb") as f:
        r = manager.post(f"{live_server.url}/api/layers/TESTKG/versions",
                          files={"file": ("far.gpkg", f)}, data={"crs": "4525"}, timeout=30)
    assert r.status_code == 400
    body = r.json()
    assert body["report"]["written"] == 0 and body["report"]["problems"]
    assert "4546" in body["report"]["problems"][-1]["message"] or any(
        "带号" in p["message"] for p in body["report"]["problems"])


def test_openapi_schema_and_health(live_server, db):
    schema = requests.get(f"{live_server.url}/api/schema/", params={"format": "json"},
                          timeout=10).json()
    assert "/api/layers/{code}/features" in schema["paths"]
    health = requests.get(f"{live_server.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    home = requests.get(f"{live_server.url}/", timeout=10)
    assert home.status_code == 200 and "一张蓝图" in home.text


def test_openapi_schema_is_clean_for_client_generators(db):
    """Integrators generate clients from /api/schema/: every operation needs a unique id and
    the token scheme must be described, with no warning from the generator."""
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull,
                 stderr=out)
    schema = requests_free_schema()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()
           if isinstance(op, dict) and "operationId" in op]
    assert len(ids) == len(set(ids))
    assert not any(i[-2:-1] == "_" and i[-1].isdigit() for i in ids), ids  # no "_2" suffixes
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


def requests_free_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def test_oversized_upload_is_refused_before_the_body_is_read(live_server, settings, db):
    """A body announced larger than any upload limit gets 413 from the headers alone: the
    server answers although the client has sent only a few bytes of it."""
    import json
    import socket
    from urllib.parse import urlsplit

    from config.request_size import body_limit

    settings.IMPORT_MAX_UPLOAD_BYTES = 1000
    settings.DOCUMENT_MAX_BYTES = 1000
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    announced = body_limit() + 1
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"POST /api/layers/KGDK/versions HTTP/1.1\r\nHost: {host}\r\n"
                  f"Content-Type: multipart/form-data; boundary=x\r\n"
                  f"Content-Length: {announced}\r\n\r\n--x\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:100]
    payload = json.loads(body)
    assert payload["error"] == "too_large" and payload["limit_bytes"] == announced - 1
    assert "超过上限" in payload["detail"]
    # Within the limit, the endpoint's own checks answer (here: not signed in).
    small = requests.post(f"{live_server.url}/api/layers/KGDK/versions", data=b"x" * 10,
                          timeout=10)
    assert small.status_code != 413
