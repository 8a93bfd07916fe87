"""Parser and writer for the 界址点坐标 TXT (勘测定界 boundary-point coordinate exchange format).

Pure Python (shapely only, no Django) so importers, the conformity check and tests can share it.

Layout::

    [属性描述]
    格式版本号=1.0
    坐标系=2000国家大地坐标系
    几度分带=3
    带号=37
    ...
    [地块坐标]
    6,8.5476,NX-2024-001,示例地块,面,,,,@     <- count, area (ha), no, name, kind, sheet, use, class
    J1,1,3658059.919,37579396.074            <- name, ring, X = northing, Y = easting
    ...

Conventions of this module:

* Coordinates are returned and taken as (easting, northing), i.e. shapely x = easting and
  y = northing in the projected CRS, whatever the file's X/Y order.
* Rings of kind 面: ring number 1 is an outer ring; 2.. are holes, assigned to the outer ring
  that covers them. A second closed ring numbered 1 starts another part (MultiPolygon).
* The writer emits exterior rings clockwise and holes counter-clockwise in the map view
  (east right, north up), each ring starting at its north-westernmost vertex (largest
  northing - easting), as cadastral surveys number 界址点 (clockwise from the north-west).
  The parser accepts either orientation and keeps the file's order in ``rings``.
* Areas in the parcel header are hectares (4 decimals when written).
* Problems carry 1-based file line numbers and a message in Chinese with an English gloss.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date as _date
from typing import NamedTuple

import shapely
from shapely.errors import GEOSException
from shapely.geometry import (
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Polygon,
)
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

__all__ = [
    "BEIJING1954",
    "CGCS2000",
    "XIAN1980",
    "BoundaryTxt",
    "BoundaryTxtError",
    "GKParams",
    "TxtParcel",
    "TxtParcelOut",
    "TxtProblem",
    "crs_for",
    "gauss_kruger_params",
    "known_gauss_kruger_epsg",
    "parse_boundary_txt",
    "write_boundary_txt",
]

CGCS2000 = "CGCS2000"
XIAN1980 = "Xian1980"
BEIJING1954 = "Beijing1954"


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


@dataclass
class TxtProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message


class BoundaryTxtError(ValueError):
    """Raised for a file that cannot be read; ``problems`` lists every problem found."""

    def __init__(self, problems: list[TxtProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.message for p in self.problems))


def _problem(line: int | None, zh: str, en: str) -> TxtProblem:
    # Users read Chinese; support staff and logs often need English, so carry both.
    if line is None:
        return TxtProblem(None, f"{zh} ({en})")
    return TxtProblem(line, f"第 {line} 行：{zh} (line {line}: {en})")


# --------------------------------------------------------------------------------------------
# CRS registry (EPSG codes of the Chinese Gauss-Kruger systems)
# --------------------------------------------------------------------------------------------

# (datum, zone width) -> (EPSG of the first zone-prefixed CRS, EPSG of the first CM CRS).
# Each series runs over consecutive zones in EPSG; all checked against pyproj in the tests.
_GK_SERIES: dict[tuple[str, int], tuple[int, int]] = {
    (CGCS2000, 3): (4513, 4534),
    (CGCS2000, 6): (4491, 4502),
    (XIAN1980, 3): (2349, 2370),
    (XIAN1980, 6): (2327, 2338),
    (BEIJING1954, 3): (2401, 2422),
    (BEIJING1954, 6): (21413, 21453),
}
# Zones EPSG defines for China: 3-degree 25..45 (CM 75E..135E), 6-degree 13..23 (same CMs).
_ZONES: dict[int, range] = {3: range(25, 46), 6: range(13, 24)}


class GKParams(NamedTuple):
    datum: str
    zone_width: int
    zone: int
    central_meridian: int
    prefixed: bool


def _cm_of_zone(zone_width: int, zone: int) -> int:
    return 3 * zone if zone_width == 3 else 6 * zone - 3


def _zone_of_cm(zone_width: int, cm: int) -> int | None:
    if zone_width == 3:
        return cm // 3 if cm % 3 == 0 else None
    return (cm + 3) // 6 if (cm + 3) % 6 == 0 else None


def _build_registry() -> dict[int, GKParams]:
    reg: dict[int, GKParams] = {}
    for (datum, width), (first_prefixed, first_cm) in _GK_SERIES.items():
        zones = _ZONES[width]
        for zone in zones:
            cm = _cm_of_zone(width, zone)
            reg[first_prefixed + zone - zones.start] = GKParams(datum, width, zone, cm, True)
            reg[first_cm + zone - zones.start] = GKParams(datum, width, zone, cm, False)
    return reg


_REGISTRY = _build_registry()


def known_gauss_kruger_epsg() -> list[int]:
    """Every EPSG code this module can read and write."""
    return sorted(_REGISTRY)


def crs_for(
    datum: str,
    zone_width: int,
    zone: int | None,
    central_meridian: int | None,
    prefixed: bool,
) -> int:
    """EPSG code of a Chinese Gauss-Kruger CRS; ValueError if there is none.

    Give the zone, the central meridian, or both (they must agree).
    """
    if (datum, zone_width) not in _GK_SERIES:
        raise ValueError(f"unknown datum/zone width: {datum!r}, {zone_width!r}")
    if zone is None and central_meridian is None:
        raise ValueError("need a zone or a central meridian")
    if central_meridian is not None:
        cm_zone = _zone_of_cm(zone_width, central_meridian)
        if cm_zone is None:
            raise ValueError(
                f"{central_meridian}E is not the central meridian of a {zone_width}-degree zone"
            )
        if zone is not None and zone != cm_zone:
            raise ValueError(f"zone {zone} does not have central meridian {central_meridian}E")
        zone = cm_zone
    assert zone is not None
    zones = _ZONES[zone_width]
    if zone not in zones:
        raise ValueError(
            f"no EPSG code for {zone_width}-degree zone {zone} "
            f"(known: {zones.start}..{zones.stop - 1})"
        )
    first_prefixed, first_cm = _GK_SERIES[(datum, zone_width)]
    return (first_prefixed if prefixed else first_cm) + zone - zones.start


def gauss_kruger_params(epsg: int) -> GKParams:
    """(datum, zone_width, zone, central_meridian, prefixed) of a known EPSG code."""
    try:
        return _REGISTRY[int(epsg)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"EPSG:{epsg} is not a Chinese Gauss-Kruger CRS known to this module"
        ) from None


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


@dataclass
class TxtParcel:
    header_line: int
    point_count: int | None
    area: float | None  # as stated in the file, usually hectares
    parcel_no: str
    name: str
    kind: str  # "面", "线" or "点"
    map_sheet: str = ""
    use: str = ""
    land_class: str = ""
    # (easting, northing) pairs, already un-swapped; rings of kind 面 are closed.
    rings: list[list[tuple[float, float]]] = field(default_factory=list)
    ring_numbers: list[int] = field(default_factory=list)
    ring_lines: list[list[int]] = field(default_factory=list)  # source line of each point
    point_names: list[list[str]] = field(default_factory=list)

    def polygon(self) -> Polygon | MultiPolygon:
        """The parcel as a (Multi)Polygon; holes go to the part that covers them."""
        if self.kind != "面":
            raise ValueError(f"parcel {self.parcel_no!r} is of kind {self.kind!r}, not 面")
        geom, _warnings, errors = _assemble_polygon(self)
        if errors or geom is None:
            raise BoundaryTxtError(errors)
        return geom

    def geometry(self) -> BaseGeometry:
        """Geometry for any kind: (Multi)Polygon, (Multi)LineString or MultiPoint."""
        if self.kind == "面":
            return self.polygon()
        if self.kind == "线":
            lines = [LineString(r) for r in self.rings]
            return lines[0] if len(lines) == 1 else MultiLineString(lines)
        return MultiPoint([pt for r in self.rings for pt in r])

    def computed_area_ha(self) -> float:
        """Area of the coordinates in hectares (the stated ``area`` may disagree)."""
        return self.polygon().area / 10_000.0


@dataclass
class BoundaryTxt:
    header: dict[str, str]
    parcels: list[TxtParcel]
    epsg: int | None
    encoding: str
    axes_swapped: bool
    zone: int | None
    zone_width: int
    has_zone_prefix: bool
    datum: str | None  # CGCS2000 | Xian1980 | Beijing1954, None when not stated/recognised
    warnings: list[TxtProblem]
    central_meridian: int | None = None


@dataclass
class TxtParcelOut:
    parcel_no: str
    name: str
    geometry: Polygon | MultiPolygon  # in the projected CRS of the epsg written, x = easting
    area_ha: float | None = None  # None: computed from the geometry
    use: str = ""
    land_class: str = ""
    map_sheet: str = ""


# --------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------

_STANDARD_KEYS = (
    "格式版本号",
    "数据产生单位",
    "数据产生日期",
    "坐标系",
    "几度分带",
    "投影类型",
    "计量单位",
    "带号",
    "精度",
    "转换参数",
)
_KEY_ALIASES = {
    "分带": "几度分带",
    "分带方式": "几度分带",
    "分带类型": "几度分带",
    "坐标系统": "坐标系",
    "投影带号": "带号",
    "中央经线": "中央子午线",
    "中央子午线经度": "中央子午线",
}
_STANDARD_DATUM_NAMES = {
    CGCS2000: "2000国家大地坐标系",
    XIAN1980: "80国家大地坐标系",
    BEIJING1954: "54北京坐标系",
}
_DATUM_LABELS = {CGCS2000: "CGCS2000", XIAN1980: "西安 1980", BEIJING1954: "北京 1954"}
_METRE_UNITS = {"米", "M", "METER", "METRE", "METERS", "METRES", "公尺"}
_FULLWIDTH = str.maketrans({"，": ",", "＝": "=", "［": "[", "］": "]", "【": "[", "】": "]"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_KINDS = ("面", "线", "点")
_CLOSE_NAME_TOLERANCE = 0.01  # m; a same-named closing point this close is a rounding slip


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes) -> tuple[str, str, list[TxtProblem]]:
    warnings: list[TxtProblem] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Notepad's "Unicode": unusual but unambiguous thanks to the BOM.
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise BoundaryTxtError(
                [_problem(None, "文件编码无法识别", "file encoding not recognised")]
            ) from None
        warnings.append(
            _problem(None, "文件为 UTF-16 编码，标准为 GBK", "file is UTF-16, the standard is GBK")
        )
        return text, "utf-16", warnings
    nul = data.find(b"\x00")
    if nul >= 0:
        line = _line_of_offset(data, nul)
        raise BoundaryTxtError(
            [_problem(line, "含二进制内容，不是文本文件", "binary content, not a text file")]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        if data.isascii():
            return text, "ascii", warnings
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        warnings.append(
            _problem(
                None,
                f"文件为 {encoding.upper()} 编码，标准为 GBK",
                f"file is {encoding.upper()}, the standard is GBK",
            )
        )
        return text, encoding, warnings
    last: UnicodeDecodeError | None = None
    for encoding in ("gbk", "gb18030"):
        try:
            return data.decode(encoding), encoding, warnings
        except UnicodeDecodeError as exc:
            last = exc
    line = _line_of_offset(data, last.start if last else 0)
    raise BoundaryTxtError(
        [
            _problem(
                line,
                "无法按 GBK/GB18030 或 UTF-8 解码，可能不是文本文件",
                "cannot be decoded as GBK/GB18030 or UTF-8, probably not a text file",
            )
        ]
    )


def _parse_number(text: str) -> tuple[float | None, str | None]:
    """(value, None) or (None, reason) for one numeric field."""
    if _NOT_FINITE.fullmatch(text):
        return None, "nonfinite"
    if not _NUMBER.fullmatch(text):
        return None, "nan"
    value = float(text)
    if not math.isfinite(value):
        return None, "nonfinite"
    return value, None


def _int_digits(value: float) -> int:
    return len(str(int(abs(value))))


def _classify(x: float, y: float) -> tuple[bool, bool] | None:
    """(swapped, prefixed) from the digit counts of X and Y, or None if they fit no layout.

    A northing in China has 7 integer digits; an easting 6, or 8 with a zone prefix.
    """
    if x < 0 or y < 0:
        return None
    layouts = {
        (7, 8): (False, True),
        (8, 7): (True, True),
        (7, 6): (False, False),
        (6, 7): (True, False),
    }
    return layouts.get((_int_digits(x), _int_digits(y)))


def _datum_of(value: str) -> str | None:
    v = re.sub(r"\s", "", value).upper()
    hits = set()
    if "2000" in v or "CGCS" in v:
        hits.add(CGCS2000)
    if "80" in v or "西安" in v or "XIAN" in v or "XI'AN" in v:
        hits.add(XIAN1980)
    if "54" in v or "北京" in v or "BEIJING" in v:
        hits.add(BEIJING1954)
    return hits.pop() if len(hits) == 1 else None


@dataclass
class _Point:
    line: int
    name: str
    ring: int
    e: float
    n: float


@dataclass
class _Ring:
    number: int
    points: list[_Point]
    closed: bool = False


@dataclass
class _OpenParcel:
    parcel: TxtParcel
    points: list[_Point] = field(default_factory=list)
    broken: bool = False  # a point line failed: ring checks would only repeat that error


# --------------------------------------------------------------------------------------------
# Geometry assembly
# --------------------------------------------------------------------------------------------


def _assemble_polygon(
    parcel: TxtParcel,
) -> tuple[Polygon | MultiPolygon | None, list[TxtProblem], list[TxtProblem]]:
    """Build the (Multi)Polygon; returns (geometry, warnings, errors)."""
    warnings: list[TxtProblem] = []
    errors: list[TxtProblem] = []
    if not parcel.rings:
        return (
            None,
            warnings,
            [_problem(parcel.header_line, "地块没有界址点", "parcel has no points")],
        )

    def first_line(i: int) -> int | None:
        return parcel.ring_lines[i][0] if i < len(parcel.ring_lines) else None

    try:
        shells = [Polygon(r) for r in parcel.rings]
        # Parts: every ring numbered 1.  Holes: the others, biggest first, so that a stray
        # "hole" that is really a separate part becomes a part before smaller rings are placed.
        parts: list[tuple[int, list[int]]] = [
            (i, []) for i, no in enumerate(parcel.ring_numbers) if no == 1
        ]
        holes = sorted(
            (i for i, no in enumerate(parcel.ring_numbers) if no != 1),
            key=lambda i: -shells[i].area,
        )
        for h in holes:
            hole = shells[h]
            covering = [p for p in parts if shells[p[0]].covers(hole)]
            if covering:
                min(covering, key=lambda p: shells[p[0]].area)[1].append(h)
                continue
            if any(shells[p[0]].relate_pattern(hole, "T********") for p in parts):
                errors.append(
                    _problem(
                        first_line(h),
                        f"第 {parcel.ring_numbers[h]} 圈（内环）与外环交叉或重叠",
                        f"ring {parcel.ring_numbers[h]} (a hole) crosses or overlaps an outer ring",
                    )
                )
                continue
            # Disjoint from every outer ring: it cannot be a hole, so it is another part.
            warnings.append(
                _problem(
                    first_line(h),
                    f"第 {parcel.ring_numbers[h]} 圈不在任何外环内，按独立部分处理",
                    f"ring {parcel.ring_numbers[h]} lies outside every outer ring; "
                    "taken as a separate part",
                )
            )
            parts.append((h, []))
        if errors:
            return None, warnings, errors
        polys = [Polygon(parcel.rings[s], [parcel.rings[h] for h in hs]) for s, hs in parts]
        geom: Polygon | MultiPolygon = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        if not geom.is_valid:
            warnings.append(
                _problem(
                    parcel.header_line,
                    f"地块 {parcel.parcel_no} 几何无效：{explain_validity(geom)}",
                    f"parcel {parcel.parcel_no} geometry is invalid: {explain_validity(geom)}",
                )
            )
    except GEOSException as exc:
        return (
            None,
            warnings,
            [
                _problem(
                    parcel.header_line,
                    f"地块 {parcel.parcel_no} 拓扑错误：{exc}",
                    f"parcel {parcel.parcel_no} topology error: {exc}",
                )
            ],
        )
    return geom, warnings, errors


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


class _Parser:
    def __init__(
        self, lines: list[str], default_central_meridian: int | None, require_polygons: bool
    ) -> None:
        self.lines = lines
        self.default_cm = default_central_meridian
        self.require_polygons = require_polygons
        self.errors: list[TxtProblem] = []
        self.warnings: list[TxtProblem] = []
        self.header: dict[str, str] = {}  # as written in the file
        self.canonical: dict[str, str] = {}  # aliases resolved, last one wins
        self.key_lines: dict[str, int] = {}  # canonical key -> line
        self.key_order: list[tuple[str, int]] = []
        self.parcels: list[TxtParcel] = []
        self.current: _OpenParcel | None = None
        # File-wide coordinate layout, fixed by the first point line.
        self.layout: tuple[bool, bool] | None = None
        self.layout_line = 0
        self.prefix_zone: int | None = None
        self.prefix_line = 0
        # Cosmetic deviations are reported once each: (first line, count).
        self.cosmetic: dict[str, list[int]] = {}

    # -- small helpers -----------------------------------------------------------------------
    def error(self, line: int | None, zh: str, en: str) -> None:
        self.errors.append(_problem(line, zh, en))
        if self.current is not None:
            self.current.broken = True

    def warn(self, line: int | None, zh: str, en: str) -> None:
        self.warnings.append(_problem(line, zh, en))

    def note(self, kind: str, line: int) -> None:
        self.cosmetic.setdefault(kind, []).append(line)

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> tuple[list[TxtParcel], dict[str, str]]:
        has_coords = any(
            self._section_name(self._clean(raw, None)) == "地块坐标" for raw in self.lines
        )
        if not has_coords:
            raise BoundaryTxtError(
                [
                    _problem(
                        None,
                        "缺少 [地块坐标] 节，没有地块",
                        "no [地块坐标] section, no parcels",
                    )
                ]
            )
        section: str | None = None
        seen_header_section = False
        warned_no_header = False
        for number, raw in enumerate(self.lines, start=1):
            if raw.strip() == "":
                self.note("blank", number)
                continue
            text = self._clean(raw, number)
            name = self._section_name(text)
            if name is not None:
                if name == "属性描述":
                    section, seen_header_section = "header", True
                elif name == "地块坐标":
                    section = "coords"
                else:
                    section = "unknown"
                    self.warn(
                        number,
                        f"未知的节 [{name}]，其内容被忽略",
                        f"unknown section [{name}], its content is ignored",
                    )
                continue
            if section == "unknown":
                continue
            if section in (None, "header"):
                if section is None and not warned_no_header and "=" in text:
                    warned_no_header = True
                    self.warn(
                        number, "缺少 [属性描述] 节标题", "missing [属性描述] section heading"
                    )
                self._header_line(number, text, section)
                continue
            self._coord_line(number, text)
        self._finish_parcel()
        if not seen_header_section and not warned_no_header:
            self.warn(
                None,
                "缺少 [属性描述] 节，坐标系未说明",
                "missing [属性描述] section, coordinate system not stated",
            )
        if not self.parcels and not self.errors:
            self.error(None, "[地块坐标] 节中没有地块", "no parcels in the [地块坐标] section")
        self._report_cosmetic()
        self._check_header_keys(seen_header_section or warned_no_header)
        return self.parcels, self.header

    @staticmethod
    def _section_name(text: str) -> str | None:
        if text.startswith("[") and text.endswith("]"):
            return re.sub(r"\s", "", text[1:-1])
        return None

    def _clean(self, raw: str, number: int | None) -> str:
        text = raw.strip()
        if number is not None:
            if text != raw:
                self.note("spaces", number)
            if "，" in text:
                self.note("fullwidth_comma", number)
            if any(c in text for c in "＝［］【】"):
                self.note("fullwidth_other", number)
        return text.translate(_FULLWIDTH)

    def _report_cosmetic(self) -> None:
        texts = {
            "blank": ("空行，已忽略", "blank line(s), ignored"),
            "spaces": ("多余空格，已忽略", "extra spaces, ignored"),
            "fullwidth_comma": (
                "全角逗号“，”作分隔符，已按逗号读取",
                "full-width comma used as separator, read as a comma",
            ),
            "fullwidth_other": (
                "全角符号（＝［］【】），已按半角读取",
                "full-width symbols (＝［］【】), read as ASCII",
            ),
            "trailing_fields": ("行尾多余的空字段，已忽略", "trailing empty field(s), ignored"),
        }
        for kind, lines in self.cosmetic.items():
            zh, en = texts[kind]
            more_zh = f"（共 {len(lines)} 行）" if len(lines) > 1 else ""
            more_en = f" ({len(lines)} lines)" if len(lines) > 1 else ""
            self.warn(lines[0], f"{zh}{more_zh}", f"{en}{more_en}")

    # -- header section ----------------------------------------------------------------------
    def _header_line(self, number: int, text: str, section: str | None) -> None:
        if "=" not in text:
            where = "[属性描述] 节中" if section == "header" else "文件开头"
            self.error(
                number,
                f"{where}无法识别的内容“{text[:40]}”，应为 键=值",
                f"unrecognised content {text[:40]!r}, expected key=value",
            )
            return
        key, value = (s.strip() for s in text.split("=", 1))
        key = re.sub(r"\s", "", key)
        canonical = _KEY_ALIASES.get(key, key)
        if canonical != key:
            self.warn(
                number,
                f"非标准键“{key}”，按“{canonical}”处理",
                f"non-standard key {key!r}, read as {canonical!r}",
            )
        if canonical in self.key_lines and self.canonical.get(canonical) != value:
            self.warn(
                number,
                f"键“{canonical}”重复，以本行为准",
                f"key {canonical!r} repeated, this line wins",
            )
        self.header[key] = value
        self.canonical[canonical] = value
        self.key_lines[canonical] = number
        self.key_order.append((canonical, number))

    def value(self, canonical: str) -> str | None:
        return self.canonical.get(canonical)

    def _check_header_keys(self, any_header: bool) -> None:
        if not any_header:
            return
        missing = [k for k in _STANDARD_KEYS if k not in self.key_lines]
        if missing:
            self.warn(
                None,
                f"[属性描述] 缺少键：{'、'.join(missing)}",
                f"[属性描述] lacks key(s): {', '.join(missing)}",
            )
        ranks = [
            (_STANDARD_KEYS.index(k), line) for k, line in self.key_order if k in _STANDARD_KEYS
        ]
        for (prev, _), (rank, line) in itertools.pairwise(ranks):
            if rank < prev:
                self.warn(
                    line, "[属性描述] 的键顺序与标准不同", "[属性描述] keys out of standard order"
                )
                break

    # -- coordinate section ------------------------------------------------------------------
    def _coord_line(self, number: int, text: str) -> None:
        fields = [f.strip() for f in text.split(",")]
        if any(f != g for f, g in zip(fields, text.split(","), strict=True)):
            self.note("spaces", number)
        if fields[-1] == "@":
            self._parcel_header(number, fields[:-1])
            return
        trimmed = list(fields)
        while len(trimmed) > 4 and trimmed[-1] == "":
            trimmed.pop()
        if len(trimmed) == 4:
            if len(trimmed) != len(fields):
                self.note("trailing_fields", number)
            self._point(number, trimmed)
            return
        if len(fields) >= 8 and re.fullmatch(r"\d+", fields[0]):
            self.error(number, "地块头行缺少结尾的 @", "parcel header line lacks the final @")
            return
        self.error(
            number,
            f"字段数为 {len(fields)}，界址点行应为 4 个字段（点名,圈号,X,Y）",
            f"{len(fields)} fields; a point line has 4 (name,ring,X,Y)",
        )

    def _parcel_header(self, number: int, fields: list[str]) -> None:
        self._finish_parcel()
        if len(fields) < 8:
            self.warn(
                number,
                f"地块头行只有 {len(fields)} 个字段（应为 8 个加 @），缺少的按空值处理",
                f"parcel header has {len(fields)} fields (8 plus @ expected); "
                "missing ones taken as empty",
            )
            fields = fields + [""] * (8 - len(fields))
        elif len(fields) > 8:
            self.warn(
                number,
                f"地块头行有 {len(fields)} 个字段（应为 8 个加 @），多余的被忽略",
                f"parcel header has {len(fields)} fields (8 plus @ expected); extra ones ignored",
            )
        count_s, area_s, parcel_no, name, kind, sheet, use, land_class = fields[:8]
        ok = True
        count: int | None = None
        if count_s == "":
            self.warn(number, "界址点数为空", "point count is empty")
        elif re.fullmatch(r"\d+", count_s):
            count = int(count_s)
        else:
            ok = False
            self.error(
                number, f"界址点数“{count_s}”不是整数", f"point count {count_s!r} is not an integer"
            )
        area: float | None = None
        if area_s == "":
            self.warn(number, "地块面积为空", "parcel area is empty")
        else:
            area, reason = _parse_number(area_s)
            if reason == "nonfinite":
                ok = False
                self.error(
                    number,
                    f"地块面积“{area_s}”不是有限数值 (NaN/无穷大)",
                    f"parcel area {area_s!r} is NaN or infinite",
                )
            elif reason:
                ok = False
                self.error(
                    number, f"地块面积“{area_s}”不是数字", f"parcel area {area_s!r} is not a number"
                )
        if parcel_no == "":
            self.warn(number, "地块编号为空", "parcel number is empty")
        elif any(p.parcel_no == parcel_no for p in self.parcels):
            self.warn(number, f"地块编号 {parcel_no} 重复", f"parcel number {parcel_no} repeated")
        if kind == "":
            self.warn(
                number, "几何类型为空，按“面”处理", "geometry kind empty, taken as 面 (polygon)"
            )
            kind = "面"
        elif kind not in _KINDS:
            ok = False
            self.error(
                number,
                f"几何类型“{kind}”应为 点/线/面",
                f"geometry kind {kind!r} must be 点/线/面 (point/line/polygon)",
            )
        elif kind != "面" and self.require_polygons:
            ok = False
            self.error(
                number,
                f"地块 {parcel_no} 的几何类型为“{kind}”，此处要求为“面”",
                f"parcel {parcel_no} has geometry kind {kind!r}; polygons (面) required",
            )
        parcel = TxtParcel(
            header_line=number,
            point_count=count,
            area=area,
            parcel_no=parcel_no,
            name=name,
            kind=kind if kind in _KINDS else "面",
            map_sheet=sheet,
            use=use,
            land_class=land_class,
        )
        self.current = _OpenParcel(parcel)
        # A broken header still collects its points so that their own errors get reported.
        if not ok:
            parcel.kind = "?"

    def _point(self, number: int, fields: list[str]) -> None:
        name, ring_s, x_s, y_s = fields
        ok = True
        ring = 0
        if re.fullmatch(r"\d+", ring_s) and int(ring_s) >= 1:
            ring = int(ring_s)
        else:
            ok = False
            self.error(
                number,
                f"圈号“{ring_s}”不是正整数",
                f"ring number {ring_s!r} is not a positive integer",
            )
        coords: list[float] = []
        for axis, s in (("X", x_s), ("Y", y_s)):
            value, reason = _parse_number(s)
            if reason == "nonfinite":
                ok = False
                self.error(
                    number,
                    f"{axis} 坐标“{s}”不是有限数值 (NaN/无穷大)",
                    f"{axis} coordinate {s!r} is NaN or infinite",
                )
            elif reason:
                ok = False
                self.error(
                    number, f"{axis} 坐标“{s}”不是数字", f"{axis} coordinate {s!r} is not a number"
                )
            else:
                assert value is not None
                coords.append(value)
        if self.current is None:
            self.error(
                number, "界址点行出现在任何地块头行之前", "point line before any parcel header line"
            )
            return
        if not ok:
            return
        x, y = coords
        layout = _classify(x, y)
        if layout is None:
            self.error(
                number,
                f"坐标位数不符：X 整数 {_int_digits(x)} 位、Y 整数 {_int_digits(y)} 位；"
                "北坐标应为 7 位，东坐标 6 位（无带号）或 8 位（含带号）",
                f"coordinate digit counts do not fit: X has {_int_digits(x)} and Y "
                f"{_int_digits(y)} integer digits; northing needs 7, easting 6 (no zone prefix) "
                "or 8 (with zone prefix)",
            )
            return
        swapped, prefixed = layout
        if self.layout is None:
            self.layout, self.layout_line = layout, number
        elif swapped != self.layout[0]:
            self.error(
                number,
                f"X/Y 顺序与第 {self.layout_line} 行不一致（部分行 X、Y 互换）",
                f"X/Y order differs from line {self.layout_line} "
                "(mixed swapped and non-swapped lines)",
            )
            return
        elif prefixed != self.layout[1]:
            self.error(
                number,
                f"东坐标带号前缀与第 {self.layout_line} 行不一致（有的有带号，有的没有）",
                f"easting zone prefix inconsistent with line {self.layout_line} "
                "(some eastings carry the zone, some do not)",
            )
            return
        e, n = (x, y) if swapped else (y, x)
        if prefixed:
            zone = int(e // 1_000_000)
            if self.prefix_zone is None:
                self.prefix_zone, self.prefix_line = zone, number
            elif zone != self.prefix_zone:
                self.error(
                    number,
                    f"带号前缀 {zone} 与第 {self.prefix_line} 行的 {self.prefix_zone} 不一致",
                    f"zone prefix {zone} differs from {self.prefix_zone} on line "
                    f"{self.prefix_line}",
                )
                return
        self.current.points.append(_Point(number, name, ring, e, n))

    # -- parcel completion -------------------------------------------------------------------
    def _finish_parcel(self) -> None:
        if self.current is None:
            return
        open_parcel, self.current = self.current, None
        parcel, points = open_parcel.parcel, open_parcel.points
        if parcel.kind == "?" or open_parcel.broken:
            return  # already reported; ring checks on the remaining points would mislead
        if not points:
            self.error(
                parcel.header_line,
                f"地块 {parcel.parcel_no} 没有界址点",
                f"parcel {parcel.parcel_no} has no points",
            )
            return
        if parcel.kind == "面":
            rings = self._polygon_rings(points)
        elif parcel.kind == "线":
            rings = self._line_parts(points)
        else:
            rings = [_Ring(points[0].ring, list(points))]
        if rings is None:
            return
        parcel.rings = [[(p.e, p.n) for p in r.points] for r in rings]
        parcel.ring_numbers = [r.number for r in rings]
        parcel.ring_lines = [[p.line for p in r.points] for r in rings]
        parcel.point_names = [[p.name for p in r.points] for r in rings]
        self._check_count(parcel, points, rings)
        if parcel.kind == "面":
            geom, warnings, errors = _assemble_polygon(parcel)
            self.warnings.extend(warnings)
            self.errors.extend(errors)
            if geom is not None and not errors:
                self._check_area(parcel, geom.area)
        self.parcels.append(parcel)

    def _polygon_rings(self, points: list[_Point]) -> list[_Ring] | None:
        rings: list[_Ring] = []
        cur: _Ring | None = None
        ok = True
        for pt in points:
            if cur is not None and pt.ring != cur.number:
                rings.append(self._close(cur))
                cur = None
            if cur is None:
                cur = _Ring(pt.ring, [pt])
                continue
            first = cur.points[0]
            # Closing only after 3 points: an early repeat is a duplicate vertex, not a ring.
            if len(cur.points) >= 3 and (pt.e, pt.n) == (first.e, first.n):
                cur.points.append(pt)
                cur.closed = True
                rings.append(cur)
                cur = None
                continue
            if len(cur.points) >= 3 and pt.name and pt.name == first.name:
                gap = math.hypot(pt.e - first.e, pt.n - first.n)
                if gap > _CLOSE_NAME_TOLERANCE:
                    ok = False
                    self.error(
                        pt.line,
                        f"点 {pt.name} 与第 {first.line} 行同名但坐标相差 {gap:.3f} 米",
                        f"point {pt.name} has the name of line {first.line} but lies "
                        f"{gap:.3f} m away",
                    )
                    continue
                self.warn(
                    pt.line,
                    f"闭合点 {pt.name} 与起点相差 {gap:.3f} 米，按起点闭合",
                    f"closing point {pt.name} is {gap:.3f} m off its start; "
                    "closed on the start point",
                )
                cur.points.append(_Point(pt.line, pt.name, pt.ring, first.e, first.n))
                cur.closed = True
                rings.append(cur)
                cur = None
                continue
            cur.points.append(pt)
        if cur is not None:
            rings.append(self._close(cur))
        for ring in rings:
            distinct = {(p.e, p.n) for p in ring.points}
            if len(distinct) < 3:
                ok = False
                self.error(
                    ring.points[0].line,
                    f"第 {ring.number} 圈只有 {len(distinct)} 个不同的点，至少需要 3 个",
                    f"ring {ring.number} has {len(distinct)} distinct points; at least 3 needed",
                )
        return rings if ok else None

    def _close(self, ring: _Ring) -> _Ring:
        if not ring.closed:
            last, first = ring.points[-1], ring.points[0]
            self.warn(
                last.line,
                f"第 {ring.number} 圈未闭合（末点不等于首点），已自动闭合",
                f"ring {ring.number} is not closed (last point differs from first); "
                "closed automatically",
            )
            ring.points.append(_Point(first.line, first.name, first.ring, first.e, first.n))
            ring.closed = True
        return ring

    def _line_parts(self, points: list[_Point]) -> list[_Ring] | None:
        parts: list[_Ring] = []
        for pt in points:
            if parts and parts[-1].number == pt.ring:
                parts[-1].points.append(pt)
            else:
                parts.append(_Ring(pt.ring, [pt]))
        ok = True
        for part in parts:
            if len({(p.e, p.n) for p in part.points}) < 2:
                ok = False
                self.error(
                    part.points[0].line,
                    f"线的第 {part.number} 部分少于 2 个不同的点",
                    f"line part {part.number} has fewer than 2 distinct points",
                )
        return parts if ok else None

    def _check_count(self, parcel: TxtParcel, points: list[_Point], rings: list[_Ring]) -> None:
        stated = parcel.point_count
        if stated is None:
            return
        written = len(points)
        closed_total = sum(len(r.points) for r in rings)
        without_closing = closed_total - (len(rings) if parcel.kind == "面" else 0)
        if stated == written:
            return
        if stated in (closed_total, without_closing) or abs(stated - written) == 1:
            if stated == without_closing:
                how_zh, how_en = "不含闭合点", "closing points not counted"
            elif stated == closed_total:
                how_zh, how_en = "含自动补上的闭合点", "counting the closing point added"
            else:
                how_zh, how_en = "相差 1", "off by one"
            self.warn(
                parcel.header_line,
                f"界址点数 {stated} 与实际点行数 {written} 不符（{how_zh}），以坐标为准",
                f"point count {stated} differs from the {written} point lines ({how_en}); "
                "the coordinates are used",
            )
            return
        self.error(
            parcel.header_line,
            f"界址点数 {stated} 与实际点行数 {written} 不符，文件可能不完整",
            f"point count {stated} does not match the {written} point lines; "
            "the file may be truncated",
        )

    def _check_area(self, parcel: TxtParcel, area_m2: float) -> None:
        if parcel.area is None or area_m2 <= 0:
            return
        ha = area_m2 / 10_000.0

        def close(stated: float, computed: float, rounding: float) -> bool:
            return abs(stated - computed) <= max(0.01 * computed, rounding)

        if close(parcel.area, ha, 0.0001):
            return
        if close(parcel.area, area_m2, 1.0):
            zh, en = "面积似以平方米填写", "the area looks like square metres"
        elif close(parcel.area, area_m2 / (10_000.0 / 15.0), 0.01):
            zh, en = "面积似以亩填写", "the area looks like mu (亩)"
        else:
            zh, en = "与坐标计算面积不符", "does not match the area of the coordinates"
        self.warn(
            parcel.header_line,
            f"地块 {parcel.parcel_no} 面积 {parcel.area} {zh}（坐标计算为 {ha:.4f} 公顷）",
            f"parcel {parcel.parcel_no} area {parcel.area} {en} ({ha:.4f} ha computed)",
        )

    # -- coordinate reference system --------------------------------------------------------
    def resolve_crs(self) -> tuple[int | None, str | None, int | None, int, int | None]:
        """(epsg, datum, zone, zone_width, central_meridian); problems go to self."""
        datum = self._resolve_datum()
        projection = self.value("投影类型")
        projection_ok = True
        if projection is not None and projection != "":
            p = re.sub(r"[\s\-－·]", "", projection).upper()
            if "高斯" not in p and "GAUSS" not in p:
                projection_ok = False
                self.warn(
                    self.key_lines.get("投影类型"),
                    f"投影类型“{projection}”不是高斯克吕格，无法确定坐标系",
                    f"projection {projection!r} is not Gauss-Kruger; CRS unknown",
                )
        unit = self.value("计量单位")
        if unit is not None and unit != "" and unit.strip().upper() not in _METRE_UNITS:
            self.error(
                self.key_lines.get("计量单位"),
                f"计量单位“{unit}”不是米",
                f"unit {unit!r} is not metres",
            )

        width_decl = self._declared_width()
        zone_decl, cm_decl = self._declared_zone()
        prefixed = bool(self.layout and self.layout[1])
        zone_line = self.key_lines.get("带号")
        zone: int | None = None
        cm: int | None = None
        width = width_decl

        if prefixed:
            zone = self.prefix_zone
            assert zone is not None
            if zone_decl is not None and zone_decl != zone:
                self.error(
                    zone_line,
                    f"带号 {zone_decl} 与坐标的带号前缀 {zone} 不一致",
                    f"带号 (zone) {zone_decl} disagrees with the easting prefix {zone}",
                )
                return None, datum, None, width or 3, None
            if zone_decl is None and cm_decl is None:
                self.warn(
                    self.prefix_line,
                    f"缺少带号，取自东坐标前缀：{zone}",
                    f"带号 (zone) missing, taken from the easting prefix: {zone}",
                )
        elif zone_decl is not None:
            zone = zone_decl
        if zone is not None and width is None:
            width = next((w for w, zs in _ZONES.items() if zone in zs), None)
            if width is not None and width_decl is None:
                self.warn(
                    None,
                    f"缺少几度分带，由带号 {zone} 推定为 {width} 度带",
                    f"zone width missing, {width}-degree inferred from zone {zone}",
                )
        if zone is not None and width is not None:
            if zone not in _ZONES[width]:
                zs = _ZONES[width]
                self.error(
                    zone_line if not prefixed else self.prefix_line,
                    f"带号 {zone} 不是 {width} 度带的带号（{zs.start}–{zs.stop - 1}）",
                    f"zone {zone} is not a {width}-degree zone ({zs.start}-{zs.stop - 1})",
                )
                return None, datum, zone, width, None
            cm = _cm_of_zone(width, zone)
            if cm_decl is not None and cm_decl != cm:
                self.error(
                    self.key_lines.get("中央子午线", zone_line),
                    f"中央子午线 {cm_decl}° 与带号 {zone} 不一致",
                    f"central meridian {cm_decl}E disagrees with zone {zone}",
                )
                return None, datum, zone, width, None
        elif zone is None and cm_decl is not None:
            cm = cm_decl
        elif zone is None and self.default_cm is not None:
            cm = self.default_cm
            self.warn(
                None,
                f"缺少带号且坐标无带号前缀，按默认中央子午线 {cm}° 处理",
                f"no zone stated and no zone prefix; default central meridian {cm}E used",
            )
        elif zone is None:
            self.warn(
                None,
                "缺少带号且坐标无带号前缀，无法确定投影带，请指定坐标系",
                "no zone stated and no zone prefix: the zone is unknown, declare the CRS",
            )
            return None, datum, None, width or 3, None
        if width is None:
            width = 3
            self.warn(None, "缺少几度分带，按 3 度带处理", "zone width missing, 3-degree assumed")
        if width == 6:
            self.warn(
                self.key_lines.get("几度分带"),
                "6 度分带，勘测定界通常使用 3 度带，请确认",
                "6-degree zone; boundary surveys usually use 3-degree zones, please check",
            )
        if cm is not None and zone is None:
            zone = _zone_of_cm(width, cm)
        if datum is None or not projection_ok:
            return None, datum, zone, width, cm
        try:
            epsg = crs_for(datum, width, zone, cm, prefixed)
        except ValueError as exc:
            self.warn(None, f"无法确定 EPSG 坐标系：{exc}", f"cannot determine the EPSG CRS: {exc}")
            return None, datum, zone, width, cm
        return epsg, datum, zone, width, cm

    def _resolve_datum(self) -> str | None:
        value = self.value("坐标系")
        line = self.key_lines.get("坐标系")
        if value is None or value == "":
            self.warn(
                line,
                "未说明坐标系，无法确定 EPSG，请指定坐标系",
                "coordinate system not stated; EPSG unknown, declare the CRS",
            )
            return None
        datum = _datum_of(value)
        if datum is None:
            self.warn(
                line,
                f"无法识别的坐标系“{value}”，请指定坐标系",
                f"unrecognised coordinate system {value!r}; declare the CRS",
            )
            return None
        if datum != CGCS2000:
            self.warn(
                line,
                f"旧坐标系“{value}”（{_DATUM_LABELS[datum]}），需转换至 CGCS2000",
                f"legacy coordinate system {value!r} ({datum}); needs transforming to CGCS2000",
            )
        elif value != _STANDARD_DATUM_NAMES[CGCS2000]:
            self.warn(
                line,
                f"坐标系写法“{value}”非标准，按 CGCS2000 处理",
                f"non-standard spelling {value!r}, read as CGCS2000",
            )
        return datum

    def _declared_width(self) -> int | None:
        value = self.value("几度分带")
        if value is None or value == "":
            return None
        v = value.replace("三", "3").replace("六", "6")
        m = re.fullmatch(r"\s*(\d+)\s*(度)?\s*(分带|带)?\s*", v)
        if m is None or int(m.group(1)) not in (3, 6):
            self.error(
                self.key_lines.get("几度分带"),
                f"几度分带“{value}”应为 3 或 6",
                f"zone width {value!r} must be 3 or 6",
            )
            return None
        return int(m.group(1))

    def _declared_zone(self) -> tuple[int | None, int | None]:
        """(zone, central meridian) from 带号 / 中央子午线."""
        cm: int | None = None
        cm_value = self.value("中央子午线")
        if cm_value:
            m = re.fullmatch(
                r"\s*(\d+)(?:\.0*)?\s*(?:°|度)?\s*(?:E|东)?\s*", cm_value, re.IGNORECASE
            )
            if m is None:
                self.error(
                    self.key_lines.get("中央子午线"),
                    f"中央子午线“{cm_value}”不是整数度",
                    f"central meridian {cm_value!r} is not a whole degree",
                )
            else:
                cm = int(m.group(1))
        value = self.value("带号")
        if value is None or value == "":
            return None, cm
        m = re.fullmatch(r"\s*(\d+)\s*带?\s*", value)
        if m is None:
            self.error(
                self.key_lines.get("带号"),
                f"带号“{value}”不是整数",
                f"zone {value!r} is not an integer",
            )
            return None, cm
        number = int(m.group(1))
        if 75 <= number <= 135:
            # Some producers write the central meridian into 带号.
            self.warn(
                self.key_lines.get("带号"),
                f"带号 {number} 看来是中央子午线经度，按此处理",
                f"zone {number} looks like a central meridian; read as such",
            )
            if cm is not None and cm != number:
                self.error(
                    self.key_lines.get("带号"),
                    f"带号 {number} 与中央子午线 {cm} 不一致",
                    f"zone {number} disagrees with central meridian {cm}",
                )
            return None, number
        return number, cm


def parse_boundary_txt(
    data: bytes,
    *,
    default_central_meridian: int | None = 111,
    require_polygons: bool = False,
) -> BoundaryTxt:
    """Read a 界址点坐标 TXT; raise BoundaryTxtError listing every problem found.

    ``default_central_meridian`` is used only when neither 带号 nor a zone prefix says which
    zone the (unprefixed) coordinates are in; None leaves ``epsg`` None in that case.
    ``require_polygons`` turns parcels of kind 点/线 into errors.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_boundary_txt expects bytes")
    data = bytes(data)
    if not data.strip() or data.strip() in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        raise BoundaryTxtError([_problem(None, "文件为空", "the file is empty")])
    text, encoding, warnings = _decode(data)
    if text.endswith("\x1a"):
        # DOS end-of-file marker left by old editors.
        text = text.rstrip("\x1a")
    bad = _CONTROL.search(text)
    if bad is not None:
        line = len(_LINE_BREAK.findall(text, 0, bad.start())) + 1
        raise BoundaryTxtError(
            [_problem(line, "含控制字符，不是文本文件", "control characters: not a text file")]
        )
    if not text.strip():
        raise BoundaryTxtError([_problem(None, "文件为空", "the file is empty")])
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final line break ends the last line, it does not start a new one
    parser = _Parser(lines, default_central_meridian, require_polygons)
    parser.warnings.extend(warnings)
    parcels, header = parser.run()
    epsg, datum, zone, width, cm = parser.resolve_crs() if parcels else (None, None, None, 3, None)
    if parser.errors:
        raise BoundaryTxtError(
            sorted(parser.errors, key=lambda p: (p.line is not None, p.line or 0))
        )
    swapped = bool(parser.layout and parser.layout[0])
    if swapped:
        parser.warn(
            parser.layout_line,
            "X、Y 坐标互换（X 为东坐标），已按位数纠正",
            "X and Y are swapped (X holds the easting); corrected by digit count",
        )
    return BoundaryTxt(
        header=header,
        parcels=parcels,
        epsg=epsg,
        encoding=encoding,
        axes_swapped=swapped,
        zone=zone,
        zone_width=width,
        has_zone_prefix=bool(parser.layout and parser.layout[1]),
        datum=datum,
        warnings=sorted(parser.warnings, key=lambda p: (p.line is not None, p.line or 0)),
        central_meridian=cm,
    )


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


