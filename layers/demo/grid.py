"""The street lattice, the development boundary, blocks, lots and road red lines.

One lattice covers the whole county and does not depend on the number of parcels: lines are
~135 m apart at the county seat and ~230 m at 10 km, slightly rotated and with jittered
nodes; every 8th line is a 40 m arterial, every 4th a 30 m secondary road, the rest 20 m
local roads. A block is a lattice cell inset by half the red-line width of each of its four
roads, so blocks and road red-line polygons tile the plane exactly. Blocks fill outward from
the county seat (inside the development boundary first) until N parcels exist; each block
is cut into rows x columns lots along jittered, slanted split lines (shared lot boundaries
are computed once, so neighbours never overlap), block corners get curb-return arcs.
Everything per lot is vectorised per (rows, columns, vertices-per-edge) group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from layers.demo import names
from layers.demo.frame import star_polygons

SPACING_NEAR, SPACING_FAR, SPACING_SCALE = 135.0, 230.0, 4500.0
MAX_ROWS, MAX_COLS = 4, 6
MIN_LOT_M2, MAX_LOT_M2 = 4600.0, 28000.0
MIN_LOT_SIDE = 28.0


def _spacing(s: float) -> float:
    return SPACING_NEAR + (SPACING_FAR - SPACING_NEAR) * (1 - np.exp(-abs(s) / SPACING_SCALE))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _offset(p: np.ndarray, q: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = q - p
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1) / np.hypot(d[..., 0], d[..., 1])[..., None]
    return p + n * h[..., None], d


def _meet(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    (p, d), (q, e) = a, b
    t = _cross(q - p, e) / _cross(d, e)
    return p + t[..., None] * d


def _shoelace(ring: np.ndarray) -> np.ndarray:
    x, y = ring[..., 0], ring[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(axis=-1)


@dataclass
class Lattice:
    nodes: np.ndarray  # (nu, nv, 2) road-centre intersections, frame metres
    wu: np.ndarray  # (nu,) red-line width of the "vertical" (N-S) line i
    wv: np.ndarray  # (nv,) red-line width of the "horizontal" (E-W) line j
    ku: np.ndarray  # (nu,) line number relative to the line through the seat
    kv: np.ndarray
    inset: np.ndarray  # (nu-1, nv-1, 4, 2) block corners: SW, SE, NE, NW (counter-clockwise)

    @property
    def shape(self) -> tuple[int, int]:
        return self.nodes.shape[0] - 1, self.nodes.shape[1] - 1

    def cell_rings(self, flat: np.ndarray) -> np.ndarray:
        """(n, 4, 2) node quads (road centre lines) of the cells with these flat ids."""
        i, j = np.divmod(flat, self.shape[1])
        n = self.nodes
        return np.stack([n[i, j], n[i + 1, j], n[i + 1, j + 1], n[i, j + 1]], axis=1)


def build_lattice(rng: np.random.Generator, seat: np.ndarray,
                  county: shapely.Polygon) -> Lattice:
    theta = np.radians(rng.uniform(5.0, 11.0))
    c, s = np.cos(theta), np.sin(theta)
    rel = np.asarray(county.exterior.coords) - seat
    u = rel[:, 0] * c + rel[:, 1] * s
    v = -rel[:, 0] * s + rel[:, 1] * c

    def axis(lo: float, hi: float) -> tuple[np.ndarray, int]:
        pos, neg = [0.0], []
        f = rng.uniform(0.88, 1.12, 2 * 2000)
        t, k = 0.0, 0
        while t < hi:
            t += _spacing(t) * f[k]
            k += 1
            pos.append(t)
        t, k = 0.0, 2000
        while t > lo:
            t -= _spacing(t) * f[k]
            k += 1
            neg.append(t)
        return np.array(neg[::-1] + pos), len(neg)

    us, i0 = axis(u.min() - 1500, u.max() + 1500)
    vs, j0 = axis(v.min() - 1500, v.max() + 1500)

    def local(p: np.ndarray) -> np.ndarray:
        gaps = np.diff(p)
        return np.minimum(np.r_[gaps[0], gaps], np.r_[gaps, gaps[-1]])

    jit = rng.uniform(-1, 1, (len(us), len(vs), 2)) * 0.045
    uu = us[:, None] + jit[..., 0] * local(us)[:, None]
    vv = vs[None, :] + jit[..., 1] * local(vs)[None, :]
    nodes = np.stack([seat[0] + uu * c - vv * s, seat[1] + uu * s + vv * c], axis=-1)
    ku = np.arange(len(us)) - i0
    kv = np.arange(len(vs)) - j0

    def widths(k: np.ndarray) -> np.ndarray:
        return np.where(np.abs(k) % 8 == 0, 40.0, np.where(np.abs(k) % 4 == 0, 30.0, 20.0))

    wu, wv = widths(ku), widths(kv)
    n00, n10, n11, n01 = nodes[:-1, :-1], nodes[1:, :-1], nodes[1:, 1:], nodes[:-1, 1:]
    hb = np.broadcast_to(wv[None, :-1] / 2, n00.shape[:2])
    ht = np.broadcast_to(wv[None, 1:] / 2, n00.shape[:2])
    hl = np.broadcast_to(wu[:-1, None] / 2, n00.shape[:2])
    hr = np.broadcast_to(wu[1:, None] / 2, n00.shape[:2])
    bottom, right = _offset(n00, n10, hb), _offset(n10, n11, hr)
    top, left = _offset(n11, n01, ht), _offset(n01, n00, hl)
    inset = np.stack([_meet(left, bottom), _meet(bottom, right), _meet(right, top),
                      _meet(top, left)], axis=2)
    return Lattice(nodes, wu, wv, ku, kv, inset)


def cells_in_blob(lat: Lattice, blob: shapely.Polygon) -> np.ndarray:
    """Cells whose centre lies in `blob`, made row-convex with overlapping neighbouring rows,
    so that their union is one simple polygon following road centre lines."""
    nu, nv = lat.shape
    cen = lat.nodes[:-1, :-1] / 4 + lat.nodes[1:, :-1] / 4 + lat.nodes[1:, 1:] / 4 \
        + lat.nodes[:-1, 1:] / 4
    mask = shapely.contains_xy(blob, cen[..., 0], cen[..., 1])
    rows = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return mask
    rows = np.arange(rows.min(), rows.max() + 1)
    lo = np.array([np.flatnonzero(mask[:, j]).min() if mask[:, j].any() else -1 for j in rows])
    hi = np.array([np.flatnonzero(mask[:, j]).max() if mask[:, j].any() else -1 for j in rows])
    for k in range(len(rows)):  # rows without a centre inside take the neighbour's interval
        if lo[k] < 0:
            lo[k], hi[k] = lo[k - 1], hi[k - 1]
    for k in range(1, len(rows)):  # consecutive intervals must share at least one cell
        if lo[k] > hi[k - 1]:
            lo[k] = hi[k - 1]
        if hi[k] < lo[k - 1]:
            hi[k] = lo[k - 1]
    out = np.zeros_like(mask)
    for k, j in enumerate(rows):
        out[lo[k]:hi[k] + 1, j] = True
    return out


def union_cells(lat: Lattice, mask: np.ndarray) -> shapely.Polygon:
    flat = np.flatnonzero(mask.ravel())
    quads = shapely.polygons(lat.cell_rings(flat))
    merged = shapely.coverage_union_all(quads)
    if merged.geom_type != "Polygon":
        merged = max(shapely.get_parts(merged), key=lambda p: p.area)
    return shapely.Polygon(merged.exterior)


def development_boundary(rng: np.random.Generator, lat: Lattice, seat: np.ndarray,
                         county_inner: shapely.Geometry, avoid: shapely.Geometry
                         ) -> tuple[np.ndarray, shapely.Polygon, list[shapely.Polygon]]:
    """The central-city development boundary (~50 km², following road centre lines) and three
    small town boundaries; returns the central mask over cells, its polygon and the towns."""
    r0 = 4300.0 * rng.uniform(0.975, 1.015)
    blob = star_polygons(np.array([seat[0]]), np.array([seat[1]]), np.array([r0 * 1.08]),
                         np.array([r0 / 1.08]), np.array([rng.uniform(0, np.pi)]), 96, rng,
                         0.14)[0]
    main = cells_in_blob(lat, blob)
    main_poly = union_cells(lat, main)
    towns: list[shapely.Polygon] = []
    taken = main_poly.buffer(3000)
    for _attempt in range(200):
        if len(towns) == 3:
            break
        ang = rng.uniform(0, 2 * np.pi)
        dist = rng.uniform(8000, 16000)
        c = seat + dist * np.array([np.cos(ang), np.sin(ang)])
        r = rng.uniform(700, 1000)
        blob = star_polygons(c[:1], c[1:], np.array([r * 1.1]), np.array([r / 1.1]),
                             np.array([rng.uniform(0, np.pi)]), 48, rng, 0.12)[0]
        if not shapely.within(blob.buffer(400), county_inner) or shapely.intersects(
                blob.buffer(600), avoid) or shapely.intersects(blob, taken):
            continue
        poly = union_cells(lat, cells_in_blob(lat, blob))
        towns.append(poly)
        taken = shapely.union(taken, poly.buffer(3000))
    return main, main_poly, towns


# ---------------------------------------------------------------- blocks and lots

@dataclass
class BlockPlan:
    """Per candidate block (flat cell ids in fill order) and the chosen first `n_blocks`."""

    cells: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    k: np.ndarray  # intermediate vertices per lot edge
    merge_row: np.ndarray  # -1, or the row whose lots 0 and 2 form one two-part parcel
    hole_lot: np.ndarray  # -1, or the lot that gets a courtyard hole
    dominant: np.ndarray  # index into planning.CODES
    zone: np.ndarray
    parcels: np.ndarray  # parcels per block
    n_blocks: int = 0
    last_limit: int = 0  # parcels taken from the last chosen block


def candidate_cells(lat: Lattice, county_inner: shapely.Geometry, forbidden: shapely.Geometry
                    ) -> np.ndarray:
    """Flat ids of cells whose block lies in the county, clear of water and red line."""
    nodes = lat.nodes
    inside = shapely.contains_xy(county_inner, nodes[..., 0], nodes[..., 1])
    ok = inside[:-1, :-1] & inside[1:, :-1] & inside[1:, 1:] & inside[:-1, 1:]
    area = _shoelace(lat.inset)
    ok &= area >= MIN_LOT_M2
    flat = np.flatnonzero(ok.ravel())
    quads = shapely.polygons(lat.inset.reshape(-1, 4, 2)[flat])
    parts = shapely.get_parts(forbidden)
    shapely.prepare(parts)
    hit = shapely.STRtree(quads).query(parts, predicate="contains_properly")
    near = shapely.STRtree(quads).query(shapely.get_parts(shapely.boundary(forbidden)),
                                        predicate="intersects")
    bad = np.zeros(len(flat), dtype=bool)
    bad[hit[1]] = True
    bad[near[1]] = True
    return flat[~bad]


def plan_blocks(rng: np.random.Generator, lat: Lattice, cells: np.ndarray, main_dev: np.ndarray,
                seat: np.ndarray, special: int, n_parcels: int,
                zone_of: Callable, draw_use: Callable, lot_target: Callable) -> BlockPlan:
    """Decide every candidate block's subdivision and use, then take blocks in fill order
    (central development boundary first, then by distance) until `n_parcels` exist."""
    p = lat.inset.reshape(-1, 4, 2)[cells]
    quad = lat.cell_rings(cells)
    cen = quad.mean(axis=1)
    d = np.hypot(cen[:, 0] - seat[0], cen[:, 1] - seat[1])
    in_main = main_dev.ravel()[cells]
    ang = np.arctan2(cen[:, 1] - seat[1], cen[:, 0] - seat[0])
    ph = rng.uniform(0, 2 * np.pi, 2)
    d_eff = d * (1 + 0.10 * np.sin(3 * ang + ph[0]) + 0.05 * np.sin(5 * ang + ph[1]))
    order = np.lexsort((d_eff, ~in_main))
    cells, p, d, in_main = cells[order], p[order], d[order], in_main[order]
    m = len(cells)
    zone = zone_of(d, in_main)
    dominant = draw_use(rng, zone)
    area = _shoelace(p)
    w = (np.hypot(*(p[:, 1] - p[:, 0]).T) + np.hypot(*(p[:, 2] - p[:, 3]).T)) / 2
    h = (np.hypot(*(p[:, 3] - p[:, 0]).T) + np.hypot(*(p[:, 2] - p[:, 1]).T)) / 2
    target = lot_target(zone, dominant) * rng.uniform(0.75, 1.3, m)
    lots = np.clip(np.rint(area / target), 1, MAX_ROWS * MAX_COLS)
    rows = np.clip(np.rint(np.sqrt(lots * h / w)), 1, MAX_ROWS).astype(int)
    cols = np.clip(np.rint(lots / rows), 1, MAX_COLS).astype(int)
    for _ in range(8):
        lot_area = area / (rows * cols)
        small = (lot_area < MIN_LOT_M2) | (w / cols < MIN_LOT_SIDE) | (h / rows < MIN_LOT_SIDE)
        dec_c = small & (cols > 1) & ((w / cols <= h / rows) | (rows == 1))
        dec_r = small & ~dec_c & (rows > 1)
        cols -= dec_c
        rows -= dec_r
        big = (area / (rows * cols) > MAX_LOT_M2) & ~small
        inc_c = big & (cols < MAX_COLS) & (w / cols >= h / rows)
        inc_r = big & ~inc_c & (rows < MAX_ROWS)
        cols += inc_c
        rows += inc_r
    k = rng.integers(1, 7, m)
    merge_row = np.where((cols >= 3) & (rng.random(m) < 0.06), rng.integers(0, 4, m) % rows, -1)
    hole_lot = np.where(rng.random(m) < 0.10, rng.integers(0, 24, m) % (rows * cols), -1)
    hole_lot[(merge_row >= 0) & (hole_lot == merge_row * cols)] = -1
    hole_lot[(merge_row >= 0) & (hole_lot == merge_row * cols + 2)] = -1
    sp = np.flatnonzero(cells == special)
    if len(sp):  # the county yamen: one walled compound, one parcel
        s = sp[0]
        rows[s] = cols[s] = 1
        k[s], merge_row[s], hole_lot[s] = 4, -1, -1
    parcels = rows * cols - (merge_row >= 0)
    total = np.cumsum(parcels)
    if total[-1] < n_parcels:
        raise ValueError(f"演示县最多容纳 {int(total[-1])} 个地块 (the demo county holds at "
                         f"most {int(total[-1])} parcels)")
    n_blocks = int(np.searchsorted(total, n_parcels) + 1)
    before = int(total[n_blocks - 2]) if n_blocks > 1 else 0
    return BlockPlan(cells, rows, cols, k, merge_row, hole_lot, dominant, zone, parcels,
                     n_blocks, n_parcels - before)


def _bilinear(p: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    shape = (len(p),) + (1,) * (u.ndim - 1) + (2,)
    c = [p[:, q].reshape(shape) for q in range(4)]
    u, v = u[..., None], v[..., None]
    return (1 - u) * (1 - v) * c[0] + u * (1 - v) * c[1] + u * v * c[2] + (1 - u) * v * c[3]


def _split_fracs(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    f = np.tile(np.arange(n + 1) / n, (b, 1))
    if n > 1:
        f[:, 1:-1] += rng.uniform(-0.18, 0.18, (b, n - 1)) / n
    return f


def _perp(d: np.ndarray) -> np.ndarray:
    return np.stack([-d[..., 1], d[..., 0]], axis=-1) / np.hypot(d[..., 0], d[..., 1])[..., None]


def _arc(prev: np.ndarray, corner: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Three points of a curb-return arc replacing `corner` (quadratic Bezier midpoint)."""
    da, db = prev - corner, nxt - corner
    la, lb = np.hypot(*da.T), np.hypot(*db.T)
    r = np.minimum(8.0, 0.4 * np.minimum(la, lb))[:, None]
    a = corner + da / la[:, None] * r
    b = corner + db / lb[:, None] * r
    return np.stack([a, 0.25 * a + 0.5 * corner + 0.25 * b, b], axis=1)


