"""Map-service addresses (DESIGN.md): external systems depend on them; keep them stable."""

from django.urls import path

urlpatterns: list = []
