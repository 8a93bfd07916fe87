from django.urls import path

from ops import views

urlpatterns = [
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("ops/", views.index, name="ops-index"),
    path("ops/alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="ops-acknowledge"),
    path("ops/alerts/<int:alert_id>/resolve/", views.resolve, name="ops-resolve"),
]
