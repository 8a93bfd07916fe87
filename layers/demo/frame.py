"""The metric frame the demo county is drawn in, and small vectorised geometry helpers.

Shapes are built in CGCS2000 / 3-degree Gauss-Kruger CM 111E (EPSG:4546, metres), where
widths, areas and offsets mean what they say, and transformed to CGCS2000 lon/lat
(EPSG:4490) only at the end, through the project's CRS registry.
"""

from __future__ import annotations

import numpy as np
import shapely

from layers import crs

FRAME_EPSG = crs.CGCS2000_GK_CM111
SEAT_LONLAT = (111.85, 33.05)  # 内乡县城
YAMEN_LONLAT = (111.853, 33.047)  # 内乡县衙


def to_xy(lon: float | np.ndarray, lat: float | np.ndarray) -> tuple:
    return crs.transformer(crs.CGCS2000_GEOGRAPHIC, FRAME_EPSG).transform(lon, lat)


def to_lonlat(x: float | np.ndarray, y: float | np.ndarray) -> tuple:
    return crs.transformer(FRAME_EPSG, crs.CGCS2000_GEOGRAPHIC).transform(x, y)


def lat_to_y(lat: float, lon: float = SEAT_LONLAT[0]) -> float:
    return float(to_xy(lon, lat)[1])


def to_4490(geoms: np.ndarray) -> np.ndarray:
    """Frame geometries (any shapely array) to EPSG:4490 lon/lat, in one pyproj call."""
    t = crs.transformer(FRAME_EPSG, crs.CGCS2000_GEOGRAPHIC)
    return shapely.transform(np.asarray(geoms, dtype=object),
                             lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def smooth_curve(points: np.ndarray, step: float) -> np.ndarray:
    """Centripetal-free (uniform) Catmull-Rom spline through `points`, resampled every
    ~`step` metres. Ends are extended by reflection so the curve passes every point."""
    p = np.asarray(points, dtype=float)
    p = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for k in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[k - 1], p[k], p[k + 1], p[k + 2]
        n = max(2, int(np.ceil(np.hypot(*(p2 - p1)) / step)))
        t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(p[-2][None, :])
    return np.vstack(out)


def resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points evenly spaced ~`step` apart along a polyline."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    s = np.r_[0.0, np.cumsum(seg)]
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    q = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(q, s, points[:, 0]), np.interp(q, s, points[:, 1])])


def normals(points: np.ndarray) -> np.ndarray:
    """Unit left normals of a polyline at its vertices (central differences)."""
    d = np.gradient(points, axis=0)
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]
    return np.column_stack([-d[:, 1], d[:, 0]])


def meander(points: np.ndarray, amplitude: np.ndarray, wavelength: float,
            rng: np.random.Generator) -> np.ndarray:
    """Offset a smooth polyline sideways by a sum of two sines (a meandering river)."""
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    off = amplitude * (0.75 * np.sin(2 * np.pi * s / wavelength + ph1)
                       + 0.25 * np.sin(2 * np.pi * s / (wavelength * 0.43) + ph2))
    return points + normals(points) * off[:, None]


def star_polygons(cx: np.ndarray, cy: np.ndarray, rx: np.ndarray, ry: np.ndarray,
                  angle: np.ndarray, n_vertices: int, rng: np.random.Generator,
                  roughness: float = 0.08) -> np.ndarray:
    """Irregular blobs: rotated ellipses with low-harmonic radial noise, star-shaped about
    their centre and therefore always valid. Vectorised over all blobs."""
    m = len(cx)
    phi = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)[None, :]
    r = np.ones((m, n_vertices))
    for k in (2, 3, 5):
        amp = rng.uniform(0.3, 1.0, (m, 1)) * roughness / k**0.5
        r += amp * np.cos(k * phi + rng.uniform(0, 2 * np.pi, (m, 1)))
    ex = rx[:, None] * r * np.cos(phi)
    ey = ry[:, None] * r * np.sin(phi)
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x = cx[:, None] + ex * ca - ey * sa
    y = cy[:, None] + ex * sa + ey * ca
    return shapely.polygons(np.stack([x, y], axis=-1))


def strip_pieces(center: np.ndarray, left: np.ndarray, right: np.ndarray,
                 piece_len: int) -> list[shapely.Polygon]:
    """Cut the band between two offsets of a sampled centre line (left = offset at each
    sample, right likewise) into polygons of `piece_len` samples; neighbours share their cut
    segment exactly, so the pieces tile the band."""
    n = len(center)
    cuts = list(range(0, n - 1, piece_len)) + [n - 1]
    if len(cuts) >= 3 and cuts[-1] - cuts[-2] < piece_len // 3:
        cuts.pop(-2)  # no stub at the end
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        ring = np.vstack([left[a:b + 1], right[a:b + 1][::-1]])
        pieces.append(shapely.Polygon(ring))
    return pieces


def runs(mask: np.ndarray, min_len: int = 2) -> list[tuple[int, int]]:
    """(start, stop) index ranges where `mask` is true, at least `min_len` long."""
    m = np.r_[False, mask, False].astype(np.int8)
    d = np.diff(m)
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b - a >= min_len]
