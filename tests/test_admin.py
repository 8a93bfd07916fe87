"""The GeoDjango admin: map widgets that work offline, style validation."""

import re

import pytest
from django.contrib.auth.models import User

from layers import services
from layers.models import Feature
from tests.conftest import SAMPLE_ATTRS, sample_parcels, write_vector

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged(client):
    User.objects.create_superuser("root", "r@example.org", "Adm1n!pass")
    client.login(username="root", password="Adm1n!pass")
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


def test_layer_list_and_project_admin_pages_load(admin_client_logged, polygon_layer):
    for url in ("/admin/layers/layer/", "/admin/layers/layerversion/", "/admin/layers/feature/",
                "/admin/approvals_link/project/", "/admin/approvals_link/projectfootprint/"):
        assert admin_client_logged.get(url).status_code == 200, url
