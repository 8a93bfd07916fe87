"""Geometry arrays as flat coordinates plus offsets (shapely's ragged arrays).

Working on one coordinate stream instead of 100 000 geometry objects is what makes
orientation, area, perimeter and spike tests cheap: each is a handful of numpy operations.
Polygons are always handled as MultiPolygons and lines as MultiLineStrings, which is also how
they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import GeometryType

# Ragged arrays come from WKB and go back to (E)WKB through geoarrow-c: a C pass over one
# buffer, about ten times faster than building and serialising 100 000 shapely geometries.
# pyarrow and geoarrow are imported on first use (a web worker never needs them).
_GEOARROW_TYPES = {"polygon": "multipolygon", "line": "multilinestring", "point": "point"}
_EWKB_SRID_FLAG = 0x20  # high byte of the little-endian geometry type word
_WKB_TYPES = {"polygon": {3, 6}, "line": {2, 5}, "point": {1}}


@dataclass
class Ragged:
    kind: str  # polygon | line | point
    coords: np.ndarray  # (N, 2)
    # polygon: (ring, part, geometry) offsets; line: (line, geometry); point: ()
    offsets: tuple[np.ndarray, ...]

    def with_coords(self, coords: np.ndarray) -> Ragged:
        return Ragged(self.kind, coords, self.offsets)

    def __len__(self) -> int:
        return len(self.offsets[-1]) - 1 if self.offsets else len(self.coords)

    def geometries(self) -> np.ndarray:
        gtype = {"polygon": GeometryType.MULTIPOLYGON, "line": GeometryType.MULTILINESTRING,
                 "point": GeometryType.POINT}[self.kind]
        return shapely.from_ragged_array(gtype, self.coords, self.offsets or None)

    def ewkb(self, srid: int) -> np.ndarray:
        """Every geometry as little-endian EWKB carrying `srid` (what PostGIS's binary input
        reads), as an object array of bytes."""
        return ewkb_with_srid(_geoarrow_wkb(self), srid)

    def bounds(self) -> np.ndarray:
        """(n, 4) array of xmin, ymin, xmax, ymax per geometry."""
        owner = self.coord_owner()
        n = len(self)
        out = np.full((n, 4), np.nan)
        if len(self.coords) == 0:
            return out
        starts = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]
        who = owner[starts]
        x, y = self.coords[:, 0], self.coords[:, 1]
        out[who, 0] = np.minimum.reduceat(x, starts)
        out[who, 1] = np.minimum.reduceat(y, starts)
        out[who, 2] = np.maximum.reduceat(x, starts)
        out[who, 3] = np.maximum.reduceat(y, starts)
        return out

    def take(self, which: np.ndarray) -> Ragged:
        """The geometries at indices `which`, in that order."""
        which = np.asarray(which, dtype=np.int64)
        if len(which) == len(self) and (which == np.arange(len(which))).all():
            return self
        selected, new_offsets = which, []
        for offsets in reversed(self.offsets):  # geometries, then parts, then rings
            counts = offsets[selected + 1] - offsets[selected]
            ends = np.cumsum(counts)
            new_offsets.append(np.r_[0, ends])
            selected = np.repeat(offsets[selected] - (ends - counts), counts) + \
                np.arange(int(ends[-1]) if len(ends) else 0)
        return Ragged(self.kind, self.coords[selected], tuple(reversed(new_offsets)))

    def rings_closed(self) -> bool:
        """Whether every ring ends where it starts."""
        rings = self.offsets[0]
        starts, ends = rings[:-1], rings[1:] - 1
        nonempty = ends >= starts
        return bool((self.coords[starts[nonempty]] == self.coords[ends[nonempty]]).all())

    def coord_owner(self) -> np.ndarray:
        """Feature index of every coordinate."""
        if self.kind == "point":
            return np.arange(len(self.coords))
        rings = self.offsets[0]
        return np.repeat(self.ring_owner(), np.diff(rings))

    @property
    def ring_offsets(self) -> np.ndarray:
        return self.offsets[0]

    def ring_owner(self) -> np.ndarray:
        """Feature index of every ring (polygons) or line (lines)."""
        if self.kind == "polygon":
            rings, parts, geoms = self.offsets
            part_owner = np.repeat(np.arange(len(geoms) - 1), np.diff(geoms))
            return part_owner[np.repeat(np.arange(len(parts) - 1), np.diff(parts))]
        lines, geoms = self.offsets
        return np.repeat(np.arange(len(geoms) - 1), np.diff(geoms))


def to_ragged(geoms: np.ndarray | None, kind: str, wkb: Any = None) -> Ragged:
    """Ragged arrays of `geoms` (polygons as MultiPolygons, lines as MultiLineStrings, 2D).

    `wkb`, when given, is the same geometries' WKB (a pyarrow binary array or a sequence of
    bytes), e.g. straight from the file: it saves serialising the shapely objects. Without
    `geoms`, WKB that geoarrow cannot read (other types, curves) raises ValueError."""
    import pyarrow as pa

    if wkb is None:
        wkb = shapely.to_wkb(geoms)
    if not isinstance(wkb, pa.Array | pa.ChunkedArray):
        wkb = pa.array(wkb, type=pa.binary())
    if geoms is None and not _wkb_types_are(wkb, _WKB_TYPES[kind]):
        # geoarrow would coerce a line into a polygon: other types go through GEOS.
        raise ValueError(f"not all {kind}s")
    try:
        native = _geoarrow().as_geoarrow(wkb, _geoarrow_type(kind))
    except Exception as exc:  # noqa: BLE001 - curves, M values: shapely's own conversion
        if geoms is None:
            raise ValueError(f"not readable as {kind}: {exc}") from None
        return _to_ragged_shapely(geoms, kind)
    if isinstance(native, pa.ChunkedArray):
        native = native.combine_chunks()
    return _from_native(native.storage, kind)


def _wkb_types_are(wkb: Any, allowed: set[int]) -> bool:
    """Whether every non-null WKB of a pyarrow binary array is little-endian and 2D or Z of
    an allowed type (ISO codes)."""
    import pyarrow as pa

    if isinstance(wkb, pa.ChunkedArray):
        wkb = wkb.combine_chunks()
    offsets = _list_offsets(wkb)
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8) if wkb.buffers()[2] else \
        np.zeros(0, dtype=np.uint8)
    present = np.diff(offsets) >= 5
    if wkb.null_count:
        present &= wkb.is_valid().to_numpy(zero_copy_only=False)
    starts = offsets[:-1][present]
    if not len(starts):
        return True
    if (data[starts] != 1).any():
        return False
    words = (data[starts + 1].astype(np.uint32) | data[starts + 2].astype(np.uint32) << 8
             | data[starts + 3].astype(np.uint32) << 16 | data[starts + 4].astype(np.uint32) << 24)
    codes = np.where(words >= 1000, words - 1000, words)  # ISO Z (1000+)
    return bool(np.isin(codes, list(allowed)).all() and (words < 2000).all())


def _to_ragged_shapely(geoms: np.ndarray, kind: str) -> Ragged:
    gtype, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    n = len(geoms)
    if kind == "polygon" and gtype == GeometryType.POLYGON:
        offsets = (offsets[0], offsets[1], np.arange(n + 1))
    elif kind == "line" and gtype == GeometryType.LINESTRING:
        offsets = (offsets[0], np.arange(n + 1))
    return Ragged(kind, np.ascontiguousarray(coords), tuple(offsets))


def _geoarrow() -> Any:
    import geoarrow.pyarrow as ga

    return ga


def _geoarrow_type(kind: str) -> Any:
    ga = _geoarrow()
    return getattr(ga, _GEOARROW_TYPES[kind])().with_coord_type(ga.CoordType.INTERLEAVED)


def _list_offsets(arr: Any) -> np.ndarray:
    """Offsets of a pyarrow list array, relative to its child's start, as int64."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    return offsets.astype(np.int64)


