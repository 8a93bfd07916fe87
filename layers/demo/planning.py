"""Land use and planning indicators of the demo's regulatory-plan parcels.

Uses follow the 2023 classification (用地用海分类指南); the mix depends on the distance to the
county seat and is correlated within a block (a block has a dominant use, most of its lots
take it). Indicators are drawn per use from ranges typical of county-town control plans:
FAR lower limit < upper limit, building density cap and green-ratio floor in percent,
industrial and logistics land also with the national 20 % green-ratio ceiling.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from layers import landuse
from layers.demo import names

CODES = ["0701", "0702", "0801", "0803", "0804", "0806", "0901", "0902", "1001", "1101",
         "1208", "13", "1401", "1402", "1403", "1504"]
UTILITY_CODES = ["1301", "1302", "1303", "1304", "1306", "1309", "1310"]
UTILITY_WEIGHTS = np.array([2, 2, 3, 1, 1, 2, 1], dtype=float)
ZONE_WEIGHTS = {  # 0 core (< 1 km), 1 inner (< 2.5 km), 2 rest of the city, 3 outside
    0: {"0701": 30, "0702": 5, "0801": 8, "0803": 4, "0804": 5, "0806": 4, "0901": 22,
        "0902": 8, "1208": 1, "13": 2, "1401": 7, "1403": 4},
    1: {"0701": 42, "0702": 6, "0801": 3, "0803": 2, "0804": 8, "0806": 4, "0901": 10,
        "0902": 1, "1001": 4, "1101": 2, "1208": 2, "13": 3, "1401": 7, "1402": 2, "1403": 1},
    2: {"0701": 22, "0702": 3, "0801": 2, "0804": 3, "0806": 1, "0901": 6, "1001": 30,
        "1101": 12, "1208": 2, "13": 6, "1401": 5, "1402": 8},
    3: {"0701": 24, "0702": 3, "0804": 4, "0806": 2, "0901": 7, "1001": 28, "1101": 12,
        "1208": 2, "13": 4, "1401": 5, "1402": 9},
}
LOT_BASE_M2 = np.array([5000.0, 5800.0, 6500.0, 7000.0])  # by zone
LOT_FACTOR = {"1001": 1.7, "1101": 1.6, "0804": 1.6, "0806": 1.4, "1401": 1.3, "0901": 0.9,
              "0902": 0.9}
# use: (FAR lower, FAR upper, density cap %, green floor %, green ceiling % or 0, height m)
PARAMS = {
    "0701": ((1.0, 1.5), (2.0, 3.2), (20, 28), (30, 35), 0, (36, 80)),
    "0702": ((0.6, 1.0), (1.2, 2.0), (30, 40), (20, 30), 0, (15, 24)),
    "0801": ((0.6, 1.0), (1.2, 2.2), (25, 35), (30, 35), 0, (24, 45)),
    "0803": ((0.5, 0.8), (1.0, 2.0), (25, 35), (30, 35), 0, (18, 36)),
    "0804": ((0.4, 0.7), (0.8, 1.3), (20, 30), (35, 40), 0, (18, 24)),
    "0806": ((0.8, 1.2), (1.6, 2.5), (25, 35), (35, 40), 0, (36, 60)),
    "0901": ((1.0, 1.8), (2.5, 5.0), (35, 50), (15, 25), 0, (24, 100)),
    "0902": ((1.5, 2.5), (3.5, 6.0), (35, 45), (20, 25), 0, (50, 120)),
    "1001": ((0.8, 1.0), (1.5, 2.5), (45, 60), (10, 15), 20, (18, 30)),
    "1101": ((0.6, 1.0), (1.2, 2.0), (45, 60), (10, 15), 20, (15, 24)),
    "1208": ((0.1, 0.3), (0.6, 1.0), (20, 35), (15, 25), 0, (12, 24)),
    "13": ((0.2, 0.4), (0.6, 1.2), (25, 40), (25, 35), 0, (12, 24)),
    "1401": ((0.0, 0.0), (0.03, 0.08), (2, 5), (65, 80), 0, (9, 12)),
    "1402": ((0.0, 0.0), (0.01, 0.02), (1, 2), (80, 90), 0, (6, 9)),
    "1403": ((0.0, 0.0), (0.05, 0.15), (3, 8), (25, 35), 0, (9, 15)),
    "1504": ((0.0, 0.0), (0.6, 0.8), (35, 45), (20, 25), 0, (12, 12)),
}
MANDATORY_PREFIXES = ("0702", "08", "1208", "13", "14", "1504")
YAMEN = "1504"

_W = np.array([[ZONE_WEIGHTS[z].get(c, 0) for c in CODES] for z in range(4)], dtype=float)
_CUM = np.cumsum(_W / _W.sum(axis=1, keepdims=True), axis=1)


def zone_of(d: np.ndarray, in_main: np.ndarray) -> np.ndarray:
    return np.where(in_main, np.where(d < 1000, 0, np.where(d < 2500, 1, 2)), 3)


def draw_use(rng: np.random.Generator, zone: np.ndarray) -> np.ndarray:
    u = rng.random(len(zone))
    return np.minimum((u[:, None] > _CUM[zone]).sum(axis=1), len(CODES) - 1)


def lot_target(zone: np.ndarray, dominant: np.ndarray) -> np.ndarray:
    factor = np.array([LOT_FACTOR.get(c, 1.0) for c in CODES])
    return LOT_BASE_M2[zone] * factor[dominant]


@dataclass
class Indicators:
    code: np.ndarray  # object array of 4-digit codes
    name: np.ndarray
    far_min: np.ndarray
    far_max: np.ndarray
    density: np.ndarray
    green_min: np.ndarray
    green_max: np.ndarray  # NaN when there is no ceiling
    height: np.ndarray
    mandatory: np.ndarray  # "是"/"否"


def parcel_uses(rng: np.random.Generator, dominant: np.ndarray, zone: np.ndarray
                ) -> np.ndarray:
    """4-digit codes per parcel: the block's dominant use or, for a third, another draw."""
    own = np.where(rng.random(len(dominant)) < 0.65, dominant, draw_use(rng, zone))
    codes = np.array(CODES, dtype=object)[own]
    util = codes == "13"
    p = UTILITY_WEIGHTS / UTILITY_WEIGHTS.sum()
    codes[util] = rng.choice(np.array(UTILITY_CODES, dtype=object), int(util.sum()), p=p)
    return codes


