"""Map-service addresses (DESIGN.md): external systems depend on them; keep them stable."""

from django.urls import path, re_path

from tiles import directory, mvt_views, ows

urlpatterns: list = [
    path("ows", ows.ows, name="ows-root"),
    re_path(r"^ows/(?P<path>.*)$", ows.ows, name="ows"),
    # Vector tiles (tiles/mvt_views.py); any other *.mvt address gets a JSON 400.
    path("tiles/<str:layer>/<int:z>/<int:x>/<int:y>.mvt", mvt_views.mvt_tile, name="mvt-tile"),
    re_path(r"^tiles/(?P<rest>.*)\.mvt$", mvt_views.mvt_bad_address, name="mvt-bad-address"),
    # Service directory (tiles/directory.py): every service, its addresses, CRSs and layers.
    path("api/services", directory.services_json, name="service-directory"),
    path("services/", directory.services_page, name="service-directory-page"),
]
