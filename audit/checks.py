"""System checks for the audit trail's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

MINIMUM_RETENTION_DAYS = 180  # Cybersecurity Law art. 21: at least six months


@register()
def audit_settings(app_configs: Any = None, **kwargs: Any) -> list:
    problems: list = []
    days = getattr(settings, "AUDIT_RETENTION_DAYS", MINIMUM_RETENTION_DAYS)
    if not isinstance(days, int) or days < MINIMUM_RETENTION_DAYS:
        problems.append(Error(
            f"AUDIT_RETENTION_DAYS must be at least {MINIMUM_RETENTION_DAYS} (is {days!r})",
            hint="审计记录至少保存六个月 (audit records are kept at least six months)",
            id="audit.E001"))
    if "audit.middleware.AuditMiddleware" not in settings.MIDDLEWARE:
        problems.append(Warning(
            "audit.middleware.AuditMiddleware is not in MIDDLEWARE: external-system access "
            "and unrecorded writes are not audited", id="audit.W001"))
    return problems
