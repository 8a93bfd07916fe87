"""Audit records from Django's own events: sign-in, sign-in failure, sign-out, and changes
made in the admin site (from its LogEntry, with the object's state before and after)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.gis.geos import GEOSGeometry
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from audit.middleware import RequestAudit, current
from audit.services import jsonable, record

ADMIN_EVENTS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}
# Never copied into the audit trail; a change still shows (as a different fingerprint).
SENSITIVE = ("password", "secret")


def _principal(user: Any) -> Any:
    from accounts.access import ANONYMOUS, principal_for_user

    return principal_for_user(user) if user is not None else ANONYMOUS


@receiver(user_logged_in, dispatch_uid="audit.login")
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("auth.login", request=request, principal=_principal(user), obj=user.get_username(),
           detail={"backend": getattr(user, "backend", "")})


@receiver(user_login_failed, dispatch_uid="audit.login_failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None,
                  **kwargs: Any) -> None:
    from accounts.access import ANONYMOUS

    username = str(credentials.get("username", "") or "")
    record("auth.login_failed", request=request, principal=ANONYMOUS, obj=username,
           result="failure")


@receiver(user_logged_out, dispatch_uid="audit.logout")
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("auth.logout", request=request, principal=_principal(user),
           obj=user.get_username() if user is not None else "")


# --- the admin site ---------------------------------------------------------------------------

def snapshot(instance: Model) -> dict[str, Any]:
    """The stored fields of a model instance, JSON-safe and without secrets."""
    state: dict[str, Any] = {}
    for f in instance._meta.concrete_fields:
        name = f.attname
        value = getattr(instance, name, None)
        if any(word in name.lower() for word in SENSITIVE):
            state[name] = ("hidden:" + hashlib.sha256(str(value).encode()).hexdigest()[:12]
                           if value else value)
        elif isinstance(value, GEOSGeometry):
            state[name] = (f"{value.geom_type} SRID={value.srid}, {value.num_coords} points, "
                           f"wkb sha256 {hashlib.sha256(bytes(value.wkb)).hexdigest()[:16]}")
        else:
            value = jsonable(value)
            state[name] = value[:1000] if isinstance(value, str) else value
    return state


@receiver(pre_save, dispatch_uid="audit.admin_before")
def _before_admin_save(sender: type[Model], instance: Model, raw: bool = False,
                       using: str = "default", **kwargs: Any) -> None:
    state = current()
    if state is None or not state.admin_write or raw or instance._state.adding or \
            instance.pk is None or sender is LogEntry:
        return
    key = (sender._meta.label_lower, str(instance.pk))
    if key not in state.before:
        old = sender._default_manager.using(using).filter(pk=instance.pk).first()
        if old is not None:
            state.before[key] = snapshot(old)


def record_log_entry(entry: LogEntry, state: RequestAudit | None) -> None:
    request = state.request if state is not None else None
    ct = entry.content_type
    label = f"{ct.app_label}.{ct.model}" if ct is not None else "?"
    model = ct.model_class() if ct is not None else None
    obj = model._default_manager.filter(pk=entry.object_id).first() if model else None
    before = after = None
    if entry.action_flag == ADDITION:
        after = snapshot(obj) if obj is not None else None
    elif entry.action_flag == DELETION:
        before = snapshot(obj) if obj is not None else {"repr": entry.object_repr}
    elif obj is not None:
        after = snapshot(obj)
        old = state.before.get((label, str(entry.object_id))) if state else None
        if old is not None:
            changed = [k for k in after if old.get(k) != after[k]]
            before = {k: old.get(k) for k in changed}
            after = {k: after[k] for k in changed}
    if state is not None:
        state.logged_entries.add(entry.pk)
    record(ADMIN_EVENTS.get(entry.action_flag, "admin.change"), request=request,
           principal=None if request is not None else _principal(entry.user),
           obj=f"{label}:{entry.object_id} {entry.object_repr}",
           detail={"change_message": entry.get_change_message()[:1000],
                   "log_entry": entry.pk},
           before=before, after=after)


@receiver(post_save, sender=LogEntry, dispatch_uid="audit.admin_log")
def _admin_logged(sender: Any, instance: LogEntry, created: bool, raw: bool = False,
                  **kwargs: Any) -> None:
    if created and not raw:
        record_log_entry(instance, current())


def sweep_admin_log(state: RequestAudit, user: Any) -> None:
    """LogEntries of this request that came without a signal (bulk actions write them with
    bulk_create): recorded without a before state (the objects may be gone)."""
    entries = (LogEntry.objects.filter(user_id=user.pk, action_time__gte=state.started)
               .exclude(pk__in=state.logged_entries).select_related("content_type", "user")
               .order_by("pk"))
    for entry in entries:
        record_log_entry(entry, state)
