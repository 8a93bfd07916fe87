"""JSON endpoints of the blueprint page: identify, search, measure, boundary check.

Thin: parse, call blueprint.services, render. Errors use the API's one shape
{"error": code, "detail": text, ...} (config/api_errors.py).
"""

from __future__ import annotations

import codecs
import math
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import Requires, public
from audit.services import record
from blueprint import services
from layers.models import Layer
from layers.services import ImportRejected

UPLOAD_SUFFIXES = {".zip", ".geojson", ".json", ".dxf", ".txt", ".gpkg"}
TEMP_PREFIX = "blueprint-check-"


def _error(code: str, detail: str, http: int = 400, **extra: Any) -> Response:
    return Response({"error": code, "detail": detail, **extra}, status=http)


def _bad(exc: services.BadInput) -> Response:
    extra = {"parameter": exc.parameter} if exc.parameter else {}
    return _error(exc.code, str(exc), **extra)


def _float(request: Request, name: str) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        raise services.BadInput("invalid_parameter", f"缺少参数 {name} (missing)", name)
    try:
        value = float(raw)
    except ValueError:
        raise services.BadInput("invalid_parameter", f"{name} 应为数值 (number expected)",
                                name) from None
    if not math.isfinite(value):
        raise services.BadInput("invalid_parameter", f"{name} 应为有限数 (finite number)", name)
    return value


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang") or getattr(request, "LANGUAGE_CODE", "zh") or "zh"
    return "en" if lang.lower().startswith("en") else "zh"


@public
class Identify(APIView):
    @extend_schema(summary="点查：某点处所有可见图层的要素 (identify features at a point)",
                   parameters=[OpenApiParameter("lon", float), OpenApiParameter("lat", float),
                               OpenApiParameter("layers", str, description="图层代码，逗号分隔"),
                               OpenApiParameter("zoom", float, description="0–22，默认 16"),
                               OpenApiParameter("lang", str, description="zh | en")],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        try:
            lon, lat = _float(request, "lon"), _float(request, "lat")
            zoom = 16.0
            if request.query_params.get("zoom") not in (None, ""):
                zoom = _float(request, "zoom")
                if not 0 <= zoom <= 24:
                    raise services.BadInput("invalid_parameter",
                                            "zoom 应在 0–24 之间 (out of range)", "zoom")
            raw_layers = request.query_params.get("layers")
            codes = None
            if raw_layers not in (None, ""):
                if len(raw_layers) > 2000:
                    raise services.BadInput("invalid_parameter", "layers 过长 (too long)",
                                            "layers")
                codes = [c.strip() for c in raw_layers.split(",") if c.strip()]
            lang = _lang(request)
            results, queried = services.identify(request, lon, lat, zoom=zoom,
                                                 layer_codes=codes, lang=lang)
        except services.BadInput as exc:
            return _bad(exc)
        for layer in queried:
            if layer.access_level == Layer.Access.CONFIDENTIAL:
                record("layers.confidential_read", request=request._request, obj=layer.code,
                       detail={"via": "blueprint.identify", "lon": lon, "lat": lat})
        return Response({"point": [lon, lat], "zoom": zoom, "lang": lang,
                         "tolerance_m": round(services.IDENTIFY_TOLERANCE_PX
                                              * services.pixel_metres(zoom), 3),
                         "layers": results})


@public
class Search(APIView):
    @extend_schema(summary="搜索：项目代码、地块编号、项目名称、坐标 (search)",
                   parameters=[OpenApiParameter("q", str)],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        try:
            result = services.search(request, request.query_params.get("q", ""))
        except services.BadInput as exc:
            return _bad(exc)
        except LookupError as exc:
            return _error("not_found", str(exc.args[0]), status.HTTP_404_NOT_FOUND)
        return Response(result)


@public
class Measure(APIView):
    parser_classes = [JSONParser]

    @extend_schema(summary="量算：长度、面积（县域投影坐标系）(measure in the county CRS)",
                   request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, dict) and "geometry" in data and data.get("type") != "Feature":
            data = data["geometry"]
        try:
            return Response(services.measure(data))
        except services.BadInput as exc:
            return _bad(exc)


class BoundaryCheck(APIView):
    """Upload a red-line file and see what it would be, before filing; nothing is stored."""

    parser_classes = [MultiPartParser, FormParser]
    permission_classes = [Requires.of("boundary.check")]
    required_function = "boundary.check"

    @extend_schema(summary="红线预检（不保存）(check a boundary file; nothing stored)",
                   request={"multipart/form-data": OpenApiTypes.OBJECT},
                   responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            return _error("invalid_parameter", "请上传文件 file (no file uploaded)",
                          parameter="file")
        name = (upload.name or "upload")[:255]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            return self._failed(request, name, "too_large",
                                f"文件超过上限 {settings.IMPORT_MAX_UPLOAD_BYTES} 字节 "
                                "(file too large)")
        if upload.size == 0:
            return self._failed(request, name, "empty", "文件为空 (the file is empty)")
        declared = None
        raw_crs = (request.data.get("crs") or "").strip().upper().removeprefix("EPSG:")
        if raw_crs:
            try:
                declared = int(raw_crs)
                services.crs.pyproj_crs(declared)
            except Exception:  # noqa: BLE001 - ValueError or pyproj's CRSError
                return self._failed(request, name, "unknown_crs",
                                    f"未知的坐标系 {raw_crs[:20]} (unknown EPSG code)",
                                    parameter="crs")
        encoding = (request.data.get("encoding") or "").strip() or None
        if encoding:
            try:
                codecs.lookup(encoding)
            except LookupError:
                return self._failed(request, name, "invalid_parameter",
                                    "未知编码 (unknown encoding)", parameter="encoding")
        dxf_layer = (request.data.get("dxf_layer") or "").strip()[:255] or None
        with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX) as tmp:
            # A known suffix only: GDAL looks at it, user text never reaches a path.
            suffix = Path(name).suffix.lower()
            path = Path(tmp) / ("upload" + (suffix if suffix in UPLOAD_SUFFIXES else ".bin"))
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            work = Path(tmp) / "work"
            work.mkdir()
            try:
                result = services.check_boundary(request, path, workdir=work,
                                                 source_name=name, declared_epsg=declared,
                                                 encoding=encoding, dxf_layer=dxf_layer)
            except ImportRejected as exc:
                report = exc.report.as_dict()
                return self._failed(request, name, exc.code, str(exc)[:2000],
                                    problems=report["problems"],
                                    source_format=report["source_format"])
        body = result.as_dict()
        body["source_name"] = name
        record("blueprint.boundary_check", request=request._request, obj=name,
               result="success", detail={
                   "file": name, "format": result.source_format, "epsg": result.epsg,
                   "ok": result.ok, "features": len(result.features),
                   "problems": len(result.problems),
                   "total_area_m2": round(result.total_area_m2, 2),
                   "touches": {k: len(v) for k, v in result.touches.items()}})
        return Response(body)

    def _failed(self, request: Request, name: str, code: str, detail: str,
                **extra: Any) -> Response:
        record("blueprint.boundary_check", request=request._request, obj=name,
               result="failure", detail={"file": name, "error": code,
                                         "detail": detail[:500]})
        problems = extra.pop("problems", None)
        if problems is None:
            problems = [{"message": detail, "severity": "error"}]
        return _error(code, detail, problems=problems, stored=False, **extra)

