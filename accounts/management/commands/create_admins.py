"""Create the three administrators (and optionally one demo account per role).

There is no superuser: the system, security and audit administrators are separate
accounts. Passwords come from the environment (NEIXIANG_<ROLE>_PASSWORD) or are generated,
printed once and written to var/initial-passwords.txt (mode 0600); every account created
here must change its password at first sign-in.
"""

from __future__ import annotations

import os
import secrets
import string
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Department, User
from accounts.roles import ADMIN_ROLES, DEPARTMENT_ROLES, Role
from audit.services import record

ADMIN_NAMES = {Role.SYSTEM_ADMIN: "sysadmin", Role.SECURITY_ADMIN: "secadmin",
               Role.AUDIT_ADMIN: "auditadmin"}
DEMO_NAMES = {Role.APPLICANT: "demo_applicant", Role.REVIEWER: "demo_reviewer",
              Role.DEPARTMENT_HEAD: "demo_head", Role.PLAN_DATA_MANAGER: "demo_planner",
              Role.EXTERNAL_SYSTEM: "demo_approval_system"}


def generated_password() -> str:
    # Always all four character classes, then random characters.
    pools = [string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#%+-=@^_"]
    chars = [secrets.choice(p) for p in pools] + [secrets.choice("".join(pools))
                                                  for _ in range(12)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class Command(BaseCommand):
    help = "创建三员管理员账号（及演示账号）(create the three administrators)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--demo-accounts", action="store_true",
                            help="也为其他每个角色创建一个演示账号")

    def handle(self, *args: Any, **opts: Any) -> None:
        wanted = dict(ADMIN_NAMES)
        if opts["demo_accounts"]:
            wanted.update(DEMO_NAMES)
        department = Department.natural_resources_bureau()
        created: list[tuple[str, str, str]] = []
        with transaction.atomic():
            for role, username in wanted.items():
                if role in ADMIN_ROLES and User.objects.filter(role=role).exists():
                    continue
                if User.objects.filter(username=username).exists():
                    continue
                password = os.environ.get(f"NEIXIANG_{role.upper()}_PASSWORD") or \
                    generated_password()
                user = User(username=username, role=role,
                            department=department if role in DEPARTMENT_ROLES else None)
                if role == Role.APPLICANT:
                    user.organization_name = "内乡县示范建设有限公司"
                user.set_password(password)
                user.must_change_password = role != Role.EXTERNAL_SYSTEM
                user.save()
                record("accounts.created", obj=username, detail={"role": role,
                                                                 "by": "create_admins"})
                created.append((username, str(Role(role).label), password))
        if not created:
            self.stdout.write("账号已存在，未创建新账号 (accounts exist)")
            return
        path = settings.VAR_DIR / "initial-passwords.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as out:
            os.chmod(path, 0o600)
            for username, label, password in created:
                out.write(f"{username}\t{label}\t{password}\n")
                self.stdout.write(f"{username} ({label}): {password}")
        self.stdout.write(self.style.WARNING(
            f"初始密码只显示这一次，并已写入 {path}（首次登录须修改）"))
