"""界址点坐标 TXT (boundary-point coordinate text) as a FeatureBatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layers.formats.boundary_txt import BoundaryTxtError, TxtProblem, parse_boundary_txt
from layers.importers.base import FeatureBatch, ImportFailed, Problem, line_location

_KIND_TYPES = {"面": "polygon", "线": "line", "点": "point"}


def _message(p: TxtProblem) -> str:
    """The parser's message without its own "第 N 行：" prefix: the location carries the line."""
    if not p.line:
        return p.message
    return (p.message.removeprefix(f"第 {p.line} 行：")
            .replace(f"(line {p.line}: ", "(", 1))


def _looks_utf16(data: bytes) -> bool:
    """UTF-16 without a byte-order mark: ASCII characters leave every other byte NUL."""
    sample = data[:4096]
    return len(sample) >= 8 and not sample.startswith((b"\xff\xfe", b"\xfe\xff")) and (sample[1::2].count(0) > len(sample) // 4
                                 or sample[0::2].count(0) > len(sample) // 4)


def read_txt(path: Path) -> FeatureBatch:
    data = path.read_bytes()
    try:
        parsed = parse_boundary_txt(data)
    except BoundaryTxtError as exc:
        if _looks_utf16(data):
            raise ImportFailed([Problem("文件看来是无 BOM 的 UTF-16 编码；请另存为 GBK 或 UTF-8 "
                                        "(looks like UTF-16 without a byte-order mark: save it "
                                        "as GBK or UTF-8)", line_location(1))],
                               code="txt_format") from None
        raise ImportFailed(
            [Problem(_message(p), line_location(p.line) if p.line else None)
             for p in exc.problems],
            code="txt_format") from None
    geoms = []
    problems: list[Problem] = []
    for parcel in parsed.parcels:
        if parcel.kind and parcel.kind != "面":
            problems.append(Problem(f"地块几何类型为“{parcel.kind}”，要求为“面” "
                                    "(parcel kind must be 面/polygon)",
                                    line_location(parcel.header_line)))
            geoms.append(None)
        else:
            geoms.append(parcel.polygon())
    if problems:
        raise ImportFailed(problems, code="txt_format")
    parcels = parsed.parcels
    note = (f"{parsed.datum}，{parsed.zone_width}度带"
            + (f"，第{parsed.zone}带" if parsed.zone else "")
            + ("，带号前缀" if parsed.has_zone_prefix else "，无带号前缀")
            + (f"，编码 {parsed.encoding}")
            + ("，X/Y 已交换" if parsed.axes_swapped else ""))
    return FeatureBatch(
        geometries=np.asarray(geoms, dtype=object),
        columns={
            "DKBH": [p.parcel_no for p in parcels],
            "MC": [p.name for p in parcels],
            "YDMJ": [p.area for p in parcels],
            "YT": [p.use for p in parcels],
            "DLBM": [p.land_class for p in parcels],
            "TFH": [p.map_sheet for p in parcels],
        },
        epsg=parsed.epsg,
        source_format="txt",
        locations=[line_location(p.header_line) for p in parcels],
        warnings=[Problem(_message(w), line_location(w.line) if w.line else None,
                          severity="warning") for w in parsed.warnings],
        crs_note=note,
    )
