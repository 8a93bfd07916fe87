"""Checking one exchange row and turning it into model values.

Every field is checked and every problem is collected ({"XMDM": ["...", ...]}), so the
sending system can fix a row in one round trip. Messages are Chinese with English in
parentheses. Keys are the standard's field names; lower-case keys are accepted too (some
front databases export them that way).

Field presence has a meaning: a field absent from the row leaves the stored value alone;
present with null or "" clears it (when the field may be empty). A new row takes the
model's defaults for what it does not carry.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from approvals_link.codes import (
    PROJECT_CODE_RE,
    PROVINCE_PREFIXES,
    FlowType,
    ItemStatus,
    LandAcquisition,
    ProjectType,
    Stage,
    credit_code_problems,
    project_code_problems,
)

PROJECT_TABLE = "SPGL_XMJBXXB"
EVENT_TABLE = "SPGL_XMSPSXBLXXB"
TABLES = (PROJECT_TABLE, EVENT_TABLE)

# Naive times in a row are Beijing time: the approval system runs in China.
SENDER_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=SENDER_TZ)
# Clocks of two systems differ a little; anything further ahead is a wrong date.
FUTURE_SLACK = dt.timedelta(hours=1)
DIVISION_RE = re.compile(r"^\d{6}$")
LAND_USE_RE = re.compile(r"^[0-9A-Za-z]{2,16}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Bookkeeping fields of the standard that we accept and do not store (upload state and
# failure reason belong to the provincial front database, not to us).
IGNORED_FIELDS = frozenset({"SJSCZT", "SBYY", "LSH", "XZQHMC"})


class Invalid(Exception):
    """A field value cannot be used; carries the reasons."""

    def __init__(self, *reasons: str):
        self.reasons = list(reasons)
        super().__init__("; ".join(reasons))


# --- Value parsers (raise Invalid, return the model value) ---------------------------------

def _text(max_length: int, *, single_line: bool = True) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid("应为文本 (text expected)")
        text = str(value).strip()
        if "\x00" in text or (single_line and CONTROL_RE.search(text)):
            raise Invalid("含控制字符 (control characters are not allowed)")
        if len(text) > max_length:
            raise Invalid(f"最长 {max_length} 个字符，收到 {len(text)} 个 "
                          f"(at most {max_length} characters)")
        return text
    return parse


def _number(lo: float, hi: float, unit: str = "") -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise Invalid("应为数值 (number expected)")
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise Invalid(f"应为数值，收到 {str(value)[:40]!r} (number expected)") from None
        if not math.isfinite(number):
            raise Invalid("应为有限数 (finite number expected)")
        if not lo <= number <= hi:
            raise Invalid(f"应在 {lo:g}–{hi:g}{unit} 之间，收到 {number:g} (out of range)")
        return number
    return parse


def _investment(value: Any) -> Decimal:
    """ZTZE, 万元: at most 12 integer digits and 4 decimals (the column's size)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise Invalid("应为数值 (number expected)")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(f"应为数值，收到 {str(value)[:40]!r} (number expected)") from None
    if not amount.is_finite():
        raise Invalid("应为有限数 (finite number expected)")
    if amount < 0:
        raise Invalid("总投资额不能为负 (must not be negative)")
    if amount >= Decimal(10) ** 12:
        raise Invalid("总投资额过大，单位为万元 (too large: the unit is 10 000 yuan)")
    return amount.quantize(Decimal("0.0001"))


def _integer(lo: int, hi: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid("应为整数 (integer expected)")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise Invalid(f"应为整数，收到 {str(value)[:40]!r} (integer expected)")
        if not lo <= value <= hi:
            raise Invalid(f"应在 {lo}–{hi} 之间，收到 {value} (out of range)")
        return value
    return parse


def _code(choices: Any, what: str) -> Callable[[Any], str]:
    """A code of an enumeration; numbers are accepted for numeric codes (1 == "1")."""
    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise Invalid(f"{what}应为代码 (code expected)")
        code = str(value).strip()
        if code not in choices.values:
            allowed = "、".join(f"{v} {label}" for v, label in choices.choices)
            raise Invalid(f"未知的{what} {code[:20]!r}，应为 {allowed} (unknown code)")
        return code
    return parse


def _stage(value: Any) -> int:
    try:
        stage = _integer(1, 5)(value)
    except Invalid:
        allowed = "、".join(f"{v} {label}" for v, label in Stage.choices)
        raise Invalid(f"未知的审批阶段 {str(value)[:20]!r}，应为 {allowed} "
                      "(unknown stage)") from None
    return stage


def parse_time(value: Any) -> dt.datetime:
    """ISO 8601 or "YYYY-MM-DD HH:MM:SS"; naive times are Beijing time (Asia/Shanghai)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("应为时间文本，如 2024-05-01 09:30:00 或 2024-05-01T09:30:00+08:00 "
                      "(ISO 8601 or YYYY-MM-DD HH:MM:SS expected)")
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"时间格式无效 {text[:40]!r}，应为 ISO 8601 或 YYYY-MM-DD HH:MM:SS "
                      "(invalid date/time)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SENDER_TZ)
    if parsed < EARLIEST:
        raise Invalid(f"时间 {text[:40]} 早于 2000 年 (implausibly early)")
    if parsed > timezone.now() + FUTURE_SLACK:
        raise Invalid(f"时间 {text[:40]} 晚于当前时间 (in the future)")
    return parsed


def _division(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) and \
        not isinstance(value, bool) else ""
    if not DIVISION_RE.match(text):
        raise Invalid("行政区划代码应为 6 位数字 (GB/T 2260, 6 digits)")
    if text[:2] not in PROVINCE_PREFIXES:
        raise Invalid(f"行政区划代码 {text} 的省级代码无效 (unknown province prefix)")
    return text


def _with_english(reasons: list[str], english: str) -> list[str]:
    """codes.py says some reasons in Chinese only; API messages carry English too."""
    return [r if re.search(r"\([^)]*[A-Za-z]{3}", r) else f"{r} ({english})" for r in reasons]


def _project_code(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("项目代码应为文本 (project code must be text)")
    code = value.strip()
    problems = project_code_problems(code)
    if problems:
        raise Invalid(*_with_english(problems, "invalid project code"))
    return code


def _credit_code(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid("统一社会信用代码应为文本 (text expected)")
    code = value.strip().upper()
    problems = credit_code_problems(code)
    if problems:
        raise Invalid(*_with_english(problems, "invalid unified social credit code"))
    return code


def _flag(value: Any) -> bool:
    """SJYXBS: 1 valid, 0 invalid."""
    if value in (1, "1", True, "true", "True"):
        return True
    if value in (0, "0", False, "false", "False"):
        return False
    raise Invalid(f"数据有效标识应为 1（有效）或 0（无效），收到 {str(value)[:20]!r} "
                  "(1 valid, 0 invalid)")


def _land_use(value: Any) -> str:
    code = _text(16)(value)
    if code and not LAND_USE_RE.match(code):
        raise Invalid(f"申请用地性质应为用地用海分类代码（如 0701），收到 {code!r} "
                      "(land-use code expected)")
    return code


def _local_key(value: Any) -> str:
    key = _text(64)(value)
    if not key:
        raise Invalid("地方数据主键不能为空 (DFSJZJ is required)")
    return key


# --- Table specifications -----------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    key: str  # the standard's field name
    attr: str  # model attribute
    parse: Callable[[Any], Any]
    required: bool = False
    empty: Any = ""  # the stored value of an explicit null / ""


PROJECT_FIELDS = (
    Field("DFSJZJ", "local_key", _local_key, required=True),
    Field("XZQHDM", "division_code", _division, required=True),
    Field("XMDM", "project_code", _project_code, required=True),
    Field("XMMC", "name", _text(200), required=True),
    Field("JSDW", "construction_unit", _text(200)),
    Field("JSDWTYSHXYDM", "construction_unit_credit_code", _credit_code),
    Field("SPLCLX", "flow_type", _code(FlowType, "审批流程类型"), required=True),
    Field("ZTZE", "investment_wan", _investment, empty=None),
    Field("TDHQFS", "land_acquisition", _code(LandAcquisition, "土地获取方式")),
    Field("YDMJ", "declared_land_area_m2", _number(0, 1e9, " 平方米"), empty=None),
    Field("JZMJ", "building_area_m2", _number(0, 1e9, " 平方米"), empty=None),
    Field("JSDD", "location", _text(200)),
    Field("XMLX", "project_type", _code(ProjectType, "建设项目类型")),
    Field("SQYDXZ", "applied_land_use_code", _land_use),
    Field("NJRJL", "proposed_far", _number(0, 50), empty=None),
    Field("NJJZMD", "proposed_density", _number(0, 100, "%"), empty=None),
    Field("NJLDL", "proposed_green_ratio", _number(0, 100, "%"), empty=None),
    Field("NJJZGD", "proposed_height", _number(0, 1000, " 米"), empty=None),
    Field("SJYXBS", "is_valid", _flag, empty=True),
    Field("SJWXYY", "invalid_reason", _text(200)),
    Field("SJGXSJ", "source_updated_at", parse_time, required=True),
)

EVENT_FIELDS = (
    Field("DFSJZJ", "local_key", _local_key, required=True),
    Field("XZQHDM", "division_code", _division),  # checked against XMDM, not stored
    Field("XMDM", "project_code", _project_code, required=True),
    Field("DYBZSPJDXH", "stage", _stage, required=True),
    Field("SPSXBM", "item_code", _text(64), required=True),
    Field("SPSXMC", "item_name", _text(200), required=True),
    Field("SPSXSLBM", "instance_code", _text(64), required=True),
    Field("SPBMBM", "department_code", _text(64)),
    Field("SPBMMC", "department_name", _text(200)),
    Field("BLZT", "status", _code(ItemStatus, "办理状态"), required=True),
    Field("BLSJ", "handled_at", parse_time, required=True),
    Field("BLYJ", "opinion", _text(4000, single_line=False)),
    Field("CNSX", "time_limit_days", _integer(0, 3650), empty=None),
    Field("SJGXSJ", "source_updated_at", parse_time, required=True),
)

TABLE_FIELDS: dict[str, tuple[Field, ...]] = {PROJECT_TABLE: PROJECT_FIELDS,
                                              EVENT_TABLE: EVENT_FIELDS}
# Model attribute -> standard field name, for turning model validation errors into
# the standard's names.
STANDARD_NAME = {t: {f.attr: f.key for f in fields} for t, fields in TABLE_FIELDS.items()}


@dataclass
class CleanRecord:
    """A checked row: model values of the fields it carries, or the problems."""

    table: str
    local_key: str | None = None
    project_code: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, key: str, *reasons: str) -> None:
        self.errors.setdefault(key, []).extend(reasons)


def normalise_table(name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    upper = name.strip().upper()
    return upper if upper in TABLES else None


def _upper_keys(data: dict[str, Any], record: CleanRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        upper = str(key).strip().upper()
        if upper in out and out[upper] != value:
            record.add(upper, f"字段 {upper} 出现两次且取值不同 (given twice with different "
                       "values)")
        out[upper] = value
    return out


def clean(table: str, data: dict[str, Any]) -> CleanRecord:
    """Check one row of `table` (a name of TABLES); every problem is collected."""
    record = CleanRecord(table=table)
    row = _upper_keys(data, record)
    for spec in TABLE_FIELDS[table]:
        if spec.key not in row:
            if spec.required:
                record.add(spec.key, "必填字段缺失 (required field missing)")
            continue
        value = row[spec.key]
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                record.add(spec.key, "必填字段为空 (required field is empty)")
            else:
                record.values[spec.attr] = spec.empty
            continue
        try:
            record.values[spec.attr] = spec.parse(value)
        except Invalid as exc:
            record.add(spec.key, *exc.reasons)
    record.local_key = record.values.get("local_key") or _raw_key(row.get("DFSJZJ"))
    record.project_code = record.values.get("project_code") or _raw_key(row.get("XMDM"))
    _cross_checks(table, record)
    return record


def _raw_key(value: Any) -> str | None:
    """What the sender meant as a key, for the result line even when it was invalid."""
    return str(value)[:64] if isinstance(value, str | int) and value != "" else None


def _cross_checks(table: str, record: CleanRecord) -> None:
    values = record.values
    code, division = values.get("project_code"), values.get("division_code")
    if code and division:
        m = PROJECT_CODE_RE.match(code)
        if m and m.group(2) != division:
            record.add("XMDM", f"项目代码中的行政区划 {m.group(2)} 与 XZQHDM {division} 不一致 "
                       "(the division in XMDM must equal XZQHDM)")
    if table == EVENT_TABLE:
        values.pop("division_code", None)  # not a column of the event
        handled, updated = values.get("handled_at"), values.get("source_updated_at")
        if handled and updated and handled > updated + FUTURE_SLACK:
            record.add("BLSJ", "办理时间晚于数据更新时间 (BLSJ after SJGXSJ)")
    if table == PROJECT_TABLE and values.get("is_valid") is False \
            and not values.get("invalid_reason"):
        record.add("SJWXYY", "数据无效（SJYXBS=0）时须填写无效原因 (a reason is required "
                   "when SJYXBS is 0)")