def lots_for_group(rng: np.random.Generator, p: np.ndarray, rows: int, cols: int, k: int
                   ) -> np.ndarray:
    """Lot polygons (b * rows * cols, block-major then row-major) of blocks with corners
    `p` (b, 4, 2), all cut the same way; vectorised over the blocks."""
    b, R, C, K = len(p), rows, cols, k
    sb, st, rl, rr = (_split_fracs(rng, b, C), _split_fracs(rng, b, C),
                      _split_fracs(rng, b, R), _split_fracs(rng, b, R))
    u0 = (np.arange(C + 1) / C)[None, None, :]
    v = rl[:, :, None] * (1 - u0) + rr[:, :, None] * u0
    u = sb[:, None, :] * (1 - v) + st[:, None, :] * v
    v = rl[:, :, None] * (1 - u) + rr[:, :, None] * u
    uv = np.stack([u, v], axis=-1)  # (b, R+1, C+1, 2)
    xy = _bilinear(p, u, v)

    def edge_points(a: np.ndarray, z: np.ndarray, xa: np.ndarray, xz: np.ndarray,
                    interior: np.ndarray) -> np.ndarray:
        shape = a.shape[:-1] + (K,)
        t = (np.arange(1, K + 1) + rng.uniform(-0.3, 0.3, shape)) / (K + 1)
        pts_uv = a[..., None, :] + t[..., None] * (z - a)[..., None, :]
        pts = _bilinear(p, pts_uv[..., 0], pts_uv[..., 1])
        jitter = rng.uniform(-0.6, 0.6, shape) * np.sin(np.pi * t) * interior[..., None]
        return pts + _perp(xz - xa)[..., None, :] * jitter[..., None]

    row_interior = np.zeros((1, R + 1, 1), dtype=float)
    row_interior[:, 1:-1] = 1.0
    col_interior = np.zeros((1, 1, C + 1), dtype=float)
    col_interior[..., 1:-1] = 1.0
    hor = edge_points(uv[:, :, :-1], uv[:, :, 1:], xy[:, :, :-1], xy[:, :, 1:],
                      np.broadcast_to(row_interior, (b, R + 1, C)))  # (b, R+1, C, K, 2)
    ver = edge_points(uv[:, :-1, :], uv[:, 1:, :], xy[:, :-1, :], xy[:, 1:, :],
                      np.broadcast_to(col_interior, (b, R, C + 1)))  # (b, R, C+1, K, 2)
    bottom, top = hor[:, :-1], hor[:, 1:, :, ::-1]
    right, left = ver[:, :, 1:], ver[:, :, :-1, ::-1]
    corners = [xy[:, :-1, :-1], xy[:, :-1, 1:], xy[:, 1:, 1:], xy[:, 1:, :-1]]
    slots = [np.repeat(c[..., None, :], 3, axis=-2).copy() for c in corners]
    keep_slot = np.zeros((b, R, C, 4, 3), dtype=bool)
    keep_slot[..., 1] = True
    # Block corners: lot (0,0) SW, (0,C-1) SE, (R-1,C-1) NE, (R-1,0) NW.
    for q, (r, c, prev, nxt) in enumerate((
            (0, 0, left[:, 0, 0, -1], bottom[:, 0, 0, 0]),
            (0, C - 1, bottom[:, 0, C - 1, -1], right[:, 0, C - 1, 0]),
            (R - 1, C - 1, right[:, R - 1, C - 1, -1], top[:, R - 1, C - 1, 0]),
            (R - 1, 0, top[:, R - 1, 0, -1], left[:, R - 1, 0, 0]))):
        slots[q][:, r, c] = _arc(prev, corners[q][:, r, c], nxt)
        keep_slot[:, r, c, q] = True
    ring = np.concatenate([slots[0], bottom, slots[1], right, slots[2], top, slots[3], left],
                          axis=3)
    edge_keep = np.ones((b, R, C, K), dtype=bool)
    keep = np.concatenate([keep_slot[..., 0, :], edge_keep, keep_slot[..., 1, :], edge_keep,
                           keep_slot[..., 2, :], edge_keep, keep_slot[..., 3, :], edge_keep],
                          axis=3)
    coords = ring[keep]
    counts = keep.reshape(-1, keep.shape[-1]).sum(axis=1)
    rings = shapely.linearrings(coords, indices=np.repeat(np.arange(len(counts)), counts))
    return shapely.polygons(rings)


