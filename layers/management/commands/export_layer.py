"""python manage.py export_layer KGDK out.gpkg [--format gpkg|geojson|txt] [--layer-version N]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from layers import crs, selectors
from layers.exporters import EXPORT_FORMATS, ExportError, export_version
from layers.models import Layer


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a data command; startup time matters
    help = "导出图层版本 (export a layer version to GeoPackage, GeoJSON or 界址点 TXT)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("layer")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=sorted(EXPORT_FORMATS))
        parser.add_argument("--layer-version", type=int, dest="version_number",
                            help="版本号，默认现行发布版本")
        parser.add_argument("--crs", type=int,
                            help="输出坐标系 EPSG (default 4490; TXT defaults to 4525)")

    def handle(self, *args: Any, **opts: Any) -> None:
        layer = Layer.objects.filter(code=opts["layer"]).first()
        if layer is None:
            raise CommandError(f"图层 {opts['layer']} 不存在")
        if opts["version_number"]:
            version = layer.versions.filter(number=opts["version_number"]).first()
        else:
            version = selectors.published_version(layer)
        if version is None:
            raise CommandError("没有可导出的版本 (no such or no published version)")
        path: Path = opts["file"]
        fmt = opts["format"] or {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson",
                                 ".txt": "txt"}.get(path.suffix.lower())
        if fmt is None:
            raise CommandError("请用 --format 指定格式 (gpkg, geojson, txt)")
        epsg = opts["crs"] or (crs.CGCS2000_GK_ZONE37 if fmt == "txt"
                               else crs.CGCS2000_GEOGRAPHIC)
        try:
            n = export_version(version, path, fmt, epsg=epsg)
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"{layer.code} v{version.number} → {path} ({fmt}, EPSG:{epsg}, {n} 要素)"))
