"""Writes to the layer registry: create layers, import and publish versions.

Views, commands and other apps call these; nothing else writes layers, versions or features.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from layers import crs
from layers.fields import INDICATOR_FIELDS
from layers.importers import parallel, read_ahead
from layers.importers.attributes import AttributePlan, plan_attributes
from layers.importers.base import FeatureBatch, ImportFailed, ImportReport, Problem
from layers.importers.checksum import sha256_of
from layers.importers.pipeline import ChunkOutcome, Progress, chunk_starts, copy_chunks
from layers.importers.sources import read_source
from layers.importers.validation import (
    ValidatedGeometries,
    validate_geometries,
    warm_transformers,
)
from layers.importers.writer import (
    PartitionWriter,
    analyze_if_never_analyzed,
    attach_partition,
    build_indexes_in_parallel,
    drop_partition,
)
from layers.models import Feature, Layer, LayerVersion

log = logging.getLogger(__name__)

# Sent after the transaction that published a version commits (tiles, joins, re-checks).
version_published = Signal()  # kwargs: version, previous
# Sent after an edit of features of a version commits; receivers (tile caches) must finish
# their work before returning, so an edit is reported done only when no stale tile is left.
features_changed = Signal()  # kwargs: version, feature_ids, old_geoms, new_geoms (4490)



class ImportRejected(ImportFailed):
    """Import failed; carries the full report (counts and every problem)."""

    def __init__(self, report: ImportReport, code: str = "invalid_input"):
        self.report = report
        super().__init__(report.errors or report.problems, code=code)


def create_layer(*, code: str, name_zh: str, name_en: str, category: str, geometry_type: str,
                 access_level: str = Layer.Access.PUBLIC, style: dict | None = None,
                 description: str = "", sort_order: int = 100) -> Layer:
    layer = Layer(code=code, name_zh=name_zh, name_en=name_en, category=category,
                  geometry_type=geometry_type, access_level=access_level,
                  style=style or {}, description=description, sort_order=sort_order)
    layer.full_clean()  # includes the style specification
    layer.save()
    return layer


def resolve_source_crs(batch: FeatureBatch, declared_epsg: int | None,
                       report: ImportReport) -> int:
    """The CRS a batch's coordinates are in: a declared one overrides the file's (with a
    warning); none at all, or an unknown code, rejects the input. Sets report.source_epsg.
    Shared by imports and the blueprint boundary check (blueprint/services.py)."""
    epsg = declared_epsg or batch.epsg
    if declared_epsg and batch.epsg and declared_epsg != batch.epsg:
        report.problems.append(Problem(
            f"声明的坐标系 EPSG:{declared_epsg} 与文件中的 EPSG:{batch.epsg} 不同，按声明处理 "
            "(declared CRS overrides the file's)", severity="warning"))
    if epsg is None:
        report.problems.append(Problem("无法确定坐标系，请声明（如 EPSG:4525）(unknown CRS: "
                                       "declare one)"))
        raise ImportRejected(report, code="unknown_crs")
    try:
        crs.pyproj_crs(epsg)
    except Exception:  # noqa: BLE001 - pyproj's CRSError
        report.problems.append(Problem(f"未知的坐标系 EPSG:{epsg} (unknown EPSG code)"))
        raise ImportRejected(report, code="unknown_crs") from None
    report.source_epsg = epsg
    return epsg


def import_batch(layer: Layer, batch: FeatureBatch, *, source_name: str, source_sha256: str = "",
                 declared_epsg: int | None = None, effective_date: dt.date | None = None,
                 imported_by: str = "", field_map: dict[str, str] | None = None,
                 allow_rejects: bool = False, publish: bool = False, note: str = "",
                 progress: Progress | None = None) -> tuple[LayerVersion, ImportReport]:
    """Validate a batch and write it as a new version of `layer`, whole or not at all."""
    started = time.perf_counter()
    report = ImportReport(source_name=source_name, source_format=batch.source_format,
                          read=len(batch), crs_note=batch.crs_note)
    report.problems.extend(batch.warnings)
    epsg = resolve_source_crs(batch, declared_epsg, report)
    plan = plan_attributes(batch, field_map)
    report.problems.extend(plan.problems)
    report.field_mapping = plan.mapping
    report.repaired = sum(p.severity == "repaired" for p in batch.warnings)
    if progress:
        progress("import", 0, len(batch))
    version_fields = dict(effective_date=effective_date or timezone.localdate(),
                          source_name=source_name[:255], source_sha256=source_sha256,
                          source_format=batch.source_format, imported_by=imported_by,
                          note=note)

    workers = report.workers = parallel.workers_for(len(batch))
    try:
        if workers > 1:
            version = _import_staged(layer, batch, report, workers=workers, epsg=epsg,
                                     plan=plan, allow_rejects=allow_rejects,
                                     progress=progress, publish=publish, started=started,
                                     **version_fields)
        else:
            version = _import_in_transaction(layer, batch, report, epsg=epsg, plan=plan,
                                             allow_rejects=allow_rejects, progress=progress,
                                             publish=publish, started=started,
                                             **version_fields)
    except _NothingToWrite:
        if not report.errors:
            report.problems.append(Problem("没有可写入的要素 (nothing to write)"))
        report.written = 0
        report.seconds = time.perf_counter() - started
        raise ImportRejected(report) from None
    return version, report


class _NothingToWrite(Exception):
    """Errors (strict mode) or no feature left: the import writes nothing."""


def _merge(report: ImportReport, outcomes: list[ChunkOutcome]) -> None:
    for o in outcomes:
        report.problems.extend(o.problems)
        report.repaired += o.repaired
        report.rejected += o.rejected


def _new_version(layer: Layer, report: ImportReport, *, version_id: int | None = None,
                 **fields: Any) -> LayerVersion:
    # Lock the layer row so two imports cannot take the same version number.
    locked = Layer.objects.select_for_update().get(pk=layer.pk)
    last = locked.versions.order_by("-number").values_list("number", flat=True).first()
    return LayerVersion.objects.create(pk=version_id, layer=locked, number=(last or 0) + 1,
                                       source_srid=report.source_epsg, **fields)


def _finish(version: LayerVersion, report: ImportReport, count: int, *, started: float,
            publish: bool) -> None:
    report.written = count
    report.seconds = time.perf_counter() - started
    version.import_report = report.as_dict()
    version.save(update_fields=["import_report"])
    if publish:
        publish_version(version)


def _import_in_transaction(layer: Layer, batch: FeatureBatch, report: ImportReport, *,
                           epsg: int, plan: AttributePlan, allow_rejects: bool,
                           progress: Progress | None, publish: bool, started: float,
                           **version_fields: Any) -> LayerVersion:
    with transaction.atomic():
        version = _new_version(layer, report, **version_fields)
        # PostgreSQL parses the COPY of one chunk while the next one is validated.
        with PartitionWriter(version) as writer:
            outcomes = copy_chunks(writer, batch, epsg=epsg, kind=layer.geometry_type,
                                   plan=plan, starts=chunk_starts(len(batch)),
                                   allow_rejects=allow_rejects, failed=bool(report.errors),
                                   progress=progress)
            _merge(report, outcomes)
            if writer.count == 0 or (report.errors and not allow_rejects):
                raise _NothingToWrite
        _finish(version, report, writer.count, started=started, publish=publish)
    return version


def _import_staged(layer: Layer, batch: FeatureBatch, report: ImportReport, *,
                   workers: int, epsg: int, plan: AttributePlan, allow_rejects: bool,
                   progress: Progress | None, publish: bool, started: float,
                   **version_fields: Any) -> LayerVersion:
    """The same import on `workers` processes (layers/importers/parallel.py)."""
    version_id = parallel.reserve_version_id()
    with parallel.staged_partition(version_id):
        result = parallel.copy_in_workers(
            batch, version_id=version_id, workers=workers, epsg=epsg,
            kind=layer.geometry_type, plan=plan, allow_rejects=allow_rejects,
            failed=bool(report.errors), progress=progress)
        _merge(report, result.outcomes)
        if result.count == 0 or (report.errors and not allow_rejects):
            raise _NothingToWrite
        build_indexes_in_parallel(version_id)
        with transaction.atomic():
            version = _new_version(layer, report, version_id=version_id, **version_fields)
            attach_partition(version, result.count, result.bounds)
            _finish(version, report, result.count, started=started, publish=publish)
    return version


def require_declared_crs_for_dxf(batch: FeatureBatch, declared_epsg: int | None,
                                 name: str) -> None:
    """DXF carries no CRS: reading one without a declared CRS is rejected up front."""
    if batch.source_format == "dxf" and declared_epsg is None:
        report = ImportReport(source_name=name, source_format="dxf", read=len(batch),
                              problems=[Problem("DXF 不含坐标系，请声明坐标系（如 EPSG:4525）"
                                                " (DXF has no CRS: declare one)")])
        raise ImportRejected(report, code="unknown_crs")


@dataclass
class CheckedPolygons:
    """A polygon file (a red line) read and validated as an import would, nothing written."""

    batch: FeatureBatch
    report: ImportReport
    epsg: int
    checked: ValidatedGeometries
    kept: np.ndarray  # indices of the usable polygons


def check_polygon_file(path: Path, *, workdir: Path, source_name: str,
                       declared_epsg: int | None = None, encoding: str | None = None,
                       dxf_layer: str | None = None) -> CheckedPolygons:
    """Read and validate a boundary file of any importer format. ImportRejected when it
    cannot be read at all; otherwise every problem is in `report` (callers decide whether
    a file with some unusable parts may still be used)."""
    try:
        batch = read_source(path, workdir=workdir, source_name=source_name, encoding=encoding,
                            geometry_kind="polygon",
                            dxf_layers=[dxf_layer] if dxf_layer else None)
    except ImportFailed as exc:
        report = ImportReport(source_name=source_name, source_format="", problems=exc.problems)
        raise ImportRejected(report, code=exc.code) from None
    require_declared_crs_for_dxf(batch, declared_epsg, source_name)
    report = ImportReport(source_name=source_name, source_format=batch.source_format,
                          read=len(batch), crs_note=batch.crs_note)
    report.problems.extend(batch.warnings)
    epsg = resolve_source_crs(batch, declared_epsg, report)
    checked = validate_geometries(batch, epsg=epsg, kind="polygon")
    report.problems.extend(checked.problems)
    kept = np.flatnonzero(checked.keep)
    if len(kept) == 0 and not report.errors:
        report.problems.append(Problem("文件中没有可用的面 (no usable polygon in the file)"))
    return CheckedPolygons(batch, report, epsg, checked, kept)


def import_file(layer: Layer, path: Path, *, source_name: str | None = None,
                declared_epsg: int | None = None, encoding: str | None = None,
                dxf_layers: list[str] | None = None, source_layer: str | None = None,
                **kwargs: Any) -> tuple[LayerVersion, ImportReport]:
    """Import any supported file (GeoPackage, zipped Shapefile, GeoJSON, DXF, TXT)."""
    name = source_name or path.name
    progress = kwargs.get("progress")
    if read_ahead.pending_path() is not None:
        # The storage-to-Web-Mercator transformer every import uses (PROJ's search for it
        # takes 0.1-0.2 s), made while the read-ahead threads may still be reading.
        warm_transformers(None)
    try:
        ahead = read_ahead.take(path, source_name=name, encoding=encoding,
                                layer_name=source_layer)
    except ImportFailed as exc:
        report = ImportReport(source_name=name, source_format="", problems=exc.problems)
        raise ImportRejected(report, code=exc.code) from None
    if ahead is not None:  # read while Django started (manage.py import_layer)
        batch, source_sha256 = ahead
        if progress:
            progress("read", 1, 1)
        require_declared_crs_for_dxf(batch, declared_epsg, name)
        return import_batch(layer, batch, source_name=name, source_sha256=source_sha256,
                            declared_epsg=declared_epsg, **kwargs)
    # The file is read and checksummed on two threads (GDAL and hashlib release the GIL)
    # while this one creates the storage-to-Web-Mercator transformer every import uses.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="import-read") as pool, \
            tempfile.TemporaryDirectory(prefix="import-") as tmp:
        checksum = pool.submit(sha256_of, path)
        if progress:
            progress("read", 0, 1)
        reading = pool.submit(read_source, path, workdir=Path(tmp), source_name=name,
                              encoding=encoding, geometry_kind=layer.geometry_type,
                              dxf_layers=dxf_layers, layer_name=source_layer)
        warm_transformers(None)
        try:
            batch = reading.result()
        except ImportFailed as exc:
            report = ImportReport(source_name=name, source_format="", problems=exc.problems)
            raise ImportRejected(report, code=exc.code) from None
        if progress:
            progress("read", 1, 1)
        require_declared_crs_for_dxf(batch, declared_epsg, name)
        source_sha256 = checksum.result()
    # The thread has ended here, so the import may fork its workers.
    return import_batch(layer, batch, source_name=name, source_sha256=source_sha256,
                        declared_epsg=declared_epsg, **kwargs)


def publish_version(version: LayerVersion) -> LayerVersion:
    """Publish `version`; the layer's previously published version is retired."""
    with transaction.atomic():
        Layer.objects.select_for_update().get(pk=version.layer_id)
        previous = (LayerVersion.objects.filter(layer_id=version.layer_id,
                                                state=LayerVersion.State.PUBLISHED)
                    .exclude(pk=version.pk).first())
        now = timezone.now()
        if previous:
            previous.state = LayerVersion.State.RETIRED
            previous.retired_at = now
            previous.save(update_fields=["state", "retired_at"])
        version.state = LayerVersion.State.PUBLISHED
        version.published_at = now
        version.retired_at = None
        version.save(update_fields=["state", "published_at", "retired_at"])
        analyze_if_never_analyzed(version.pk)
        transaction.on_commit(lambda: version_published.send(
            sender=LayerVersion, version=version, previous=previous))
    return version


