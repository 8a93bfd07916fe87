"""python manage.py import_layer KGDK plan.gpkg [--crs 4525] [--publish] ..."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from layers import services
from layers.models import Layer

STAGES_ZH = {"read": "读取", "import": "校验并写入"}


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a data command; startup time matters
    help = "导入图层新版本 (import a new layer version from GPKG, zipped SHP, GeoJSON, DXF, TXT)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("layer", help="图层代码 (layer code), e.g. KGDK")
        parser.add_argument("file", type=Path)
        parser.add_argument("--crs", type=int, help="声明源坐标系 EPSG (DXF requires it)")
        parser.add_argument("--encoding", help="属性编码 (attribute encoding), e.g. gbk")
        parser.add_argument("--dxf-layer", action="append", dest="dxf_layers",
                            help="DXF 图层，可重复 (DXF layer, repeatable)")
        parser.add_argument("--source-layer", help="GeoPackage 图层名 (layer inside the file)")
        parser.add_argument("--effective-date", type=dt.date.fromisoformat)
        parser.add_argument("--publish", action="store_true", help="导入后发布 (publish)")
        parser.add_argument("--allow-rejects", action="store_true",
                            help="跳过无效要素并写入其余 (write the valid rest)")
        parser.add_argument("--field-map", type=json.loads, default=None,
                            help='字段映射 JSON, e.g. {"parcel_no": "地块号"}')
        parser.add_argument("--by", default="", help="导入人 (imported by)")
        parser.add_argument("--note", default="")
        parser.add_argument("--report", type=Path, help="把导入报告写成 JSON 文件")

    def handle(self, *args: Any, **opts: Any) -> None:
        layer = Layer.objects.filter(code=opts["layer"]).first()
        if layer is None:
            raise CommandError(f"图层 {opts['layer']} 不存在 (no such layer)")
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        bars: dict[str, tqdm] = {}
        # No tqdm monitor thread: a process with no other thread may fork import workers.
        tqdm.monitor_interval = 0

        def progress(stage: str, advance: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, desc=STAGES_ZH.get(stage, stage),
                                         unit="要素", disable=opts["verbosity"] == 0)
            bar.update(advance)

        try:
            version, report = services.import_file(
                layer, path, declared_epsg=opts["crs"], encoding=opts["encoding"],
                dxf_layers=opts["dxf_layers"], source_layer=opts["source_layer"],
                effective_date=opts["effective_date"], imported_by=opts["by"],
                field_map=opts["field_map"], allow_rejects=opts["allow_rejects"],
                publish=opts["publish"], note=opts["note"], progress=progress)
        except services.ImportRejected as exc:
            for bar in bars.values():
                bar.close()
            self._write_report(opts, exc.report.as_dict())
            lines = [str(p) for p in exc.report.problems if p.severity == "error"][:200]
            raise CommandError("导入失败，未写入任何数据 (import failed, nothing written):\n"
                               + "\n".join(lines)) from None
        for bar in bars.values():
            bar.close()
        self._write_report(opts, report.as_dict())
        for p in report.problems:
            self.stdout.write(f"  {p.severity}: {p}")
        self.stdout.write(self.style.SUCCESS(
            f"{layer.code} v{version.number}: 读取 {report.read}，写入 {report.written}，"
            f"修复 {report.repaired}，拒绝 {report.rejected}，{report.seconds:.1f} s"
            + ("，已发布" if opts["publish"] else "")))

    def _write_report(self, opts: dict[str, Any], report: dict[str, Any]) -> None:
        if opts.get("report"):
            opts["report"].write_text(json.dumps(report, ensure_ascii=False, indent=2))
