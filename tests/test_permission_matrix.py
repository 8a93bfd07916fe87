"""Every endpoint against every role, from the written matrix (accounts.roles).

The table below must cover every URL pattern the site serves: a new endpoint without a row
here fails `test_every_endpoint_is_in_the_matrix`.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from accounts import tokens
from accounts.roles import ROLE_FUNCTIONS, Role, Scope
from approvals_link.models import Project
from layers import services
from layers.importers.base import FeatureBatch
from tests.conftest import SEAT_X, SEAT_Y, square, to_crs

pytestmark = pytest.mark.django_db
ROLES = [r.value for r in Role]
LEVEL_FUNCTION = {"public": "map.public", "internal": "map.internal",
                  "confidential": "map.confidential"}


@pytest.fixture
def world(make_user):
    """Three layers (one per access level) with a published version, a project handled by
    the reviewers' department, and one account per role."""
    layers = {}
    for level in ("public", "internal", "confidential"):
        layer = services.create_layer(code=f"L_{level.upper()}", name_zh=level,
                                      name_en=level, category="control_line",
                                      geometry_type="polygon", access_level=level)
        geom = to_crs([square(SEAT_X, SEAT_Y)], 4546, 4490)
        batch = FeatureBatch(geometries=np.asarray(geom, dtype=object),
                             columns={"DKBH": ["P-1"]}, epsg=4490, source_format="test")
        services.import_batch(layer, batch, source_name="t", publish=True)
        layers[level] = layer
    users = {role: make_user(role, f"u_{role}") for role in ROLES
             if role not in (Role.ANONYMOUS,)}
    project = Project.objects.create(project_code="2024-411325-47-01-000001", name="测试项目",
                                     construction_unit_credit_code="91411325MA00000000")
    project.handling_departments.add(users[Role.REVIEWER].department)
    users[Role.APPLICANT].organization_credit_code = "91411325MA00000000"
    users[Role.APPLICANT].save()
    issued = tokens.issue(users[Role.EXTERNAL_SYSTEM], name="审批系统",
                          scopes=[s.value for s in Scope])
    return {"layers": layers, "users": users, "project": project, "token": issued.secret,
            "feature_id": layers["public"].versions.get().features.get().pk}


