"""Write a generated demo county to the database through the normal import path.

Every layer goes through `layers.services.import_batch` (validation, attribute mapping,
COPY, publish) exactly like an uploaded file; projects through approvals_link.services.
Demo data are recognisable afterwards: layer versions by ``imported_by="load_demo"``, project
red lines by ``source_format="demo"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from approvals_link import services as approvals
from approvals_link.conformity import engine, rules
from approvals_link.conformity import receivers as conformity_receivers
from approvals_link.demo_events import make_demo_events
from approvals_link.models import ConformityCheck, Project
from layers import catalogue, crs, services
from layers.demo.generator import SOURCE_FORMAT, STAGES, generate
from layers.models import LayerVersion

IMPORTED_BY = "load_demo"
STAGES_ZH = {"import": "导入", "validate": "校验", "write": "写入", "read": "读取"}
BarFactory = Callable[[str, int, str], Any]  # (description, total, unit) -> .update(n), .close()


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _null_bar(desc: str, total: int, unit: str) -> _NullBar:
    return _NullBar()


@dataclass
class LayerResult:
    code: str
    version: int
    features: int
    warnings: int
    repaired: int
    seconds: float


@dataclass
class LoadSummary:
    seed: int
    parcels: int
    projects: int
    skipped: bool = False
    deleted_versions: int = 0
    deleted_projects: int = 0
    layers: list[LayerResult] = field(default_factory=list)
    violations: dict[str, str | None] = field(default_factory=dict)  # project code -> kind
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # warnings the imports reported


def source_name(seed: int) -> str:
    return f"demo-seed-{seed}"


def plan_exists() -> bool:
    return LayerVersion.objects.filter(layer__code="KGDK").exists()


def delete_demo() -> tuple[int, int]:
    """Remove every demo layer version and every project with a demo red line."""
    versions = LayerVersion.objects.filter(imported_by=IMPORTED_BY)
    ids = list(versions.values_list("pk", flat=True))
    projects = Project.objects.filter(
        pk__in=Project.objects.filter(footprints__source_format=SOURCE_FORMAT).values("pk"))
    n_projects = projects.count()
    with transaction.atomic():
        projects.delete()
        for version in versions:
            version.state = LayerVersion.State.RETIRED  # demo data may go, published or not
            services.delete_version(version)
    return len(ids), n_projects


def link_demo_accounts(projects: list[Project]) -> None:
    """Let the demo accounts see demo projects: the natural-resources bureau handles them
    all, and the demo applicant (when it exists) belongs to the first enterprise."""
    from accounts.models import Department, User

    bureau = Department.natural_resources_bureau()
    through = Project.handling_departments.through
    through.objects.bulk_create([through(project_id=p.pk, department_id=bureau.pk)
                                 for p in projects], ignore_conflicts=True)
    firm = next((p for p in projects if p.flow_type != "1" and p.construction_unit), None)
    if firm is not None:
        User.objects.filter(username="demo_applicant").update(
            organization_credit_code=firm.construction_unit_credit_code,
            organization_name=firm.construction_unit)


def load_demo(*, seed: int, parcels: int, projects: int, replace: bool = False,
              if_empty: bool = False, bar: BarFactory | None = None) -> LoadSummary:
    bar = bar or _null_bar
    summary = LoadSummary(seed, parcels, projects)
    started = time.perf_counter()
    if if_empty and plan_exists():
        summary.skipped = True
        return summary
    if replace:
        t = time.perf_counter()
        summary.deleted_versions, summary.deleted_projects = delete_demo()
        summary.timings["delete"] = time.perf_counter() - t

    t = time.perf_counter()
    gen_bar = bar("生成 generate", len(STAGES), "步")
    county = generate(seed, parcels, projects, progress=lambda _stage: gen_bar.update(1))
    gen_bar.close()
    summary.timings["generate"] = time.perf_counter() - t
    summary.stats = county.stats

    layers = catalogue.ensure_standard_layers()
    name = source_name(seed)
    note = f"load_demo --parcels {parcels} --projects {projects} --seed {seed}"
    # Checked together at the end, set-based; publishing re-checks nothing meanwhile.
    with conformity_receivers.suspended(), transaction.atomic():
        for code, layer in layers.items():
            data = county.layers[code]
            t = time.perf_counter()
            bars: dict[str, Any] = {}

            def progress(stage: str, advance: int, total: int, _code: str = code,
                         _bars: dict[str, Any] = bars) -> None:
                if stage not in _bars:  # one bar per stage the importer reports
                    _bars[stage] = bar(f"{_code} {STAGES_ZH.get(stage, stage)}", total, "要素")
                _bars[stage].update(advance)

            version, report = services.import_batch(
                layer, data.batch(), source_name=name, declared_epsg=crs.CGCS2000_GEOGRAPHIC,
                publish=True, imported_by=IMPORTED_BY, note=note, progress=progress)
            for b in bars.values():
                b.close()
            warnings = [p for p in report.problems if p.severity != "error"]
            summary.problems += [f"{code} {p}" for p in warnings]
            summary.layers.append(LayerResult(code, version.number, report.written,
                                              len(warnings), report.repaired,
                                              time.perf_counter() - t))
            summary.timings[f"import {code}"] = time.perf_counter() - t

        t = time.perf_counter()
        footprints = county.footprints_4490()
        prj_bar = bar("项目 projects", len(county.projects), "个")
        stored = []
        for plan, geom in zip(county.projects, footprints, strict=True):
            project = approvals.upsert_project(project_code=plan.project_code,
                                               **plan.model_fields())
            stored.append(approvals.create_footprint(project, geom, source_name=name,
                                                     source_format=SOURCE_FORMAT))
            summary.violations[plan.project_code] = plan.violation
            prj_bar.update(1)
        prj_bar.close()
        summary.timings["projects"] = time.perf_counter() - t
        link_demo_accounts([f.project for f in stored])
        t = time.perf_counter()
        make_demo_events([f.project for f in stored], seed)
        summary.timings["approval events"] = time.perf_counter() - t
        t = time.perf_counter()
        rules.ensure_default_rules()
        engine.check_footprints(stored, trigger=ConformityCheck.Trigger.DEMO)
        summary.timings["conformity"] = time.perf_counter() - t
    summary.timings["total"] = time.perf_counter() - started
    return summary
