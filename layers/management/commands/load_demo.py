"""python manage.py load_demo [--parcels N] [--projects M] [--seed S] [--if-empty] [--replace]

Loads a deterministic demo of the Neixiang blueprint: every standard layer (county boundary,
rivers, roads, the three control lines, the five lines, N regulatory-plan parcels) and M
approval projects with red lines, ~15 % of which deliberately break a rule. The same seed and
sizes always give the same data. Defaults: 5 000 parcels, 200 projects, seed 20241127 (the
date the generator was specified, nothing more).

Without --replace a second load adds a new published version of each layer (the previous
one is retired) and a new red-line version of each project.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from layers.demo import DEFAULT_PARCELS, DEFAULT_PROJECTS, DEFAULT_SEED
from layers.demo.loader import load_demo


class Command(BaseCommand):
    help = "加载演示数据：内乡县一张蓝图 (load the deterministic Neixiang demo county)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--parcels", type=int, default=DEFAULT_PARCELS,
                            help=f"控规地块数 (regulatory-plan parcels), default {DEFAULT_PARCELS}")
        parser.add_argument("--projects", type=int, default=DEFAULT_PROJECTS,
                            help=f"项目数 (approval projects), default {DEFAULT_PROJECTS}")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help=f"随机种子 (seed), default {DEFAULT_SEED}")
        parser.add_argument("--if-empty", action="store_true",
                            help="已有控规图层版本时什么也不做 (do nothing if any KGDK version "
                                 "exists)")
        parser.add_argument("--replace", action="store_true",
                            help="先删除已有演示数据 (delete earlier demo versions and projects)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["parcels"] < 1 or opts["projects"] < 0:
            raise CommandError("--parcels 至少为 1，--projects 不能为负")
        quiet = opts["verbosity"] == 0

        def bar(desc: str, total: int, unit: str) -> tqdm:
            return tqdm(total=total, desc=desc, unit=unit, disable=quiet, leave=False,
                        dynamic_ncols=True)

        try:
            summary = load_demo(seed=opts["seed"], parcels=opts["parcels"],
                                projects=opts["projects"], replace=opts["replace"],
                                if_empty=opts["if_empty"], bar=bar)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if summary.skipped:
            if not quiet:
                self.stdout.write("已有控规地块数据，跳过演示数据加载 (KGDK already has data: "
                                  "nothing loaded)")
            return
        if quiet:
            return
        w = self.stdout.write
        if summary.deleted_versions or summary.deleted_projects:
            w(f"已删除演示数据：{summary.deleted_versions} 个图层版本，"
              f"{summary.deleted_projects} 个项目 (deleted demo versions/projects) "
              f"{summary.timings.get('delete', 0):.1f} s")
        w(f"生成 (generate) seed={summary.seed}: {summary.timings['generate']:.1f} s")
        for r in summary.layers:
            extra = f"，警告 {r.warnings}" if r.warnings else ""
            extra += f"，修复 {r.repaired}" if r.repaired else ""
            w(f"  {r.code:<7} v{r.version:<3} {r.features:>7} 要素  {r.seconds:6.1f} s{extra}")
        kinds: dict[str, int] = {}
        for kind in summary.violations.values():
            kinds[kind or "conforming"] = kinds.get(kind or "conforming", 0) + 1
        w(f"项目 (projects) {len(summary.violations)}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
          + f"  {summary.timings['projects']:.1f} s")
        s = summary.stats
        w(f"城镇开发边界 {s['development_boundary_km2']:.1f} km²，县域 {s['county_km2']:.0f} km²，"
          f"街区 {s['blocks']}，开发边界内地块 {s['parcels_in_development_boundary']}，"
          f"地块面积 p5/p50/p95 {'/'.join(str(float(x)) for x in s['parcel_ha_p05_p50_p95'])} ha")
        for p in summary.problems[:20]:
            w(self.style.WARNING(f"  {p}"))
        self.stdout.write(self.style.SUCCESS(
            f"演示数据已加载 (demo loaded): {summary.parcels} 地块, {summary.projects} 项目, "
            f"共 {summary.timings['total']:.1f} s"))
