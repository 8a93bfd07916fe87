from django.urls import path

from approvals_link import api

urlpatterns = [
    path("projects", api.ProjectList.as_view(), name="project-list"),
    path("projects/<str:project_code>", api.ProjectDetail.as_view(), name="project-detail"),
]
