"""REST endpoints of the intake (thin: parse, call the intake services, render).

Both are for the approval system's external-system account (token scope
``approvals:write``); the permission is declared once, on `IntakeView`.
"""

from __future__ import annotations

import codecs
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_views import FunctionAPIView
from approvals_link import selectors
from approvals_link.documents import services as document_services
from approvals_link.intake import boundary as boundary_files
from approvals_link.intake import services
from approvals_link.intake.validation import EVENT_TABLE, PROJECT_TABLE, TABLES
from approvals_link.models import ProjectDocument
from audit.services import record
from layers import crs
from layers.services import ImportRejected

FUNCTION = "approvals.write"
UPLOAD_SUFFIXES = {".zip", ".geojson", ".json", ".dxf", ".txt", ".gpkg"}
TEMP_PREFIX = "intake-boundary-"
MAX_AUDITED_REJECTIONS = 50  # rejected rows named in the audit record, beyond: counted


def _error(code: str, detail: str, http: int = 400, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=http)


class IntakeView(FunctionAPIView):
    """The one place the intake's permission is declared."""

    default_function = FUNCTION
    required_function = FUNCTION


_RECORDS_REQUEST = inline_serializer("IntakeRecordsRequest", fields={
    "records": serializers.ListField(child=inline_serializer("IntakeRecord", fields={
        "table": serializers.ChoiceField(choices=TABLES),
        "data": serializers.DictField(help_text="该表字段 (the table's fields, standard names)"),
    }))})
_RECORDS_RESPONSE = inline_serializer("IntakeRecordsResponse", fields={
    "accepted": serializers.IntegerField(), "rejected": serializers.IntegerField(),
    "results": serializers.ListField(child=inline_serializer("IntakeRecordResult", fields={
        "index": serializers.IntegerField(), "table": serializers.CharField(),
        "local_key": serializers.CharField(allow_null=True),
        "project_code": serializers.CharField(allow_null=True),
        "outcome": serializers.ChoiceField(choices=services.OUTCOMES),
        "error": serializers.CharField(allow_null=True),
        "errors": serializers.DictField(child=serializers.ListField(
            child=serializers.CharField())),
    }))})
_EXAMPLE = {"records": [
    {"table": PROJECT_TABLE, "data": {
        "DFSJZJ": "XM-000123", "XZQHDM": "411325", "XMDM": "2019-411325-47-01-000123",
        "XMMC": "内乡县城关镇某住宅小区项目", "JSDW": "内乡县某置业有限公司",
        "JSDWTYSHXYDM": "91350100M000100Y43", "SPLCLX": "3", "ZTZE": 12000.5,
        "TDHQFS": "3", "YDMJ": 15000, "XMLX": "residential", "SQYDXZ": "0701",
        "NJRJL": 2.2, "NJJZMD": 28, "NJLDL": 35, "NJJZGD": 54,
        "SJGXSJ": "2026-11-20 09:30:00"}},
    {"table": EVENT_TABLE, "data": {
        "DFSJZJ": "BL-000456", "XMDM": "2019-411325-47-01-000123", "DYBZSPJDXH": 1,
        "SPSXBM": "411325-ZRZY-001", "SPSXMC": "建设用地规划许可证核发",
        "SPSXSLBM": "SL-2026-000789", "SPBMBM": "ZRZY", "SPBMMC": "内乡县自然资源局",
        "BLZT": "2", "BLSJ": "2026-11-20 09:00:00", "CNSX": 10,
        "SJGXSJ": "2026-11-20 09:30:00"}},
]}


