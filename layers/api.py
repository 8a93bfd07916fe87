"""REST API for layers, versions, features and imports (thin: parse, call, render)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import require
from audit.services import record
from layers import crs, selectors, services
from layers.geojson import FEATURE_VALUES, feature_json
from layers.models import Layer, LayerVersion

MAX_PAGE = 1000
UPLOAD_SUFFIXES = {".gpkg", ".zip", ".geojson", ".json", ".dxf", ".txt"}


class BadParameter(APIException):
    status_code = 400
    default_code = "invalid_parameter"

    def __init__(self, parameter: str, detail: str):
        super().__init__({"error": "invalid_parameter", "parameter": parameter,
                          "detail": detail})


def _layer_or_404(request: Request, code: str) -> Layer:
    layer = selectors.get_visible_layer(request, code)
    if layer is None:
        raise NotFound({"error": "unknown_layer", "detail": f"图层 {code} 不存在 (no such layer)"})
    if layer.access_level == Layer.Access.CONFIDENTIAL:
        record("layers.confidential_read", request=request._request, obj=layer.code)
    return layer


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise BadParameter("bbox", "bbox 应为 4 个数：minlon,minlat,maxlon,maxlat") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise BadParameter("bbox", "bbox 应为 4 个有限数：minlon,minlat,maxlon,maxlat")
    x0, y0, x1, y1 = values
    if x0 >= x1 or y0 >= y1:
        raise BadParameter("bbox", "bbox 最小值须小于最大值 (min must be below max)")
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise BadParameter("bbox", "bbox 应为 CGCS2000 经纬度 (lon/lat degrees)")
    return values  # type: ignore[return-value]


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{name} 应为整数 (integer)") from None
    if not lo <= value <= hi:
        raise BadParameter(name, f"{name} 应在 {lo}–{hi} 之间 (out of range)")
    return value


def version_dict(v: LayerVersion) -> dict[str, Any]:
    return {
        "number": v.number, "state": v.state, "effective_date": v.effective_date,
        "feature_count": v.feature_count, "source_name": v.source_name,
        "source_sha256": v.source_sha256, "source_format": v.source_format,
        "source_srid": v.source_srid, "imported_by": v.imported_by,
        "imported_at": v.imported_at, "published_at": v.published_at,
        "retired_at": v.retired_at, "note": v.note,
        "extent": list(v.extent.extent) if v.extent else None,
    }


def layer_dict(layer: Layer, request: Request) -> dict[str, Any]:
    published = selectors.published_version(layer)
    base = request.build_absolute_uri(f"/api/layers/{layer.code}")
    return {
        "code": layer.code, "name_zh": layer.name_zh, "name_en": layer.name_en,
        "category": layer.category, "geometry_type": layer.geometry_type,
        "access_level": layer.access_level, "style": layer.style,
        "description": layer.description,
        "published_version": version_dict(published) if published else None,
        "links": {"self": base, "versions": f"{base}/versions", "features": f"{base}/features"},
    }


class LayerList(APIView):
    @extend_schema(operation_id="api_layers_list", summary="列出图层 (list layers)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        layers = selectors.visible_layers(request)
        return Response({"layers": [layer_dict(layer, request) for layer in layers]})


class LayerDetail(APIView):
    @extend_schema(summary="图层详情 (layer detail)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, code: str) -> Response:
        return Response(layer_dict(_layer_or_404(request, code), request))


class ImportForm(serializers.Serializer):
    file = serializers.FileField()
    crs = serializers.IntegerField(required=False, help_text="声明的源坐标系 EPSG 代码")
    encoding = serializers.CharField(required=False, help_text="属性编码，如 gbk、utf-8")
    dxf_layers = serializers.CharField(required=False, help_text="DXF 图层，逗号分隔")
    source_layer = serializers.CharField(required=False, help_text="GeoPackage 中的图层名")
    effective_date = serializers.DateField(required=False)
    publish = serializers.BooleanField(required=False, default=False)
    allow_rejects = serializers.BooleanField(required=False, default=False)
    field_map = serializers.JSONField(required=False, help_text='{"parcel_no": "地块号"}')
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_encoding(self, value: str) -> str:
        import codecs
        try:
            codecs.lookup(value)
        except LookupError:
            raise serializers.ValidationError("未知编码 (unknown encoding)") from None
        return value

    def validate_file(self, value: Any) -> Any:
        if value.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(
                f"文件超过上限 {settings.IMPORT_MAX_UPLOAD_BYTES} 字节 (file too large)")
        if value.size == 0:
            raise serializers.ValidationError("文件为空 (empty file)")
        return value

    def validate_field_map(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            raise serializers.ValidationError("应为 {字段: 源列} 对象 (object of strings)")
        return value


class LayerVersions(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="图层版本 (versions of a layer)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, code: str) -> Response:
        layer = _layer_or_404(request, code)
        return Response({"layer": layer.code,
                         "versions": [version_dict(v) for v in layer.versions.all()]})

    @extend_schema(summary="导入新版本 (import a new version from a file)", request=ImportForm,
                   responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT})
    def post(self, request: Request, code: str) -> Response:
        layer = _layer_or_404(request, code)
        require(request, "layers.import", layer.code)
        form = ImportForm(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        if data.get("crs") and not _epsg_known(data["crs"]):
            raise BadParameter("crs", f"未知的坐标系 EPSG:{data['crs']}")
        upload = data["file"]
        with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
            # Keep a known suffix only: GDAL drivers look at it, user text never reaches a path.
            suffix = Path(upload.name or "").suffix.lower()
            path = Path(tmp) / ("upload" + (suffix if suffix in UPLOAD_SUFFIXES else ".bin"))
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            try:
                version, report = services.import_file(
                    layer, path, source_name=upload.name, declared_epsg=data.get("crs"),
                    encoding=data.get("encoding"),
                    dxf_layers=[s.strip() for s in data["dxf_layers"].split(",")]
                    if data.get("dxf_layers") else None,
                    source_layer=data.get("source_layer"),
                    effective_date=data.get("effective_date"),
                    imported_by=request.user.get_username(), field_map=data.get("field_map"),
                    allow_rejects=data["allow_rejects"], publish=data["publish"],
                    note=data["note"])
            except services.ImportRejected as exc:
                record("layers.import", request=request._request, obj=layer.code,
                       result="failure", detail={"source": upload.name, "error": exc.code,
                                                 "rejected": exc.report.rejected})
                return Response({"error": exc.code, "detail": str(exc)[:2000],
                                 "report": exc.report.as_dict()},
                                status=status.HTTP_400_BAD_REQUEST)
        record("layers.import", request=request._request, obj=f"{layer.code} v{version.number}",
               after={"source": upload.name, "sha256": version.source_sha256,
                      "written": report.written, "published": data["publish"]})
        return Response({"version": version_dict(version), "report": report.as_dict()},
                        status=status.HTTP_201_CREATED)


def _epsg_known(epsg: int) -> bool:
    try:
        crs.pyproj_crs(epsg)
    except Exception:  # noqa: BLE001
        return False
    return True


class PublishVersion(APIView):
    @extend_schema(summary="发布版本 (publish a version)", request=None,
                   responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, code: str, number: int) -> Response:
        layer = _layer_or_404(request, code)
        require(request, "layers.publish", layer.code)
        version = layer.versions.filter(number=number).first()
        if version is None:
            raise NotFound({"error": "unknown_version", "detail": f"版本 {number} 不存在"})
        before = version.state
        services.publish_version(version)
        record("layers.publish", request=request._request, obj=f"{layer.code} v{number}",
               before={"state": before}, after={"state": version.state})
        return Response(version_dict(version))


def _version_for(request: Request, layer: Layer) -> LayerVersion:
    raw = request.query_params.get("version")
    if raw is None:
        version = selectors.published_version(layer)
        if version is None:
            raise NotFound({"error": "no_published_version",
                            "detail": f"图层 {layer.code} 尚无已发布版本 (nothing published)"})
        return version
    number = _int_param(request, "version", 0, 1, 10**6)
    version = layer.versions.filter(number=number).first()
    if version is None:
        raise NotFound({"error": "unknown_version", "detail": f"版本 {number} 不存在"})
    return version


class LayerFeatures(APIView):
    @extend_schema(
        operation_id="api_layers_features_list",
        summary="按范围读取要素 (features by bbox, GeoJSON, paged)",
        parameters=[
            OpenApiParameter("bbox", str, description="minlon,minlat,maxlon,maxlat (EPSG:4490)"),
            OpenApiParameter("limit", int, description=f"1–{MAX_PAGE}, 默认 100"),
            OpenApiParameter("offset", int, description="≥ 0"),
            OpenApiParameter("version", int, description="版本号，默认现行发布版本"),
        ],
        responses={200: inline_serializer("FeatureCollection", {
            "type": serializers.CharField(), "features": serializers.ListField(),
            "numberMatched": serializers.IntegerField(),
            "numberReturned": serializers.IntegerField()})})
    def get(self, request: Request, code: str) -> Response:
        layer = _layer_or_404(request, code)
        bbox = parse_bbox(request.query_params.get("bbox"))
        limit = _int_param(request, "limit", 100, 1, MAX_PAGE)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        version = _version_for(request, layer)
        qs = selectors.features_in_bbox(version, bbox)
        matched = qs.count()
        rows = list(qs.annotate(geojson=AsGeoJSON("geom", precision=8))
                    .values(*FEATURE_VALUES, "geojson")[offset:offset + limit])
        links = []
        base = request.build_absolute_uri(request.path)
        params = request.query_params.copy()
        if offset + limit < matched:
            params["offset"] = str(offset + limit)
            params["limit"] = str(limit)
            links.append({"rel": "next", "href": f"{base}?{params.urlencode()}"})
        if offset > 0:
            params["offset"] = str(max(0, offset - limit))
            links.append({"rel": "prev", "href": f"{base}?{params.urlencode()}"})
        return Response({
            "type": "FeatureCollection", "layer": layer.code, "version": version.number,
            "numberMatched": matched, "numberReturned": len(rows), "links": links,
            "features": [feature_json(r) for r in rows],
        })


class LayerFeature(APIView):
    @extend_schema(summary="单个要素 (one feature, GeoJSON)", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, code: str, feature_id: int) -> Response:
        layer = _layer_or_404(request, code)
        row = (selectors.features_of_layer(layer).filter(pk=feature_id)
               .annotate(geojson=AsGeoJSON("geom", precision=8))
               .values(*FEATURE_VALUES, "geojson")
               .first())
        if row is None:
            raise NotFound({"error": "unknown_feature", "detail": f"要素 {feature_id} 不存在"})
        return Response(feature_json(row))

