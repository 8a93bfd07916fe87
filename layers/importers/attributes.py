"""Source attribute columns → the typed indicator fields, plus the rest as JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layers.fields import BY_NAME, IndicatorField, match_columns
from layers.importers.base import FeatureBatch, Problem, as_numpy

_TRUE = {"1", "是", "y", "yes", "true", "t", "强制", "强制性"}
_FALSE = {"0", "否", "n", "no", "false", "f", "", "非强制", "引导", "引导性"}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S",
                 "%Y/%m/%d %H:%M:%S")
TEXT_LIMITS = {"name": 200, "parcel_no": 64, "land_use_code": 16, "land_use_name": 100,
               "approval_doc": 200}
PERCENT_FIELDS = ("density_max", "green_max", "green_min")


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, np.floating) and np.isnan(v))


def _to_text(v: Any) -> str:
    if _is_null(v):
        return ""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))  # codes stored as numbers in a DBF: 701.0 would read as "701.0"
    return str(v).strip()


def _to_float(v: Any) -> float | None:
    if _is_null(v) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        v = v.strip().rstrip("%").replace("，", "").replace(",", "")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError
    return f


def _to_bool(v: Any) -> bool | None:
    if _is_null(v):
        return None
    s = _to_text(v).lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False if s else None
    raise ValueError


def _to_date(v: Any) -> dt.date | None:
    if _is_null(v) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else v.astype("datetime64[D]").astype(dt.date)
    s = _to_text(v)
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError


_CONVERT = {"text": _to_text, "float": _to_float, "bool": _to_bool, "date": _to_date}
_KIND_ZH = {"float": "数字", "bool": "是/否", "date": "日期"}


def _json_safe(v: Any) -> Any:
    if _is_null(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


_FAILED = object()  # memo marker: the value does not convert


def _hashable(v: Any) -> bool:
    # Source values are str, numbers, dates, bytes or None; anything else is converted as is.
    return v is None or type(v) in (str, float, int, bool, bytes, dt.date, dt.datetime) \
        or isinstance(v, np.generic)


def _arrow_rows(values: Any, rows: np.ndarray) -> Any:
    """`values[rows]` of a pyarrow array, without a copy when `rows` is all of it in order."""
    import pyarrow as pa

    if len(rows) == len(values) and (rows == np.arange(len(rows))).all():
        return values
    return values.take(pa.array(rows))


def _distinct(values: Any, rows: np.ndarray) -> tuple[np.ndarray, list[Any]] | None:
    """(code per row, distinct values) of `values[rows]`, computed in C, when the column
    is a pyarrow array (the OGR reader's); None otherwise. Nulls are the last value."""
    if not hasattr(values, "dictionary_encode"):
        return None
    import pyarrow as pa

    try:
        encoded = _arrow_rows(values, rows).dictionary_encode()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None
    distinct = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    return codes.astype(np.int64), [*distinct, None]


def _convert_distinct(field: IndicatorField, column: str, codes: np.ndarray,
                      distinct: list[Any], rows: np.ndarray, batch: FeatureBatch,
                      problems: list[Problem]) -> list[Any]:
    """Each distinct value converted once; every row with a bad or too long value is still
    named, in row order."""
    convert = _CONVERT[field.kind]
    limit = TEXT_LIMITS.get(field.name)
    converted = np.empty(len(distinct), dtype=object)
    failed = np.zeros(len(distinct), dtype=bool)
    lengths = np.zeros(len(distinct), dtype=np.int64)
    for k, v in enumerate(distinct):
        try:
            c = convert(v)
        except (ValueError, TypeError, OverflowError):
            c, failed[k] = None, True
        if limit and c and len(c) > limit:
            lengths[k], c = len(c), c[:limit]
        converted[k] = c
    for r in np.flatnonzero(failed[codes] | (lengths[codes] > 0)):
        k = codes[r]
        if failed[k]:
            problems.append(Problem(f"值“{distinct[k]}”不是有效的{_KIND_ZH[field.kind]} "
                                    f"(not a valid {field.kind})",
                                    batch.location(int(rows[r])), column))
        else:
            problems.append(Problem(f"长度 {lengths[k]} 超过 {limit} (too long)",
                                    batch.location(int(rows[r])), column))
    return converted[codes].tolist()


def _arrow_text(field: IndicatorField, column: str, values: Any, rows: np.ndarray,
                batch: FeatureBatch, problems: list[Problem]) -> list[str] | None:
    """A text field from a pyarrow string column (the OGR reader's), trimmed and measured
    in C: Arrow's Unicode whitespace is str.strip()'s, its length counts code points as len()
    does. None when `values` is not such a column."""
    if not hasattr(values, "dictionary_encode"):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    trimmed = pc.fill_null(pc.utf8_trim_whitespace(_arrow_rows(values, rows)), "")
    result = trimmed.to_pylist()
    if limit := TEXT_LIMITS.get(field.name):
        lengths = pc.utf8_length(trimmed).to_numpy(zero_copy_only=False)
        for k in np.flatnonzero(lengths > limit):
            problems.append(Problem(f"长度 {lengths[k]} 超过 {limit} (too long)",
                                    batch.location(int(rows[k])), column))
            result[k] = result[k][:limit]
    return result


def _convert_column(field: IndicatorField, column: str, values: Sequence[Any],
                    rows: np.ndarray, batch: FeatureBatch,
                    problems: list[Problem]) -> list[Any]:
    # Text from text: nothing to convert once per distinct value (parcel numbers and names
    # are mostly distinct), so no dictionary and no Python call per row either.
    if field.kind == "text" and (
            text := _arrow_text(field, column, values, rows, batch, problems)) is not None:
        return text
    numeric = field.kind == "float" and np.asarray(values[:0]).dtype.kind in "fiu"
    if not numeric and (found := _distinct(values, rows)) is not None:
        return _convert_distinct(field, column, *found, rows, batch, problems)
    values = as_numpy(values)
    arr = np.asarray(values)
    if field.kind == "float" and arr.dtype.kind in "fiu":
        out = arr[rows].astype(float)
        return np.where(np.isnan(out), None, out).tolist()
    limit = TEXT_LIMITS.get(field.name)
    picked = arr[rows].tolist() if arr.dtype == object else [values[i] for i in rows]
    if field.kind == "text" and all(v is None or type(v) is str for v in picked):
        # Fast path: GDAL hands text columns over as str or None.
        result = ["" if v is None else v.strip() for v in picked]
        if limit:
            for k, v in enumerate(result):
                if len(v) > limit:
                    problems.append(Problem(f"长度 {len(v)} 超过 {limit} (too long)",
                                            batch.location(int(rows[k])), column))
                    result[k] = v[:limit]
        return result
    convert = _CONVERT[field.kind]
    # A column holds few distinct values (dates, yes/no, codes): convert each one once.
    memo: dict[Any, Any] = {}
    result = []
    for k, v in enumerate(picked):
        # Keyed by type too: 1, 1.0 and True are equal keys but do not convert alike.
        key = (type(v), v) if _hashable(v) else None
        c = memo.get(key, memo) if key is not None else memo
        if c is memo:
            try:
                c = convert(v)
            except (ValueError, TypeError, OverflowError):
                c = _FAILED
            if key is not None:
                memo[key] = c
        if c is _FAILED:
            problems.append(Problem(f"值“{v}”不是有效的{_KIND_ZH[field.kind]} "
                                    f"(not a valid {field.kind})",
                                    batch.location(int(rows[k])), column))
            c = None
        if limit and c and len(c) > limit:
            problems.append(Problem(f"长度 {len(c)} 超过 {limit} (too long)",
                                    batch.location(int(rows[k])), column))
            c = c[:limit]
        result.append(c)
    return result


@dataclass
class AttributePlan:
    """Decisions taken once for the whole source: which column feeds which field, and which
    ratio columns were delivered as fractions (0.35) rather than percent (35)."""

    mapping: dict[str, str]
    fraction_fields: set[str]
    problems: list[Problem]


def plan_attributes(batch: FeatureBatch, overrides: dict[str, str] | None = None
                    ) -> AttributePlan:
    try:
        mapping = match_columns(list(batch.columns), overrides)
    except ValueError as exc:
        return AttributePlan({}, set(), [Problem(str(exc))])
    fractions: set[str] = set()
    problems: list[Problem] = []
    for name in PERCENT_FIELDS:
        if name not in mapping:
            continue
        column = np.asarray(batch.columns[mapping[name]])
        if column.dtype.kind in "fiu":
            finite = column[np.isfinite(column)] if column.dtype.kind == "f" else column
            if len(finite) and float(finite.max()) <= 1.0:
                fractions.add(name)
                problems.append(Problem(f"{mapping[name]} 按小数理解，已换算为百分数 "
                                        "(fractions converted to percent)",
                                        field=mapping[name], severity="warning"))
            continue
        values = []
        for v in column:
            try:
                f = _to_float(v)
            except (ValueError, TypeError, OverflowError):
                continue  # reported per feature by the conversion
            if f is not None:
                values.append(f)
        if values and max(values) <= 1.0:
            fractions.add(name)
            problems.append(Problem(f"{mapping[name]} 按小数理解，已换算为百分数 "
                                    "(fractions converted to percent)", field=mapping[name],
                                    severity="warning"))
    return AttributePlan(mapping, fractions, problems)


def convert_attributes(batch: FeatureBatch, rows: np.ndarray, plan: AttributePlan
                       ) -> tuple[dict[str, list[Any]], list[str], list[Problem]]:
    """Typed columns (model field -> values for `rows`), the other attributes of each row
    as a JSON object text, and conversion problems (errors naming feature and column)."""
    problems: list[Problem] = []
    typed: dict[str, list[Any]] = {}
    for name, column in plan.mapping.items():
        values = _convert_column(BY_NAME[name], column, batch.columns[column], rows, batch,
                                 problems)
        if name in plan.fraction_fields:
            values = [None if v is None else round(v * 100, 6) for v in values]
        typed[name] = values
    used = set(plan.mapping.values())
    extra_cols = [c for c in batch.columns if c not in used]
    # Each distinct value of a column is encoded once, as its `"key": value` JSON fragment;
    # a row's object is the join of its fragments (empty and null values are left out).
    fragments: list[list[str]] = []
    for c in extra_cols:
        key = json.dumps(c, ensure_ascii=False) + ": "
        if (found := _distinct(batch.columns[c], rows)) is not None:
            codes, distinct = found
            safe = [_json_safe(v) for v in distinct]
            encoded = np.array(["" if v in (None, "") else key + json.dumps(v, ensure_ascii=False)
                                for v in safe], dtype=object)
            fragments.append(encoded[codes].tolist())
            continue
        memo: dict[tuple[type, Any], str] = {}
        column_fragments = []
        for v in np.asarray(batch.columns[c], dtype=object)[rows].tolist():
            memo_key = (type(v), v) if _hashable(v) else None
            frag = memo.get(memo_key) if memo_key is not None else None
            if frag is None:
                s = _json_safe(v)
                frag = "" if s in (None, "") else key + json.dumps(s, ensure_ascii=False)
                if memo_key is not None:
                    memo[memo_key] = frag
            column_fragments.append(frag)
        fragments.append(column_fragments)
    if not fragments:
        extras = ["{}"] * len(rows)
    elif len(fragments) == 1:
        extras = ["{" + f + "}" for f in fragments[0]]
    else:
        extras = ["{" + ", ".join(f for f in parts if f) + "}"
                  for parts in zip(*fragments, strict=True)]
    return typed, extras, problems


def map_attributes(batch: FeatureBatch, rows: np.ndarray,
                   overrides: dict[str, str] | None = None
                   ) -> tuple[dict[str, list[Any]], list[str], dict[str, str],
                              list[Problem]]:
    """Plan and convert in one call (small batches)."""
    plan = plan_attributes(batch, overrides)
    typed, extras, problems = convert_attributes(batch, rows, plan)
    return typed, extras, plan.mapping, plan.problems + problems