class IntakeRecords(IntakeView):
    """Approval records pushed by the approval system (SPGL_XMJBXXB, SPGL_XMSPSXBLXXB)."""

    parser_classes = [JSONParser]

    @extend_schema(
        summary="推送审批数据 (push approval records: projects and item events)",
        description=(
            "Rows of the national exchange standard, keyed by table name. Upsert by DFSJZJ; "
            "SJGXSJ orders pushes: an older row is `stale` (not applied), an equal SJGXSJ "
            "with different content is a `conflict`. Projects are applied before events. "
            "Naive times are Asia/Shanghai. Extension fields of SPGL_XMJBXXB for the "
            "conformity check: XMLX project type, SQYDXZ applied land-use code, NJRJL FAR, "
            "NJJZMD building density %, NJLDL green ratio %, NJJZGD height m. 200 when "
            f"every row was accepted, 422 when any was rejected; at most "
            f"{settings.INTAKE_MAX_RECORDS} rows (413 beyond)."),
        request=_RECORDS_REQUEST,
        responses={200: _RECORDS_RESPONSE, 422: _RECORDS_RESPONSE,
                   400: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT},
        examples=[OpenApiExample("一个项目和一条办理记录 (a project and an event)",
                                 value=_EXAMPLE, request_only=True)])
    def post(self, request: Request) -> Response:
        # DRF's JSON parser reads the whole stream: refuse an oversized body before that.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _error("too_large", f"请求体超过 {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} 字节，"
                          "请分批推送 (request body too large: send smaller batches)", 413)
        try:
            body = request.data
        except RequestDataTooBig:
            return _error("too_large", "请求体过大 (request body too large)", 413)
        except (ParseError, UnsupportedMediaType):
            return _error("invalid_json", "请求体应为 JSON 对象 {\"records\": [...]} "
                          "(malformed JSON body)")
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return _error("invalid_json", "请求体应为 JSON 对象 {\"records\": [...]} "
                          "(a JSON object with a records list expected)")
        if not records:
            return _error("invalid", "records 不能为空 (no records)")
        limit = settings.INTAKE_MAX_RECORDS
        if len(records) > limit:
            return _error("too_many_records", f"每次最多 {limit} 条记录，收到 {len(records)} 条 "
                          f"(at most {limit} records per request)", 413, limit=limit)
        outcome = services.ingest(records)
        counts = outcome.counts()
        rejected = [r for r in outcome.results if r.outcome == services.REJECTED]
        record("approvals.intake", request=request._request,
               obj=f"{len(records)} records",
               result="failure" if rejected else "success",
               detail={"received": len(records), "accepted": outcome.accepted,
                       "rejected": outcome.rejected, "outcomes": counts,
                       "tables": {t: sum(r.table == t for r in outcome.results)
                                  for t in TABLES},
                       "rejections": [{"index": r.index, "table": r.table,
                                       "local_key": r.local_key, "error": r.error}
                                      for r in rejected[:MAX_AUDITED_REJECTIONS]]})
        return Response(outcome.as_dict(),
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY if rejected
                        else status.HTTP_200_OK)


# --- Boundary files ------------------------------------------------------------------------

