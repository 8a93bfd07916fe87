"""The coordinate reference systems of the Neixiang blueprint, in one registry.

Public code often gets the Gauss-Kruger codes for this zone wrong (4544, 4526 and 4538 have
all been seen); every other module asks this registry instead of spelling EPSG codes.
All transforms go through pyproj with x = easting/longitude, y = northing/latitude.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from pyproj import CRS, Transformer

CGCS2000_GEOGRAPHIC = 4490
CGCS2000_GK_ZONE37 = 4525
CGCS2000_GK_CM111 = 4546
WGS84 = 4326
WEB_MERCATOR = 3857
XIAN80_GK_ZONE37 = 2361
XIAN80_GK_CM111 = 2382
BEIJING54_GK_ZONE37 = 2413
BEIJING54_GK_CM111 = 2434


@dataclass(frozen=True)
class CrsInfo:
    epsg: int
    name_zh: str
    name_en: str
    datum: str  # CGCS2000, WGS84, Xian1980, Beijing1954
    geographic: bool
    zone_prefixed: bool = False  # easting carries the zone number (37 500 000 false easting)
    # WMS 1.3.0 / WMTS follow EPSG axis order: lat/lon for geographic CRSs, N/E for GK.
    epsg_axis_lat_first: bool = False
    use_zh: str = ""

    @property
    def urn(self) -> str:
        return f"urn:ogc:def:crs:EPSG::{self.epsg}"

    @property
    def uri(self) -> str:
        return f"http://www.opengis.net/def/crs/EPSG/0/{self.epsg}"


REGISTRY: dict[int, CrsInfo] = {
    c.epsg: c
    for c in (
        CrsInfo(4490, "2000国家大地坐标系", "CGCS2000", "CGCS2000", True,
                epsg_axis_lat_first=True, use_zh="存储与交换"),
        CrsInfo(4525, "2000国家大地坐标系 3度带 第37带（带带号）",
                "CGCS2000 / 3-degree Gauss-Kruger zone 37", "CGCS2000", False,
                zone_prefixed=True, epsg_axis_lat_first=True, use_zh="界址点坐标"),
        CrsInfo(4546, "2000国家大地坐标系 3度带 中央经线111°E",
                "CGCS2000 / 3-degree Gauss-Kruger CM 111E", "CGCS2000", False,
                epsg_axis_lat_first=True, use_zh="面积与距离"),
        CrsInfo(4326, "WGS 84", "WGS 84", "WGS84", True, epsg_axis_lat_first=True,
                use_zh="网页客户端"),
        CrsInfo(3857, "Web墨卡托", "WGS 84 / Pseudo-Mercator", "WGS84", False,
                use_zh="网页瓦片"),
        CrsInfo(2361, "1980西安坐标系 3度带 第37带", "Xian 1980 / 3-degree Gauss-Kruger zone 37",
                "Xian1980", False, zone_prefixed=True, epsg_axis_lat_first=True,
                use_zh="旧规划"),
        CrsInfo(2382, "1980西安坐标系 3度带 中央经线111°E",
                "Xian 1980 / 3-degree Gauss-Kruger CM 111E", "Xian1980", False,
                epsg_axis_lat_first=True, use_zh="旧规划"),
        CrsInfo(2413, "1954北京坐标系 3度带 第37带",
                "Beijing 1954 / 3-degree Gauss-Kruger zone 37", "Beijing1954", False,
                zone_prefixed=True, epsg_axis_lat_first=True, use_zh="旧规划"),
        CrsInfo(2434, "1954北京坐标系 3度带 中央经线111°E",
                "Beijing 1954 / 3-degree Gauss-Kruger CM 111E", "Beijing1954", False,
                epsg_axis_lat_first=True, use_zh="旧规划"),
    )
}


class UnknownCrs(ValueError):
    pass


def info(epsg: int) -> CrsInfo:
    try:
        return REGISTRY[int(epsg)]
    except (KeyError, ValueError, TypeError):
        raise UnknownCrs(f"不支持的坐标系 EPSG:{epsg} (unsupported CRS)") from None


def is_supported(epsg: int) -> bool:
    return int(epsg) in REGISTRY


@cache
def pyproj_crs(epsg: int) -> CRS:
    return CRS.from_epsg(int(epsg))


# Pipeline steps that keep the datum: a pipeline of these only is fully given by its text.
_DATUM_KEEPING_STEPS = {"unitconvert", "axisswap", "tmerc", "webmerc", "merc", "noop"}


@cache
def transformer(src: int, dst: int) -> Transformer | CountyTransformer:
    """Cached, thread-safe for our use (pyproj transformers are per-thread internally)."""
    exact = Transformer.from_crs(pyproj_crs(src), pyproj_crs(dst), always_xy=True)
    fast = _gauss_kruger_auto(exact)
    return exact if fast is exact else CountyTransformer(fast, exact)


class CountyTransformer:
    """A transform between two registry CRSs that moves points through `fast` (the same
    operation with PROJ's auto transverse Mercator) and answers everything else from `exact`,
    the pyproj transformer of the two CRSs: a pipeline made from its text alone knows no
    source CRS, so its `transform_bounds` gives infinities and `source_crs` None."""

    def __init__(self, fast: Transformer, exact: Transformer):
        self.exact = exact
        self.transform = fast.transform
        self.itransform = fast.itransform
        self.definition = fast.definition

    def __getattr__(self, name: str) -> object:
        return getattr(self.exact, name)

    def __repr__(self) -> str:
        return f"<CountyTransformer {self.definition}>"


def _gauss_kruger_auto(t: Transformer) -> Transformer:
    """`t` with PROJ's `algo=auto` on its transverse Mercator steps: PROJ then uses the
    Evenden/Snyder series wherever its error stays under 0.1 mm (the whole county, within
    1° of the 111°E central meridian) and the exact Poder/Engsager one elsewhere, which costs
    twice as much per vertex. Pipelines that shift a datum are left as pyproj chose them."""
    definition = t.definition
    steps = set(re.findall(r"\bproj=(\w+)", definition)) - {"pipeline"}
    if "tmerc" not in steps or not steps <= _DATUM_KEEPING_STEPS or "algo=" in definition:
        return t
    return Transformer.from_pipeline(definition.replace("proj=tmerc ", "proj=tmerc algo=auto "))


def transform_point(x: float, y: float, src: int, dst: int) -> tuple[float, float]:
    return transformer(src, dst).transform(x, y)


def epsg_from_wkt(wkt: str) -> int | None:
    """EPSG code of a .prj / WKT, matching by definition when the authority is absent
    (ESRI .prj files for CGCS2000 GK zones usually carry only a name)."""
    try:
        crs = CRS.from_user_input(wkt)
    except Exception:  # noqa: BLE001 - pyproj raises several types for bad WKT
        return None
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        for epsg in REGISTRY:
            if pyproj_crs(epsg).equals(crs, ignore_axis_order=True):
                return epsg
    return code
