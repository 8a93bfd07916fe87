"""Writing audit records. Every part of the system records through `record`.

One INSERT ... RETURNING per record: the database assigns seq, time, prev_hash and hash
(audit/migrations/0003). Records are never updated or deleted (the database refuses).
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from audit.models import AuditRecord

# Set on the Django request by record(): the audit middleware then does not add a generic
# record of its own for the same request.
RECORDED_ATTR = "_audit_recorded"


def _raw_ip(request: HttpRequest) -> str | None:
    try:  # the one definition of the client's address (trusted proxies, X-Forwarded-For)
        from accounts.network import client_ip as network_client_ip
    except ImportError:
        return request.META.get("REMOTE_ADDR") or None
    return network_client_ip(request)


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address, or None when there is none or it is not an address (the
    column is inet: a forged or garbled header must not make the record fail)."""
    if request is None:
        return None
    raw = _raw_ip(request)
    if not raw or "%" in raw:
        return None
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        return None
    return raw


def _text(value: Any, limit: int) -> str:
    text = str(value)
    if "\x00" in text:  # PostgreSQL text cannot hold NUL
        text = text.replace("\x00", "\ufffd")
    return text[:limit]


def jsonable(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy of before/after/detail values (dates, decimals, ids as text; NUL
    replaced; very long texts shortened)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return value if len(value) <= 4000 else value[:4000] + f"…({len(value)} chars)"
    if depth > 8:
        return _text(value, 200)
    if isinstance(value, dict):
        return {_text(k, 200): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return _text(value, 4000)


def record(event_type: str, *, request: HttpRequest | None = None, principal: Any = None,
           obj: str = "", result: str = AuditRecord.Result.SUCCESS,
           detail: dict[str, Any] | None = None, before: Any = None,
           after: Any = None, covers_request: bool = True) -> AuditRecord:
    """Append one record. `principal` defaults to the request's; `before`/`after` hold the
    state of changed data. `covers_request=False` leaves the request to the middleware's
    generic record (for records made before the outcome is known)."""
    from accounts.access import principal_of

    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    who = principal if principal is not None else principal_of(request)
    data = dict(detail or {})
    if before is not None:
        data["before"] = before
    if after is not None:
        data["after"] = after
    if request is not None:
        data.setdefault("method", request.method)
        data.setdefault("path", request.path[:300])
    rec = AuditRecord.objects.create(
        event_type=_text(event_type, 64), subject=_text(who.name, 200),
        subject_role=_text(who.role, 32), object=_text(obj, 500),
        source_ip=client_ip(request), result=result, detail=jsonable(data))
    if request is not None and covers_request:
        setattr(request, RECORDED_ATTR, True)
    every = getattr(settings, "AUDIT_ANCHOR_EVERY", 0)
    if every and rec.seq % every == 0:
        _anchor_after_commit(rec.seq, rec.hash)
    return rec


def _anchor_after_commit(seq: int, hash_: str) -> None:
    from audit import chain

    def write() -> None:
        try:
            chain.append_anchor(seq, hash_, source="record")
        except OSError:  # the record itself is safe; the next verify anchors again
            chain.logger.exception("could not write audit anchor for seq %s", seq)

    transaction.on_commit(write)
