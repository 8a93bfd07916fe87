"""Writing audit records. Every part of the system records through `record`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.models import AuditRecord


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(event_type: str, *, request: HttpRequest | None = None, principal: Any = None,
           obj: str = "", result: str = AuditRecord.Result.SUCCESS,
           detail: dict[str, Any] | None = None, before: Any = None,
           after: Any = None) -> AuditRecord:
    """Append one record. `principal` defaults to the request's; `before`/`after` hold the
    state of changed data."""
    from accounts.access import principal_of

    who = principal if principal is not None else principal_of(request)
    data = dict(detail or {})
    if before is not None:
        data["before"] = before
    if after is not None:
        data["after"] = after
    if request is not None:
        data.setdefault("method", request.method)
        data.setdefault("path", request.path[:300])
    return AuditRecord.objects.create(
        event_type=event_type, subject=who.name[:200], subject_role=str(who.role),
        object=str(obj)[:500], source_ip=client_ip(request), result=result, detail=data)
