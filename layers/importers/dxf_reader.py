"""DXF drawings (CAD red lines): closed polylines and hatches on the chosen DXF layers.

DXF carries no CRS, so the caller must declare one. Text entities lying inside a polygon
become its label, which is how CAD deliveries usually write parcel numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon

from layers.importers.base import FeatureBatch, ImportFailed, Problem

# Chord tolerance for arcs and bulges (drawing units, metres for survey drawings).
FLATTEN_DISTANCE = 0.01


def _ring(path: Any) -> list[tuple[float, float]]:
    return [(v.x, v.y) for v in path.flattening(FLATTEN_DISTANCE)]


def _hatch_polygon(hatch: Any) -> Polygon | None:
    from ezdxf import path as dxfpath

    # Even-odd fill: XOR of the boundary loops gives shells and holes whatever the nesting.
    shape = None
    for p in dxfpath.from_hatch(hatch):
        pts = _ring(p)
        if len(pts) < 3:
            continue
        poly = shapely.make_valid(Polygon(pts))
        shape = poly if shape is None else shape.symmetric_difference(poly)
    return shape


def read_dxf(path: Path, *, dxf_layers: list[str] | None = None,
             geometry_kind: str = "polygon") -> FeatureBatch:
    # ezdxf costs a third of a second to import: only DXF imports pay for it.
    import ezdxf
    from ezdxf import path as dxfpath

    try:
        doc = ezdxf.readfile(str(path))
    except (OSError, ezdxf.DXFError, UnicodeDecodeError) as exc:
        raise ImportFailed([Problem(f"DXF 文件无法读取：{exc} (unreadable DXF)")],
                           code="unreadable") from None
    msp = doc.modelspace()
    wanted = {name.upper() for name in dxf_layers} if dxf_layers else None
    present = sorted({e.dxf.layer for e in msp if e.dxf.hasattr("layer")})
    if wanted and not wanted & {p.upper() for p in present}:
        raise ImportFailed([Problem(f"DXF 中没有图层 {', '.join(dxf_layers or [])}；"
                                    f"现有图层：{', '.join(present)} (no such DXF layer)")],
                           code="no_dxf_layer")
    geoms: list = []
    handles: list[str] = []
    layer_names: list[str] = []
    kinds: list[str] = []
    warnings: list[Problem] = []
    texts: list[tuple[tuple[float, float], str]] = []
    for e in msp:
        kind = e.dxftype()
        if kind in ("TEXT", "MTEXT"):
            ins = e.dxf.insert
            text = e.plain_text() if kind == "MTEXT" else e.dxf.text
            texts.append(((ins.x, ins.y), text.strip()))
            continue
        if kind not in ("LWPOLYLINE", "POLYLINE", "HATCH"):
            continue
        if wanted and e.dxf.layer.upper() not in wanted:
            continue
        where = f"DXF 实体 {e.dxf.handle} ({kind}, 图层 {e.dxf.layer})"
        if kind == "HATCH":
            geom = _hatch_polygon(e)
        else:
            pts = _ring(dxfpath.make_path(e))
            closed = e.closed if kind == "LWPOLYLINE" else e.is_closed
            if geometry_kind == "line":
                # Road centre lines and the like: a closed polyline stays a (closed) line.
                if closed and len(pts) >= 2 and pts[0] != pts[-1]:
                    pts.append(pts[0])
                geom = LineString(pts) if len(pts) >= 2 else None
            elif closed or (len(pts) > 3 and pts[0] == pts[-1]):
                geom = Polygon(pts) if len(pts) >= 3 else None
            else:
                geom = LineString(pts) if len(pts) >= 2 else None
                warnings.append(Problem("多段线未闭合 (polyline is not closed)", where,
                                        severity="warning"))
        geoms.append(geom)
        handles.append(e.dxf.handle)
        layer_names.append(e.dxf.layer)
        kinds.append(kind)
    if not geoms:
        raise ImportFailed([Problem("DXF 中没有多段线或填充 (no polylines or hatches"
                                    + (f" on layers {', '.join(dxf_layers)}" if dxf_layers
                                       else "") + ")")], code="empty")
    labels = [""] * len(geoms)
    if texts:
        tree = shapely.STRtree([g if g is not None else Polygon() for g in geoms])
        for (x, y), text in texts:
            for idx in tree.query(shapely.Point(x, y), predicate="within"):
                labels[int(idx)] = labels[int(idx)] or text
    return FeatureBatch(
        geometries=np.asarray(geoms, dtype=object),
        columns={"DXF_LAYER": layer_names, "DXF_HANDLE": handles, "DXF_TYPE": kinds,
                 "MC": labels},
        epsg=None,
        source_format="dxf",
        locations=[f"DXF 实体 {h} (entity {h})" for h in handles],
        warnings=warnings,
        crs_note="DXF 不含坐标系，须声明 (DXF carries no CRS)",
    )
