"""Attacks that must fail safely, be audited and change nothing."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from accounts import tokens
from accounts.roles import Role, Scope
from approvals_link.models import Project
from audit.models import AuditRecord
from layers import services
from layers.importers.base import FeatureBatch
from layers.models import Feature, Layer
from tests.conftest import SEAT_X, SEAT_Y, STRONG_PASSWORD, square, to_crs

pytestmark = pytest.mark.django_db

INJECTIONS = [
    "' OR '1'='1", "1; DROP TABLE layers_feature; --", "1) OR (1=1", "\\'; SELECT pg_sleep(5); --",
    "%' UNION SELECT username, password FROM accounts_user --", "0x7f; --", "NaN", "1e309",
    "../../etc/passwd", "<script>alert(1)</script>", "' || (SELECT version()) || '",
    "\x00", "KG\x00' OR 1=1", "x" * 5000,
]
XSS = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def state() -> tuple:
    with connection.cursor() as cur:
        cur.execute("select count(*) from layers_feature")
        features = cur.fetchone()[0]
    return Layer.objects.count(), features, Project.objects.count()


@pytest.fixture
def data(db):
    layer = services.create_layer(code="KG", name_zh=XSS, name_en=XSS,
                                  category="regulatory_plan", geometry_type="polygon")
    geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)
    batch = FeatureBatch(geometries=np.asarray(geom, dtype=object),
                         columns={"DKBH": [XSS], "备注": [XSS]}, epsg=4490,
                         source_format="test")
    services.import_batch(layer, batch, source_name="t", publish=True)
    Project.objects.create(project_code="2024-411325-47-01-000001", name=XSS)
    return layer


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_every_filter_and_search_parameter(client, data, payload):
    before = state()
    requests = [
        ("/api/layers/KG/features", {"bbox": payload}),
        ("/api/layers/KG/features", {"limit": payload}),
        ("/api/layers/KG/features", {"offset": payload}),
        ("/api/layers/KG/features", {"version": payload}),
        ("/api/layers/KG/features", {"bbox": f"111,33,112,{payload}"}),
        ("/api/projects", {"q": payload}),
        ("/api/projects", {"limit": payload}),
        (f"/api/layers/{payload}", {}),
        (f"/api/layers/{payload}/features", {}),
        (f"/api/projects/{payload}", {}),
        ("/api/layers", {"format": payload}),
    ]
    for path, params in requests:
        response = client.get(path, params)
        assert response.status_code in (200, 400, 404), (path, params, response.status_code)
        if response.status_code == 200 and path == "/api/projects" and "q" in params:
            assert response.json()["count"] == 0  # a string is a string, not SQL
    assert state() == before


@pytest.mark.parametrize("payload", INJECTIONS[:4])
def test_injection_in_the_sign_in_form(client, make_user, payload):
    make_user(Role.REVIEWER, "victim")
    response = client.post("/accounts/login/", {"username": payload, "password": payload})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_script_injection_is_escaped_on_pages(client, data, make_user):
    html = client.get("/").content.decode()
    assert XSS not in html and "&lt;script&gt;" in html
    client.force_login(make_user(Role.SYSTEM_ADMIN, "sys"))
    for path in ("/admin/layers/layer/", "/admin/layers/feature/",
                 "/admin/approvals_link/project/"):
        page = client.get(path).content.decode()
        assert XSS not in page, path
    # JSON carries the text as data; the content type keeps browsers from running it.
    response = client.get("/api/layers/KG/features")
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["features"][0]["properties"]["parcel_no"] == XSS


def test_brute_force_locks_the_account(client, make_user):
    make_user(Role.REVIEWER, "target")
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "target", "password": "wrong"},
                               REMOTE_ADDR="10.0.0.7")
        assert response.status_code in (200, 429)
    # Locked: even the right password is refused, from another address too.
    response = client.post("/accounts/login/", {"username": "target",
                                                "password": STRONG_PASSWORD},
                           REMOTE_ADDR="10.0.0.8")
    assert response.status_code == 429 and "_auth_user_id" not in client.session
    assert AuditRecord.objects.filter(event_type="auth.locked_out").exists()


def test_brute_force_from_one_address_locks_the_address(client, make_user):
    make_user(Role.REVIEWER, "someone")
    for n in range(5):
        client.post("/accounts/login/", {"username": f"guess{n}", "password": "x"},
                    REMOTE_ADDR="10.0.0.9")
    response = client.post("/accounts/login/", {"username": "someone",
                                                "password": STRONG_PASSWORD},
                           REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429
    ok = client.post("/accounts/login/", {"username": "someone", "password": STRONG_PASSWORD},
                     REMOTE_ADDR="10.0.0.10")
    assert ok.status_code == 302


def test_token_beyond_its_scope(client, data, make_user):
    system = make_user(Role.EXTERNAL_SYSTEM, "sys")
    issued = tokens.issue(system, name="map only", scopes=[Scope.MAP_READ])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    before = state()
    assert client.get("/api/projects", **headers).json()["count"] == 0
    with open(__file__, "rb") as f:
        response = client.post("/api/layers/KG/versions", {"file": f}, **headers)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert state() == before
    assert AuditRecord.objects.filter(event_type="access.denied", result="denied").exists()


def test_reviewer_asking_for_another_departments_project(client, data, make_user):
    from accounts.models import Department

    mine = Department.objects.create(code="A", name_zh="甲局")
    reviewer = make_user(Role.REVIEWER, "r", department=mine)
    client.force_login(reviewer)
    response = client.get("/api/projects/2024-411325-47-01-000001")
    assert response.status_code == 404


def test_feature_rows_cannot_be_reached_through_a_layer_of_another_level(client, make_user):
    secret = services.create_layer(code="SECRET", name_zh="涉密", name_en="secret",
                                   category="control_line", geometry_type="polygon",
                                   access_level="confidential")
    geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)
    services.import_batch(secret, FeatureBatch(geometries=np.asarray(geom, dtype=object),
                                               columns={}, epsg=4490, source_format="t"),
                          source_name="t", publish=True)
    fid = Feature.objects.get().pk
    assert client.get(f"/api/layers/SECRET/features/{fid}").status_code == 404
    client.force_login(make_user(Role.DEPARTMENT_HEAD, "head"))
    assert client.get(f"/api/layers/SECRET/features/{fid}").status_code == 200
    assert AuditRecord.objects.filter(event_type="layers.confidential_read",
                                      object="SECRET", subject="head").exists()
