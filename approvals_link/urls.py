"""REST addresses of the approval link (mounted under /api/)."""

from django.urls import include, path

from approvals_link import api

urlpatterns = [
    path("projects", api.ProjectList.as_view(), name="project-list"),
    path("projects/<str:project_code>", api.ProjectDetail.as_view(), name="project-detail"),
    path("", include("approvals_link.urls_intake")),  # approval-system intake
    path("", include("approvals_link.urls_documents")),  # electronic documents
    path("", include("approvals_link.urls_conformity")),  # conformity checks and reports
]
