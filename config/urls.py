from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import views

admin.site.site_header = "内乡县一张蓝图 管理后台"
admin.site.site_title = "内乡县一张蓝图"
admin.site.index_title = "系统管理 (administration)"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("ops.urls")),  # /readyz, /metrics, /ops/ (operations page)
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("layers.urls")),
    path("api/", include("approvals_link.urls")),
    path("ogcapi/", include("layers.ogcapi.urls")),  # OGC API Features (layers/ogcapi/)
    path("accounts/", include("accounts.urls")),
    path("", include("tiles.urls")),
    path("audit/", include("audit.urls")),  # audit trail pages (audit administrator)
    path("blueprint/", include("blueprint.urls")),
    path("projects/", include("approvals_link.urls_pages")),  # project detail page
    path("", include("approvals_link.urls_report")),  # conformity report HTML/PDF, sign-off  # the blueprint page and its JSON API
    path("oidc/", include("accounts.oidc")),  # enterprise single sign-on (404 when off)
    path("i18n/", include("django.conf.urls.i18n")),
]
