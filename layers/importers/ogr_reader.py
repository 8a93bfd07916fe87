"""GeoPackage, Shapefile and GeoJSON through pyogrio (GDAL), read as whole arrays."""

from __future__ import annotations

import codecs
from pathlib import Path

from layers import crs
from layers.importers.base import FeatureBatch, ImportFailed, Problem, feature_location

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


def _dbf_text_error(raw: bytes, enc: str) -> tuple[bytes, int | None] | None:
    """(field name, 1-based record) of the first DBF bytes that `enc` cannot decode, or None.

    Field names and records are checked; a record of None means a field name is at fault.
    """
    if len(raw) < 32:
        return None
    header_len = int.from_bytes(raw[8:10], "little")
    record_len = int.from_bytes(raw[10:12], "little")
    fields: list[tuple[bytes, int, int]] = []  # name, offset in record, length
    offset = 1  # the deletion flag
    for start in range(32, min(header_len, len(raw)) - 31, 32):
        if raw[start] == 0x0D:
            break
        fields.append((raw[start:start + 11].split(b"\0", 1)[0], offset, raw[start + 16]))
        offset += raw[start + 16]
    for name, _, _ in fields:
        try:
            name.decode(enc)
        except UnicodeDecodeError:
            return name, None
    try:
        raw[header_len:].rstrip(b"\x1a").decode(enc)
    except UnicodeDecodeError as exc:
        if record_len <= 0:
            return b"", None
        record, pos = divmod(exc.start, record_len)
        return next((n for n, o, size in fields if o <= pos < o + size), b""), record + 1
    return None


def _check_shapefile_encoding(shp: Path, enc: str, how: str) -> None:
    """Refuse an attribute encoding that does not fit the .dbf, rather than read mojibake."""
    dbf = next((p for p in shp.parent.iterdir()
                if p.stem == shp.stem and p.suffix.lower() == ".dbf"), None)
    if dbf is None:
        return
    try:
        codecs.lookup(enc)
    except LookupError:
        raise ImportFailed([Problem(f"未知编码 {enc} (unknown encoding)")],
                           code="encoding") from None
    raw = dbf.read_bytes()
    where = _dbf_text_error(raw, enc)
    how = "导入时声明 (declared)" if how == "declared" else how
    if where is None:
        # GDAL drops what it cannot convert, so GBK read as UTF-8 fails loudly but UTF-8 read
        # as GBK may "succeed" as mojibake: valid multi-byte UTF-8 is not GBK in practice.
        body = raw[int.from_bytes(raw[8:10], "little"):] if len(raw) > 10 else b""
        if how.endswith("(declared)") or codecs.lookup(enc).name == "utf-8" or body.isascii() \
                or _dbf_text_error(raw, "utf-8") is not None:
            return
        raise ImportFailed([Problem(
            f"属性编码 {enc}（来自 {how}）与 .dbf 内容不符，内容是 UTF-8；请声明编码 utf-8 "
            f"(the attributes are UTF-8, not {enc} as given by {how}: declare utf-8)")],
            code="encoding")
    suggestion = "gbk"
    if _dbf_text_error(raw, "utf-8") is None:
        suggestion = "utf-8"
    elif _dbf_text_error(raw, "gbk") is not None and _dbf_text_error(raw, "gb18030") is None:
        suggestion = "gb18030"
    name, record = where[0].decode(suggestion, errors="replace"), where[1]
    what_zh, what_en = ("属性值", "attribute value") if record else ("字段名", "field name")
    raise ImportFailed([Problem(
        f"{what_zh}无法按 {enc} 解码（编码来自 {how}）；请声明正确的编码，可能是 {suggestion} "
        f"({what_en} cannot be decoded as {enc} given by {how}; declare the right encoding, "
        f"probably {suggestion})", feature_location(record - 1) if record else None, name)],
        code="encoding")


def read_ogr(path: Path, fmt: str, *, encoding: str | None = None,
             layer_name: str | None = None) -> FeatureBatch:
    kwargs: dict = {}
    note = ""
    if fmt == "shp":
        enc, how = _shapefile_encoding(path, encoding)
        _check_shapefile_encoding(path, enc, how)
        kwargs["encoding"] = enc
        note = f"属性编码 {enc}，{how}"
    elif encoding:
        kwargs["encoding"] = encoding
    # Imported here, not at module level: pyogrio brings its own GDAL (about 50 MB), which a
    # web worker that never reads a file should not carry.
    import pyogrio
    import pyogrio.raw

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
    elif layer_name not in {str(n) for n, _ in layers}:
        names = ", ".join(str(n) for n, _ in layers)
        raise ImportFailed([Problem(f"文件中没有图层 {layer_name}；现有图层：{names} "
                                    "(no such layer)")], code="no_layer")
    try:
        # The Arrow stream: GDAL fills columnar batches in C (several times faster than
        # feature by feature) and the geometry stays one WKB buffer for validation.
        meta, table = pyogrio.raw.read_arrow(path, layer=layer_name, **kwargs)
    except UnicodeDecodeError as exc:
        enc = kwargs.get("encoding") or "utf-8"
        raise ImportFailed([Problem(f"属性无法按 {enc} 解码：{exc}；请声明正确的编码，如 gbk "
                                    f"(attributes cannot be decoded as {enc}; declare the right "
                                    "encoding)")], code="encoding") from None
    except Exception as exc:  # noqa: BLE001
        raise ImportFailed([Problem(f"读取失败：{exc} (read failed)")], code="unreadable") from None
    geometry_name = meta.get("geometry_name") or "wkb_geometry"
    if geometry_name not in table.column_names:
        raise ImportFailed([Problem("文件没有几何字段 (the file has no geometry)")],
                           code="no_geometry")
    wkb = table.column(geometry_name).combine_chunks()
    if hasattr(wkb, "storage"):  # geoarrow's WKB extension type, once geoarrow is loaded
        wkb = wkb.storage
    columns = {str(name): table.column(str(name)).combine_chunks() for name in meta["fields"]}
    epsg = None
    if meta.get("crs"):
        epsg = crs.epsg_from_wkt(meta["crs"])
        note = "; ".join(x for x in (note, f"文件声明坐标系 EPSG:{epsg}" if epsg else
                                     f"文件坐标系无法识别：{meta['crs'][:60]}") if x)
    if len(wkb) == 0:
        raise ImportFailed([Problem("文件中没有要素 (the file has no features)")], code="empty")
    # Geometries are parsed chunk by chunk where they are validated (FeatureBatch.shapes).
    return FeatureBatch(geometries=None, columns=columns, epsg=epsg, source_format=fmt,
                        crs_note=note, wkb=wkb)