def courtyard(lot: shapely.Polygon, side: float, rng: np.random.Generator
              ) -> shapely.Polygon | None:
    """The lot with a small courtyard / enclave hole, or None if it would not fit."""
    radius = 0.14 * side
    if radius < 4.0:
        return None
    c = np.asarray(lot.centroid.coords[0])
    m = int(rng.integers(8, 14))
    ang = -np.linspace(0, 2 * np.pi, m, endpoint=False)  # clockwise
    rad = radius * rng.uniform(0.85, 1.1, m)
    hole = c + np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])
    if not shapely.contains(lot, shapely.Polygon(hole).buffer(2.0)):
        return None
    return shapely.Polygon(lot.exterior, [hole])


@dataclass
class Parcels:
    geoms: np.ndarray  # frame polygons / multipolygons
    rank: np.ndarray  # index of the block in fill order
    row: np.ndarray
    col: np.ndarray
    lot_no: np.ndarray  # 1-based number within the block
    multipart: np.ndarray
    holed: np.ndarray


def make_parcels(rng: np.random.Generator, lat: Lattice, plan: BlockPlan) -> Parcels:
    nb = plan.n_blocks
    rows, cols, k = plan.rows[:nb], plan.cols[:nb], plan.k[:nb]
    p = lat.inset.reshape(-1, 4, 2)[plan.cells[:nb]]
    n_lots = rows * cols
    offsets = np.r_[0, np.cumsum(n_lots)]
    lots = np.empty(offsets[-1], dtype=object)
    groups = np.unique(np.stack([rows, cols, k], axis=1), axis=0)
    for R, C, K in groups:
        idx = np.flatnonzero((rows == R) & (cols == C) & (k == K))
        polys = lots_for_group(rng, p[idx], int(R), int(C), int(K))
        lots[(offsets[idx][:, None] + np.arange(R * C)[None, :]).ravel()] = polys
    w = (np.hypot(*(p[:, 1] - p[:, 0]).T) + np.hypot(*(p[:, 2] - p[:, 3]).T)) / 2
    h = (np.hypot(*(p[:, 3] - p[:, 0]).T) + np.hypot(*(p[:, 2] - p[:, 1]).T)) / 2
    geoms, rank, row, col, lot_no, multi, holed = [], [], [], [], [], [], []
    for b in range(nb):
        R, C = int(rows[b]), int(cols[b])
        mr, hl = int(plan.merge_row[b]), int(plan.hole_lot[b])
        limit = plan.last_limit if b == nb - 1 else R * C
        side = min(w[b] / C, h[b] / R)
        n = 0
        for q in range(R * C):
            if n == limit:
                break
            r, c = divmod(q, C)
            if mr == r and c == 2:
                continue
            g = lots[offsets[b] + q]
            is_multi = mr == r and c == 0
            has_hole = False
            if is_multi:
                g = shapely.MultiPolygon([g, lots[offsets[b] + q + 2]])
            elif q == hl:
                with_hole = courtyard(g, side, rng)
                if with_hole is not None:
                    g, has_hole = with_hole, True
            n += 1
            geoms.append(g)
            rank.append(b)
            row.append(r)
            col.append(c)
            lot_no.append(n)
            multi.append(is_multi)
            holed.append(has_hole)
    out = np.empty(len(geoms), dtype=object)
    out[:] = geoms
    return Parcels(out, np.array(rank), np.array(row), np.array(col), np.array(lot_no),
                   np.array(multi), np.array(holed))


