"""Geometry arrays as flat coordinates plus offsets (shapely's ragged arrays).

Working on one coordinate stream instead of 100 000 geometry objects is what makes
orientation, area, perimeter and spike tests cheap: each is a handful of numpy operations.
Polygons are always handled as MultiPolygons and lines as MultiLineStrings, which is also how
they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import GeometryType


@dataclass
class Ragged:
    kind: str  # polygon | line | point
    coords: np.ndarray  # (N, 2)
    # polygon: (ring, part, geometry) offsets; line: (line, geometry); point: ()
    offsets: tuple[np.ndarray, ...]

    def with_coords(self, coords: np.ndarray) -> Ragged:
        return Ragged(self.kind, coords, self.offsets)

    def geometries(self) -> np.ndarray:
        gtype = {"polygon": GeometryType.MULTIPOLYGON, "line": GeometryType.MULTILINESTRING,
                 "point": GeometryType.POINT}[self.kind]
        return shapely.from_ragged_array(gtype, self.coords, self.offsets or None)

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


def to_ragged(geoms: np.ndarray, kind: str) -> Ragged:
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    n = len(geoms)
    if kind == "polygon" and gtype == GeometryType.POLYGON:
        offsets = (offsets[0], offsets[1], np.arange(n + 1))
    elif kind == "line" and gtype == GeometryType.LINESTRING:
        offsets = (offsets[0], np.arange(n + 1))
    return Ragged(kind, np.ascontiguousarray(coords), tuple(offsets))


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
        cos = -(seg[:-1] * seg[1:]).sum(axis=1) / (norm[:-1] * norm[1:])
    sharp_rings = ring_of_seg[:-1][inner & (cos > limit)]
    # The vertex where each closed ring starts: last segment against the first.
    starts, ends = offsets[:-1], offsets[1:]
    closed = (ends - starts) >= 4
    first, last = starts[closed], ends[closed] - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        wrap_cos = -(seg[last] * seg[first]).sum(axis=1) / (norm[last] * norm[first])
    wrap_rings = np.flatnonzero(closed)[wrap_cos > limit]
    rings = np.unique(np.r_[sharp_rings, wrap_rings]).astype(int)
    return np.unique(ragged.ring_owner()[rings])
