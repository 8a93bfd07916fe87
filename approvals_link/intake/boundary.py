"""Filing a red-line boundary file (SPGL_XMYDHXJZXXB) pushed by the approval system.

The file is read and validated exactly as the blueprint boundary check and the layer
imports do (layers.importers: any supported format, the same line- and feature-numbered
problems). Unlike the check, a file with any error is refused as a whole: a red line with
a part silently dropped would be a wrong red line. The kept polygons are unioned into one
MultiPolygon and stored through `approvals_link.services.create_footprint`, whose
`footprint_created` receivers (parcel join, conformity check) run in the same transaction.

Repeated pushes: the file is identified by its number (JZWJXH) within the project and,
when given, by its local key (DFSJZJ). Content means the boundary itself (the geometry,
compared to about 0.1 mm): the same boundary again is ``unchanged``; a different boundary
under a number or key already used is a conflict (409), never a silent replacement -- a
changed red line comes as a new file number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from django.db import transaction

from approvals_link import services as approvals
from approvals_link.models import ConformityCheck, Project, ProjectDocument, ProjectFootprint
from layers.importers.base import Problem
from layers.services import ImportRejected, check_polygon_file

# Vertices closer than this (degrees, about 0.1 mm) are the same boundary point.
SAME_BOUNDARY_TOLERANCE_DEG = 1e-9
OUTSIDE_COUNTY_MARK = "不在内乡县范围内"  # the importers' message for a point outside


@dataclass
class Boundary:
    """A validated boundary file: one MultiPolygon in EPSG:4490 and what was noticed."""

    geom_4490: shapely.MultiPolygon
    source_format: str
    epsg: int
    parts: int
    crs_note: str = ""
    problems: list[Problem] = field(default_factory=list)  # warnings and repairs only


class BoundaryConflict(Exception):
    """The file clashes with one already filed (HTTP 409)."""

    def __init__(self, code: str, detail: str, footprint: ProjectFootprint):
        self.code = code
        self.footprint = footprint
        super().__init__(detail)


def read_boundary(path: Path, *, workdir: Path, source_name: str,
                  declared_epsg: int | None = None, encoding: str | None = None,
                  dxf_layer: str | None = None) -> Boundary:
    """Read and validate a boundary file; ImportRejected (with every problem) when any
    part of it is unusable. Unlike the blueprint check, any error refuses the file."""
    found = check_polygon_file(path, workdir=workdir, source_name=source_name,
                               declared_epsg=declared_epsg, encoding=encoding,
                               dxf_layer=dxf_layer)
    report, checked, kept, batch, epsg = (found.report, found.checked, found.kept, found.batch,
                                          found.epsg)
    if report.errors:
        outside = any(OUTSIDE_COUNTY_MARK in p.message for p in report.errors)
        raise ImportRejected(report, code="outside_county" if outside else "invalid_input")
    union = shapely.union_all(checked.geom_4490[kept])
    if isinstance(union, shapely.Polygon):
        union = shapely.MultiPolygon([union])
    elif not isinstance(union, shapely.MultiPolygon):  # defensive: polygons union to areas
        polygons = [g for g in shapely.get_parts(union) if isinstance(g, shapely.Polygon)]
        union = shapely.MultiPolygon(polygons)
    return Boundary(geom_4490=union, source_format=batch.source_format, epsg=epsg,
                    parts=len(kept), crs_note=batch.crs_note, problems=report.problems)


def same_boundary(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    """Same red line: equal up to vertex order, ring orientation and 0.1 mm."""
    return bool(shapely.equals_exact(shapely.normalize(shapely.orient_polygons(a)),
                                     shapely.normalize(shapely.orient_polygons(b)),
                                     tolerance=SAME_BOUNDARY_TOLERANCE_DEG))


def _stored_geometry(footprint: ProjectFootprint) -> shapely.Geometry:
    return shapely.from_wkb(bytes(footprint.geom.wkb))


def file_boundary(project: Project, boundary: Boundary, *, number: int, source_name: str,
                  local_key: str | None = None, description: str = "",
                  document: ProjectDocument | None = None) -> tuple[str, ProjectFootprint]:
    """Store the boundary as file `number` of the project: ("created", footprint), or
    ("unchanged", the stored one) for a repeat; BoundaryConflict on a clash."""
    with transaction.atomic():
        # The project row lock serialises filings of one project (create_footprint takes
        # the same lock), so the duplicate checks below cannot race.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        by_key = (ProjectFootprint.objects.filter(local_key=local_key).first()
                  if local_key else None)
        if by_key is not None:
            if by_key.project_id == project.pk and by_key.number == number and \
                    same_boundary(_stored_geometry(by_key), boundary.geom_4490):
                return "unchanged", by_key
            raise BoundaryConflict(
                "local_key_conflict",
                f"DFSJZJ={local_key} 已对应项目 {by_key.project.project_code} 的界址文件 "
                f"#{by_key.number}，内容不同 (this local key already holds a different "
                "boundary file)", by_key)
        by_number = project.footprints.filter(number=number).first()
        if by_number is not None:
            if (by_number.local_key is None or local_key is None) and \
                    same_boundary(_stored_geometry(by_number), boundary.geom_4490):
                return "unchanged", by_number
            raise BoundaryConflict(
                "duplicate_file_number",
                f"项目 {project.project_code} 已有界址文件序号 {number}，且内容不同；"
                "新的红线请使用新的序号 (file number already used with a different "
                "boundary: send a new JZWJXH)", by_number)
        footprint = approvals.create_footprint(
            project, boundary.geom_4490, source_name=source_name,
            source_format=boundary.source_format, number=number, local_key=local_key,
            description=description, source_srid=boundary.epsg, document=document)
    return "created", footprint


def latest_check_id(footprint: ProjectFootprint) -> int | None:
    """The conformity check the footprint's receivers made, if any (the engine may be off)."""
    return (ConformityCheck.objects.filter(footprint=footprint)
            .order_by("-created_at", "-id").values_list("pk", flat=True).first())


def footprint_dict(footprint: ProjectFootprint) -> dict[str, Any]:
    return {"number": footprint.number, "local_key": footprint.local_key,
            "source_name": footprint.source_name, "source_format": footprint.source_format,
            "source_srid": footprint.source_srid, "description": footprint.description,
            "area_m2": round(footprint.area_m2, 2),
            "area_ha": round(footprint.area_m2 / 10_000, 4)}
