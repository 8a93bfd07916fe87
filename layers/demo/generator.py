"""Build the whole demo county in memory: every standard layer and the demo projects.

Pure (no database): the same seed and sizes give identical data. Each stage draws from its
own random stream (``numpy.random.default_rng([seed, stage])``), so, for example, the county
boundary, the river, the ecological red line and the street lattice do not change with the
number of parcels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from layers.demo import geography, grid, planning
from layers.demo.frame import (
    SEAT_LONLAT,
    YAMEN_LONLAT,
    normals,
    runs,
    strip_pieces,
    to_4490,
    to_xy,
)
from layers.demo.projects import ParcelTable, ProjectPlan, make_projects
from layers.importers.base import FeatureBatch

DEFAULT_SEED = 20241127
DEFAULT_PARCELS = 5000
DEFAULT_PROJECTS = 200
SOURCE_FORMAT = "demo"
STAGES = ("county", "river", "reservoirs", "eco", "lattice", "dev", "tributaries", "blocks",
          "lots", "uses", "indicators", "numbering", "farmland", "heritage", "hv", "projects")
Progress = Callable[[str], None]


@dataclass
class LayerData:
    code: str
    geoms: np.ndarray  # frame metres (EPSG:4546)
    columns: dict[str, Sequence[Any]]

    def __len__(self) -> int:
        return len(self.geoms)

    def batch(self) -> FeatureBatch:
        return FeatureBatch(geometries=to_4490(self.geoms), columns=self.columns, epsg=4490,
                            source_format=SOURCE_FORMAT,
                            crs_note="演示数据，CGCS2000 经纬度 (generated demo data, EPSG:4490)")


@dataclass
class DemoCounty:
    seed: int
    n_parcels: int
    n_projects: int
    layers: dict[str, LayerData]
    projects: list[ProjectPlan]
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def footprints_4490(self) -> np.ndarray:
        return to_4490(np.array([p.footprint for p in self.projects], dtype=object))


def _objects(items: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def generate(seed: int = DEFAULT_SEED, parcels: int = DEFAULT_PARCELS,
             projects: int = DEFAULT_PROJECTS, progress: Progress | None = None) -> DemoCounty:
    if parcels < 1:
        raise ValueError("parcels must be at least 1")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def stage(name: str) -> np.random.Generator:
        timings[name] = time.perf_counter()
        if progress:
            progress(name)
        return np.random.default_rng([int(seed), STAGES.index(name)])

    seat = np.array(to_xy(*SEAT_LONLAT))
    county = geography.county_boundary(stage("county"))
    inner = county.buffer(-250)
    river = geography.tuan_river(stage("river"), county, seat)
    corridor = shapely.union_all(river.corridor)
    seat_zone = shapely.Point(seat).buffer(7000)
    res = geography.reservoirs(stage("reservoirs"), county,
                               shapely.union(seat_zone, corridor.buffer(300)))
    water = shapely.union_all([corridor, *[p for _, p in res]])
    eco = geography.ecological_red_line(stage("eco"), county, river, water, seat_zone)
    eco_all = shapely.union_all(eco)
    lat = grid.build_lattice(stage("lattice"), seat, county)
    main_mask, dev_main, towns = grid.development_boundary(
        stage("dev"), lat, seat, inner, shapely.union(eco_all, water))
    dev_all = shapely.union_all([dev_main, *towns])
    tribs = geography.tributaries(stage("tributaries"), county, river, dev_main)

    # Blocks: candidates clear of the red line and water; the county yamen is one compound.
    rng = stage("blocks")
    nu, nv = lat.shape
    yx, yy = to_xy(*YAMEN_LONLAT)
    near = np.flatnonzero(np.hypot(*(lat.nodes[:-1, :-1].reshape(-1, 2) - [yx, yy]).T) < 600)
    quads = shapely.polygons(lat.cell_rings(near))
    yamen_cell = int(near[shapely.contains_xy(quads, yx, yy)][0])
    forbidden = shapely.union_all([eco_all.buffer(300), corridor.buffer(50),
                                   *[p.buffer(60) for _, p in res]])
    cands = grid.candidate_cells(lat, inner, forbidden)
    plan = grid.plan_blocks(rng, lat, cands, main_mask, seat, yamen_cell, parcels,
                            planning.zone_of, planning.draw_use, planning.lot_target)
    pcl = grid.make_parcels(stage("lots"), lat, plan)
    active = plan.cells[:plan.n_blocks]

    codes = planning.parcel_uses(stage("uses"), plan.dominant[pcl.rank], plan.zone[pcl.rank])
    is_yamen = plan.cells[pcl.rank] == yamen_cell
    codes[is_yamen] = planning.YAMEN
    ind = planning.indicators(stage("indicators"), codes)
    num = planning.numbering(stage("numbering"), plan.cells, nv, lat.nodes, seat)
    ci, cj = np.divmod(plan.cells[pcl.rank], nv)
    units = [num.unit_of_tile[(int(a) // 8, int(b) // 8)] for a, b in zip(ci, cj, strict=True)]
    blk = (ci % 8) * 8 + cj % 8 + 1
    parcel_no = _objects([f"NX-{u}{b:02d}-{n:02d}" for u, b, n in zip(units, blk, pcl.lot_no,
                                                                      strict=True)])
    approvals = [num.approval_of_unit[u] for u in units]
    area_ha = np.round(shapely.area(pcl.geoms) / 1e4, 4)
    in_main = main_mask.ravel()[plan.cells[pcl.rank]]
    roads = grid.make_roads(lat, active)

    block_quads = shapely.polygons(lat.cell_rings(active))
    farm = geography.farmland(
        stage("farmland"), county,
        shapely.union_all([dev_all.buffer(150), eco_all.buffer(300), water.buffer(100)]),
        block_quads)

    # Green lines: riverside belts through the city, parks and squares.
    belts = []
    c = river.centre
    inside = shapely.contains_xy(dev_main, c[:, 0], c[:, 1])
    nrm = normals(c)
    for a, b in runs(inside, 8):
        cc, nn, hw = c[a:b], nrm[a:b], river.half_width[a:b, None]
        belts += strip_pieces(cc, cc + nn * (hw + 45), cc + nn * hw, 40)
        belts += strip_pieces(cc, cc - nn * hw, cc - nn * (hw + 45), 40)
    green = np.isin(ind.code, ["1401", "1403"]) & in_main
    lvx_geoms = [*belts, *pcl.geoms[green]]
    lvx_names = (["湍河滨河绿带"] * len(belts)
                 + [f"{ind.name[i]}（{parcel_no[i]}）" for i in np.flatnonzero(green)])
    lvx_kind = ["滨河绿带"] * len(belts) + list(ind.name[green])

    # Purple lines: the county yamen (a national key cultural relic) and its setting.
    rng = stage("heritage")
    core = shapely.Polygon(lat.inset.reshape(-1, 4, 2)[yamen_cell])
    control = shapely.difference(core.buffer(120, quad_segs=4), core)
    yi, yj = divmod(yamen_cell, nv)
    district_mask = np.zeros((nu, nv), dtype=bool)
    district_mask[yi - 1:yi + 2, yj - 1:yj + 1] = True
    district = grid.union_cells(lat, district_mask)
    sites = geography.heritage_sites(rng, county, shapely.union(dev_all, water.buffer(100)))
    zix = [("内乡县衙保护范围", core, "全国重点文物保护单位", "保护范围"),
           ("内乡县衙建设控制地带", control, "全国重点文物保护单位", "建设控制地带"),
           ("县衙历史文化街区", district, "历史文化街区", "核心保护范围"),
           *[(n, p, "县级文物保护单位", "保护范围") for n, p in sites]]

    # Yellow lines: utility sites in the city and a 220 kV corridor to a substation east of it.
    rng = stage("hv")
    util = np.array([str(x).startswith("13") for x in ind.code]) & in_main
    east = seat + np.array([dev_main.bounds[2] - seat[0] + 1500, -800.0])
    hv_pieces, substation = geography.hv_corridor(rng, county, east)
    hx = [(f"{ind.name[i]}（{parcel_no[i]}）", pcl.geoms[i], ind.name[i])
          for i in np.flatnonzero(util)]
    hx += [("220千伏高压走廊", p, "高压走廊") for p in hv_pieces]
    hx.append(("220千伏变电站", substation, "供电设施"))

    farm_codes = _objects(farmland_classes(np.random.default_rng([seed, len(STAGES)]), len(farm)))
    layers = {
        "XZQ": LayerData("XZQ", _objects([county]),
                         {"MC": ["内乡县"], "XZQDM": ["411325"]}),
        "SX": LayerData("SX", _objects([river.line, *[t.line for t in tribs]]),
                        {"MC": [river.name, *[t.name for t in tribs]],
                         "HLDJ": ["干流", *["支流"] * len(tribs)]}),
        "JTDL": LayerData("JTDL", roads.centre_lines,
                          {"MC": roads.centre_names, "DLDJ": roads.centre_class,
                           "HXKD": roads.centre_width}),
        "CZKFBJ": LayerData("CZKFBJ", _objects([dev_main, *towns]),
                            {"MC": ["内乡县中心城区城镇开发边界",
                                    *[f"乡镇城镇开发边界{k + 1}" for k in range(len(towns))]],
                             "BJLX": ["中心城区", *["乡镇"] * len(towns)]}),
        "YJJBNT": LayerData("YJJBNT", farm,
                            {"MC": ["永久基本农田"] * len(farm),
                             "TBBH": [f"411325-JBNT-{k + 1:05d}" for k in range(len(farm))],
                             "YDXZDM": farm_codes,
                             "YDXZMC": [{"0101": "水田", "0102": "水浇地", "0103": "旱地"}[x]
                                        for x in farm_codes]}),
        "STBHHX": LayerData("STBHHX", _objects(eco),
                            {"MC": ["伏牛山生物多样性维护与水源涵养生态保护红线"] * len(eco),
                             "HXBH": [f"411325-STHX-{k + 1:02d}" for k in range(len(eco))]}),
        "DLHX": LayerData("DLHX", roads.red_lines,
                          {"MC": roads.red_names, "DLDJ": roads.red_class,
                           "HXKD": roads.red_width}),
        "LANX": LayerData("LANX", _objects([*river.corridor, *[p for _, p in res]]),
                          {"MC": [f"{river.name}蓝线"] * len(river.corridor)
                           + [n for n, _ in res],
                           "LX": ["河道"] * len(river.corridor) + ["水库"] * len(res)}),
        "LVX": LayerData("LVX", _objects(lvx_geoms), {"MC": lvx_names, "LX": lvx_kind}),
        "ZIX": LayerData("ZIX", _objects([z[1] for z in zix]),
                         {"MC": [z[0] for z in zix], "BHJB": [z[2] for z in zix],
                          "FWLX": [z[3] for z in zix]}),
        "HUANGX": LayerData("HUANGX", _objects([h[1] for h in hx]),
                            {"MC": [h[0] for h in hx], "SSLX": [h[2] for h in hx]}),
        "KGDK": LayerData("KGDK", pcl.geoms, {
            "DKBH": parcel_no, "YDXZDM": ind.code, "YDXZMC": ind.name, "YDMJ": area_ha,
            "RJLSX": ind.far_max, "RJLXX": ind.far_min, "JZMDZ": ind.density,
            "LDLSX": ind.green_max, "LDLLX": ind.green_min, "JZXG": ind.height,
            "SFQZXNR": ind.mandatory, "PFNAME": [a[0] for a in approvals],
            "PFDATE": [a[1] for a in approvals],
            "MC": np.where(is_yamen, "内乡县衙", ""),
            "GHDY": [f"{u}单元" for u in units]}),
    }

    table = ParcelTable(pcl.geoms, parcel_no, ind, pcl.rank, pcl.row, pcl.col, pcl.multipart,
                        pcl.holed, in_main)
    plans = make_projects(stage("projects"), projects, table, farm, eco, county, seat)
    end = time.perf_counter()
    names_in_order = list(timings)
    durations = {n: (timings[names_in_order[k + 1]] if k + 1 < len(names_in_order) else end)
                 - timings[n] for k, n in enumerate(names_in_order)}
    durations["total"] = end - t0
    stats = {
        "county_km2": county.area / 1e6,
        "development_boundary_km2": dev_main.area / 1e6,
        "towns": len(towns),
        "blocks": plan.n_blocks,
        "parcel_ha_p05_p50_p95": tuple(np.round(np.percentile(area_ha, [5, 50, 95]), 2)),
        "parcels_in_development_boundary": int(in_main.sum()),
        "multipolygons": int(pcl.multipart.sum()),
        "with_holes": int(pcl.holed.sum()),
        "violations": {k: sum(p.violation == k for p in plans)
                       for k in sorted({p.violation or "none" for p in plans})},
    }
    stats["violations"]["none"] = sum(p.violation is None for p in plans)
    return DemoCounty(int(seed), parcels, projects, layers, plans, durations, stats)


def farmland_classes(rng: np.random.Generator, n: int) -> list[str]:
    """Farmland classes: mostly irrigated land (水浇地) on the plains, some paddy, some dry."""
    return list(rng.choice(np.array(["0101", "0102", "0103"], dtype=object), n,
                           p=[0.2, 0.55, 0.25]))
