"""Intake addresses for the approval system (mounted under /api/): records, red lines."""

from django.urls import path

from approvals_link.intake import api

urlpatterns = [
    path("intake/records", api.IntakeRecords.as_view(), name="intake-records"),
    path("projects/<str:project_code>/boundary-files", api.BoundaryFiles.as_view(),
         name="project-boundary-files"),
]
