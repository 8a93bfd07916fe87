"""Land-use classes with their standard planning colours.

Two classifications are loaded from ``layers/data/land_use_codes.json``:

* the 《国土空间调查、规划、用途管制用地用海分类指南》 (自然资源部, 2023 edition): numeric
  codes, 2 digits for a first-level class ("07"), 4 for second level ("0701") and 6 for third
  level ("070101");
* the older GB 50137-2011 城市用地分类: letter codes ("R", "R2", "M1", "G1").

Colours are "#RRGGBB" strings. Where the published colour table has no row for a class the
JSON repeats the parent's colour and says so in ``color_source``; see the file's ``source``
and ``notes`` fields for where the values come from.

No Django imports: this module is safe to use from importers, scripts and tests.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

DATA_FILE = Path(__file__).resolve().parent / "data" / "land_use_codes.json"

NEUTRAL_GREY = "#BFBFBF"
"""Colour for codes that cannot be resolved to any known class."""

SYSTEM_2023 = "2023"
SYSTEM_GB50137 = "gb50137"

_WHITESPACE = re.compile(r"\s+")
_CODE_2023 = re.compile(r"^\d{2}(?:\d{2}){0,2}$")
_CODE_GB = re.compile(r"^[A-Z]\d{0,2}$")


@dataclass(frozen=True)
class LandUseClass:
    """One class of either classification."""

    code: str
    name_zh: str
    name_en: str
    level: int
    parent: str | None
    color: str
    color_source: str
    system: str  # SYSTEM_2023 | SYSTEM_GB50137

    @property
    def color_inferred(self) -> bool:
        """True when the colour was not published for this class but taken from another."""
        return self.color_source.startswith("inferred")

    def name(self, lang: Literal["zh", "en"] = "zh") -> str:
        return _pick_name(self, lang)


@dataclass(frozen=True)
class _Catalogue:
    classes_2023: Mapping[str, LandUseClass]
    classes_gb: Mapping[str, LandUseClass]
    gb_to_2023: Mapping[str, tuple[str, ...]]
    source: str
    notes: tuple[str, ...]


def _build_class(raw: Mapping[str, Any], system: str) -> LandUseClass:
    return LandUseClass(
        code=str(raw["code"]),
        name_zh=str(raw["name_zh"]),
        name_en=str(raw["name_en"]),
        level=int(raw["level"]),
        parent=raw.get("parent") or None,
        color=str(raw.get("color") or ""),
        color_source=str(raw.get("color_source") or ""),
        system=system,
    )


@cache
def _catalogue() -> _Catalogue:
    with DATA_FILE.open(encoding="utf-8") as fh:
        raw = json.load(fh)
    classes_2023 = {c.code: c for c in (_build_class(r, SYSTEM_2023) for r in raw["classes"])}
    classes_gb = {
        c.code: c for c in (_build_class(r, SYSTEM_GB50137) for r in raw["gb50137_classes"])
    }
    gb_to_2023 = {k: tuple(v) for k, v in raw.get("gb50137_to_2023", {}).items()}
    notes = raw.get("notes") or ()
    return _Catalogue(
        classes_2023=classes_2023,
        classes_gb=classes_gb,
        gb_to_2023=gb_to_2023,
        source=str(raw.get("source", "")),
        notes=tuple(notes) if isinstance(notes, list) else (str(notes),),
    )


def normalize_code(code: object) -> str:
    """Canonical form of a user-supplied code.

    Full-width characters are folded (NFKC), all whitespace is removed and letters are
    upper-cased. A purely numeric code with an odd number of digits is taken to have lost
    its leading zero (a spreadsheet reading "0701" as 701) and gets it back.
    """
    if code is None:
        return ""
    text = unicodedata.normalize("NFKC", str(code))
    text = _WHITESPACE.sub("", text).upper()
    if text.isdigit() and len(text) % 2 == 1 and len(text) <= 5:
        text = "0" + text
    return text


def _parent_code(code: str) -> str | None:
    """Structural parent of a well-formed code, whether or not that code is known."""
    if _CODE_2023.match(code):
        return code[:-2] if len(code) > 2 else None
    if _CODE_GB.match(code):
        return code[:-1] if len(code) > 1 else None
    return None


def land_use(code: object) -> LandUseClass | None:
    """The class for a 2023 code (any level) or a GB 50137 code; ``None`` if unknown.

    ``" 0701 "``, ``"r2"``, full-width digits and the integer ``701`` are all accepted.
    """
    key = normalize_code(code)
    if not key:
        return None
    cat = _catalogue()
    return cat.classes_2023.get(key) or cat.classes_gb.get(key)


def _pick_name(cls: LandUseClass, lang: str) -> str:
    if lang == "zh":
        return cls.name_zh
    if lang == "en":
        return cls.name_en
    raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")


def land_use_name(code: object, lang: Literal["zh", "en"] = "zh") -> str | None:
    """Name of the class in Chinese (default) or English; ``None`` for an unknown code."""
    if lang not in ("zh", "en"):
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    cls = land_use(code)
    return None if cls is None else _pick_name(cls, lang)


def color_for(code: object) -> str:
    """Map colour ("#RRGGBB") for a code.

    Falls back to the nearest ancestor that has a colour (so an unlisted "070199" is drawn
    like 0701, an unlisted "R21" like R2), and to ``NEUTRAL_GREY`` when nothing matches.
    """
    key: str | None = normalize_code(code)
    cat = _catalogue()
    while key:
        cls = cat.classes_2023.get(key) or cat.classes_gb.get(key)
        if cls is not None and cls.color:
            return cls.color
        key = cls.parent if cls is not None and cls.parent else _parent_code(key)
    return NEUTRAL_GREY


def first_level(code: object) -> LandUseClass | None:
    """The first-level class a code belongs to ("070101" -> 07 居住用地, "R2" -> R 居住用地).

    Works for well-formed codes that are not themselves listed (e.g. "0799"), as long as the
    first-level class exists.
    """
    key = normalize_code(code)
    cat = _catalogue()
    if _CODE_2023.match(key):
        return cat.classes_2023.get(key[:2])
    if _CODE_GB.match(key):
        return cat.classes_gb.get(key[:1])
    return None


def gb50137_candidates(code: object) -> tuple[str, ...]:
    """All 2023 codes a GB 50137 code may correspond to, the default first."""
    return _catalogue().gb_to_2023.get(normalize_code(code), ())


def from_gb50137(code: object) -> str | None:
    """Default 2023 code for a GB 50137 code ("R2" -> "0701"); ``None`` if there is none.

    A code without its own mapping (e.g. the small class "R21") uses its mid class ("R2").
    Aggregates with no single 2023 equivalent (H, H1, E) return ``None``.
    """
    key: str | None = normalize_code(code)
    mapping = _catalogue().gb_to_2023
    while key and _CODE_GB.match(key):
        if key in mapping:
            targets = mapping[key]
            return targets[0] if targets else None
        key = _parent_code(key)
    return None


def all_classes(
    level: int | None = None,
    *,
    system: Literal["2023", "gb50137", "all"] = "2023",
) -> list[LandUseClass]:
    """Classes in table order, optionally only one level (1, 2 or 3).

    By default only the 2023 classification; ``system="gb50137"`` or ``"all"`` for the others.
    """
    cat = _catalogue()
    if system == SYSTEM_2023:
        pool = list(cat.classes_2023.values())
    elif system == SYSTEM_GB50137:
        pool = list(cat.classes_gb.values())
    elif system == "all":
        pool = [*cat.classes_2023.values(), *cat.classes_gb.values()]
    else:
        raise ValueError(f"system must be '2023', 'gb50137' or 'all', not {system!r}")
    if level is None:
        return pool
    return [c for c in pool if c.level == level]


def colour_source() -> str:
    """Where the colours in the data file come from (its top-level ``source`` field)."""
    return _catalogue().source


def data_notes() -> tuple[str, ...]:
    """The data file's ``notes``: caveats and every kind of inferred value."""
    return _catalogue().notes
