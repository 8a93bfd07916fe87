from django.urls import path

from audit import views

urlpatterns = [
    path("", views.record_list, name="audit-list"),
    path("export.csv", views.export_csv, name="audit-export-csv"),
    path("export.jsonl", views.export_jsonl, name="audit-export-jsonl"),
    path("verify/", views.verify, name="audit-verify"),
]
