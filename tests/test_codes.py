"""Project codes in both formats and unified social credit codes."""

from __future__ import annotations

import datetime as dt

import pytest

from approvals_link.codes import (
    FORMAT_2017,
    FORMAT_GBT40058,
    credit_code_problems,
    project_code_format,
    project_code_problems,
)

TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize("code,fmt", [
    ("2019-411325-47-01-000123", FORMAT_2017),  # DOMAIN.md's example
    ("2024-411325-47-03-000001", FORMAT_2017),  # 2017 form issued late: accepted
    ("2108-411325-04-01-123456", FORMAT_GBT40058),  # the first GB/T 40058 month
    ("2611-411325-04-02-654321", FORMAT_GBT40058),
])
def test_valid_project_codes(code, fmt):
    assert project_code_format(code) == fmt
    assert project_code_problems(code, TODAY) == []


@pytest.mark.parametrize("code,why", [
    ("", "不能为空"),
    ("2019411325470100012", "格式"),
    ("2019-411325-47-01-00012", "格式"),
    ("2013-411325-47-01-000123", "年份"),
    ("2107-411325-04-01-123456", "时间码"),  # before GB/T 40058 took effect
    ("2612-411325-04-01-123456", "时间码"),  # a month still to come
    ("2019-991325-47-01-000123", "行政区划"),
    ("2019-411325-47-07-000123", "类型码"),
])
def test_bad_project_codes_say_why(code, why):
    problems = project_code_problems(code, TODAY)
    assert problems and why in " ".join(problems)


def test_credit_codes():
    assert credit_code_problems("91350100M000100Y43") == []
    assert "校验位" in credit_code_problems("91350100M000100Y44")[0]
    assert credit_code_problems("91350100M0001O0Y43")  # O is not in the charset
    assert credit_code_problems("123")