def delete_version(version: LayerVersion) -> None:
    """Remove a version and its features (its partition is dropped whole). A published
    version cannot be deleted: publish another one first."""
    if version.state == LayerVersion.State.PUBLISHED:
        raise ValueError("不能删除现行发布版本 (cannot delete the published version)")
    with transaction.atomic():
        drop_partition(version.pk)
        version.delete()


def edit_feature(feature_id: int, *, geom_4490: Any = None,
                 values: dict[str, Any] | None = None, edited_by: str = "") -> Feature:
    """Change one feature's geometry (shapely, EPSG:4490) and/or typed fields in place.

    The 3857 copy and the measure are recomputed, the version's revision is bumped, and
    `features_changed` carries the old and new geometry so caches can refresh exactly the
    tiles that touch either."""
    from django.contrib.gis.geos import GEOSGeometry

    allowed = {f.name for f in INDICATOR_FIELDS} | {"attributes"}
    unknown = set(values or {}) - allowed
    if unknown:
        raise ValueError(f"不可编辑的字段 (not editable): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        feature = Feature.objects.select_for_update().select_related("version__layer").get(
            pk=feature_id)
        old = shapely.from_wkb(bytes(feature.geom.wkb))
        new = old
        if geom_4490 is not None:
            kind = feature.version.layer.geometry_type
            batch = FeatureBatch(geometries=np.asarray([geom_4490], dtype=object), columns={},
                                 epsg=crs.CGCS2000_GEOGRAPHIC, source_format="edit")
            checked = validate_geometries(batch, epsg=crs.CGCS2000_GEOGRAPHIC, kind=kind)
            errors = [p for p in checked.problems if p.severity == "error"]
            if errors:
                raise ImportFailed(errors, code="invalid_geometry")
            new = checked.geom_4490[0]
            feature.geom = GEOSGeometry(memoryview(shapely.to_wkb(new)), srid=4490)
            feature.geom_3857 = GEOSGeometry(memoryview(shapely.to_wkb(checked.geom_3857[0])),
                                            srid=3857)
            feature.measure = float(checked.measure[0])
        for name, value in (values or {}).items():
            setattr(feature, name, value)
        feature.full_clean(exclude=["version", "geom", "geom_3857"])
        feature.save()
        LayerVersion.objects.filter(pk=feature.version_id).update(revision=F("revision") + 1)
        version = LayerVersion.objects.get(pk=feature.version_id)
        transaction.on_commit(lambda: features_changed.send(
            sender=Feature, version=version, feature_ids=[feature.pk], old_geoms=[old],
            new_geoms=[new], edited_by=edited_by))
    return feature