class BoundaryFileForm(serializers.Serializer):
    file = serializers.FileField(help_text="界址文件：界址点坐标 TXT、Shapefile (zip)、"
                                           "GeoPackage、GeoJSON、DXF")
    JZWJXH = serializers.IntegerField(min_value=1, max_value=2_147_483_647,
                                      help_text="界址文件序号 (file number)")
    JZWJMC = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                   help_text="界址文件名称 (defaults to the upload's name)")
    JZWJSM = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                   help_text="界址文件说明 (description)")
    DFSJZJ = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                   help_text="地方数据主键 (local key; makes pushes idempotent)")
    epsg = serializers.CharField(required=False, allow_blank=True, max_length=20,
                                 help_text="声明的坐标系，如 4525 或 EPSG:4525（DXF 必填）")
    encoding = serializers.CharField(required=False, allow_blank=True, max_length=40)
    dxf_layer = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate_file(self, value: Any) -> Any:
        if value.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(
                f"文件超过上限 {settings.IMPORT_MAX_UPLOAD_BYTES} 字节 (file too large)")
        if value.size == 0:
            raise serializers.ValidationError("文件为空 (empty file)")
        return value

    def validate_epsg(self, value: str) -> int | None:
        raw = value.strip().upper().removeprefix("EPSG:")
        if not raw:
            return None
        try:
            epsg = int(raw)
            crs.pyproj_crs(epsg)
        except Exception:  # noqa: BLE001 - ValueError or pyproj's CRSError
            raise serializers.ValidationError(
                f"未知的坐标系 {raw[:20]} (unknown EPSG code)") from None
        return epsg

    def validate_encoding(self, value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        try:
            codecs.lookup(value)
        except LookupError:
            raise serializers.ValidationError("未知编码 (unknown encoding)") from None
        return value

    def validate_DFSJZJ(self, value: str) -> str | None:  # the standard's name
        return value.strip() or None


_BOUNDARY_RESPONSE = inline_serializer("BoundaryFileResult", {
    "outcome": serializers.ChoiceField(choices=["created", "unchanged"]),
    "project_code": serializers.CharField(),
    "footprint": inline_serializer("BoundaryFootprint", {
        "number": serializers.IntegerField(help_text="JZWJXH"),
        "local_key": serializers.CharField(allow_null=True, help_text="DFSJZJ"),
        "source_name": serializers.CharField(help_text="JZWJMC"),
        "source_format": serializers.CharField(),
        "source_srid": serializers.IntegerField(allow_null=True),
        "description": serializers.CharField(help_text="JZWJSM"),
        "area_m2": serializers.FloatField(), "area_ha": serializers.FloatField()}),
    "conformity_check_id": serializers.IntegerField(allow_null=True),
    "sha256": serializers.CharField(),
    "problems": serializers.ListField(child=serializers.DictField(),
                                      help_text="警告与自动修复 (warnings and repairs)")})


class BoundaryFiles(IntakeView):
    """A red-line boundary file of a project (SPGL_XMYDHXJZXXB), stored as its footprint."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        summary="推送项目红线界址文件 (push a red-line boundary file of a project)",
        description=(
            "Any format the importers read (界址点坐标 TXT, zipped Shapefile, GeoPackage, "
            "GeoJSON, DXF with `epsg` and optionally `dxf_layer`). Validated like the "
            "boundary check; a file with any error is refused (400, every problem with its "
            "line or feature number). The polygons are unioned into the project's footprint "
            "number JZWJXH. The same boundary again (same JZWJXH or DFSJZJ) is `unchanged` "
            "(200); a different boundary under a used JZWJXH or DFSJZJ is 409."),
        request={"multipart/form-data": BoundaryFileForm},
        responses={201: _BOUNDARY_RESPONSE, 200: _BOUNDARY_RESPONSE,
                   400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT,
                   409: OpenApiTypes.OBJECT})
    def post(self, request: Request, project_code: str) -> Response:
        project = selectors.get_visible_project(request, project_code)
        if project is None:
            return _error("unknown_project",
                          f"项目 {project_code[:40]} 不存在，请先推送项目记录 (no such project)",
                          404)
        form = BoundaryFileForm(data=request.data)
        if not form.is_valid():
            return _error("invalid", "请求参数无效 (invalid request)", fields=form.errors)
        data = form.validated_data
        upload = data["file"]
        name = (data.get("JZWJMC") or "").strip() or (upload.name or "upload")[:255]
        audit_obj = f"{project.project_code} #{data['JZWJXH']}"
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
            # A known suffix only: GDAL looks at it, user text never reaches a path.
            suffix = Path(upload.name or "").suffix.lower()
            path = Path(tmp) / ("upload" + (suffix if suffix in UPLOAD_SUFFIXES else ".bin"))
            digest = hashlib.sha256()
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    digest.update(chunk)
                    out.write(chunk)
            work = Path(tmp) / "work"
            work.mkdir()
            try:
                boundary = boundary_files.read_boundary(
                    path, workdir=work, source_name=name, declared_epsg=data.get("epsg"),
                    encoding=data.get("encoding"), dxf_layer=data.get("dxf_layer") or None)
            except ImportRejected as exc:
                report = exc.report.as_dict()
                record("approvals.boundary_file", request=request._request, obj=audit_obj,
                       result="failure", detail={"file": name, "error": exc.code,
                                                 "sha256": digest.hexdigest(),
                                                 "problems": len(report["problems"])})
                return _error(exc.code, str(exc)[:2000], problems=report["problems"],
                              source_format=report["source_format"], stored=False)
        # The file itself is kept as the record's attachment (JZWJFJ) in the document store;
        # a format the store refuses still files the boundary, without the attachment.
        attachment, attachment_note = None, ""
        try:
            attachment, _new = document_services.store_document(
                project, upload, kind=ProjectDocument.Kind.BOUNDARY, title=name,
                uploaded_by=request.user)
        except document_services.DocumentRejected as exc:
            attachment_note = str(exc)
        try:
            outcome, footprint = boundary_files.file_boundary(
                project, boundary, number=data["JZWJXH"], source_name=name,
                local_key=data.get("DFSJZJ"), description=(data.get("JZWJSM") or "").strip(),
                document=attachment)
        except IntegrityError:
            # A concurrent filing took the same DFSJZJ first (another project's row lock).
            return _error("conflict", "同一界址文件正被并发写入，请重试 (concurrent filing of "
                          "the same DFSJZJ: retry)", 409, stored=False)
        except boundary_files.BoundaryConflict as exc:
            record("approvals.boundary_file", request=request._request, obj=audit_obj,
                   result="failure", detail={"file": name, "error": exc.code,
                                             "sha256": digest.hexdigest()})
            return _error(exc.code, str(exc), 409, stored=False,
                          existing=boundary_files.footprint_dict(exc.footprint))
        check_id = boundary_files.latest_check_id(footprint)
        body = {"outcome": outcome, "project_code": project.project_code,
                "footprint": boundary_files.footprint_dict(footprint),
                "conformity_check_id": check_id, "sha256": digest.hexdigest(),
                "attachment": None if footprint.document_id is None else {
                    "document_id": footprint.document_id,
                    "download": f"/api/projects/{project.project_code}/documents/"
                                f"{footprint.document_id}/download"},
                **({"attachment_note": attachment_note} if attachment_note else {}),
                "problems": [p.as_dict() for p in boundary.problems]}
        record("approvals.boundary_file", request=request._request, obj=audit_obj,
               result="success", detail={
                   "file": name, "outcome": outcome, "format": boundary.source_format,
                   "epsg": boundary.epsg, "parts": boundary.parts,
                   "sha256": digest.hexdigest(), "area_m2": round(footprint.area_m2, 2),
                   "conformity_check_id": check_id})
        return Response(body, status=status.HTTP_201_CREATED if outcome == "created"
                        else status.HTTP_200_OK)