def indicators(rng: np.random.Generator, codes: np.ndarray) -> Indicators:
    n = len(codes)
    far_min, far_max, density = np.zeros(n), np.zeros(n), np.zeros(n)
    green_min, green_max, height = np.zeros(n), np.full(n, np.nan), np.zeros(n)
    group = np.array([c if c in PARAMS else c[:2] for c in codes], dtype=object)
    for key, (flo, fhi, den, gmin, gmax, hgt) in PARAMS.items():
        idx = np.flatnonzero(group == key)
        if not len(idx):
            continue
        m = len(idx)
        far_min[idx] = np.floor(rng.uniform(*flo, m) * 10) / 10
        hi = rng.uniform(*fhi, m)
        far_max[idx] = np.where(hi >= 0.5, np.round(hi, 1), np.round(hi, 2))
        density[idx] = np.round(rng.uniform(*den, m))
        green_min[idx] = np.round(rng.uniform(*gmin, m))
        if gmax:
            green_max[idx] = gmax
        h = rng.uniform(*hgt, m)
        height[idx] = np.where(h >= 15, np.round(h / 3) * 3, np.round(h))
    names_zh = np.array([landuse.land_use_name(c) for c in codes], dtype=object)
    mandatory = np.array(["是" if c.startswith(MANDATORY_PREFIXES) else "否" for c in codes],
                         dtype=object)
    return Indicators(codes, names_zh, far_min, far_max, density, green_min, green_max, height,
                      mandatory)


@dataclass
class Numbering:
    unit_of_tile: dict[tuple[int, int], str]
    approval_of_unit: dict[str, tuple[str, dt.date]]


def numbering(rng: np.random.Generator, cells: np.ndarray, nv: int, nodes: np.ndarray,
              seat: np.ndarray) -> Numbering:
    """Planning units are 8 x 8 blocks of the lattice, lettered outward from the seat (A, B,
    ..., AA, ...); each group of six units was approved by one county-government document."""
    i, j = np.divmod(cells, nv)
    tiles = np.unique(np.stack([i // 8, j // 8], axis=1), axis=0)
    ci = np.minimum(tiles[:, 0] * 8 + 4, nodes.shape[0] - 1)
    cj = np.minimum(tiles[:, 1] * 8 + 4, nodes.shape[1] - 1)
    c = nodes[ci, cj]
    order = np.argsort(np.hypot(c[:, 0] - seat[0], c[:, 1] - seat[1]), kind="stable")
    unit_of_tile = {(int(tiles[t, 0]), int(tiles[t, 1])): names.unit_code(k)
                    for k, t in enumerate(order)}
    approvals: dict[str, tuple[str, dt.date]] = {}
    n_batches = len(order) // 6 + 1
    years = np.minimum(2021 + np.arange(n_batches) // 6, 2024)
    nums = rng.integers(3, 98, n_batches)
    days = rng.integers(0, 330, n_batches)
    for k in range(len(order)):
        b = k // 6
        date = dt.date(int(years[b]), 1, 10) + dt.timedelta(days=int(days[b]))
        approvals[names.unit_code(k)] = (f"内政〔{years[b]}〕{nums[b]}号", date)
    return Numbering(unit_of_tile, approvals)
