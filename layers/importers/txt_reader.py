"""界址点坐标 TXT (boundary-point coordinate text) as a FeatureBatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from layers.formats.boundary_txt import BoundaryTxtError, parse_boundary_txt
from layers.importers.base import FeatureBatch, ImportFailed, Problem, line_location

_KIND_TYPES = {"面": "polygon", "线": "line", "点": "point"}


def read_txt(path: Path) -> FeatureBatch:
    try:
        parsed = parse_boundary_txt(path.read_bytes())
    except BoundaryTxtError as exc:
        raise ImportFailed(
            [Problem(p.message, line_location(p.line) if p.line else None)
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
        warnings=[Problem(w.message, line_location(w.line) if w.line else None,
                          severity="warning") for w in parsed.warnings],
        crs_note=note,
    )
