"""Conformity report addresses (included at the site root): page, PDF, maps, sign-off."""

from django.urls import path

from approvals_link.report import views

urlpatterns = [
    path("projects/<str:project_code>/checks/<int:check_id>/report/", views.report_page,
         name="conformity-report"),
    path("api/conformity-checks/<int:check_id>/report.pdf", views.report_pdf,
         name="conformity-report-pdf"),
    path("api/conformity-checks/<int:check_id>/maps/<int:result_id>.png", views.conflict_map,
         name="conformity-report-map"),
    path("api/conformity-checks/<int:check_id>/sign-off", views.SignOff.as_view(),
         name="conformity-sign-off"),
]