def _from_native(storage: Any, kind: str) -> Ragged:
    levels = {"polygon": 3, "line": 2, "point": 0}[kind]
    offsets: list[np.ndarray] = []
    arr = storage
    for _ in range(levels):
        own = _list_offsets(arr)
        offsets.append(own)
        arr = arr.values.slice(int(own[0]), int(own[-1] - own[0]))
        offsets[-1] = own - own[0]
    xy = arr.values.to_numpy(zero_copy_only=False)[arr.offset * 2:(arr.offset + len(arr)) * 2]
    return Ragged(kind, np.ascontiguousarray(xy.reshape(-1, 2)), tuple(reversed(offsets)))


def _geoarrow_wkb(ragged: Ragged) -> tuple[np.ndarray, np.ndarray]:
    """Plain WKB of every geometry: (offsets, bytes) of one buffer."""
    import pyarrow as pa

    ga_type = _geoarrow_type(ragged.kind)
    arr: Any = pa.FixedSizeListArray.from_arrays(
        pa.array(np.ascontiguousarray(ragged.coords, dtype=float).ravel()), 2)
    for offsets in ragged.offsets:
        arr = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), arr)
    native = ga_type.wrap_array(arr.view(ga_type.storage_type))
    wkb = _geoarrow().as_wkb(native).storage
    offsets = _list_offsets(wkb)
    data = np.frombuffer(wkb.buffers()[2], dtype=np.uint8)
    return offsets - offsets[0], data[offsets[0]:offsets[-1]]


