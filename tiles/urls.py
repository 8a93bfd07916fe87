"""Map-service addresses (DESIGN.md): external systems depend on them; keep them stable."""

from django.urls import path, re_path

from tiles import ows

urlpatterns: list = [
    path("ows", ows.ows, name="ows-root"),
    re_path(r"^ows/(?P<path>.*)$", ows.ows, name="ows"),
]
