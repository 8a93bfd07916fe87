"""Codes of the national data-exchange standard and their checks.

工程建设项目审批管理系统数据共享交换标准 names its fields in pinyin initials (XMDM, SPLCLX,
DYBZSPJDXH, BLZT ...); the enumerations below keep the standard's codes as values and say
what they mean. The check functions return a list of reasons (empty when the value is
good), so intake can report every field's problem at once.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import models
from django.utils.translation import gettext_lazy as _

# GB 32100-2015 unified social credit code: 31 characters (no I, O, S, V, Z) and weights.
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_CHARSET)}
CREDIT_CODE_RE = re.compile(rf"^[{CREDIT_CODE_CHARSET}]{{18}}$")

# Province-level prefixes of GB/T 2260 division codes (11 Beijing ... 82 Macao).
PROVINCE_PREFIXES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82"})

# Project code (项目代码). Two formats are in use, both 24 characters with hyphens:
#  2017 rules   YYYY-DDDDDD-II-TT-SSSSSS  year, division, industry, type, serial
#  GB/T 40058   YYMM-DDDDDD-GG-TT-RRRRRC  year+month, division, central department,
#                                          type, random code and check code
# The first group tells them apart: a GB/T 40058 time code is a valid YYMM (month 01-12,
# from 2108 when the standard took effect), while every year a 2017-format code can carry
# (2014 onwards) reads as month 13 or more. Codes of the 2017 form issued after 2021 (late
# adopters) are accepted with their year.
PROJECT_CODE_RE = re.compile(r"^(\d{4})-(\d{6})-(\d{2})-(\d{2})-(\d{6})$")
PROJECT_TYPE_CODES = {"01": "审批", "02": "核准", "03": "备案"}
FORMAT_2017, FORMAT_GBT40058 = "2017", "GB/T 40058-2021"


def project_code_format(code: str) -> str | None:
    m = PROJECT_CODE_RE.match(code or "")
    if not m:
        return None
    return FORMAT_GBT40058 if 1 <= int(m.group(1)[2:]) <= 12 else FORMAT_2017


def project_code_problems(code: str, today: dt.date | None = None) -> list[str]:
    """Why `code` is not a valid project code (empty list when it is)."""
    today = today or dt.date.today()
    if not isinstance(code, str) or not code:
        return ["项目代码不能为空 (project code is required)"]
    m = PROJECT_CODE_RE.match(code)
    if not m:
        return [f"项目代码格式应为 YYYY-DDDDDD-II-TT-SSSSSS (24 位含连字符), 收到 {code[:40]!r}"]
    head, division, _group, ptype, _tail = m.groups()
    problems = []
    fmt = project_code_format(code)
    if fmt == FORMAT_2017:
        year = int(head)
        if not 2014 <= year <= today.year:
            problems.append(f"项目代码前四位 {head} 既不是 2014 年至今年的年份，也不是有效的"
                            "年月 YYMM (neither a year since 2014 nor a GB/T 40058 YYMM)")
    else:
        month = (2000 + int(head[:2]), int(head[2:]))
        if month < (2021, 8) or month > (today.year, today.month):
            problems.append(f"项目代码时间码 {head} 不在 2108 至当月之间 (YYMM out of range)")
    if division[:2] not in PROVINCE_PREFIXES:
        problems.append(f"项目代码行政区划 {division} 无效 (unknown province prefix)")
    if ptype not in PROJECT_TYPE_CODES:
        problems.append(f"项目代码类型码 {ptype} 应为 01 审批、02 核准 或 03 备案")
    return problems


def credit_code_check_digit(first17: str) -> str:
    """Check character of a unified social credit code from its first 17 characters.

    check = 31 - (sum of value x weight) mod 31, where 31 becomes 0; e.g.
    ``credit_code_check_digit("91350100M000100Y4") == "3"``.
    """
    body = first17.strip().upper()
    if len(body) != 17:
        raise ValueError(f"统一社会信用代码本体应为 17 位 (need 17 characters): {first17!r}")
    try:
        total = sum(_CREDIT_VALUE[ch] * w for ch, w in zip(body, CREDIT_CODE_WEIGHTS,
                                                             strict=True))
    except KeyError as exc:
        raise ValueError(f"统一社会信用代码含非法字符 {exc.args[0]!r} (I, O, S, V, Z "
                         "are not used)") from None
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    return not credit_code_problems(code)


def credit_code_problems(code: str) -> list[str]:
    code = (code or "").strip().upper()
    if not CREDIT_CODE_RE.match(code):
        return ["统一社会信用代码应为 18 位数字或大写字母 (不含 I、O、S、V、Z)"]
    expected = credit_code_check_digit(code[:17])
    if expected != code[17]:
        return [f"统一社会信用代码校验位错误: 第 18 位应为 {expected}, 收到 {code[17]}"]
    return []


class FlowType(models.TextChoices):
    """审批流程类型 SPLCLX."""

    GOVERNMENT_BUILDING = "1", _("政府投资房屋建筑类")
    GOVERNMENT_LINEAR = "2", _("政府投资线性工程类")
    SOCIAL = "3", _("一般社会投资类")
    SOCIAL_SMALL = "4", _("小型社会投资类")
    OTHER = "10", _("其他")


class Stage(models.IntegerChoices):
    """审批阶段 DYBZSPJDXH."""

    PLANNING_PERMIT = 1, _("立项用地规划许可")
    CONSTRUCTION_PERMIT = 2, _("工程建设许可")
    BUILDING_PERMIT = 3, _("施工许可")
    COMPLETION = 4, _("竣工验收")
    PARALLEL = 5, _("并行推进")


class ItemStatus(models.TextChoices):
    """办理状态 BLZT: one row of SPGL_XMSPSXBLXXB records one of these events."""

    RECEIVED = "1", _("收件")
    ACCEPTED = "2", _("受理")
    CORRECTION = "3", _("补正材料")  # the clock stops until the applicant resubmits
    SPECIAL_START = "4", _("特别程序开始")  # hearings, expert review: not counted
    SPECIAL_END = "5", _("特别程序结束")
    APPROVED = "6", _("办结（准予许可）")
    REFUSED = "7", _("办结（不予许可）")
    NOT_ACCEPTED = "8", _("不予受理")
    WITHDRAWN = "9", _("撤回")
    RETURNED = "10", _("退件")


FINAL_STATUSES = frozenset({ItemStatus.APPROVED, ItemStatus.REFUSED, ItemStatus.NOT_ACCEPTED,
                            ItemStatus.WITHDRAWN, ItemStatus.RETURNED})


class LandAcquisition(models.TextChoices):
    """土地获取方式 TDHQFS."""

    ALLOCATION = "1", _("划拨")
    AGREEMENT = "2", _("协议出让")
    AUCTION = "3", _("招标拍卖挂牌出让")
    LEASE = "4", _("租赁")
    CAPITAL = "5", _("作价出资或入股")
    EXISTING = "6", _("原有用地")
    OTHER = "9", _("其他")


class ProjectType(models.TextChoices):
    """建设项目类型, the rows of the land-use compatibility matrix (rule data)."""

    RESIDENTIAL = "residential", _("居住类")
    PUBLIC_SERVICE = "public_service", _("公共管理与公共服务类")
    COMMERCIAL = "commercial", _("商业服务业类")
    INDUSTRIAL = "industrial", _("工业类")
    WAREHOUSE = "warehouse", _("仓储物流类")
    TRANSPORT = "transport", _("交通运输类")
    UTILITY = "utility", _("公用设施类")
    GREEN = "green", _("绿地与广场类")
    OTHER = "other", _("其他")


# The project type an applied land use implies, by the longest matching code prefix
# (用地用海分类 2023). Used when the record does not say the type itself.
_TYPE_BY_LAND_USE = {"07": ProjectType.RESIDENTIAL, "08": ProjectType.PUBLIC_SERVICE,
                     "09": ProjectType.COMMERCIAL, "10": ProjectType.INDUSTRIAL,
                     "1001": ProjectType.INDUSTRIAL, "11": ProjectType.WAREHOUSE,
                     "12": ProjectType.TRANSPORT, "13": ProjectType.UTILITY,
                     "14": ProjectType.GREEN}


def project_type_for_land_use(code: str) -> str:
    code = (code or "").strip()
    for n in (4, 2):
        if code[:n] in _TYPE_BY_LAND_USE:
            return _TYPE_BY_LAND_USE[code[:n]]
    return ProjectType.OTHER
