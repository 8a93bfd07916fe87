"""Print the permission matrix (function × role) as a Markdown table, for the README."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.roles import FUNCTIONS, ROLE_FUNCTIONS, Role


class Command(BaseCommand):
    help = "打印权限矩阵 (print the permission matrix as Markdown)"
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **opts: Any) -> None:
        roles = list(Role)
        self.stdout.write("| function | " + " | ".join(str(r.label) for r in roles) + " |")
        self.stdout.write("|---|" + "---|" * len(roles))
        for code, (zh, _en) in FUNCTIONS.items():
            cells = ["✔" if code in ROLE_FUNCTIONS[r] else "" for r in roles]
            self.stdout.write(f"| {zh} `{code}` | " + " | ".join(cells) + " |")
