"""The GeoDjango admin: map widgets that work offline, style validation."""

import re

import pytest

from layers import services
from layers.models import Feature
from tests.conftest import SAMPLE_ATTRS, sample_parcels, write_vector

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged(client, make_user):
    """The plan data manager: edits layers and features in the admin site."""
    client.force_login(make_user("plan_data_manager", "planner"))
    return client


@pytest.fixture
def sysadmin_client(client, make_user):
    client.force_login(make_user("system_admin", "sysadmin"))
    return client


def test_feature_change_page_has_an_offline_map_widget(admin_client_logged, polygon_layer,
                                                       tmp_path):
    path = write_vector(tmp_path / "p.gpkg", sample_parcels(), SAMPLE_ATTRS, 4546, "GPKG")
    version, _ = services.import_file(polygon_layer, path)
    feature = Feature.objects.filter(version=version).first()
    page = admin_client_logged.get(f"/admin/layers/feature/{feature.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r"/static/vendor/ol/ol(\.[0-9a-f]{12})?\.js", html)
    assert "OLMapWidget" in html and "内乡县一张蓝图" in html
    external = [u for u in re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", html)]
    assert external == []
    assert "ol.source.OSM" not in html and "earthdata" not in html


def test_admin_rejects_a_bad_style(admin_client_logged, polygon_layer):
    page = admin_client_logged.post(f"/admin/layers/layer/{polygon_layer.pk}/change/", {
        "code": "TESTKG", "name_zh": "测试地块", "name_en": "Test parcels",
        "category": "regulatory_plan", "geometry_type": "polygon", "access_level": "public",
        "style": '{"fill": "red"}', "sort_order": 100, "description": "",
        "versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0})
    assert page.status_code == 200  # form shown again with the error
    assert "#RRGGBB" in page.content.decode()
    polygon_layer.refresh_from_db()
    assert polygon_layer.style == {"fill": "#FFCC00"}


def test_layer_list_and_project_admin_pages_load(sysadmin_client, polygon_layer):
    for url in ("/admin/layers/layer/", "/admin/layers/layerversion/", "/admin/layers/feature/",
                "/admin/approvals_link/project/", "/admin/approvals_link/projectfootprint/",
                "/admin/accounts/user/", "/admin/accounts/user/add/"):
        assert sysadmin_client.get(url).status_code == 200, url


def test_account_form_offers_no_role_or_permission_fields(sysadmin_client, make_user):
    other = make_user("reviewer", "li")
    html = sysadmin_client.get(f"/admin/accounts/user/{other.pk}/change/").content.decode()
    for field in ('name="role"', 'name="is_superuser"', 'name="groups"',
                  'name="user_permissions"', 'name="is_staff"'):
        assert field not in html, field


def test_plan_data_manager_edits_conformity_rules_and_bad_params_are_refused(
        admin_client_logged, polygon_layer):
    from approvals_link.models import ConformityRule

    page = admin_client_logged.get("/admin/approvals_link/conformityrule/add/")
    assert page.status_code == 200
    form = {"code": "setback-x", "name_zh": "退让", "name_en": "Setback",
            "layer": polygon_layer.pk, "kind": "setback", "section": "control_lines",
            "params": '{"distance_m": -5}', "enabled": "on", "sort_order": 10,
            "description": ""}
    refused = admin_client_logged.post("/admin/approvals_link/conformityrule/add/", form)
    assert refused.status_code == 200 and "distance_m" in refused.content.decode()
    assert not ConformityRule.objects.filter(code="setback-x").exists()
    form["params"] = '{"distance_m": 5}'
    saved = admin_client_logged.post("/admin/approvals_link/conformityrule/add/", form)
    assert saved.status_code == 302
    assert ConformityRule.objects.get(code="setback-x").params == {"distance_m": 5}