# ---------------------------------------------------------------- roads

@dataclass
class Roads:
    red_lines: np.ndarray  # polygons: links (with the intersection at their west end)
    red_names: list[str]
    red_class: list[str]
    red_width: np.ndarray
    centre_lines: np.ndarray
    centre_names: list[str]
    centre_class: list[str]
    centre_width: np.ndarray


def make_roads(lat: Lattice, active_cells: np.ndarray) -> Roads:
    """Red-line polygons and centre lines of every road link next to an active block."""
    nu, nv = lat.shape
    act = np.zeros(nu * nv, dtype=bool)
    act[active_cells] = True
    act = act.reshape(nu, nv)
    P = lat.inset
    # Horizontal link (i, j): along E-W line j between cells (i, j-1) below and (i, j) above.
    h_inc = np.zeros((nu, nv + 1), dtype=bool)
    h_inc[:, 1:nv] = act[:, :-1] | act[:, 1:]
    h_inc[0, :] = False  # no west neighbour column (never needed: the edge is off-county)
    # Vertical link (i, j): along N-S line i between cells (i-1, j) and (i, j).
    v_inc = np.zeros((nu + 1, nv), dtype=bool)
    v_inc[1:nu] = act[:-1, :] | act[1:, :]
    hi, hj = np.nonzero(h_inc)
    sw, se, ne, nw = P[hi - 1, hj - 1], P[hi, hj - 1], P[hi, hj], P[hi - 1, hj]
    hpoly = shapely.polygons(np.stack([sw[:, 2], se[:, 3], se[:, 2], ne[:, 1], ne[:, 0],
                                       nw[:, 1]], axis=1))
    vi, vj = np.nonzero(v_inc)
    lc, rc = P[vi - 1, vj], P[vi, vj]
    vpoly = shapely.polygons(np.stack([lc[:, 1], rc[:, 0], rc[:, 3], lc[:, 2]], axis=1))
    # Intersections whose eastward link is absent but another link meets them.
    x_need = np.zeros((nu + 1, nv + 1), dtype=bool)
    x_need[1:nu, 1:nv] = ~h_inc[1:nu, 1:nv] & (
        h_inc[0:nu - 1, 1:nv] | v_inc[1:nu, 1:nv] | v_inc[1:nu, 0:nv - 1])
    xi, xj = np.nonzero(x_need)
    sw, se, ne, nw = P[xi - 1, xj - 1], P[xi, xj - 1], P[xi, xj], P[xi - 1, xj]
    xpoly = shapely.polygons(np.stack([sw[:, 2], se[:, 3], ne[:, 0], nw[:, 1]], axis=1))
    ew = {j: names.road_name("ew", int(lat.kv[j])) for j in np.unique(np.r_[hj, xj])}
    ns = {i: names.road_name("ns", int(lat.ku[i])) for i in np.unique(np.r_[vi, xi])}
    n = lat.nodes
    hline = shapely.linestrings(np.stack([n[hi, hj], n[hi + 1, hj]], axis=1))
    vline = shapely.linestrings(np.stack([n[vi, vj], n[vi, vj + 1]], axis=1))
    hw, vw = lat.wv[hj], lat.wu[vi]
    red = np.concatenate([hpoly, vpoly, xpoly])
    red_names = ([ew[j] for j in hj] + [ns[i] for i in vi]
                 + [f"{ns[i]}与{ew[j]}交叉口" for i, j in zip(xi, xj, strict=True)])
    xw = np.maximum(lat.wu[xi], lat.wv[xj])
    red_w = np.concatenate([hw, vw, xw])
    centre = np.concatenate([hline, vline])
    c_names = [ew[j] for j in hj] + [ns[i] for i in vi]
    c_w = np.concatenate([hw, vw])
    return Roads(red, red_names, [names.ROAD_CLASS[float(x)] for x in red_w], red_w,
                 centre, c_names, [names.ROAD_CLASS[float(x)] for x in c_w], c_w)
