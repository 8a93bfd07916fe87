"""What every reader produces and every import step reports.

Readers turn a file into a FeatureBatch (geometries in the source CRS plus attribute
columns); validation and writing work on whole arrays, which is what keeps a 100 000-parcel
import within reach of ogr2ogr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Problem:
    """One finding about the input, located precisely enough to fix it."""

    message: str
    location: str | None = None  # "第 14 行 (line 14)", "要素 3 (feature 3)"
    field: str | None = None
    severity: str = "error"  # error | warning | repaired

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        col = f"[{self.field}] " if self.field else ""
        return f"{where}{col}{self.message}"


class ImportFailed(Exception):
    """The input cannot be imported; nothing was written."""

    def __init__(self, problems: Sequence[Problem] | str, *, code: str = "invalid_input"):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = list(problems)
        self.code = code
        super().__init__("; ".join(str(p) for p in self.problems[:20]))


def feature_location(i: int) -> str:
    return f"要素 {i + 1} (feature {i + 1})"


def line_location(line: int) -> str:
    return f"第 {line} 行 (line {line})"


def geometries_from_wkb(wkb: Any, offset: int = 0
                        ) -> tuple[np.ndarray, list[Problem], np.ndarray]:
    """Shapely geometries of a WKB array (None where missing), the problems found, and the
    indices of geometries that were mended on the way (they differ from their WKB)."""
    import shapely

    raw = wkb.to_numpy(zero_copy_only=False) if hasattr(wkb, "to_numpy") else np.asarray(wkb)
    geometries = shapely.from_wkb(raw, on_invalid="ignore")
    problems: list[Problem] = []
    unparsed = np.flatnonzero(shapely.is_missing(geometries) & np.not_equal(raw, None))
    if len(unparsed):
        # GDAL hands over rings that are not closed; GEOS refuses them. Close them and say so.
        fixed = shapely.from_wkb(raw[unparsed], on_invalid="fix")
        for i, g in zip(unparsed, fixed, strict=True):
            if g is None:
                problems.append(Problem("几何无法解析（如环未闭合且无法修复）(geometry cannot be "
                                        "parsed, e.g. an unclosed ring)",
                                        feature_location(offset + i)))
            else:
                geometries[i] = g
                problems.append(Problem("多边形的环未闭合，已自动闭合 (ring not closed; closed "
                                        "automatically)", feature_location(offset + i),
                                        severity="repaired"))
    return np.asarray(geometries, dtype=object), problems, unparsed


def as_numpy(column: Any) -> Any:
    """A pyarrow column as numpy (strings as objects, nulls as None or NaN)."""
    return column.to_numpy(zero_copy_only=False) if hasattr(column, "to_numpy") else column


@dataclass
class FeatureBatch:
    # Shapely geometries (None for a missing geometry), source CRS. A reader that has the
    # file's WKB may leave them None: each chunk then parses its own part (`shapes`), in the
    # process that validates it.
    geometries: np.ndarray | None
    # Attribute columns, same length: sequences, or pyarrow arrays (converted per chunk).
    columns: dict[str, Sequence[Any]]
    epsg: int | None  # source CRS if the file says; a declared CRS overrides it
    source_format: str
    locations: Sequence[str] | None = None  # per feature; default "feature i"
    warnings: list[Problem] = field(default_factory=list)
    crs_note: str = ""  # how the CRS was determined, for the report
    offset: int = 0  # index of this batch's first feature in the source (chunks)
    # The file's WKB (pyarrow binary array), when the reader has it: validation reads the
    # coordinates from it in one pass and writes unchanged geometries from it.
    wkb: Any = None

    def __len__(self) -> int:
        return len(self.geometries) if self.geometries is not None else len(self.wkb)

    def shapes(self) -> tuple[np.ndarray, list[Problem], np.ndarray]:
        """Geometries, the problems parsing them found, and the indices it mended."""
        if self.geometries is not None:
            return self.geometries, [], np.array([], dtype=int)
        return geometries_from_wkb(self.wkb, self.offset)

    def location(self, i: int) -> str:
        return self.locations[i] if self.locations is not None else \
            feature_location(self.offset + i)

    def chunk(self, start: int, stop: int) -> FeatureBatch:
        """Features [start, stop) as a batch of their own, locations kept."""
        return FeatureBatch(
            geometries=self.geometries[start:stop] if self.geometries is not None else None,
            columns={k: v[start:stop] for k, v in self.columns.items()},
            epsg=self.epsg, source_format=self.source_format,
            locations=self.locations[start:stop] if self.locations is not None else None,
            crs_note=self.crs_note, offset=self.offset + start,
            wkb=self.wkb.slice(start, stop - start) if self.wkb is not None else None)


@dataclass
class ImportReport:
    source_name: str
    source_format: str
    source_epsg: int | None = None
    crs_note: str = ""
    read: int = 0
    written: int = 0
    repaired: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    field_mapping: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1  # processes that validated and wrote (layers/importers/parallel.py)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_name": self.source_name,
            "source_format": self.source_format,
            "source_epsg": self.source_epsg,
            "crs_note": self.crs_note,
            "read": self.read,
            "written": self.written,
            "repaired": self.repaired,
            "rejected": self.rejected,
            "field_mapping": self.field_mapping,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "problems": [p.as_dict() for p in self.problems],
        }