def ewkb_with_srid(wkb: tuple[np.ndarray, np.ndarray], srid: int) -> np.ndarray:
    """Insert the SRID into little-endian WKB (byte order, type word, SRID, rest), all
    geometries at once; returns an object array of bytes."""
    offsets, data = wkb
    n = len(offsets) - 1
    out_offsets = offsets + 4 * np.arange(n + 1)
    out = np.empty(int(out_offsets[-1]), dtype=np.uint8)
    srid_at = (out_offsets[:-1, None] + 5 + np.arange(4)).ravel()
    copied = np.ones(len(out), dtype=bool)
    copied[srid_at] = False
    out[copied] = data
    out[srid_at] = np.tile(np.frombuffer(np.uint32(srid).astype("<u4").tobytes(),
                                         dtype=np.uint8), n)
    if n and not (data[offsets[:-1]] == 1).all():
        raise ValueError("big-endian WKB")  # geoarrow-c writes little-endian only
    out[out_offsets[:-1] + 4] |= _EWKB_SRID_FLAG
    if n == 0:
        return np.array([], dtype=object)
    import pyarrow as pa

    # One bytes object per geometry, cut from the buffer in C.
    column = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(out_offsets),
                                                          pa.py_buffer(out)])
    return column.to_numpy(zero_copy_only=False)


def _ring_local(coords: np.ndarray, ring_offsets: np.ndarray) -> np.ndarray:
    """Coordinates relative to their ring's first vertex: shoelace sums over Gauss-Kruger
    values (x ≈ 5e5, y ≈ 3.6e6) would otherwise lose millimetres to cancellation."""
    starts = ring_offsets[:-1]
    lengths = np.diff(ring_offsets)
    return coords - np.repeat(coords[starts[lengths > 0]], lengths[lengths > 0], axis=0)


