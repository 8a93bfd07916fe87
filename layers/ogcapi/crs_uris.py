"""CRS identifiers of OGC API Features (Part 2: CRS by reference) over the CRS registry.

Every code, axis order and transform comes from `layers.crs`; this module only spells the
registry's CRSs the way OGC API clients name them, and turns a bbox given in one of them
into a polygon in the storage CRS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import Polygon

from layers import crs as registry

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# Offered for every collection after CRS84 (the GeoJSON default): the storage CRS, the web
# clients' and tiles' CRSs, and the county's two Gauss-Kruger CRSs.
OFFERED_EPSG = (registry.CGCS2000_GEOGRAPHIC, registry.WGS84, registry.WEB_MERCATOR,
                registry.CGCS2000_GK_CM111, registry.CGCS2000_GK_ZONE37)


@dataclass(frozen=True)
class OgcCrs:
    uri: str
    epsg: int  # the EPSG CRS whose definition the coordinates follow (CRS84: 4326, lon/lat)
    lat_first: bool  # authority axis order puts latitude / northing first
    geographic: bool

    @property
    def precision(self) -> int:
        """Decimals in GeoJSON output: about a millimetre either way."""
        return 8 if self.geographic else 3

    def to_xy(self, first: float, second: float) -> tuple[float, float]:
        """(lon/easting, lat/northing) of a coordinate pair given in this CRS's axis order."""
        return (second, first) if self.lat_first else (first, second)


def _of(epsg: int) -> OgcCrs:
    info = registry.info(epsg)
    return OgcCrs(info.uri, info.epsg, info.epsg_axis_lat_first, info.geographic)


DEFAULT = OgcCrs(CRS84, registry.WGS84, lat_first=False, geographic=True)
OFFERED: tuple[OgcCrs, ...] = (DEFAULT, *(_of(e) for e in OFFERED_EPSG))


def storage() -> OgcCrs:
    return _of(settings.STORAGE_SRID)


_CRS84_FORMS = re.compile(
    r"(?:https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84"
    r"|\[OGC:CRS84\]|OGC:CRS84|CRS84)", re.IGNORECASE)
_EPSG_FORMS = re.compile(
    r"(?:https?://www\.opengis\.net/def/crs/EPSG/0/(\d{1,6})|urn:ogc:def:crs:EPSG:[0-9.]*:(\d{1,6})"
    r"|\[EPSG:(\d{1,6})\]|EPSG:(\d{1,6}))", re.IGNORECASE)


def parse(value: str) -> OgcCrs | None:
    """The offered CRS a client names (URI, URN or safe CURIE), or None."""
    value = value.strip()
    if _CRS84_FORMS.fullmatch(value):
        return DEFAULT
    match = _EPSG_FORMS.fullmatch(value)
    if match is None:
        return None
    epsg = int(next(g for g in match.groups() if g))
    return next((c for c in OFFERED[1:] if c.epsg == epsg), None)


@cache
def same_coordinates(src: int, dst: int) -> bool:
    """True when PROJ's transform between the two CRSs is the identity (CGCS2000 and
    WGS 84 geographic coordinates coincide: a ballpark no-op), so none need be run."""
    return src == dst or registry.transformer(src, dst).definition.split(" ")[0] == "proj=noop"


def uris() -> list[str]:
    return [c.uri for c in OFFERED]


class BboxOutOfDomain(ValueError):
    pass


def bbox_polygon(xmin: float, ymin: float, xmax: float, ymax: float, src: OgcCrs,
                 points_per_edge: int = 16) -> Polygon:
    """The box (x = lon/easting) in `src` as a polygon in the storage CRS. Edges are
    densified first, so a projected box keeps its true, curved outline."""
    dst = settings.STORAGE_SRID
    t = np.linspace(0.0, 1.0, points_per_edge, endpoint=False)
    xs = np.concatenate([xmin + (xmax - xmin) * t, np.full_like(t, xmax),
                         xmax - (xmax - xmin) * t, np.full_like(t, xmin)])
    ys = np.concatenate([np.full_like(t, ymin), ymin + (ymax - ymin) * t,
                         np.full_like(t, ymax), ymax - (ymax - ymin) * t])
    if not same_coordinates(src.epsg, dst):
        xs, ys = registry.transformer(src.epsg, dst).transform(xs, ys)
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    outside = BboxOutOfDomain("bbox 超出该坐标系的适用范围 (outside the CRS's domain)")
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))) or \
            np.any(np.abs(xs) > 180) or np.any(np.abs(ys) > 90):
        raise outside
    ring = [*zip(xs.tolist(), ys.tolist(), strict=True)]
    ring.append(ring[0])
    polygon = Polygon(ring, srid=dst)
    # A box mapped outside the projection's domain comes back folded or turned inside out.
    if not polygon.valid or not polygon.exterior_ring.is_counterclockwise:
        raise outside
    return polygon
