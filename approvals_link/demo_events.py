"""Demo approval histories: item handling events (SPGL_XMSPSXBLXXB) for demo projects.

Each project walks the usual path of a social-investment building project in the county:
stage 1 filing and the land-use planning permit, stage 2 the construction-works planning
permit, stage 3 the construction permit, stage 4 completion filing. Projects stop at
different points (some still waiting for a decision), a few items need corrections
(补正) and a few are decided after their time limit. Events fall on working days (no
weekends, no Spring Festival or National Day holidays) in office hours, 2024 to 2026.

Deterministic: a project's history depends only on the seed and its project code, so the
same seed gives the same events whatever the order or number of projects.
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from dataclasses import dataclass

from approvals_link.codes import ItemStatus, Stage
from approvals_link.models import ApprovalItemEvent, Project

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
FIRST_DAY = dt.date(2024, 1, 2)
LAST_START = dt.date(2025, 9, 30)  # the latest first submission of a demo project
LAST_DAY = dt.date(2026, 10, 30)  # nothing happens after this day
KEY_PREFIX = "DEMO-"

# Official closures of the longer holidays (State Council notices); enough for the demo.
_HOLIDAYS = [
    (dt.date(2024, 1, 1), dt.date(2024, 1, 1)), (dt.date(2024, 2, 10), dt.date(2024, 2, 17)),
    (dt.date(2024, 4, 4), dt.date(2024, 4, 6)), (dt.date(2024, 5, 1), dt.date(2024, 5, 5)),
    (dt.date(2024, 10, 1), dt.date(2024, 10, 7)), (dt.date(2025, 1, 1), dt.date(2025, 1, 1)),
    (dt.date(2025, 1, 28), dt.date(2025, 2, 4)), (dt.date(2025, 5, 1), dt.date(2025, 5, 5)),
    (dt.date(2025, 10, 1), dt.date(2025, 10, 8)), (dt.date(2026, 1, 1), dt.date(2026, 1, 3)),
    (dt.date(2026, 2, 15), dt.date(2026, 2, 23)), (dt.date(2026, 5, 1), dt.date(2026, 5, 5)),
    (dt.date(2026, 10, 1), dt.date(2026, 10, 7)),
]
HOLIDAYS = frozenset(start + dt.timedelta(days=i) for start, end in _HOLIDAYS
                     for i in range((end - start).days + 1))


@dataclass(frozen=True)
class Item:
    stage: int
    code: str
    name: str
    department_code: str
    department_name: str
    time_limit_days: int


ITEMS = (
    Item(Stage.PLANNING_PERMIT, "411325-FGW-001", "企业投资项目备案", "411325FGW",
         "县发展和改革委员会", 3),
    Item(Stage.PLANNING_PERMIT, "411325-ZRZY-001", "建设用地规划许可证核发", "411325ZRZY",
         "县自然资源局", 10),
    Item(Stage.CONSTRUCTION_PERMIT, "411325-ZRZY-002", "建设工程规划许可证核发", "411325ZRZY",
         "县自然资源局", 10),
    Item(Stage.BUILDING_PERMIT, "411325-ZJJ-001", "建筑工程施工许可证核发", "411325ZJJ",
         "县住房和城乡建设局", 7),
    Item(Stage.COMPLETION, "411325-ZJJ-002", "建设工程竣工验收备案", "411325ZJJ",
         "县住房和城乡建设局", 5),
)
# How far projects have got: index of the last item reached (weights favour the middle).
_REACHED_WEIGHTS = (1, 3, 4, 3, 2)
OVERDUE_SHARE = 0.12
CORRECTION_SHARE = 0.15


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The working day `n` working days after `day` (n=0: `day` or the next working day)."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    while n > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def _at(rng: random.Random, day: dt.date, after: dt.time | None = None) -> dt.datetime:
    """A moment in office hours (08:30-12:00, 14:30-17:30) of `day`, after `after`."""
    minutes = [m for m in range(8 * 60 + 30, 17 * 60 + 30, 7)
               if not 12 * 60 <= m < 14 * 60 + 30
               and (after is None or m > after.hour * 60 + after.minute)]
    m = rng.choice(minutes)
    return dt.datetime.combine(day, dt.time(m // 60, m % 60, rng.randrange(60)), tzinfo=TZ)


def _history(project: Project, seed: int) -> list[ApprovalItemEvent]:
    rng = random.Random(f"{seed}:{project.project_code}")
    reached = rng.choices(range(len(ITEMS)), weights=_REACHED_WEIGHTS)[0]
    day = add_working_days(FIRST_DAY, rng.randrange((LAST_START - FIRST_DAY).days * 5 // 7))
    events: list[ApprovalItemEvent] = []

    def add(item: Item, instance: str, status: str, when: dt.datetime, opinion: str = "") -> None:
        n = len(events) + 1
        events.append(ApprovalItemEvent(
            local_key=f"{KEY_PREFIX}{project.project_code}-{n:03d}", project=project,
            stage=item.stage, item_code=item.code, item_name=item.name,
            instance_code=instance, department_code=item.department_code,
            department_name=item.department_name, status=status, handled_at=when,
            opinion=opinion, time_limit_days=item.time_limit_days,
            source_updated_at=when + dt.timedelta(minutes=rng.randrange(1, 30))))

    for i, item in enumerate(ITEMS[:reached + 1]):
        instance = f"SL-{project.project_code}-{i + 1:02d}"
        received = _at(rng, day)
        if received.date() > LAST_DAY:
            break
        add(item, instance, ItemStatus.RECEIVED, received)
        # Accepted the same day, or the next working day when received late.
        same_day = rng.random() < 0.67 and received.time() < dt.time(16, 30)
        accepted_day = day if same_day else add_working_days(day, 1)
        accepted = _at(rng, accepted_day, received.time() if accepted_day == day else None)
        if accepted_day > LAST_DAY:
            break
        add(item, instance, ItemStatus.ACCEPTED, accepted, "材料齐全，予以受理")
        # Working days the decision takes; the clock stops while corrections are awaited.
        limit = item.time_limit_days
        overdue = rng.random() < OVERDUE_SHARE
        used = limit + rng.randint(1, 4) if overdue else rng.randint(max(1, limit // 3), limit)
        decided_day = add_working_days(accepted_day, used)
        if rng.random() < CORRECTION_SHARE:
            asked = add_working_days(accepted_day, rng.randint(1, max(1, used - 1)))
            if asked <= LAST_DAY:
                add(item, instance, ItemStatus.CORRECTION, _at(rng, asked),
                    "请补正总平面图及用地红线坐标")
            decided_day = add_working_days(decided_day, rng.randint(2, 8))
        # The last item a project has reached may still wait for its decision.
        if (i == reached and rng.random() < 0.4) or decided_day > LAST_DAY:
            break
        add(item, instance, ItemStatus.APPROVED, _at(rng, decided_day), "准予许可")
        day = add_working_days(decided_day, rng.randint(3, 40))
    return events


def make_demo_events(projects: list[Project], seed: int) -> int:
    """Create the demo handling events of `projects` (saved projects); returns how many
    were created. Events already there (same local key) are kept, so a second call adds
    nothing."""
    events = [e for p in projects for e in _history(p, seed)]
    existing = set(ApprovalItemEvent.objects.filter(
        local_key__in=[e.local_key for e in events]).values_list("local_key", flat=True))
    new = [e for e in events if e.local_key not in existing]
    ApprovalItemEvent.objects.bulk_create(new, batch_size=1000)
    return len(new)
