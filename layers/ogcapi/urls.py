"""OGC API Features addresses (DESIGN.md; external systems depend on them)."""

from django.urls import path

from layers.ogcapi import views

urlpatterns = [
    path("", views.landing, name="ogcapi-landing"),
    path("api", views.api, name="ogcapi-api"),
    path("conformance", views.conformance, name="ogcapi-conformance"),
    path("collections", views.collections, name="ogcapi-collections"),
    path("collections/<str:collection_id>", views.collection, name="ogcapi-collection"),
    path("collections/<str:collection_id>/items", views.items, name="ogcapi-items"),
    path("collections/<str:collection_id>/items/<str:feature_id>", views.item,
         name="ogcapi-item"),
    # Anything else under /ogcapi/ is an OGC-style 404, not Django's HTML page.
    path("<path:rest>", views.unknown, name="ogcapi-unknown"),
]