def ring_sums(coords: np.ndarray, ring_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed area (counter-clockwise positive) and length of every ring or line."""
    local = _ring_local(coords, ring_offsets)
    x, y = local[:, 0], local[:, 1]
    cross = np.r_[x[:-1] * y[1:] - x[1:] * y[:-1], 0.0]
    seg = np.r_[np.hypot(np.diff(x), np.diff(y)), 0.0]
    # Segments that join one ring to the next belong to neither.
    ends = ring_offsets[1:] - 1
    cross[ends[ends >= 0]] = 0.0
    seg[ends[ends >= 0]] = 0.0
    starts = ring_offsets[:-1]
    nonempty = np.diff(ring_offsets) > 0
    area = np.zeros(len(starts))
    length = np.zeros(len(starts))
    if nonempty.any():
        area[nonempty] = np.add.reduceat(cross, starts[nonempty]) / 2
        length[nonempty] = np.add.reduceat(seg, starts[nonempty])
    return area, length


def exterior_mask(ragged: Ragged) -> np.ndarray:
    rings, parts, _ = ragged.offsets
    mask = np.zeros(len(rings) - 1, dtype=bool)
    mask[parts[:-1][np.diff(parts) > 0]] = True
    return mask


def orient(ragged: Ragged) -> tuple[Ragged, np.ndarray]:
    """OGC orientation (exterior counter-clockwise, holes clockwise) by reversing rings in
    the coordinate stream. Returns the result and the features that changed."""
    area, _ = ring_sums(ragged.coords, ragged.ring_offsets)
    ext = exterior_mask(ragged)
    flip = (ext & (area < 0)) | (~ext & (area > 0))
    if not flip.any():
        return ragged, np.array([], dtype=int)
    starts, ends = ragged.ring_offsets[:-1], ragged.ring_offsets[1:]
    lengths = ends - starts
    pos = np.arange(len(ragged.coords))
    start_of = np.repeat(starts, lengths)
    end_of = np.repeat(ends, lengths)
    flip_of = np.repeat(flip, lengths)
    order = np.where(flip_of, start_of + end_of - 1 - pos, pos)
    return ragged.with_coords(ragged.coords[order]), np.unique(ragged.ring_owner()[flip])


def areas_and_perimeters(ragged: Ragged) -> tuple[np.ndarray, np.ndarray]:
    """Per feature: polygon area (exteriors minus holes) and boundary length, or line length."""
    area, length = ring_sums(ragged.coords, ragged.ring_offsets)
    owner = ragged.ring_owner()
    n = len(ragged.offsets[-1]) - 1
    per_area = np.bincount(owner, weights=np.abs(area) * np.where(
        exterior_mask(ragged), 1.0, -1.0), minlength=n) if ragged.kind == "polygon" \
        else np.zeros(n)
    per_length = np.bincount(owner, weights=length, minlength=n)
    return per_area, per_length


def sharp_vertices(ragged: Ragged, max_angle_deg: float) -> np.ndarray:
    """Features with a ring vertex whose interior angle is below the limit (metric coords).

    Works on consecutive segment vectors of the coordinate stream: the angle at a vertex is
    the one between its incoming segment reversed and its outgoing segment."""
    offsets = ragged.ring_offsets
    seg = np.diff(ragged.coords, axis=0)
    norm = np.hypot(seg[:, 0], seg[:, 1])
    ring_of_seg = np.repeat(np.arange(len(offsets) - 1), np.maximum(np.diff(offsets), 0))[:-1]
    same_ring = ring_of_seg[:-1] == ring_of_seg[1:]
    joins = np.zeros(len(seg), dtype=bool)
    joins[(offsets[1:-1] - 1)] = True  # the segment from one ring's end to the next start
    inner = same_ring & ~joins[:-1] & ~joins[1:]
    limit = np.cos(np.radians(max_angle_deg))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = -(seg[:-1, 0] * seg[1:, 0] + seg[:-1, 1] * seg[1:, 1]) / (norm[:-1] * norm[1:])
    sharp_rings = ring_of_seg[:-1][inner & (cos > limit)]
    # The vertex where each closed ring starts: last segment against the first.
    starts, ends = offsets[:-1], offsets[1:]
    closed = (ends - starts) >= 4
    first, last = starts[closed], ends[closed] - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        wrap_cos = -(seg[last, 0] * seg[first, 0] + seg[last, 1] * seg[first, 1]) / (
            norm[last] * norm[first])
    wrap_rings = np.flatnonzero(closed)[wrap_cos > limit]
    rings = np.unique(np.r_[sharp_rings, wrap_rings]).astype(int)
    return np.unique(ragged.ring_owner()[rings])
