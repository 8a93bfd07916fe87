"""The typed attributes a planning feature carries, and how source files name them.

One table drives the importer's field mapping, the exporter's column names and the Chinese
labels that feature info and reports show, so a field is named in exactly one place.
Source names follow the regulatory-plan data standard (DKBH, YDXZDM, ...), with the
Chinese column titles and variants seen in county deliveries as aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["text", "float", "bool", "date"]


@dataclass(frozen=True)
class IndicatorField:
    name: str  # model field
    standard: str  # column name in the exchange standard and in exports
    label_zh: str
    label_en: str
    kind: FieldKind
    aliases: tuple[str, ...] = ()
    unit: str = ""


INDICATOR_FIELDS: tuple[IndicatorField, ...] = (
    IndicatorField("name", "MC", "名称", "Name", "text", ("NAME", "名称", "DKMC", "XMMC")),
    IndicatorField("parcel_no", "DKBH", "地块编号", "Parcel no.", "text",
                   ("地块编号", "PARCEL_NO", "PARCELNO", "DKDM", "BH")),
    IndicatorField("land_use_code", "YDXZDM", "用地性质代码", "Land-use code", "text",
                   ("用地性质代码", "YDDM", "LANDUSE_CODE", "LANDUSE", "YDYHDM", "DLBM")),
    IndicatorField("land_use_name", "YDXZMC", "用地性质名称", "Land-use name", "text",
                   ("用地性质", "用地性质名称", "YDMC", "YDYHMC", "DLMC")),
    IndicatorField("land_area_ha", "YDMJ", "用地面积", "Land area", "float",
                   ("用地面积", "DKMJ"), "公顷"),
    IndicatorField("far_max", "RJLSX", "容积率上限", "FAR upper limit", "float",
                   ("容积率上限", "RJL", "容积率", "FAR", "FAR_MAX")),
    IndicatorField("far_min", "RJLXX", "容积率下限", "FAR lower limit", "float",
                   ("容积率下限", "FAR_MIN")),
    IndicatorField("density_max", "JZMDZ", "建筑密度上限", "Building density cap", "float",
                   ("建筑密度", "建筑密度上限", "JZMD", "DENSITY"), "%"),
    IndicatorField("green_max", "LDLSX", "绿地率上限", "Green ratio upper limit", "float",
                   ("绿地率上限",), "%"),
    IndicatorField("green_min", "LDLLX", "绿地率下限", "Green ratio lower limit", "float",
                   ("绿地率", "绿地率下限", "LDL", "GREEN_RATIO"), "%"),
    IndicatorField("height_max", "JZXG", "建筑限高", "Height limit", "float",
                   ("建筑限高", "建筑高度", "JZGD", "HEIGHT_LIMIT", "HEIGHT"), "米"),
    IndicatorField("mandatory", "SFQZXNR", "是否强制性内容", "Mandatory content", "bool",
                   ("是否强制性内容", "QZXNR")),
    IndicatorField("approval_doc", "PFNAME", "批复文件", "Approval document", "text",
                   ("批复文件", "批复文号", "PFWH", "PFWJ")),
    IndicatorField("approval_date", "PFDATE", "批复日期", "Approval date", "date",
                   ("批复日期", "批复时间", "PFSJ", "PFRQ")),
)

BY_NAME = {f.name: f for f in INDICATOR_FIELDS}


def _norm(name: str) -> str:
    return name.strip().upper().replace(" ", "")


_SOURCE_INDEX: dict[str, IndicatorField] = {}
for _f in INDICATOR_FIELDS:
    for _n in (_f.standard, _f.name, *_f.aliases):
        _SOURCE_INDEX.setdefault(_norm(_n), _f)


def match_columns(columns: list[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Map model field name -> source column. Explicit overrides (model field -> column) win;
    otherwise the standard name beats an alias, so a file with both RJL and RJLSX uses RJLSX."""
    mapping: dict[str, str] = {}
    for field in INDICATOR_FIELDS:
        candidates = [c for c in columns if _norm(c) == _norm(field.standard)]
        candidates += [c for c in columns if _SOURCE_INDEX.get(_norm(c)) is field]
        if candidates:
            mapping[field.name] = candidates[0]
    for model_field, column in (overrides or {}).items():
        if model_field not in BY_NAME:
            raise ValueError(f"未知字段 {model_field} (unknown field)")
        if column not in columns:
            raise ValueError(f"源数据中没有列 {column} (no such column in the source)")
        mapping[model_field] = column
    return mapping
