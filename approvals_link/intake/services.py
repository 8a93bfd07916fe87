"""Applying pushed exchange rows: idempotent, ordered by SJGXSJ, one savepoint per row.

Outcomes of a row (DFSJZJ is the row's identity):

* ``created``   -- first time we see this DFSJZJ;
* ``updated``   -- the row is newer (SJGXSJ later than the stored one) and differs;
* ``unchanged`` -- the stored row already says the same (a repeated push writes nothing;
  a later SJGXSJ with the same content only moves the stored SJGXSJ forward, so ordering
  keeps working);
* ``stale``     -- SJGXSJ is older than the stored one: a late, out-of-order push. Not
  applied, reported, not an error;
* ``rejected``  -- invalid, or a conflict. An equal SJGXSJ with different content is a
  conflict (error ``conflict``), never a silent overwrite: the sender must bump SJGXSJ.
  An item event of a project we do not know yet is ``unknown_project``: the sender pushes
  the project and re-pushes the event.

Within one batch all projects are applied before all events, so the order of rows in a
batch does not matter. Each row runs in its own savepoint: a rejected row leaves nothing
behind and does not undo the others.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction

from approvals_link import services as approvals
from approvals_link.intake.validation import (
    EVENT_TABLE,
    PROJECT_TABLE,
    STANDARD_NAME,
    CleanRecord,
    clean,
    normalise_table,
)
from approvals_link.models import ApprovalItemEvent, Project

CREATED, UPDATED, UNCHANGED, STALE, REJECTED = (
    "created", "updated", "unchanged", "stale", "rejected")
OUTCOMES = (CREATED, UPDATED, UNCHANGED, STALE, REJECTED)


@dataclass
class RecordResult:
    index: int
    table: str | None
    local_key: str | None = None
    project_code: str | None = None
    outcome: str = REJECTED
    error: str | None = None  # machine-readable reason of a rejection
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "table": self.table, "local_key": self.local_key,
                "project_code": self.project_code, "outcome": self.outcome,
                "error": self.error, "errors": self.errors}


@dataclass
class IntakeResult:
    results: list[RecordResult]

    @property
    def rejected(self) -> int:
        return sum(r.outcome == REJECTED for r in self.results)

    @property
    def accepted(self) -> int:
        return len(self.results) - self.rejected

    def counts(self) -> dict[str, int]:
        found = Counter(r.outcome for r in self.results)
        return {o: found.get(o, 0) for o in OUTCOMES}

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected,
                "results": [r.as_dict() for r in self.results]}


class Rejected(Exception):
    """A row cannot be applied; `code` and field-level reasons go back to the sender."""

    def __init__(self, code: str, errors: dict[str, list[str]]):
        self.code = code
        self.errors = errors
        super().__init__(code)


def ingest(records: list[Any]) -> IntakeResult:
    """Check and apply a batch of `{"table": ..., "data": {...}}` items."""
    results: list[RecordResult | None] = [None] * len(records)
    cleaned: list[tuple[int, CleanRecord]] = []
    for index, item in enumerate(records):
        result, record = _clean_item(index, item)
        if record is None:
            results[index] = result
        else:
            cleaned.append((index, record))
    # Projects first, so an event may come before its project in the same batch.
    cleaned.sort(key=lambda pair: (pair[1].table != PROJECT_TABLE, pair[0]))
    for index, record in cleaned:
        results[index] = _apply(index, record)
    return IntakeResult([r for r in results if r is not None])


def _clean_item(index: int, item: Any) -> tuple[RecordResult, CleanRecord | None]:
    if not isinstance(item, dict):
        return RecordResult(index, None, error="invalid", errors={
            "record": ["每条记录应为 {\"table\": ..., \"data\": {...}} 对象 (object expected)"]}
        ), None
    table = normalise_table(item.get("table"))
    data = item.get("data")
    errors: dict[str, list[str]] = {}
    if table is None:
        errors["table"] = [f"未知的表 {str(item.get('table'))[:40]!r}，应为 {PROJECT_TABLE} 或 "
                           f"{EVENT_TABLE} (unknown table)"]
    if not isinstance(data, dict):
        errors["data"] = ["data 应为字段对象 (object of fields expected)"]
    if errors:
        return RecordResult(index, table, error="invalid", errors=errors), None
    record = clean(table, data)
    result = RecordResult(index, table, record.local_key, record.project_code)
    if record.errors:
        result.error, result.errors = "invalid", record.errors
        return result, None
    return result, record


def _apply(index: int, record: CleanRecord) -> RecordResult:
    result = RecordResult(index, record.table, record.local_key, record.project_code)
    apply = _apply_project if record.table == PROJECT_TABLE else _apply_event
    try:
        with transaction.atomic():  # a savepoint: a failing row leaves nothing behind
            result.outcome = apply(record)
    except Rejected as exc:
        result.error, result.errors = exc.code, exc.errors
    except ValidationError as exc:
        result.error, result.errors = "invalid", _standard_errors(record.table, exc)
    except IntegrityError:
        # A concurrent push of the same key won the race; the sender's retry resolves it.
        result.error = "conflict"
        result.errors = {"DFSJZJ": ["同一数据正被并发写入，请重试 (concurrent write of the "
                                    "same row: retry)"]}
    except DatabaseError:
        result.error = "database_error"
        result.errors = {"record": ["数据库写入失败，请重试 (database error: retry)"]}
    return result


def _standard_errors(table: str, exc: ValidationError) -> dict[str, list[str]]:
    names = STANDARD_NAME[table]
    out: dict[str, list[str]] = {}
    for attr, messages in exc.message_dict.items():
        out.setdefault(names.get(attr, attr), []).extend(str(m) for m in messages)
    return out


# --- Ordering by SJGXSJ --------------------------------------------------------------------

def _same(stored: Any, incoming: Any) -> bool:
    if isinstance(stored, Decimal) or isinstance(incoming, Decimal):
        return stored is not None and incoming is not None and \
            Decimal(stored) == Decimal(incoming)
    if isinstance(stored, float) or isinstance(incoming, float):
        return stored is not None and incoming is not None and \
            abs(float(stored) - float(incoming)) <= 1e-9 * max(1.0, abs(float(incoming)))
    return stored == incoming


def _differences(obj: Any, values: dict[str, Any]) -> list[str]:
    return [attr for attr, value in values.items()
            if attr != "source_updated_at" and not _same(getattr(obj, attr), value)]


def _order(obj: Any, values: dict[str, Any], table: str) -> tuple[str | None, list[str]]:
    """Decide against the stored row: (final outcome or None to apply, changed fields)."""
    changed = _differences(obj, values)
    stored: dt.datetime | None = obj.source_updated_at
    incoming: dt.datetime = values["source_updated_at"]
    if stored is not None and incoming < stored:
        return STALE, changed
    if not changed:
        if stored is None or incoming > stored:
            # Remember the later time (bookkeeping only, updated_at untouched).
            type(obj).objects.filter(pk=obj.pk).update(source_updated_at=incoming)
        return UNCHANGED, changed
    if stored is not None and incoming == stored:
        names = STANDARD_NAME[table]
        raise Rejected("conflict", {"SJGXSJ": [
            f"数据更新时间与已存数据相同（{stored.isoformat()}）但内容不同："
            f"{', '.join(names.get(a, a) for a in changed)}；请更新 SJGXSJ 后重推 (same SJGXSJ "
            "as the stored row but different content: send a later SJGXSJ)"]})
    return None, changed


# --- Projects ------------------------------------------------------------------------------

def _apply_project(record: CleanRecord) -> str:
    values = dict(record.values)
    key, code = values["local_key"], values.pop("project_code")
    project = Project.objects.select_for_update().filter(local_key=key).first()
    if project is None:
        project = Project.objects.select_for_update().filter(project_code=code).first()
        if project is not None and project.local_key:
            raise Rejected("conflict", {"XMDM": [
                f"项目代码 {code} 已由另一条记录（DFSJZJ={project.local_key}）登记 "
                "(project code already registered under another DFSJZJ)"]})
    elif project.project_code != code:
        raise Rejected("conflict", {"XMDM": [
            f"DFSJZJ={key} 已对应项目 {project.project_code}，项目代码不可更改 "
            "(the project code of a row cannot change)"]})
    if project is None:
        approvals.upsert_project(project_code=code, **values)
        return CREATED
    outcome, changed = _order(project, values, PROJECT_TABLE)
    if outcome is not None:
        return outcome
    # local_key is set when an existing project (entered by hand or by the demo) is
    # adopted by the first push that names it.
    approvals.upsert_project(project_code=code, **values)
    return UPDATED


# --- Item events ---------------------------------------------------------------------------

def _apply_event(record: CleanRecord) -> str:
    values = dict(record.values)
    code = values.pop("project_code")
    project = Project.objects.filter(project_code=code).first()
    if project is None:
        raise Rejected("unknown_project", {"XMDM": [
            f"项目 {code} 未登记，请先推送其 {PROJECT_TABLE} 记录后重推 (unknown project: "
            "push the project first, then this row again)"]})
    values["project"] = project
    event = ApprovalItemEvent.objects.select_for_update().filter(
        local_key=values["local_key"]).first()
    if event is None:
        event = ApprovalItemEvent(**values)
        event.full_clean()
        event.save()
        return CREATED
    outcome, changed = _order(event, values, EVENT_TABLE)
    if outcome is not None:
        return outcome
    for attr in changed:
        setattr(event, attr, values[attr])
    event.source_updated_at = values["source_updated_at"]
    event.full_clean()
    event.save()
    return UPDATED
