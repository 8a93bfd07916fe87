"""The tile grids the map services publish.

- `webmercator`: GoogleMapsCompatible (EPSG:3857, origin top-left), MapProxy's
  GLOBAL_WEBMERCATOR.
- `cgcs2000`: EPSG:4490 geographic, aligned with Tianditu's `c` matrix set: top-left
  (90 N, 180 W), 256-pixel tiles, TileMatrix "1" at 0.703125°/pixel (2 × 1 tiles) and
  halving per level, so our tiles overlay Tianditu `vec_c` tile for tile and share its
  TileMatrix identifiers. Level "0" (1.40625°/pixel) is an extra level below Tianditu's.
  Tianditu's capabilities state ScaleDenominators computed at 96 dpi (level 1:
  2.958293554545656E8); ours follow OGC's 0.28 mm pixel (level 1: about 2.7954E8). The tile
  boundaries are identical; clients that place tiles from ScaleDenominator see the
  difference between the two documents, clients configured by resolution (Leaflet with
  proj4leaflet, OpenLayers) overlay exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LEVEL = 20  # grids are defined in mapproxy.yaml; these names refer to them
TIANDITU_LEVEL1_RES = 0.703125


@dataclass(frozen=True)
class Grid:
    name: str  # MapProxy grid name and TileMatrixSet identifier
    epsg: int
    title: str

    @property
    def srs(self) -> str:
        return f"EPSG:{self.epsg}"


WEBMERCATOR = Grid("webmercator", 3857, "GoogleMapsCompatible (Web Mercator)")
CGCS2000 = Grid("cgcs2000", 4490, "CGCS2000 经纬度（天地图 c 规则）")
GRIDS = (WEBMERCATOR, CGCS2000)
