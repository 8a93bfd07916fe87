"""Pages of the approval link (mounted under /projects/)."""

from django.urls import path

from approvals_link import views_pages

urlpatterns = [
    path("<str:project_code>/", views_pages.project_page, name="project-page"),
]
