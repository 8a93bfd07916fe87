"""One entry point for every supported file: sniff the format, unpack, read."""

from __future__ import annotations

from pathlib import Path

from layers.importers.base import FeatureBatch, ImportFailed, Problem
from layers.importers.dxf_reader import read_dxf
from layers.importers.ogr_reader import read_ogr
from layers.importers.safe_zip import extract_zip
from layers.importers.txt_reader import read_txt

FORMATS = ("gpkg", "shp", "geojson", "dxf", "txt")
_BY_SUFFIX = {".gpkg": "gpkg", ".shp": "shp", ".geojson": "geojson", ".json": "geojson",
              ".dxf": "dxf", ".txt": "txt", ".zip": "zip"}


def sniff_format(path: Path, source_name: str | None = None) -> str:
    head = b""
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(4096)
    if not head:
        raise ImportFailed([Problem("文件为空 (the file is empty)")], code="empty")
    if not head.strip() and path.stat().st_size <= len(head):
        raise ImportFailed([Problem("文件只含空白字符 (the file holds only whitespace)")],
                           code="empty")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"SQLite format 3"):
        return "gpkg"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return "geojson"
    if stripped.startswith(b"0") and b"SECTION" in head[:200]:
        return "dxf"
    suffix = Path(source_name or path.name).suffix.lower()
    if suffix in _BY_SUFFIX and _BY_SUFFIX[suffix] not in ("zip", "gpkg"):
        return _BY_SUFFIX[suffix]
    if "[地块坐标]".encode("gbk") in head or "[地块坐标]".encode() in head \
            or "[属性描述]".encode("gbk") in head or "[属性描述]".encode() in head:
        return "txt"
    if suffix == ".zip":
        raise ImportFailed([Problem("压缩包损坏或不完整 (damaged or truncated zip)")],
                           code="bad_archive")
    raise ImportFailed([Problem(f"无法识别的文件格式（{Path(source_name or path.name).name}）；"
                                "支持 GeoPackage、Shapefile(zip)、GeoJSON、DXF、界址点TXT "
                                "(unrecognised format)")], code="unsupported_format")


def _pick_from_archive(files: list[Path]) -> tuple[Path, str]:
    shps = [f for f in files if f.suffix.lower() == ".shp" and not f.name.startswith("._")]
    if len(shps) == 1:
        shp = shps[0]
        have = {f.suffix.lower() for f in files if f.stem == shp.stem}
        missing = [s for s in (".shx", ".dbf") if s not in have]
        if missing:
            raise ImportFailed([Problem(f"Shapefile {shp.name} 缺少 {', '.join(missing)} 文件 "
                                        f"(shapefile parts missing: {', '.join(missing)})")],
                               code="bad_archive")
        return shp, "shp"
    if len(shps) > 1:
        raise ImportFailed([Problem("压缩包含多个 Shapefile，请每次上传一个："
                                    + ", ".join(s.name for s in shps)
                                    + " (one shapefile per upload)")], code="bad_archive")
    others = [f for f in files if _BY_SUFFIX.get(f.suffix.lower()) in
              ("gpkg", "geojson", "dxf", "txt")]
    if len(others) == 1:
        return others[0], _BY_SUFFIX[others[0].suffix.lower()]
    if len(others) > 1:
        raise ImportFailed([Problem("压缩包含多个数据文件，请每次上传一个："
                                    + ", ".join(f.name for f in others) + " "
                                    "(several data files in the zip; one per upload)")],
                           code="bad_archive")
    names = ", ".join(f.name for f in files[:20]) + ("…" if len(files) > 20 else "")
    raise ImportFailed([Problem(f"压缩包中没有可导入的数据文件（含：{names or '无文件'}）"
                                "(no importable file in the zip)")], code="bad_archive")


def read_source(path: Path, *, workdir: Path, source_name: str | None = None,
                encoding: str | None = None, dxf_layers: list[str] | None = None,
                layer_name: str | None = None, geometry_kind: str = "polygon") -> FeatureBatch:
    fmt = sniff_format(path, source_name)
    if fmt == "zip":
        path, fmt = _pick_from_archive(extract_zip(path, workdir))
    if fmt == "txt":
        return read_txt(path)
    if fmt == "dxf":
        return read_dxf(path, dxf_layers=dxf_layers, geometry_kind=geometry_kind)
    return read_ogr(path, fmt, encoding=encoding, layer_name=layer_name)
