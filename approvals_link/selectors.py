"""Reads of projects, with the caller's data permissions applied (one place)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.access import principal_of
from approvals_link.models import Project


def visible_projects(actor: Any) -> QuerySet[Project]:
    """All projects for callers entitled to all; their department's for reviewers and
    department heads; their organisation's for applicants; none otherwise."""
    principal = principal_of(actor)
    if principal.can("projects.view_all"):
        return Project.objects.all()
    condition = Q(pk__in=[])
    if principal.can("projects.view_department") and principal.department_id:
        condition |= Q(handling_departments=principal.department_id)
    credit_code = getattr(principal.user, "organization_credit_code", "")
    if principal.can("projects.view_own") and credit_code:
        condition |= Q(construction_unit_credit_code=credit_code)
    return Project.objects.filter(condition).distinct()


def get_visible_project(actor: Any, project_code: str) -> Project | None:
    """None for unknown and for not-visible projects alike (no existence leak)."""
    if "\x00" in project_code or len(project_code) > 32:
        return None
    return visible_projects(actor).filter(project_code=project_code).first()


def recent_projects(actor: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The caller's most recently updated visible projects with their latest conclusion."""
    from django.db.models import OuterRef, Subquery

    from approvals_link.models import ConformityCheck

    latest = (ConformityCheck.objects.filter(project=OuterRef("pk"))
              .order_by("-created_at", "-id").values("conclusion")[:1])
    rows = (visible_projects(actor).annotate(conclusion=Subquery(latest))
            .order_by("-updated_at", "project_code")[:limit])
    labels = dict(ConformityCheck.Conclusion.choices)
    return [{"code": p.project_code, "name": p.name, "unit": p.construction_unit,
             "conclusion": p.conclusion, "conclusion_label": labels.get(p.conclusion, "—")}
            for p in rows]
