"""County-scale geography of the demo: boundary, Tuan River, reservoirs, ecological red
line, permanent basic farmland, heritage sites and an infrastructure corridor.

All in the metric frame (EPSG:4546). Nothing here depends on the number of parcels except
the farmland, which keeps clear of the planned blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import STRtree

from layers.demo.frame import (
    SEAT_LONLAT,
    lat_to_y,
    meander,
    normals,
    resample,
    runs,
    smooth_curve,
    star_polygons,
    strip_pieces,
    to_xy,
)

COUNTY_AREA_M2 = 2.4e9
COUNTY_CENTRE = (111.80, 33.225)
SEAT_CLEARANCE = 9000.0


@dataclass
class River:
    name: str
    centre: np.ndarray  # sampled centre line, frame metres, ~25 m apart
    line: shapely.Geometry  # clipped to the county
    corridor: list[shapely.Polygon] = field(default_factory=list)
    half_width: np.ndarray | None = None


def county_boundary(rng: np.random.Generator) -> shapely.Polygon:
    """An irregular, egg-shaped county of ~2 400 km², longer to the north (the mountains)
    than to the south, inside 111.5-112.1 E, 32.9-33.6 N."""
    cx, cy = to_xy(*COUNTY_CENTRE)
    phi = np.linspace(0, 2 * np.pi, 1440, endpoint=False)
    a = 24_000.0
    b = np.where(np.sin(phi) > 0, 35_000.0, 30_000.0)
    r = 1.0 / np.sqrt((np.cos(phi) / a) ** 2 + (np.sin(phi) / b) ** 2)
    noise = np.zeros_like(phi)
    for k in range(2, 12):
        noise += rng.uniform(0.4, 1.0) * 0.07 / k**0.6 * np.cos(k * phi + rng.uniform(0, 6.3))
    for k in range(12, 60):
        noise += rng.uniform(0.0, 1.0) * 0.005 * np.cos(k * phi + rng.uniform(0, 6.3))
    noise *= min(1.0, 0.14 / np.abs(noise).max())
    r = r * (1 + noise)
    poly = shapely.Polygon(np.column_stack([cx + r * np.cos(phi), cy + r * np.sin(phi)]))
    r = r * np.sqrt(COUNTY_AREA_M2 / poly.area)
    # Keep the county seat at least SEAT_CLEARANCE from the boundary: push every ray that
    # crosses that disk out beyond it (the city and its plains must fit).
    sx, sy = np.asarray(to_xy(*SEAT_LONLAT)) - (cx, cy)
    proj = sx * np.cos(phi) + sy * np.sin(phi)
    perp = np.abs(sx * np.sin(phi) - sy * np.cos(phi))
    crossing = perp < SEAT_CLEARANCE
    reach = proj + np.sqrt(np.clip(SEAT_CLEARANCE**2 - perp**2, 0, None)) + 500.0
    r = np.where(crossing, np.maximum(r, reach), r)
    return shapely.Polygon(np.column_stack([cx + r * np.cos(phi), cy + r * np.sin(phi)]))


def _clip_to(points: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """The longest run of consecutive samples inside `area`."""
    inside = shapely.contains_xy(area, points[:, 0], points[:, 1])
    spans = runs(inside)
    a, b = max(spans, key=lambda s: s[1] - s[0])
    return points[a:b]


def tuan_river(rng: np.random.Generator, county: shapely.Polygon,
               seat: tuple[float, float]) -> River:
    """湍河: from the north-western mountains south-east past the east side of the county
    seat, meandering; its blue-line corridor is cut into ~2 km pieces."""
    ctrl = [(111.60, 33.64), (111.665, 33.50), (111.74, 33.40), (111.80, 33.285),
            (111.845, 33.17), (111.866, 33.085), (111.868, 33.045), (111.886, 32.97),
            (111.925, 32.86)]
    ctrl_xy = np.column_stack(to_xy(*np.array(ctrl).T))
    ctrl_xy[1:-1] += rng.uniform(-250, 250, (len(ctrl) - 2, 2)) * [1, 0.3]
    base = resample(smooth_curve(ctrl_xy, 50.0), 25.0)
    dist = np.hypot(base[:, 0] - seat[0], base[:, 1] - seat[1])
    amplitude = 520.0 - 300.0 * np.exp(-(dist / 7000.0) ** 2)
    centre = resample(meander(base, amplitude, 4200.0, rng), 25.0)
    line = shapely.intersection(shapely.LineString(centre), county.buffer(-5))
    inner = _clip_to(centre, county.buffer(-400))
    dist = np.hypot(inner[:, 0] - seat[0], inner[:, 1] - seat[1])
    hw = 65.0 + 55.0 * np.exp(-(dist / 6000.0) ** 2)
    n = normals(inner)
    corridor = strip_pieces(inner, inner + n * hw[:, None], inner - n * hw[:, None], 80)
    return River("湍河", inner, line, corridor, hw)


def tributaries(rng: np.random.Generator, county: shapely.Polygon, main: River,
                avoid: shapely.Geometry) -> list[River]:
    """A few streams joining the Tuan from the hills on either side (centre lines only)."""
    out = []
    inner = county.buffer(-300)
    minx, miny, maxx, maxy = county.bounds
    k = 0
    for side, frac in ((-1, 0.35), (1, 0.5), (-1, 0.72), (1, 0.2)):
        for _attempt in range(20):
            join = main.centre[int(len(main.centre) * (frac + rng.uniform(-0.06, 0.06)))]
            length = rng.uniform(9000, 16000)
            ang = np.radians(rng.uniform(-40, 40)) + (np.pi if side < 0 else 0.0)
            start = join + length * np.array([np.cos(ang), np.sin(ang) * 0.8 + 0.3])
            mid = (start + join) / 2 + rng.uniform(-1500, 1500, 2)
            pts = resample(smooth_curve(np.array([start, mid, join]), 50.0), 25.0)
            pts = meander(pts, np.full(len(pts), 180.0), 2600.0, rng)
            if not shapely.contains_xy(inner, *start):
                continue
            line = shapely.intersection(shapely.LineString(pts), county.buffer(-5))
            if line.is_empty or shapely.intersects(line, avoid):
                continue
            k += 1
            out.append(River(f"湍河支流{k}", pts, line))
            break
    return out


def reservoirs(rng: np.random.Generator, county: shapely.Polygon, keep_clear: shapely.Geometry
               ) -> list[tuple[str, shapely.Polygon]]:
    out: list[tuple[str, shapely.Polygon]] = []
    inner = county.buffer(-800)
    for k, (lon, lat) in enumerate(((111.655, 33.17), (112.0, 33.215)), start=1):
        for _attempt in range(30):
            x, y = to_xy(lon + rng.uniform(-0.03, 0.03), lat + rng.uniform(-0.03, 0.03))
            poly = star_polygons(np.array([x]), np.array([y]), np.array([rng.uniform(900, 1300)]),
                                 np.array([rng.uniform(450, 750)]),
                                 np.array([rng.uniform(0, np.pi)]), 48, rng, 0.12)[0]
            if shapely.within(poly, inner) and not shapely.intersects(poly, keep_clear):
                out.append((f"{cn_ordinal(k)}号水库", poly))
                break
    return out


def cn_ordinal(k: int) -> str:
    return "零一二三四五六七八九"[k]


def ecological_red_line(rng: np.random.Generator, county: shapely.Polygon, river: River,
                        water: shapely.Geometry, keep_clear: shapely.Geometry
                        ) -> list[shapely.Polygon]:
    """The northern mountains (north of a wavy line near 33.30 N), split by the Tuan valley
    and holed by valley villages; every piece over 3 km² is one feature."""
    minx, miny, maxx, maxy = county.bounds
    x = np.arange(minx - 2000, maxx + 2000, 200.0)
    y0 = lat_to_y(33.305)
    p1, p2 = rng.uniform(0, 2 * np.pi, 2)
    y = y0 + 1200 * np.sin(2 * np.pi * x / 16000 + p1) + 500 * np.sin(2 * np.pi * x / 5700 + p2)
    north = shapely.Polygon(np.vstack([np.column_stack([x, y]),
                                       [[x[-1], maxy + 5000], [x[0], maxy + 5000]]]))
    valley = shapely.LineString(river.centre).buffer(800)
    # Villages and farmland along the valley stay outside the red line.
    idx = rng.choice(np.flatnonzero(river.centre[:, 1] > y0 + 3000), 4, replace=False)
    side = np.where(rng.random(4) < 0.5, -1.0, 1.0)
    nrm = normals(river.centre)[idx]
    pts = river.centre[idx] + nrm * side[:, None] * rng.uniform(1800, 3200, 4)[:, None]
    villages = star_polygons(pts[:, 0], pts[:, 1], rng.uniform(500, 900, 4),
                             rng.uniform(400, 700, 4), rng.uniform(0, np.pi, 4), 32, rng)
    eco = shapely.intersection(county.buffer(-300), north)
    cut = shapely.union_all([valley, *villages, water.buffer(200), keep_clear])
    eco = shapely.difference(eco, cut)
    parts = [p for p in shapely.get_parts(eco) if p.area > 3e6]
    return sorted(parts, key=lambda p: -p.area)


def farmland(rng: np.random.Generator, county: shapely.Polygon, forbidden: shapely.Geometry,
             blocks: np.ndarray) -> np.ndarray:
    """Permanent basic farmland patches on a jittered 1.1 km grid, mostly in the southern and
    eastern plains; none touches the forbidden areas or comes within 150 m of a planned
    block. `blocks` are the block polygons (cells between road centre lines)."""
    minx, miny, maxx, maxy = county.bounds
    step = 1100.0
    gx, gy = np.meshgrid(np.arange(minx + step / 2, maxx, step),
                         np.arange(miny + step / 2, maxy, step))
    cx = gx.ravel() + rng.uniform(-350, 350, gx.size)
    cy = gy.ravel() + rng.uniform(-350, 350, gx.size)
    plains = (cy < lat_to_y(33.22)) & (cx > to_xy(111.66, 33.1)[0])
    # A smooth random field groups the patches into farming districts and gaps.
    field = np.zeros(gx.size)
    for _ in range(4):
        k = rng.uniform(2 * np.pi / 16000, 2 * np.pi / 6000, 2) * rng.choice([-1, 1], 2)
        field += np.sin(k[0] * cx + k[1] * cy + rng.uniform(0, 2 * np.pi))
    field = (field - field.min()) / (np.ptp(field) + 1e-9)
    keep_p = np.where(plains, 0.95, 0.45) * (0.25 + 0.75 * field)
    draw = rng.random(gx.size)
    size = 0.75 + 0.5 * field
    rx = rng.uniform(250, 600, gx.size) * size
    ry = rng.uniform(180, 400, gx.size) * size
    ang = rng.uniform(0, np.pi, gx.size)
    patches = star_polygons(cx, cy, rx, ry, ang, 20, rng)
    ok = draw < keep_p
    inner = county.buffer(-150)
    shapely.prepare(inner)
    shapely.prepare(forbidden)
    ok &= shapely.within(patches, inner)
    ok &= ~shapely.intersects(patches, forbidden)
    if len(blocks):
        tree = STRtree(blocks)
        hit = tree.query(shapely.buffer(patches[ok], 150, quad_segs=2), predicate="intersects")
        bad = np.zeros(ok.sum(), dtype=bool)
        bad[np.unique(hit[0])] = True
        ok[np.flatnonzero(ok)[bad]] = False
    kept = patches[ok]
    # Neighbouring patches may touch: keep the first of every overlapping pair.
    a, b = STRtree(kept).query(kept, predicate="intersects")
    drop = np.zeros(len(kept), dtype=bool)
    for i, j in zip(a[a < b], b[a < b], strict=True):
        if not drop[i]:
            drop[j] = True
    return kept[~drop]


def heritage_sites(rng: np.random.Generator, county: shapely.Polygon,
                   avoid: shapely.Geometry) -> list[tuple[str, shapely.Polygon]]:
    """A few small listed sites out in the county (the county yamen is placed with the grid)."""
    out = []
    inner = county.buffer(-1000)
    minx, miny, maxx, maxy = inner.bounds
    for name in ("古寨遗址保护范围", "明清古民居群保护范围", "古石桥保护范围"):
        for _attempt in range(50):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            w, h = rng.uniform(60, 160), rng.uniform(50, 110)
            box = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
            a = rng.uniform(0, np.pi)
            c, s = np.cos(a), np.sin(a)
            rot = np.array([[c, s], [-s, c]])
            poly = shapely.Polygon(np.asarray(box.exterior.coords)[:-1] @ rot + [x, y])
            if shapely.within(poly, inner) and not shapely.intersects(poly, avoid):
                out.append((name, poly))
                break
    return out


def hv_corridor(rng: np.random.Generator, county: shapely.Polygon, end_xy: np.ndarray
                ) -> tuple[list[shapely.Polygon], shapely.Polygon]:
    """A 220 kV overhead-line corridor (40 m) from the east of the county to a substation
    site east of the city; pieces of ~1 km."""
    start = np.array(to_xy(112.07, 33.19))
    mid = (start + end_xy) / 2 + rng.uniform(-1500, 1500, 2)
    pts = resample(np.array([start, mid, end_xy]), 25.0)
    pts = _clip_to(pts, county.buffer(-300))
    n = normals(pts)
    pieces = strip_pieces(pts, pts + n * 20.0, pts - n * 20.0, 40)
    d = pts[-1] - pts[-2]
    d /= np.hypot(*d)
    nrm = np.array([-d[1], d[0]])
    c = pts[-1] + d * 60.0
    corners = [c + d * sx * 60 + nrm * sy * 50 for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return pieces, shapely.Polygon(corners)
