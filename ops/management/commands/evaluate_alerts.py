"""Evaluate the alert rules: once, or every N seconds with --loop N (for deployments that
run evaluation outside the web workers; it coordinates with them through the same lock)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from ops import scheduler


class Command(BaseCommand):
    help = "Evaluate the alert rules (once, or every N seconds with --loop N)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", type=float, metavar="SECONDS",
                            help="keep evaluating every SECONDS (Ctrl-C to stop)")

    def handle(self, *args, loop: float | None = None, **options) -> None:
        if not loop:
            self._once(force=True, interval=0)
            return
        try:
            while True:
                # A connection broken by a database outage is replaced on the next round.
                close_old_connections()
                self._once(force=False, interval=loop)
                time.sleep(loop)
        except KeyboardInterrupt:
            self.stdout.write("stopped")

    def _once(self, *, force: bool, interval: float) -> None:
        outcome = scheduler.evaluate_if_due(interval, force=force)
        line = f"alert evaluation: {outcome}"
        if outcome == scheduler.RAN:
            from ops.models import EvaluatorState

            state = EvaluatorState.objects.filter(pk=1).first()
            if state is not None:
                line += " " + json.dumps(state.last_summary, ensure_ascii=False)
        self.stdout.write(line)
