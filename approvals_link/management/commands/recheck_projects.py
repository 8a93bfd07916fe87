"""Re-check projects against the current plan (after a bulk publish, or on a schedule)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from approvals_link.conformity import engine
from approvals_link.models import ConformityCheck


class Command(BaseCommand):
    help = "全部项目重新进行合规性审查 (re-check every current footprint, set-based)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", action="append", default=[],
                            help="只审查这些项目代码 (only these project codes)")

    def handle(self, *args: Any, **opts: Any) -> None:
        footprints = engine.current_footprints()
        if opts["project"]:
            footprints = [f for f in footprints if f.project.project_code in opts["project"]]
        started = time.perf_counter()
        plan = engine.current_plan()
        stored = 0
        with tqdm(total=len(footprints), unit="项目", disable=opts["verbosity"] == 0) as bar:
            for i in range(0, len(footprints), engine.BATCH):
                chunk = footprints[i:i + engine.BATCH]
                stored += len(engine.check_footprints(
                    chunk, trigger=ConformityCheck.Trigger.PLAN_CHANGE, plan=plan))
                bar.update(len(chunk))
        self.stdout.write(f"已审查 {stored} 个项目，用时 {time.perf_counter() - started:.1f} s")
