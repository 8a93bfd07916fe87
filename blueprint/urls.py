"""The blueprint page and its JSON endpoints (mounted at /blueprint/)."""

from django.urls import path

from blueprint import api, print_views, views_page

urlpatterns = [
    # The page itself (route "") is added here by the page engineer (blueprint/views_page.py).
    path("", views_page.page, name="blueprint"),
    path("api/identify", api.Identify.as_view(), name="blueprint-identify"),
    path("api/search", api.Search.as_view(), name="blueprint-search"),
    path("api/measure", api.Measure.as_view(), name="blueprint-measure"),
    path("api/boundary-check", api.BoundaryCheck.as_view(), name="blueprint-boundary-check"),
    path("api/print", print_views.Print.as_view(), name="blueprint-print"),
]
