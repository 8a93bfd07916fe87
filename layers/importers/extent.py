"""Is the data in Neixiang? And if not, what probably went wrong?

Coordinates landing elsewhere almost always come from one of a handful of mistakes; we try
each hypothesis and name the one that puts the data inside the county.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings

from layers import crs


def county_bounds(margin: float | None = None) -> tuple[float, float, float, float]:
    m = settings.COUNTY_MARGIN_DEG if margin is None else margin
    x0, y0, x1, y1 = settings.COUNTY_BBOX
    return x0 - m, y0 - m, x1 + m, y1 + m


def inside_county(lon: np.ndarray, lat: np.ndarray, margin: float | None = None) -> np.ndarray:
    x0, y0, x1, y1 = county_bounds(margin)
    with np.errstate(invalid="ignore"):
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _lands_inside(x: float, y: float, epsg: int) -> bool:
    try:
        lon, lat = crs.transform_point(x, y, epsg, crs.CGCS2000_GEOGRAPHIC)
    except Exception:  # noqa: BLE001 - out-of-domain input raises in pyproj
        return False
    return bool(inside_county(np.array([lon]), np.array([lat]), 0.05)[0])


def diagnose(x: float, y: float, declared_epsg: int) -> str:
    """A probable cause for a point (in the declared CRS) lying outside the county."""
    name = f"EPSG:{declared_epsg}"
    if _lands_inside(y, x, declared_epsg):
        if crs.pyproj_crs(declared_epsg).is_geographic:
            return (f"坐标为 纬度,经度 顺序（按 {name} 交换后落在县域内）；应为 经度,纬度 "
                    "(lat/lon order given: axes swapped)")
        return f"坐标 X/Y 可能颠倒（按 {name} 交换后落在县域内）(axes probably swapped)"
    # Either order: latitude first puts the longitude (111.8) in y, which is over 90.
    if abs(x) <= 180 and abs(y) <= 180 and declared_epsg != crs.CGCS2000_GEOGRAPHIC:
        if _lands_inside(x, y, crs.CGCS2000_GEOGRAPHIC):
            return (f"坐标像经纬度，但声明为投影坐标系 {name}；应为 EPSG:4490 "
                    "(looks geographic but a projected CRS was declared)")
        if _lands_inside(y, x, crs.CGCS2000_GEOGRAPHIC):
            return (f"坐标像经纬度且纬度在前，但声明为投影坐标系 {name}；应为 经度,纬度 并声明 "
                    "EPSG:4490 (lat/lon order given: use lon/lat and declare EPSG:4490)")
    if abs(x) > 180 and declared_epsg in (crs.CGCS2000_GEOGRAPHIC, crs.WGS84):
        for candidate in (crs.CGCS2000_GK_ZONE37, crs.CGCS2000_GK_CM111):
            for cx, cy in ((x, y), (y, x)):
                if _lands_inside(cx, cy, candidate):
                    return (f"坐标是投影坐标（米），却声明为经纬度；可能是 EPSG:{candidate} "
                            f"{crs.info(candidate).name_zh} (projected metres declared as "
                            "geographic)")
    for cx, cy in ((x, y), (y, x)):
        if 100_000 < cx < 1_000_000 and _lands_inside(cx + 37_000_000, cy,
                                                     crs.CGCS2000_GK_ZONE37):
            return ("东坐标缺少带号前缀 37；应声明 EPSG:4546（中央经线111°，无带号）"
                    "(easting lacks the zone prefix: use EPSG:4546)")
        if cx > 10_000_000 and _lands_inside(cx - 37_000_000, cy, crs.CGCS2000_GK_CM111):
            return ("东坐标带有带号前缀 37；应声明 EPSG:4525（第37带，有带号）"
                    "(easting carries the zone prefix: use EPSG:4525)")
        zone = int(cx // 1_000_000)
        if 25 <= zone <= 45 and zone != 37 and _lands_inside(cx - zone * 1_000_000, cy,
                                                              crs.CGCS2000_GK_CM111):
            return (f"东坐标的带号前缀为 {zone}，内乡县位于 3 度带第 37 带；带号或坐标可能有误 "
                    f"(zone prefix {zone}, but Neixiang lies in 3-degree zone 37)")
    for candidate in (crs.CGCS2000_GK_ZONE37, crs.CGCS2000_GK_CM111, crs.XIAN80_GK_ZONE37,
                      crs.BEIJING54_GK_ZONE37, crs.CGCS2000_GEOGRAPHIC):
        if candidate != declared_epsg and _lands_inside(x, y, candidate):
            info = crs.info(candidate)
            return (f"按 EPSG:{candidate} {info.name_zh} 解释时落在县域内；坐标系或基准可能声明错误"
                    f" (probably wrong CRS or datum: EPSG:{candidate})")
    return (f"按 {name} 解释时无法推断原因 "
            "(outside Neixiang County; no probable cause found)")