def client_for(role: str, world, client):
    if role == Role.ANONYMOUS:
        return client, {}
    if role == Role.EXTERNAL_SYSTEM:
        return client, {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"}
    client.force_login(world["users"][role])
    return client, {}


def allowed(role: str, function: str | None) -> bool:
    return function is None or function in ROLE_FUNCTIONS[role]


# (method, path template, function required or None for open, covered route patterns)
ENDPOINTS = [
    ("get", "/", None, ""),
    ("get", "/healthz", None, "healthz"),
    ("get", "/api/schema/", None, "api/schema/"),
    ("get", "/api/docs/", None, "api/docs/"),
    ("get", "/api/layers", None, "api/layers"),
    ("get", "/api/projects", None, "api/projects"),
    ("get", "/accounts/login/", None, "accounts/login/"),
    ("get", "/accounts/roles/", "roles.assign", "accounts/roles/"),
    ("get", "/accounts/roles/{user_id}/", "roles.assign", "accounts/roles/<int:user_id>/"),
    ("get", "/accounts/tokens/", "tokens.manage", "accounts/tokens/"),
    ("post", "/accounts/tokens/999999/revoke/", "tokens.manage",
     "accounts/tokens/<int:token_id>/revoke/"),
    ("post", "/accounts/tokens/999999/rotate/", "tokens.manage",
     "accounts/tokens/<int:token_id>/rotate/"),
    ("get", "/accounts/policy/", "policy.manage", "accounts/policy/"),
    ("get", "/ogcapi/", None, "ogcapi/"),
    ("get", "/ogcapi/api", None, "ogcapi/api"),
    ("get", "/ogcapi/conformance", None, "ogcapi/conformance"),
    ("get", "/ogcapi/collections", None, "ogcapi/collections"),
    ("get", "/audit/", "audit.read", "audit/"),
    ("get", "/audit/export.csv", "audit.export", "audit/export.csv"),
    ("get", "/audit/export.jsonl", "audit.export", "audit/export.jsonl"),
    ("get", "/audit/verify/", "audit.read", "audit/verify/"),
    ("get", "/ops/", "ops.view", "ops/"),
    ("post", "/ops/alerts/999999/acknowledge/", "ops.view",
     "ops/alerts/<int:alert_id>/acknowledge/"),
    ("post", "/ops/alerts/999999/resolve/", "ops.view", "ops/alerts/<int:alert_id>/resolve/"),
    ("get", "/readyz", None, "readyz"),
    ("get", "/ows/wms?SERVICE=WMS&REQUEST=GetCapabilities", None, "ows/"),
    ("get", "/ows", None, "ows"),
    ("get", "/api/services", None, "api/services"),  # service directory (tiles/directory.py)
    ("get", "/services/", None, "services/"),
    ("get", "/blueprint/", None, "blueprint/"),  # the blueprint page (public)
    # Blueprint page API (blueprint/api.py): layer visibility applies inside identify/search.
    ("get", "/blueprint/api/identify?lon=111.84&lat=33.06", None, "blueprint/api/identify"),
    ("get", "/blueprint/api/search?q=111.84,33.06", None, "blueprint/api/search"),
    ("post", "/blueprint/api/measure", None, "blueprint/api/measure"),
    ("post", "/blueprint/api/boundary-check", "boundary.check", "blueprint/api/boundary-check"),
    ("post", "/blueprint/api/print", None, "blueprint/api/print"),  # no body: 400 for all
    # -- approval-record intake (approvals_link/intake/) --
    ("post", "/api/intake/records", "approvals.write", "api/intake/records"),  # no body: 400
    ("post", "/api/projects/2024-411325-47-01-000001/boundary-files", "approvals.write",
     "api/projects/<str:project_code>/boundary-files"),  # no file: 400
    # -- electronic documents (approvals_link/documents/) --
    # The world's project is visible to every role holding documents.read (applicant's
    # organisation, reviewers' department, the token's projects.view_all): no 404 here.
    ("get", "/api/projects/2024-411325-47-01-000001/documents/", "documents.read",
     "api/projects/<str:project_code>/documents/"),
    ("post", "/api/projects/2024-411325-47-01-000001/documents/", "documents.upload",
     "api/projects/<str:project_code>/documents/"),  # no file: 400 for uploaders
    ("get", "/api/projects/2024-411325-47-01-000001/documents/999999", "documents.read",
     "api/projects/<str:project_code>/documents/<int:document_id>"),  # 404: no such id
    ("get", "/api/projects/2024-411325-47-01-000001/documents/999999/download",
     "documents.read", "api/projects/<str:project_code>/documents/<int:document_id>/download"),
    # -- conformity checks and reports (approvals_link/conformity/) --
    # Report PDF and conflict maps: open to whoever sees the check's project (404 otherwise,
    # as here: no check 999999); by role on a real check in tests/test_report.py.
    ("get", "/api/conformity-checks/999999/report.pdf", None,
     "api/conformity-checks/<int:check_id>/report.pdf"),
    ("get", "/api/conformity-checks/999999/maps/1.png", None,
     "api/conformity-checks/<int:check_id>/maps/<int:result_id>.png"),
    ("post", "/api/conformity-checks/999999/sign-off", "conformity.sign_off",
     "api/conformity-checks/<int:check_id>/sign-off"),
    ("post", "/api/conformity-checks", "conformity.run", "api/conformity-checks"),
    ("get", "/api/plan-impacts", "conformity.run", "api/plan-impacts"),
    # -- project pages (approvals_link/pages) --
    # /projects/{code}/ follows project visibility (anonymous → sign-in, invisible → 404):
    # in OTHER_ROUTES, covered by tests/test_project_page.py (test_visibility_by_role_*).
]
# Layer endpoints: open to whoever may see the layer's access level (404 otherwise).
LAYER_ENDPOINTS = [
    ("get", "/api/layers/{code}", None, "api/layers/<str:code>"),
    ("get", "/api/layers/{code}/versions", None, "api/layers/<str:code>/versions"),
    ("get", "/api/layers/{code}/features", None, "api/layers/<str:code>/features"),
    ("post", "/api/layers/{code}/versions", "layers.import", "api/layers/<str:code>/versions"),
    ("post", "/api/layers/{code}/versions/1/publish", "layers.publish",
     "api/layers/<str:code>/versions/<int:number>/publish"),
    ("get", "/ogcapi/collections/{code}", None, "ogcapi/collections/<str:collection_id>"),
    ("get", "/ogcapi/collections/{code}/items", None,
     "ogcapi/collections/<str:collection_id>/items"),
]
# Routes exercised by their own tests rather than the generic loop.
OTHER_ROUTES = {
    "api/layers/<str:code>/features/<int:feature_id>",  # test_feature_by_id_follows_level
    "api/projects/<str:project_code>",  # test_project_visibility
    # Conformity report page (the sign-in page for nobody signed in, else project
    # visibility), by role on a real check: tests/test_report.py test_who_sees_the_report.
    "projects/<str:project_code>/checks/<int:check_id>/report/",
    "projects/<str:project_code>/",  # tests/test_project_page.py: page by role, 404, sign-in
    "api/conformity-checks/<int:check_id>",  # tests/test_conformity.py: test_conformity_api
    "accounts/logout/", "accounts/password/",  # test_password_and_logout_pages
    "i18n/",  # Django's language switch
    "admin/",  # test_admin_site_by_role
    # tests/test_ogcapi.py: test_single_item_follows_visibility,
    # test_collections_follow_the_callers_access, test_bad_input_is_a_4xx_ogc_exception...
    "ogcapi/collections/<str:collection_id>/items/<str:feature_id>",
    "ogcapi/<path:rest>",  # OGC-style 404 for anything else under /ogcapi/
    "oidc/",  # enterprise sign-in: tests/test_oidc.py (404 unless configured)
    "metrics",  # by address, not by role: tests/test_ops.py
    # Map services by layer access level: tests/test_map_services.py (hidden layers on
    # every path, cached tiles included) and tests/test_mvt.py.
    "^ows/(?P<path>.*)$",
    "tiles/<str:layer>/<int:z>/<int:x>/<int:y>.mvt", "^tiles/(?P<rest>.*)\\.mvt$",
}


def _routes(resolver: URLResolver, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if route in OTHER_ROUTES:
                found.add(route)
            else:
                found |= _routes(p, route)
        elif isinstance(p, URLPattern):
            found.add(route)
    return found


def test_every_endpoint_is_in_the_matrix():
    covered = {e[3] for e in ENDPOINTS + LAYER_ENDPOINTS} | OTHER_ROUTES
    served = {r for r in _routes(get_resolver()) if not r.startswith("static/")}
    missing = sorted(served - covered)
    assert missing == [], f"endpoints without a row in the permission matrix: {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_endpoints_by_role(role, world, client):
    c, headers = client_for(role, world, client)
    for method, template, function, _ in ENDPOINTS:
        path = template.format(user_id=world["users"][Role.REVIEWER].pk)
        response = getattr(c, method)(path, **headers)
        status = response.status_code
        if allowed(role, function):
            assert status not in (401, 403) and not (
                status == 302 and "/accounts/login/" in response.get("Location", "")), \
                (role, method, path, status)
        elif role == Role.ANONYMOUS:
            assert status == 302 and "/accounts/login/" in response["Location"], \
                (role, path, status)
        else:
            assert status == 403, (role, method, path, status)


@pytest.mark.parametrize("role", ROLES)
def test_layer_endpoints_by_role_and_level(role, world, client):
    c, headers = client_for(role, world, client)
    for level, layer in world["layers"].items():
        may_see = allowed(role, LEVEL_FUNCTION[level])
        listed = {x["code"] for x in c.get("/api/layers", **headers).json()["layers"]}
        assert (layer.code in listed) == may_see, (role, level)
        for method, template, function, _ in LAYER_ENDPOINTS:
            path = template.format(code=layer.code)
            status = getattr(c, method)(path, **headers).status_code
            if not may_see:
                assert status == 404, (role, level, method, path, status)
            elif allowed(role, function):
                assert status not in (401, 403, 404), (role, level, method, path, status)
            else:
                assert status == 403, (role, level, method, path, status)


@pytest.mark.parametrize("role", ROLES)
def test_feature_by_id_follows_level(role, world, client):
    c, headers = client_for(role, world, client)
    for level, layer in world["layers"].items():
        fid = layer.versions.get().features.get().pk
        status = c.get(f"/api/layers/{layer.code}/features/{fid}", **headers).status_code
        assert status == (200 if allowed(role, LEVEL_FUNCTION[level]) else 404), (role, level)
    # A feature id of a hidden layer asked through a visible layer's path is not served.
    hidden = world["layers"]["confidential"].versions.get().features.get().pk
    assert c.get(f"/api/layers/L_PUBLIC/features/{hidden}", **headers).status_code == 404


@pytest.mark.parametrize("role,sees", [
    (Role.ANONYMOUS, False), (Role.NONE, False), (Role.APPLICANT, True),
    (Role.REVIEWER, True), (Role.DEPARTMENT_HEAD, True), (Role.PLAN_DATA_MANAGER, True),
    (Role.SYSTEM_ADMIN, False), (Role.SECURITY_ADMIN, False), (Role.AUDIT_ADMIN, False),
    (Role.EXTERNAL_SYSTEM, True),
])
def test_project_visibility(role, sees, world, client):
    c, headers = client_for(role, world, client)
    code = world["project"].project_code
    listed = [p["project_code"] for p in c.get("/api/projects", **headers).json()["projects"]]
    assert (code in listed) == sees
    assert c.get(f"/api/projects/{code}", **headers).status_code == (200 if sees else 404)


def test_reviewer_of_another_department_and_other_applicant_see_nothing(world, client,
                                                                        make_user):
    from accounts.models import Department

    other = Department.objects.create(code="ZJJ", name_zh="县住建局")
    code = world["project"].project_code
    for user in (make_user(Role.REVIEWER, "other_reviewer", department=other),
                 make_user(Role.APPLICANT, "other_firm",
                           organization_credit_code="91411325MA11111111")):
        client.force_login(user)
        assert client.get(f"/api/projects/{code}").status_code == 404
        assert client.get("/api/projects").json()["count"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_admin_site_by_role(role, world, client):
    c, headers = client_for(role, world, client)
    status = c.get("/admin/", **headers).status_code
    if role in (Role.SYSTEM_ADMIN, Role.PLAN_DATA_MANAGER):
        assert status == 200
    else:
        assert status == 302  # to the admin sign-in: not staff
    can_manage_accounts = role == Role.SYSTEM_ADMIN
    status = c.get("/admin/accounts/user/", **headers).status_code
    assert (status == 200) == can_manage_accounts, (role, status)


def test_password_and_logout_pages(world, client):
    assert client.get("/accounts/password/").status_code == 302
    client.force_login(world["users"][Role.REVIEWER])
    assert client.get("/accounts/password/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/password/").status_code == 302


def test_three_administrators_share_no_function():
    admins = [ROLE_FUNCTIONS[r] - ROLE_FUNCTIONS[Role.ANONYMOUS]
              for r in (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)]
    assert not admins[0] & admins[1] and not admins[0] & admins[2] and not admins[1] & admins[2]
    assert "audit.read" not in admins[0] | admins[1]
    assert "roles.assign" not in admins[0] | admins[2]
    assert "accounts.manage" not in admins[1] | admins[2]


def test_a_token_is_narrowed_to_its_scopes(world, client, make_user):
    narrow = tokens.issue(world["users"][Role.EXTERNAL_SYSTEM], name="只读地图",
                          scopes=[Scope.MAP_READ])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {narrow.secret}"}
    code = world["project"].project_code
    assert client.get(f"/api/projects/{code}", **headers).status_code == 404
    assert client.get("/api/layers/L_INTERNAL", **headers).status_code == 200


def test_geometry_helpers_are_sane():
    assert shapely.area(square(0, 0)) == 2500
