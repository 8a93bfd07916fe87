"""GeoPackage, Shapefile and GeoJSON through pyogrio (GDAL), read as whole arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely

from layers import crs
from layers.importers.base import FeatureBatch, ImportFailed, Problem

# Shapefile .cpg values seen in Chinese deliveries, mapped to Python codec names.
_CPG_ALIASES = {"936": "gbk", "cp936": "gbk", "gb2312": "gbk", "gbk": "gbk",
                "gb18030": "gb18030", "utf-8": "utf-8", "utf8": "utf-8", "65001": "utf-8",
                "ansi 936": "gbk"}


def _shapefile_encoding(shp: Path, declared: str | None) -> tuple[str, str]:
    """Attribute encoding of a shapefile: declared > .cpg > sniffed from the .dbf bytes."""
    if declared:
        return declared, "declared"
    cpg = shp.with_suffix(".cpg")
    if not cpg.exists():
        cpg = next((p for p in shp.parent.iterdir()
                    if p.stem == shp.stem and p.suffix.lower() == ".cpg"), cpg)
    if cpg.exists():
        value = cpg.read_text(errors="ignore").strip().lower()
        if value in _CPG_ALIASES:
            return _CPG_ALIASES[value], f".cpg ({value})"
    dbf = next((p for p in shp.parent.iterdir()
                if p.stem == shp.stem and p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return "utf-8", "default"
    raw = dbf.read_bytes()
    header_len = int.from_bytes(raw[8:10], "little") if len(raw) > 10 else 0
    body = raw[header_len:]
    try:
        body.decode("utf-8")
        return "utf-8", "detected"
    except UnicodeDecodeError:
        return "gbk", "detected (not UTF-8, assumed GBK)"


def read_ogr(path: Path, fmt: str, *, encoding: str | None = None,
             layer_name: str | None = None) -> FeatureBatch:
    kwargs: dict = {}
    note = ""
    if fmt == "shp":
        enc, how = _shapefile_encoding(path, encoding)
        kwargs["encoding"] = enc
        note = f"属性编码 {enc}，{how}"
    elif encoding:
        kwargs["encoding"] = encoding
    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # noqa: BLE001 - GDAL errors come in several classes
        raise ImportFailed([Problem(f"无法读取文件：{exc} (cannot open the file)")],
                           code="unreadable") from None
    if len(layers) == 0:
        raise ImportFailed([Problem("文件中没有图层 (no layer in the file)")], code="empty")
    if layer_name is None:
        if len(layers) > 1 and fmt == "gpkg":
            names = ", ".join(str(n) for n, _ in layers)
            raise ImportFailed([Problem(f"文件含多个图层，请指定其一：{names} (several layers; "
                                        "choose one)")], code="ambiguous_layer")
        layer_name = str(layers[0][0])
    try:
        meta, _fids, geoms, field_data = pyogrio.raw.read(path, layer=layer_name, **kwargs)
    except UnicodeDecodeError as exc:
        raise ImportFailed([Problem(f"属性编码错误：{exc}；请声明编码 (wrong attribute "
                                    "encoding; declare it)")], code="encoding") from None
    except Exception as exc:  # noqa: BLE001
        raise ImportFailed([Problem(f"读取失败：{exc} (read failed)")], code="unreadable") from None
    if geoms is None:
        raise ImportFailed([Problem("文件没有几何字段 (the file has no geometry)")],
                           code="no_geometry")
    geometries = shapely.from_wkb(geoms, on_invalid="ignore")
    columns = {str(name): data for name, data in zip(meta["fields"], field_data, strict=True)}
    epsg = None
    if meta.get("crs"):
        epsg = crs.epsg_from_wkt(meta["crs"])
        note = "; ".join(x for x in (note, f"文件声明坐标系 EPSG:{epsg}" if epsg else
                                     f"文件坐标系无法识别：{meta['crs'][:60]}") if x)
    if len(geometries) == 0:
        raise ImportFailed([Problem("文件中没有要素 (the file has no features)")], code="empty")
    return FeatureBatch(geometries=np.asarray(geometries, dtype=object), columns=columns,
                        epsg=epsg, source_format=fmt, crs_note=note)
