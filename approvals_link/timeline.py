"""The approval timeline of a project, read from its item events (SPGL_XMSPSXBLXXB rows).

Supervision counts time limits in WORKING days: Chinese public holidays are not counted and
the adjusted working days (调休 Saturdays/Sundays) are. `chinese_calendar` knows each year's
State Council arrangement; for a year it does not know yet we fall back to Monday–Friday and
flag the result `approximate`, rather than refuse to answer.

Counting convention (as 承诺时限 is usually counted): the day an item is accepted is day 0,
the days after it are counted up to and including the completion day. So an item accepted
and completed on the same day used 0 working days ("immediate", efficiency class 4).
The clock stops while the applicant corrects the application (补正材料, from the CORRECTION
event to the next event of the instance) and during special procedures (特别程序, from
SPECIAL_START to SPECIAL_END): working days inside those periods are not counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import chinese_calendar
from django.utils import timezone

from approvals_link.codes import FINAL_STATUSES, ItemStatus, Stage
from approvals_link.models import ApprovalItemEvent, Project

STAGE_NAMES_EN = {1: "Project approval and land-use planning permit",
                  2: "Construction planning permit", 3: "Construction permit",
                  4: "Completion acceptance", 5: "Parallel procedures"}
STATUS_NAMES_EN = {"1": "received", "2": "accepted", "3": "correction requested",
                   "4": "special procedure started", "5": "special procedure ended",
                   "6": "approved", "7": "refused", "8": "not accepted", "9": "withdrawn",
                   "10": "returned"}
# Efficiency classes of the supervision rules (DOMAIN.md): 1 early, 2 on time, 3 overdue,
# 4 immediate (completed the day it was accepted).
EARLY, ON_TIME, OVERDUE, IMMEDIATE = 1, 2, 3, 4
EFFICIENCY_NAMES = {EARLY: ("提前办结", "early"), ON_TIME: ("按时办结", "on time"),
                    OVERDUE: ("超期办结", "overdue"), IMMEDIATE: ("即办", "immediate")}

Period = tuple[dt.date, dt.date]


@lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, exactly known). Unknown years: Monday–Friday, not exact."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


@dataclass
class WorkingDays:
    days: int
    approximate: bool = False


def working_days_between(start: dt.date, end: dt.date,
                         pauses: Iterable[Period] = ()) -> WorkingDays:
    """Working days d with start < d <= end, leaving out the days of each pause (a, b]
    (the clock stops after a and runs again from the day after b). 0 when end <= start."""
    stopped: list[Period] = [(a, b) for a, b in pauses if b > a]
    days, approximate = 0, False
    day = start + dt.timedelta(days=1)
    while day <= end:
        if not any(a < day <= b for a, b in stopped):
            work, exact = is_workday(day)
            approximate |= not exact
            days += work
        day += dt.timedelta(days=1)
    return WorkingDays(days, approximate)


def _local_date(value: dt.datetime) -> dt.date:
    return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()


@dataclass
class _Instance:
    instance_code: str
    stage: int
    item_code: str = ""
    item_name: str = ""
    department_code: str = ""
    department_name: str = ""
    time_limit_days: int | None = None
    received_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    status: str = ""
    status_at: dt.datetime | None = None
    pauses: list[tuple[dt.datetime, dt.datetime | None]] = field(default_factory=list)
    open_pause_special: bool = False  # the open pause is a special procedure (else correction)
    events: int = 0


def _instances(events: Iterable[dict[str, Any]]) -> list[_Instance]:
    """Fold the (time-ordered) events of each application instance into one record."""
    found: dict[str, _Instance] = {}
    for e in events:
        inst = found.get(e["instance_code"])
        if inst is None:
            inst = found[e["instance_code"]] = _Instance(e["instance_code"], e["stage"])
        inst.events += 1
        # The latest event names the item and its department (a rename is a correction).
        inst.item_code, inst.item_name = e["item_code"], e["item_name"]
        inst.department_code = e["department_code"] or inst.department_code
        inst.department_name = e["department_name"] or inst.department_name
        if e["time_limit_days"] is not None:
            inst.time_limit_days = e["time_limit_days"]
        status, at = e["status"], e["handled_at"]
        # A pause (correction) ends at the instance's next event of any kind (the
        # applicant resubmitted); a special procedure ends at its SPECIAL_END.
        if inst.pauses and inst.pauses[-1][1] is None and (
                not inst.open_pause_special or status == ItemStatus.SPECIAL_END):
            inst.pauses[-1] = (inst.pauses[-1][0], at)
        # A RECEIVED after acceptance is a resubmission (it ends a correction), not receipt.
        if status == ItemStatus.RECEIVED and inst.received_at is None \
                and inst.accepted_at is None:
            inst.received_at = at
        elif status == ItemStatus.ACCEPTED and inst.accepted_at is None:
            inst.accepted_at = at
        elif status == ItemStatus.CORRECTION and inst.completed_at is None:
            inst.pauses.append((at, None))
            inst.open_pause_special = False
        elif status == ItemStatus.SPECIAL_START and inst.completed_at is None:
            inst.pauses.append((at, None))
            inst.open_pause_special = True
        elif status in FINAL_STATUSES and inst.completed_at is None:
            inst.completed_at = at
        inst.status, inst.status_at = status, at
    return list(found.values())


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) \
            else value.isoformat()
    return value.isoformat()


def _item(inst: _Instance, today: dt.date) -> dict[str, Any]:
    start_at = inst.accepted_at or inst.received_at
    end_at = inst.completed_at
    in_progress = end_at is None
    used: WorkingDays | None = None
    efficiency: int | None = None
    overdue = False
    paused_days = 0
    if start_at is not None:
        start = _local_date(start_at)
        end = _local_date(end_at) if end_at else today
        pauses = [(_local_date(a), _local_date(b) if b else end) for a, b in inst.pauses]
        used = working_days_between(start, end, pauses)
        paused_days = working_days_between(start, end).days - used.days
        limit = inst.time_limit_days
        if not in_progress:
            if start == end:
                efficiency = IMMEDIATE
            elif limit is not None:
                efficiency = EARLY if used.days < limit else ON_TIME if used.days == limit \
                    else OVERDUE
            overdue = efficiency == OVERDUE
        else:
            overdue = limit is not None and used.days > limit
    if inst.status in (ItemStatus.CORRECTION, ItemStatus.SPECIAL_START):
        state = "paused"
    else:
        state = "in_progress" if in_progress else "completed"
    return {
        "instance_code": inst.instance_code, "stage": inst.stage,
        "item_code": inst.item_code, "item_name": inst.item_name,
        "department_code": inst.department_code, "department_name": inst.department_name,
        "received_at": _iso(inst.received_at), "accepted_at": _iso(inst.accepted_at),
        "completed_at": _iso(inst.completed_at),
        "status": inst.status, "status_name": ItemStatus(inst.status).label
        if inst.status in ItemStatus.values else inst.status,
        "status_name_en": STATUS_NAMES_EN.get(inst.status, inst.status),
        "state": state, "in_progress": in_progress,
        "time_limit_days": inst.time_limit_days,
        "working_days": None if used is None else used.days,
        "paused_working_days": paused_days,
        "pauses": [{"from": _iso(a), "to": _iso(b)} for a, b in inst.pauses],
        "approximate": bool(used and used.approximate),
        "overdue": overdue,
        "efficiency": efficiency,
        "efficiency_name": EFFICIENCY_NAMES[efficiency][0] if efficiency else None,
        "efficiency_name_en": EFFICIENCY_NAMES[efficiency][1] if efficiency else None,
        "events": inst.events,
        "_start": start_at, "_end": end_at,
    }


def project_timeline(project: Project, today: dt.date | None = None) -> dict[str, Any]:
    """The project's approval timeline by stage (all five, empty ones included).

    One query reads the events; everything else is computed here. `today` ends the running
    clocks of items still in progress (the local date by default)."""
    today = today or timezone.localdate()
    rows = (ApprovalItemEvent.objects.filter(project=project)
            .order_by("handled_at", "id")
            .values("instance_code", "stage", "item_code", "item_name", "department_code",
                    "department_name", "status", "handled_at", "time_limit_days"))
    items = [_item(inst, today) for inst in _instances(rows)]
    stages = []
    approximate = any(i["approximate"] for i in items)
    for stage in Stage:
        mine = [i for i in items if i["stage"] == stage.value]
        starts = [i["_start"] for i in mine if i["_start"] is not None]
        started = min(starts) if starts else None
        done = bool(mine) and all(not i["in_progress"] for i in mine)
        ended = max(i["_end"] for i in mine) if done else None
        calendar_days = working = None
        stage_approx = False
        if started is not None:
            first = _local_date(started)
            last = _local_date(ended) if ended else today
            calendar_days = (last - first).days
            wd = working_days_between(first, last)
            working, stage_approx = wd.days, wd.approximate
            approximate |= stage_approx
        stages.append({
            "stage": stage.value, "name": str(stage.label),
            "name_en": STAGE_NAMES_EN[stage.value],
            "state": "not_started" if not mine else "completed" if done else "in_progress",
            "started_at": _iso(started), "ended_at": _iso(ended),
            "calendar_days": calendar_days, "working_days": working,
            "approximate": stage_approx,
            "overdue_items": sum(1 for i in mine if i["overdue"]),
            "items": [{k: v for k, v in i.items() if not k.startswith("_")}
                      for i in sorted(mine, key=lambda i: (i["_start"] is None,
                                                           i["_start"] or today,
                                                           i["instance_code"]))],
        })
    completed = [i for i in items if not i["in_progress"]]
    counts = {name: sum(1 for i in completed if i["efficiency"] == cls)
              for cls, (_zh, name) in EFFICIENCY_NAMES.items()}
    return {
        "today": today.isoformat(), "approximate": approximate,
        "calendar": "chinese_calendar" + ("" if not approximate else
                                          " (Mon–Fri fallback for unknown years)"),
        "stages": stages,
        "totals": {"items": len(items), "completed": len(completed),
                   "in_progress": len(items) - len(completed),
                   "overdue": sum(1 for i in items if i["overdue"]),
                   "by_efficiency": counts},
    }
