"""Demo construction projects and their red lines.

About 85 % conform: the red line is one parcel of the regulatory plan, or two neighbouring
lots of one block with the same use, and the proposed indicators respect the parcel's limits.
The rest break exactly one rule, recorded in `ProjectPlan.violation`:

* ``farmland``          the red line straddles the edge of a permanent-basic-farmland patch;
* ``eco_red_line``      it straddles the southern edge of the ecological protection red line;
* ``road_red_line``     a block-corner parcel grown by 15 m, into the road red lines;
* ``far_exceeded``      proposed FAR above the parcel's upper limit (RJLSX);
* ``density_exceeded``  building density above the cap (JZMDZ);
* ``height_exceeded``   height above the limit (JZXG);
* ``green_below``       green ratio below the floor (LDLLX).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from layers.demo import names
from layers.demo.planning import Indicators

FARMLAND, ECO, ROAD = "farmland", "eco_red_line", "road_red_line"
FAR, DENSITY, HEIGHT, GREEN = "far_exceeded", "density_exceeded", "height_exceeded", "green_below"
VIOLATIONS = (FARMLAND, ECO, ROAD, FAR, HEIGHT, DENSITY, GREEN)
SPATIAL_VIOLATIONS = (FARMLAND, ECO, ROAD)
VIOLATION_WEIGHTS = np.array([0.3, 0.2, 0.2, 0.1, 0.07, 0.07, 0.06])
VIOLATING_SHARE = 0.15
PROJECT_YEAR = 2024
DIVISION = "411325"


@dataclass
class ProjectPlan:
    project_code: str
    name: str
    construction_unit: str
    construction_unit_credit_code: str
    flow_type: str
    applied_land_use_code: str
    proposed_far: float
    proposed_density: float
    proposed_green_ratio: float
    proposed_height: float
    footprint: shapely.Geometry  # frame metres (EPSG:4546)
    violation: str | None = None
    parcel_nos: tuple[str, ...] = field(default_factory=tuple)

    def model_fields(self) -> dict[str, Any]:
        return {"name": self.name, "construction_unit": self.construction_unit,
                "construction_unit_credit_code": self.construction_unit_credit_code,
                "flow_type": self.flow_type, "division_code": DIVISION,
                "applied_land_use_code": self.applied_land_use_code,
                "proposed_far": self.proposed_far, "proposed_density": self.proposed_density,
                "proposed_green_ratio": self.proposed_green_ratio,
                "proposed_height": self.proposed_height}


@dataclass
class ParcelTable:
    geoms: np.ndarray
    parcel_no: np.ndarray
    ind: Indicators
    rank: np.ndarray
    row: np.ndarray
    col: np.ndarray
    multipart: np.ndarray
    holed: np.ndarray
    in_main: np.ndarray


class _Units:
    """Construction units: government bodies per use and a pool of enterprises."""

    def __init__(self, rng: np.random.Generator, n_companies: int):
        self.rng = rng
        self.codes: dict[str, str] = {}
        self.brand: dict[str, str] = {}
        self.companies: dict[str, list[str]] = {}
        brands = list(names.BRANDS)
        for use, kinds in names.COMPANY_KINDS.items():
            pool = []
            for _ in range(max(3, n_companies // len(names.COMPANY_KINDS))):
                for _attempt in range(20):
                    brand = str(rng.choice(brands))
                    kind = str(rng.choice(kinds))
                    prefix = "河南" if rng.random() < 0.2 else "内乡县"
                    name = f"{prefix}{brand}{kind}有限公司"
                    if name not in self.codes:
                        division = "411300" if prefix == "河南" else DIVISION
                        self.codes[name] = names.credit_code("enterprise", division, rng)
                        self.brand[name] = brand
                        pool.append(name)
                        break
            self.companies[use] = pool

    def government(self, use: str) -> str | None:
        key = use if use in names.GOV_UNITS else use[:2]
        options = names.GOV_UNITS.get(key)
        if not options:
            return None
        name = str(self.rng.choice(options))
        if name not in self.codes:
            kind = "institution" if "中心" in name else "organ"
            self.codes[name] = names.credit_code(kind, DIVISION, self.rng)
        return name

    def company(self, use: str) -> str:
        key = use if use in self.companies else "1001"
        return str(self.rng.choice(self.companies[key]))


def _area_word(centroid: np.ndarray, seat: np.ndarray) -> str:
    d = centroid - seat
    if np.hypot(*d) < 1200:
        return "老城区"
    ang = np.degrees(np.arctan2(d[1], d[0]))
    if -45 <= ang < 45:
        return "城东片区"
    if 45 <= ang < 135:
        return "城北片区"
    if -135 <= ang < -45:
        return "城南片区"
    return "城西片区"


def _name(rng: np.random.Generator, use: str, area: str, brand: str, industry: str,
          town: str = "", template_key: str | None = None) -> str:
    key = template_key or (use if use in names.PROJECT_TEMPLATES else use[:2])
    template = str(rng.choice(names.PROJECT_TEMPLATES.get(key, ["{area}{brand}建设项目"])))
    name = template.format(
        area=area, brand=brand, housing=str(rng.choice(names.HOUSING)),
        phase=names.cn_number(int(rng.integers(1, 4))), no=names.cn_number(int(rng.integers(2, 9))),
        ward=str(rng.choice(names.WARDS)), town=town,
        industry=names.INDUSTRY_WORDS.get(industry, "农副产品加工"),
        utility=names.UTILITIES.get(use, "市政设施建设"))
    return name if name.startswith("内乡县") else "内乡县" + name


def _rectangle_across(ring: shapely.LinearRing, frac: float, w: float, h: float
                      ) -> shapely.Polygon:
    """A w x h rectangle centred on the point at `frac` of `ring`, aligned with it."""
    length = ring.length
    p = np.asarray(ring.interpolate(frac * length).coords[0])
    q = np.asarray(ring.interpolate((frac * length + 5.0) % length).coords[0])
    d = (q - p) / max(np.hypot(*(q - p)), 1e-9)
    n = np.array([-d[1], d[0]])
    pts = [p + d * sx * w / 2 + n * sy * h / 2 for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return shapely.Polygon(pts)


def _conforming_values(rng: np.random.Generator, lim: dict[str, float]) -> dict[str, float]:
    lo, hi = lim["far_min"], lim["far_max"]
    far = round(float(rng.uniform(lo + 0.1 * (hi - lo), hi - 0.05 * (hi - lo))), 2)
    density = round(float(lim["density"] * rng.uniform(0.6, 0.97)), 1)
    g_hi = lim["green_max"] if not np.isnan(lim["green_max"]) else lim["green_min"] + 10
    green = round(float(rng.uniform(lim["green_min"] + 0.5, max(g_hi - 0.5,
                                                                 lim["green_min"] + 1.0))), 1)
    height = round(float(lim["height"] * rng.uniform(0.5, 0.97)), 1)
    return {"proposed_far": far, "proposed_density": density, "proposed_green_ratio": green,
            "proposed_height": height}


def make_projects(rng: np.random.Generator, n: int, parcels: ParcelTable, farmland: np.ndarray,
                  eco: list[shapely.Polygon], county: shapely.Polygon, seat: np.ndarray
                  ) -> list[ProjectPlan]:
    if n <= 0:
        return []
    n_bad = int(round(VIOLATING_SHARE * n))
    kinds: list[str | None] = list(VIOLATIONS[:min(n_bad, len(VIOLATIONS))])
    extra = n_bad - len(kinds)
    if extra > 0:
        kinds += list(rng.choice(np.array(VIOLATIONS, dtype=object), extra,
                                 p=VIOLATION_WEIGHTS / VIOLATION_WEIGHTS.sum()))
    kinds += [None] * (n - n_bad)
    kinds = [kinds[i] for i in rng.permutation(n)]
    units = _Units(rng, max(12, n // 3))
    ind = parcels.ind
    usable = ~np.isin(ind.code, ["1402", "1504"])
    main = np.flatnonzero(usable & parcels.in_main)
    pool_idx = main if len(main) >= min(n, 20) else np.flatnonzero(usable)
    pool = list(rng.permutation(pool_idx))
    key = {(int(r), int(rw), int(c)): i for i, (r, rw, c, m) in enumerate(zip(
        parcels.rank, parcels.row, parcels.col, parcels.multipart, strict=True)) if not m}
    used: set[int] = set()
    cursor = 0

    def take(pred: Any = None) -> int:
        """The next unused pool parcel satisfying `pred` (parcels are reused only when
        there are more projects than parcels)."""
        nonlocal cursor
        for _round in range(2):
            for step in range(len(pool)):
                pos = (cursor + step) % len(pool)
                i = int(pool[pos])
                if i not in used and (pred is None or pred(i)):
                    used.add(i)
                    cursor = pos + 1
                    return i
            used.clear()
        return int(pool[0])

    def limits(idx: list[int]) -> dict[str, float]:
        green_max = [ind.green_max[i] for i in idx if not np.isnan(ind.green_max[i])]
        return {"far_min": max(ind.far_min[i] for i in idx),
                "far_max": min(ind.far_max[i] for i in idx),
                "density": min(ind.density[i] for i in idx),
                "green_min": max(ind.green_min[i] for i in idx),
                "green_max": min(green_max) if green_max else np.nan,
                "height": min(ind.height[i] for i in idx)}

    serial = int(rng.integers(1000, 20000))
    farm_order = list(rng.permutation(len(farmland))) if len(farmland) else []
    county_edge = county.exterior
    plans = []
    for kind in kinds:
        serial += int(rng.integers(1, 60))
        idx: list[int] = []
        if kind == FARMLAND:
            patch = farmland[farm_order[len(plans) % len(farm_order)]]
            geom = _rectangle_across(patch.exterior, float(rng.random()),
                                     float(rng.uniform(80, 140)), float(rng.uniform(60, 100)))
            use = str(rng.choice(["1001", "1101"]))
            town = str(rng.choice(names.TOWNS_SOUTH))
            template = "farmland" if use == "1001" else "farmland_storage"
            values = {"proposed_far": round(float(rng.uniform(1.0, 1.5)), 2),
                      "proposed_density": round(float(rng.uniform(40, 55)), 1),
                      "proposed_green_ratio": round(float(rng.uniform(12, 18)), 1),
                      "proposed_height": round(float(rng.uniform(12, 24)), 1)}
        elif kind == ECO:
            piece = eco[int(rng.integers(0, min(2, len(eco))))]
            for _attempt in range(200):
                frac = float(rng.random())
                p = piece.exterior.interpolate(frac, normalized=True)
                if county_edge.distance(p) > 1500:
                    break
            geom = _rectangle_across(piece.exterior, frac, float(rng.uniform(100, 150)),
                                     float(rng.uniform(70, 100)))
            use = "0901"
            town = str(rng.choice(names.TOWNS_NORTH))
            template = "eco"
            values = {"proposed_far": round(float(rng.uniform(0.6, 1.0)), 2),
                      "proposed_density": round(float(rng.uniform(25, 35)), 1),
                      "proposed_green_ratio": round(float(rng.uniform(30, 40)), 1),
                      "proposed_height": round(float(rng.uniform(9, 15)), 1)}
        else:
            if kind == ROAD:
                i = take(lambda i: parcels.row[i] == 0 and parcels.col[i] == 0
                         and not parcels.multipart[i] and not parcels.holed[i])
                idx = [i]
                geom = shapely.buffer(parcels.geoms[i], 15.0, join_style="mitre", mitre_limit=2.0)
            else:
                i = take()
                idx = [i]
                j = key.get((int(parcels.rank[i]), int(parcels.row[i]), int(parcels.col[i]) + 1))
                if (kind is None and j is not None and not parcels.multipart[i] and j not in used
                        and ind.code[j] == ind.code[i] and rng.random() < 0.3):
                    lim = limits([i, j])
                    if lim["far_min"] < lim["far_max"] and (np.isnan(lim["green_max"])
                                                            or lim["green_min"] < lim["green_max"]):
                        idx.append(j)
                        used.add(j)
                geom = (shapely.union(parcels.geoms[idx[0]], parcels.geoms[idx[1]])
                        if len(idx) == 2 else parcels.geoms[i])
            use = str(ind.code[idx[0]])
            lim = limits(idx)
            values = _conforming_values(rng, lim)
            if kind == FAR:
                values["proposed_far"] = round(float(lim["far_max"] * rng.uniform(1.15, 1.6)
                                                     + 0.1), 2)
            elif kind == DENSITY:
                values["proposed_density"] = round(float(lim["density"] + rng.uniform(5, 15)), 1)
            elif kind == HEIGHT:
                values["proposed_height"] = round(float(lim["height"] * rng.uniform(1.2, 1.6)), 1)
            elif kind == GREEN:
                values["proposed_green_ratio"] = round(
                    float(max(lim["green_min"] - rng.uniform(5, 12), 1.0)), 1)
            town, template = "", None
        gov = units.government(use) if kind not in (FARMLAND, ECO) else None
        unit = gov or units.company(use)
        industry = "61" if kind == ECO else names.industry_code(use, rng)
        area = _area_word(np.asarray(geom.centroid.coords[0]), seat)
        brand = units.brand.get(unit) or str(rng.choice(names.BRANDS))
        name = _name(rng, use, area, brand, industry, town, template)
        if gov:
            flow, ptype = "1", "01"
        else:
            small = geom.area < 10_000 and use in ("1001", "1101")
            flow = "4" if small or kind == FARMLAND else "3"
            ptype = "02" if rng.random() < 0.1 else "03"
        code = f"{PROJECT_YEAR}-{DIVISION}-{industry}-{ptype}-{serial:06d}"
        plans.append(ProjectPlan(
            project_code=code, name=name, construction_unit=unit,
            construction_unit_credit_code=units.codes[unit], flow_type=flow,
            applied_land_use_code=use, footprint=geom, violation=kind,
            parcel_nos=tuple(str(parcels.parcel_no[i]) for i in idx), **values))
    return plans
