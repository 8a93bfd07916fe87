"""Electronic documents of a project (mounted under /api/): DESIGN's
/api/projects/{project_code}/documents/."""

from django.urls import path

from approvals_link.documents import api

urlpatterns = [
    path("projects/<str:project_code>/documents/", api.DocumentList.as_view(),
         name="project-documents"),
    path("projects/<str:project_code>/documents/<int:document_id>",
         api.DocumentDetail.as_view(), name="project-document"),
    path("projects/<str:project_code>/documents/<int:document_id>/download",
         api.DocumentDownload.as_view(), name="project-document-download"),
]
