"""Export a layer version to GeoPackage, GeoJSON or 界址点 TXT.

Columns carry the exchange standard's names (DKBH, YDXZDM, ...) so an export re-imports
unchanged and other systems read it without a mapping.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely

from layers import crs
from layers.fields import INDICATOR_FIELDS
from layers.formats.boundary_txt import TxtParcelOut, write_boundary_txt
from layers.models import Feature, LayerVersion

EXPORT_FORMATS = {"gpkg": "GPKG", "geojson": "GeoJSON", "txt": None}
_GEOMETRY_TYPES = {"polygon": "MultiPolygon", "line": "MultiLineString", "point": "Point"}


class ExportError(ValueError):
    pass


def _rows(version: LayerVersion) -> list[dict]:
    names = [f.name for f in INDICATOR_FIELDS]
    return list(Feature.objects.filter(version=version).order_by("feature_no")
                .values("feature_no", "geom", *names, "attributes"))


def export_version(version: LayerVersion, path: Path, fmt: str, *,
                   epsg: int = crs.CGCS2000_GEOGRAPHIC) -> int:
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"不支持的导出格式 {fmt} (use gpkg, geojson or txt)")
    rows = _rows(version)
    geoms = shapely.from_wkb(np.array([bytes(r["geom"].wkb) for r in rows], dtype=object))
    if epsg != crs.CGCS2000_GEOGRAPHIC:
        t = crs.transformer(crs.CGCS2000_GEOGRAPHIC, epsg)
        geoms = shapely.transform(
            geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    if fmt == "txt":
        return _export_txt(version, rows, geoms, path, epsg)
    if fmt == "geojson" and epsg != crs.CGCS2000_GEOGRAPHIC:
        raise ExportError("GeoJSON 导出只用 EPSG:4490 (RFC 7946 uses geographic coordinates)")
    fields: list[str] = []
    data: list[np.ndarray] = []
    for f in INDICATOR_FIELDS:
        values = [r[f.name] for r in rows]
        if f.kind == "date":
            values = [v.isoformat() if isinstance(v, dt.date) else None for v in values]
        elif f.kind == "bool":
            values = [None if v is None else ("是" if v else "否") for v in values]
        elif f.kind == "float":
            values = np.array([np.nan if v is None else v for v in values], dtype=float)
        fields.append(f.standard)
        data.append(np.asarray(values, dtype=float if f.kind == "float" else object))
    extra_keys = sorted({k for r in rows for k in r["attributes"]} - set(fields))
    for key in extra_keys:
        fields.append(key)
        data.append(np.array([_scalar(r["attributes"].get(key)) for r in rows], dtype=object))
    path.unlink(missing_ok=True)
    pyogrio.raw.write(
        str(path), shapely.to_wkb(geoms), data, fields,
        layer=version.layer.code, driver=EXPORT_FORMATS[fmt],
        geometry_type=_GEOMETRY_TYPES[version.layer.geometry_type],
        crs=f"EPSG:{epsg}", encoding="UTF-8")
    return len(rows)


def _scalar(v: object) -> object:
    return None if v is None else (v if isinstance(v, str | int | float) else str(v))


def _export_txt(version: LayerVersion, rows: list[dict], geoms: np.ndarray, path: Path,
                epsg: int) -> int:
    if version.layer.geometry_type != "polygon":
        raise ExportError("界址点 TXT 只能导出面图层 (TXT holds polygons only)")
    parcels = [
        TxtParcelOut(parcel_no=r["parcel_no"] or f"{version.layer.code}-{r['feature_no']}",
                     name=r["name"] or r["land_use_name"] or "", geometry=g,
                     area_ha=None, use=r["land_use_name"] or "",
                     land_class=r["land_use_code"] or "")
        for r, g in zip(rows, geoms, strict=True)
    ]
    try:
        payload = write_boundary_txt(parcels, epsg=epsg, producer="内乡县一张蓝图系统")
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    path.write_bytes(payload)
    return len(parcels)