def _ring_for_writing(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Open ring rotated to start at its north-westernmost vertex (max northing - easting)."""
    pts = coords[:-1] if coords[0] == coords[-1] else list(coords)
    start = max(range(len(pts)), key=lambda i: (pts[i][1] - pts[i][0], -i))
    return pts[start:] + pts[:start]


def _check_text_field(value: str, what: str) -> str:
    value = "" if value is None else str(value)
    if re.search(r"[,，\r\n]", value) or value == "@":
        raise ValueError(f"{what} {value!r} must not contain commas, line breaks or be '@'")
    return value


def write_boundary_txt(
    parcels: Iterable[TxtParcelOut],
    *,
    epsg: int,
    producer: str = "",
    date: str | None = None,
    encoding: str = "gbk",
) -> bytes:
    """Write parcels as a standard 界址点坐标 TXT (CRLF, GBK by default).

    Exterior rings are written clockwise and holes counter-clockwise (map view), starting at
    the north-westernmost vertex; point names J1..Jn run on through a parcel's rings, each
    ring closed by repeating its first point and name. Ring 1 is each part's outer ring and
    2.. its holes; a MultiPolygon's next part starts again at ring 1.
    """
    params = gauss_kruger_params(epsg)
    producer = _check_text_field(producer, "producer")
    date = date if date is not None else _date.today().isoformat()
    lines = [
        "[属性描述]",
        "格式版本号=1.0",
        f"数据产生单位={producer}",
        f"数据产生日期={date}",
        f"坐标系={_STANDARD_DATUM_NAMES[params.datum]}",
        f"几度分带={params.zone_width}",
        "投影类型=高斯克吕格",
        "计量单位=米",
        f"带号={params.zone}",
        "精度=0.001",
        "转换参数=,,,,,,",
        "[地块坐标]",
    ]
    count = 0
    for out in parcels:
        count += 1
        geom = out.geometry
        if isinstance(geom, Polygon):
            polys = [geom]
        elif isinstance(geom, MultiPolygon):
            polys = list(geom.geoms)
        else:
            raise TypeError(f"parcel {out.parcel_no!r}: geometry must be a Polygon or MultiPolygon")
        if geom.is_empty or any(p.is_empty for p in polys):
            raise ValueError(f"parcel {out.parcel_no!r}: empty geometry")
        if shapely.has_z(geom):
            geom = shapely.force_2d(geom)
            polys = [geom] if isinstance(geom, Polygon) else list(geom.geoms)
        body: list[str] = []
        serial = 0
        for poly in polys:
            poly = orient(poly, sign=-1.0)  # exterior clockwise, holes counter-clockwise
            rings = [poly.exterior, *poly.interiors]
            for ring_no, ring in enumerate(rings, start=1):
                pts = _ring_for_writing(list(ring.coords))
                first_name = f"J{serial + 1}"
                for i, (e, n) in enumerate([*pts, pts[0]]):
                    _check_coordinate(e, n, params, out.parcel_no)
                    if i < len(pts):
                        serial += 1
                        name = f"J{serial}"
                    else:
                        name = first_name
                    body.append(f"{name},{ring_no},{n:.3f},{e:.3f}")
        area_ha = out.area_ha if out.area_ha is not None else geom.area / 10_000.0
        if not math.isfinite(area_ha):
            raise ValueError(f"parcel {out.parcel_no!r}: area is not finite")
        head = ",".join(
            [
                str(len(body)),
                f"{area_ha:.4f}",
                _check_text_field(out.parcel_no, "parcel_no"),
                _check_text_field(out.name, "name"),
                "面",
                _check_text_field(out.map_sheet, "map_sheet"),
                _check_text_field(out.use, "use"),
                _check_text_field(out.land_class, "land_class"),
                "@",
            ]
        )
        lines.append(head)
        lines.extend(body)
    if count == 0:
        raise ValueError("no parcels to write")
    text = "\r\n".join(lines) + "\r\n"
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(f"character {bad!r} cannot be written in {encoding}") from None


def _check_coordinate(e: float, n: float, params: GKParams, parcel_no: str) -> None:
    # Refuse what the parser could not read back: the digit counts carry the layout.
    if not (math.isfinite(e) and math.isfinite(n)):
        raise ValueError(f"parcel {parcel_no!r}: coordinate is not finite")
    if params.prefixed:
        ok = _int_digits(e) == 8 and int(e // 1_000_000) == params.zone
    else:
        ok = _int_digits(e) == 6
    if not ok or _int_digits(n) != 7 or e < 0 or n < 0:
        raise ValueError(
            f"parcel {parcel_no!r}: point (easting {e:.3f}, northing {n:.3f}) is not in "
            f"EPSG zone {params.zone} {'with' if params.prefixed else 'without'} zone prefix; "
            "is the geometry in the CRS given by epsg?"
        )
