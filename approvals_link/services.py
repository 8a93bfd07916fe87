"""Writes to the approval-link records: projects and their red-line footprints."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from approvals_link import signals
from approvals_link.models import Project, ProjectDocument, ProjectFootprint
from layers import crs

# The fields a caller may set through upsert_project (everything but bookkeeping).
_PROJECT_FIELDS = {f.name for f in Project._meta.concrete_fields} - {
    "id", "project_code", "created_at", "updated_at"}


def upsert_project(*, project_code: str, **fields: Any) -> Project:
    """Create the project with this code, or update the given fields of the existing one."""
    unknown = set(fields) - _PROJECT_FIELDS
    if unknown:
        raise TypeError(f"unknown Project fields: {', '.join(sorted(unknown))}")
    project, created = Project.objects.get_or_create(project_code=project_code,
                                                     defaults=fields)
    if not created and fields:
        changed = [k for k, v in fields.items() if getattr(project, k) != v]
        for k in changed:
            setattr(project, k, fields[k])
        if changed:
            project.full_clean(exclude=["project_code"])
            project.save(update_fields=[*changed, "updated_at"])
    elif created:
        project.full_clean()
    return project


def _transform(geom: shapely.Geometry, src: int, dst: int) -> shapely.Geometry:
    t = crs.transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    if isinstance(geom, shapely.MultiPolygon):
        return geom
    raise ValueError(f"项目红线应为面 (footprint must be a polygon), got {geom.geom_type}")


def _geos(geom: shapely.Geometry, srid: int) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=srid)


def create_footprint(project: Project, geom_4490: shapely.Geometry, source_name: str = "",
                     source_format: str = "", *, number: int | None = None,
                     local_key: str | None = None, description: str = "",
                     source_srid: int | None = None,
                     document: ProjectDocument | None = None) -> ProjectFootprint:
    """Store a red-line boundary file of the project (EPSG:4490 lon/lat, (Multi)Polygon).

    `number` is the standard's file number (JZWJXH); without it the next free number is
    taken. The Web Mercator copy and the area (m², in settings.COUNTY_PROJECTED_SRID) are
    computed here with pyproj, the same way layer imports compute them. Receivers of
    `footprint_created` (the parcel join, the conformity check) run in the same
    transaction.
    """
    geom = _as_multipolygon(geom_4490)
    if geom.is_empty or not geom.is_valid:
        raise ValueError(f"项目红线无效 (invalid footprint): {shapely.is_valid_reason(geom)}")
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    geom_3857 = _transform(geom, crs.CGCS2000_GEOGRAPHIC, crs.WEB_MERCATOR)
    projected = _transform(geom, crs.CGCS2000_GEOGRAPHIC, settings.COUNTY_PROJECTED_SRID)
    with transaction.atomic():
        # Lock the project row so two uploads cannot take the same footprint number.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        if number is None:
            last = (project.footprints.order_by("-number").values_list("number", flat=True)
                    .first())
            number = (last or 0) + 1
        footprint = ProjectFootprint.objects.create(
            project=project, number=number, local_key=local_key or None,
            description=description[:500], document=document,
            geom=_geos(geom, crs.CGCS2000_GEOGRAPHIC),
            geom_3857=_geos(_as_multipolygon(geom_3857), crs.WEB_MERCATOR),
            area_m2=float(shapely.area(projected)), source_name=source_name[:255],
            source_format=source_format[:16], source_srid=source_srid)
        signals.footprint_created.send(sender=ProjectFootprint, footprint=footprint)
        return footprint
