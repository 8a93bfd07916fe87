"""REST views of project documents: list, upload, metadata, download.

Access: the function (documents.read / documents.upload) is checked first (403, audited),
then the project's visibility by the caller's data permissions (404 for unknown and
invisible projects alike, as everywhere). Someone not signed in is sent to the sign-in
page, like every page of the site (a download link is usually clicked in a browser);
clients that ask for JSON get 401 instead.
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseBase, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_views import FunctionAPIView
from approvals_link import selectors
from approvals_link.codes import Stage
from approvals_link.documents import services, storage
from approvals_link.models import Project, ProjectDocument
from audit.services import record
from layers.api import _int_param

logger = logging.getLogger(__name__)

# Room for the multipart envelope and the small form fields around the file itself.
MULTIPART_SLACK = 64 * 1024


class DocumentError(APIException):
    """A refusal with our error shape and its own status."""

    def __init__(self, status_code: int, code: str, detail: str, **extra: Any):
        self.status_code = status_code
        super().__init__({"error": code, "detail": detail, **extra})


class DocumentView(FunctionAPIView):
    """Base: the function each method requires, checked before anything is read."""

    functions: dict[str, str | None] = {"GET": "documents.read", "HEAD": "documents.read",
                                        "OPTIONS": "documents.read"}
    default_function = "documents.upload"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "POST":
            # Refuse an oversized body before anything (CSRF check included) parses it.
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.DOCUMENT_MAX_BYTES + MULTIPART_SLACK:
                raise _too_large()
        super().initial(request, *args, **kwargs)


def _too_large() -> DocumentError:
    limit = settings.DOCUMENT_MAX_BYTES
    return DocumentError(413, "too_large",
                         f"文件超过上限 {limit} 字节 (file larger than {limit} bytes)")


def _project_or_404(request: Request, project_code: str) -> Project:
    project = selectors.get_visible_project(request, project_code)
    if project is None:
        raise NotFound({"error": "unknown_project",
                        "detail": f"项目 {project_code[:40]} 不存在 (no such project)"})
    return project


def _document_or_404(project: Project, document_id: int) -> ProjectDocument:
    # Looked up within the project: another project's document id is simply unknown here.
    document = (ProjectDocument.objects.select_related("uploaded_by")
                .filter(project=project, pk=document_id).first())
    if document is None:
        raise NotFound({"error": "unknown_document",
                        "detail": f"文件 {document_id} 不存在 (no such document)"})
    return document


def _uploader_name(document: ProjectDocument) -> str | None:
    user = document.uploaded_by
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def document_dict(document: ProjectDocument, request: Request) -> dict[str, Any]:
    base = request.build_absolute_uri(
        f"/api/projects/{quote(document.project.project_code, safe='')}"
        f"/documents/{document.pk}")
    return {
        "id": document.pk, "kind": document.kind, "kind_name": document.get_kind_display(),
        "title": document.title, "original_name": document.original_name,
        "content_type": document.content_type, "size": document.size,
        "sha256": document.sha256, "stage": document.stage,
        "uploaded_at": document.uploaded_at, "uploaded_by": _uploader_name(document),
        "links": {"self": base, "download": f"{base}/download"},
    }


def content_disposition(name: str) -> str:
    """RFC 6266/5987: a plain-ASCII fallback for old clients and the exact (e.g. Chinese)
    name percent-encoded as UTF-8."""
    fallback = re.sub(r"[^A-Za-z0-9._ ()\-]", "_", name) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _etag_matches(header: str | None, sha256: str) -> bool:
    if not header:
        return False
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == sha256:
            return True
    return False


def _download_headers(response: HttpResponseBase, document: ProjectDocument) -> None:
    digest = base64.b64encode(bytes.fromhex(document.sha256)).decode()
    response["ETag"] = f'"{document.sha256}"'
    # Documents are behind access control: browsers may keep them, shared caches not,
    # and every reuse is revalidated (so a withdrawn permission takes effect).
    response["Cache-Control"] = "private, no-cache"
    response["Digest"] = f"sha-256={digest}"  # RFC 3230
    response["Repr-Digest"] = f"sha-256=:{digest}:"  # RFC 9530
    response["X-Content-Type-Options"] = "nosniff"
    # Should a browser render it after all (an inline PDF viewer), it runs sandboxed with
    # nothing allowed: uploaded bytes never act with the site's origin.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"


_DOC_RESPONSES = {404: OpenApiResponse(OpenApiTypes.OBJECT, description="项目或文件不存在"),
                  403: OpenApiResponse(OpenApiTypes.OBJECT, description="无权限")}


class DocumentList(DocumentView):
    parser_classes = [MultiPartParser, FormParser]
    functions: dict[str, str] = {**DocumentView.functions, "POST": "documents.upload"}

    @extend_schema(operation_id="api_projects_documents_list", summary="项目文件列表 (documents of a project)", parameters=[
        OpenApiParameter("kind", str, enum=ProjectDocument.Kind.values),
        OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: OpenApiTypes.OBJECT, **_DOC_RESPONSES})
    def get(self, request: Request, project_code: str) -> Response:
        project = _project_or_404(request, project_code)
        qs = project.documents.select_related("uploaded_by", "project").order_by(
            "-uploaded_at", "-id")
        kind = request.query_params.get("kind")
        if kind:
            if kind not in ProjectDocument.Kind.values:
                raise DocumentError(400, "invalid_kind", "未知的文件类别 (unknown kind)",
                                    parameter="kind")
            qs = qs.filter(kind=kind)
        limit = _int_param(request, "limit", 100, 1, 1000)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        return Response({"project_code": project.project_code, "count": qs.count(),
                         "documents": [document_dict(d, request)
                                       for d in qs[offset:offset + limit]]})

    @extend_schema(
        summary="上传项目文件 (upload a document)",
        request={"multipart/form-data": inline_serializer("DocumentUpload", {
            "file": serializers.FileField(),
            "kind": serializers.ChoiceField(choices=ProjectDocument.Kind.choices),
            "title": serializers.CharField(required=False, max_length=200),
            "stage": serializers.ChoiceField(choices=Stage.choices, required=False)})},
        responses={201: OpenApiResponse(OpenApiTypes.OBJECT, description="新文件"),
                   200: OpenApiResponse(OpenApiTypes.OBJECT,
                                        description="相同文件已存在 (already stored)"),
                   400: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT,
                   415: OpenApiTypes.OBJECT, **_DOC_RESPONSES})
    def post(self, request: Request, project_code: str) -> Response:
        project = _project_or_404(request, project_code)
        files = request.FILES.getlist("file")
        if not files:
            raise DocumentError(400, "missing_file", "缺少文件 file (no file uploaded)",
                                parameter="file")
        if len(files) > 1:
            raise DocumentError(400, "too_many_files", "每次只能上传一个文件 (one file per "
                                "request)", parameter="file")
        kind = (request.data.get("kind") or "").strip()
        if kind not in ProjectDocument.Kind.values:
            allowed = ", ".join(ProjectDocument.Kind.values)
            raise DocumentError(400, "invalid_kind", f"文件类别应为 {allowed} (kind must be "
                                f"one of {allowed})", parameter="kind")
        title = (request.data.get("title") or "").strip()
        if len(title) > 200 or "\x00" in title:
            raise DocumentError(400, "invalid_title", "标题最长 200 个字符 (title too long)",
                                parameter="title")
        stage = _stage(request.data.get("stage"))
        try:
            document, created = services.store_document(
                project, files[0], kind=kind, title=title, stage=stage,
                uploaded_by=request.user)
        except services.DocumentRejected as exc:
            record("documents.upload", request=request, obj=project.project_code,
                   result="failure", detail={"error": exc.code, "reason": exc.detail,
                                             "name": services.safe_name(files[0].name)})
            raise DocumentError(exc.status, exc.code, exc.detail) from None
        record("documents.upload", request=request,
               obj=f"{project.project_code}/{document.pk}",
               detail={"sha256": document.sha256, "size": document.size, "kind": kind,
                       "name": document.original_name, "created": created})
        body = document_dict(document, request) | {"created": created}
        response = Response(body, status=status.HTTP_201_CREATED if created
                            else status.HTTP_200_OK)
        if created:
            response["Location"] = body["links"]["self"]
        return response


def _stage(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value not in Stage.values:
        allowed = ", ".join(str(v) for v in Stage.values)
        raise DocumentError(400, "invalid_stage", f"审批阶段应为 {allowed} (stage must be "
                            f"one of {allowed})", parameter="stage")
    return value


class DocumentDetail(DocumentView):
    @extend_schema(summary="项目文件信息 (document metadata)",
                   responses={200: OpenApiTypes.OBJECT, **_DOC_RESPONSES})
    def get(self, request: Request, project_code: str, document_id: int) -> Response:
        project = _project_or_404(request, project_code)
        return Response(document_dict(_document_or_404(project, document_id), request))


class DocumentDownload(DocumentView):
    @extend_schema(
        summary="下载项目文件 (download a document)",
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   304: OpenApiResponse(description="未改变 (not modified)"),
                   **_DOC_RESPONSES})
    def get(self, request: Request, project_code: str,
            document_id: int) -> HttpResponseBase:
        project = _project_or_404(request, project_code)
        document = _document_or_404(project, document_id)
        if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), document.sha256):
            not_modified = HttpResponseNotModified()
            _download_headers(not_modified, document)
            return not_modified  # the client has these bytes already: no new download
        if request.method == "HEAD":
            head = HttpResponse(content_type=document.content_type)
            head["Content-Length"] = str(document.size)
            head["Content-Disposition"] = content_disposition(document.original_name)
            _download_headers(head, document)
            return head
        try:
            handle = storage.open_stored(document.sha256)
        except FileNotFoundError:
            logger.error("document %s of %s: stored bytes %s missing", document.pk,
                         project.project_code, document.sha256)
            raise DocumentError(500, "file_missing", "文件内容缺失，请联系管理员 "
                                "(stored file missing)") from None
        response = FileResponse(handle, content_type=document.content_type)
        response.block_size = 256 * 1024  # when the server has no sendfile file_wrapper
        response["Content-Disposition"] = content_disposition(document.original_name)
        _download_headers(response, document)
        record("documents.download", request=request,
               obj=f"{project.project_code}/{document.pk}",
               detail={"sha256": document.sha256, "size": document.size,
                       "kind": document.kind, "name": document.original_name})
        return response
