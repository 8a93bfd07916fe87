"""python manage.py seed_tiles --layer KGDK --zoom 10-16 [--grid webmercator] [--threads 2]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from layers.models import Layer
from tiles.grids import GRIDS, MAX_LEVEL
from tiles.seeding import seed


def zoom_range(text: str) -> range:
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-", 1))
        else:
            a = b = int(text)
    except ValueError:
        raise CommandError(f"--zoom 应为 N 或 N-M：{text}") from None
    if not 0 <= a <= b <= MAX_LEVEL:
        raise CommandError(f"--zoom 应在 0–{MAX_LEVEL} 之间 (zoom out of range)")
    return range(a, b + 1)


class Command(BaseCommand):
    help = "预生成瓦片缓存 (seed the tile cache of published layers)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--layer", action="append", dest="layers",
                            help="图层代码，可重复；默认全部已发布图层")
        parser.add_argument("--zoom", default="0-14", help="级别，如 10-16")
        parser.add_argument("--grid", action="append", dest="grids",
                            choices=[g.name for g in GRIDS], help="瓦片矩阵集，默认全部")
        parser.add_argument("--threads", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        zooms = zoom_range(opts["zoom"])
        grids = [g for g in GRIDS if not opts["grids"] or g.name in opts["grids"]]
        layers = Layer.objects.filter(versions__state="published").distinct()
        if opts["layers"]:
            layers = layers.filter(code__in=opts["layers"])
            missing = set(opts["layers"]) - set(layers.values_list("code", flat=True))
            if missing:
                raise CommandError(f"无已发布版本的图层：{', '.join(sorted(missing))}")
        for layer in layers:
            bar = tqdm(desc=f"{layer.code}", unit="瓦片", disable=opts["verbosity"] == 0)

            def progress(step: int, total: int, bar: tqdm = bar) -> None:
                bar.total = total
                bar.update(step)

            counts = seed(layer, grids, zooms, threads=opts["threads"], progress=progress)
            bar.close()
            self.stdout.write(f"{layer.code}: {counts['ok']} 张瓦片已生成"
                              + (f"，{counts['failed']} 张失败" if counts["failed"] else ""))
            if counts["failed"]:
                raise CommandError(f"{layer.code}: {counts['failed']} tiles failed")
