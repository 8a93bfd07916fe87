"""Password rules of the security policy: length, four character classes, no reuse."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

from accounts.models import SecurityPolicy


class ComplexityValidator:
    """At least the policy's length, with upper and lower case letters, digits and symbols."""

    def validate(self, password: str, user: Any = None) -> None:
        policy = SecurityPolicy.current()
        problems = []
        if len(password) < policy.password_min_length:
            problems.append(f"至少 {policy.password_min_length} 位")
        classes = {
            "大写字母": any(c.isupper() for c in password),
            "小写字母": any(c.islower() for c in password),
            "数字": any(c.isdigit() for c in password),
            "特殊字符": any(not c.isalnum() for c in password),
        }
        missing = [name for name, present in classes.items() if not present]
        if missing:
            problems.append("须包含" + "、".join(missing))
        if problems:
            raise ValidationError("密码" + "；".join(problems) + " (password must have "
                                  f"{policy.password_min_length}+ characters mixing upper, "
                                  "lower, digit and symbol)", code="password_too_weak")

    def get_help_text(self) -> str:
        return "密码至少 8 位，包含大写字母、小写字母、数字和特殊字符。"


class HistoryValidator:
    """Not one of the last N passwords."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None or user.pk is None:
            return
        keep = SecurityPolicy.current().password_history
        for old in user.password_history.all()[:keep]:
            if check_password(password, old.password):
                raise ValidationError(f"不能使用最近 {keep} 次用过的密码 (password used "
                                      "recently)", code="password_reused")

    def get_help_text(self) -> str:
        return "不能与最近 5 次使用过的密码相同。"
