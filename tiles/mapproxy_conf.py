"""MapProxy configuration generated from the layer registry: one config, many services.

A configuration is built for a set of access levels (public; public + internal; all), so
a caller's capabilities, maps and tiles can only ever contain the layers it may see — a
hidden layer is not merely filtered out of a response, it does not exist in that service.
Tile caches are keyed by layer and published version, shared by all configurations.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings

from layers import crs
from layers.models import Layer, LayerVersion
from tiles.cache import cache_dir
from tiles.grids import GRIDS
from tiles.legend import legend_file_url
from tiles.mapnik_xml import mapnik_map_xml


def _write_atomic(path: Path, content: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


def published_layers(levels: tuple[str, ...]) -> list[tuple[Layer, LayerVersion]]:
    versions = (LayerVersion.objects.filter(state=LayerVersion.State.PUBLISHED,
                                            layer__access_level__in=levels)
                .select_related("layer").order_by("layer__sort_order", "layer__code"))
    return [(v.layer, v) for v in versions]


def mapfile_for(layer: Layer, version: LayerVersion) -> Path:
    xml = mapnik_map_xml(layer, version, 3857)
    digest = hashlib.sha1(xml.encode()).hexdigest()[:12]
    path = Path(settings.MAPPROXY_DIR) / "mapnik" / f"{layer.code}_v{version.pk}_{digest}.xml"
    _write_atomic(path, xml)
    return path


def web_mercator_coverage(extent_4490: tuple[float, float, float, float]) -> dict[str, Any]:
    """A source's coverage: the version's extent as a Web Mercator box (densified edges, so it
    holds the whole extent). MapProxy transforms each request's box into the coverage's CRS
    unless they are the same, and Web Mercator is what most GetMaps ask for."""
    bbox = crs.transformer(crs.CGCS2000_GEOGRAPHIC, crs.WEB_MERCATOR).transform_bounds(
        *extent_4490, densify_pts=21)
    return {"bbox": list(bbox), "srs": "EPSG:3857"}


def build_config(levels: tuple[str, ...]) -> dict[str, Any]:
    layers_conf: list[dict[str, Any]] = []
    caches: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for layer, version in published_layers(levels):
        source = f"{layer.code}_src"
        sources[source] = {
            "type": "mapnik", "mapfile": str(mapfile_for(layer, version)),
            "transparent": True, "multithreaded": True,
        }
        if version.extent:
            sources[source]["coverage"] = web_mercator_coverage(version.extent.extent)
        for grid in GRIDS:
            caches[f"{layer.code}_{grid.name}"] = {
                "grids": [grid.name], "sources": [source], "format": "image/png",
                "meta_size": list(settings.TILE_META_SIZE), "meta_buffer": 0,
                "cache": {"type": "file", "directory_layout": "tms",
                          "directory": str(cache_dir(layer, version.pk, grid.name))},
                # Off only to measure rendering (bench/): every request renders.
                "disable_storage": not settings.TILE_CACHE_STORE,
            }
        layers_conf.append({
            # MapProxy's capabilities templates insert titles verbatim: escape them here.
            "name": layer.code, "title": escape(layer.name_zh),
            "legendurl": legend_file_url(layer, version),
            # WMS renders exactly the requested box, size and CRS with Mapnik (no tile
            # assembly, no resampling); WMTS serves the caches.
            "sources": [source],
            "tile_sources": [f"{layer.code}_{g.name}" for g in GRIDS],
            "md": {"abstract": escape(f"{layer.name_en}. {layer.description}".strip()),
                   "keyword_list": [{"keywords": [escape(str(layer.get_category_display())),
                                                  f"v{version.number}"]}]},
        })
    if not layers_conf:
        # Nothing published (yet) for these levels: a valid service with one empty layer.
        empty = Path(settings.MAPPROXY_DIR) / "mapnik" / "empty.xml"
        _write_atomic(empty, '<?xml version="1.0" encoding="utf-8"?>\n'
                             '<Map srs="epsg:3857" background-color="transparent"/>\n')
        sources["empty_src"] = {"type": "mapnik", "mapfile": str(empty), "transparent": True}
    return {
        "base": str(settings.BASE_DIR / "mapproxy.yaml"),
        "services": {"wms": {"max_output_pixels": list(settings.WMS_MAX_SIZE),
                             "featureinfo_types": ["html", "json"]},
                     "wmts": {}},
        "layers": layers_conf or [{"name": "empty", "title": "（无可用图层）",
                                   "sources": ["empty_src"]}],
        "caches": caches,
        "sources": sources,
        "globals": {
            "cache": {"base_dir": str(settings.TILE_CACHE_DIR),
                      "lock_dir": str(Path(settings.TILE_CACHE_DIR) / "_locks"),
                      "tile_lock_dir": str(Path(settings.TILE_CACHE_DIR) / "_tile_locks")},
        },
    }


def write_config(levels: tuple[str, ...], generation: int) -> Path:
    import yaml

    path = Path(settings.MAPPROXY_DIR) / f"gen{generation}-{'-'.join(levels)}.yaml"
    _write_atomic(path, yaml.safe_dump(build_config(levels), allow_unicode=True,
                                       sort_keys=False))
    return path
