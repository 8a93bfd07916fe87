"""Filing an uploaded document for a project (bytes into the store, a row for people)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from django.db import IntegrityError, transaction

from approvals_link.codes import Stage
from approvals_link.documents import content_types, storage
from approvals_link.models import Project, ProjectDocument

MAX_NAME = 255
# Reserved on Windows or meaningful to shells; replaced so the name is safe to save as-is.
UNSAFE_CHARS = frozenset('<>:"|?*')


class Upload(Protocol):
    name: str | None

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]: ...


class DocumentRejected(Exception):
    """An upload refused for what it is (status: 400 empty, 413 too large, 415 type)."""

    def __init__(self, status: int, code: str, detail: str):
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(detail)


def safe_name(raw: str | None) -> str:
    """The uploaded name reduced to a plain file name: no folders (either slash), no
    control or invisible format characters (e.g. right-to-left overrides that disguise
    an extension), no leading dots, at most 255 characters with the extension kept. Only
    ever shown and offered as the download name; the store never uses it."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join("_" if ch in UNSAFE_CHARS else ch for ch in name
                   if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").rstrip(". ")
    if not name:
        return "document"
    if len(name) > MAX_NAME:
        ext = content_types.extension_of(name)
        ext = ext if len(ext) <= 16 else ""
        name = name[:MAX_NAME - len(ext)] + ext
    return name


def _chunks(upload: Any) -> Iterable[bytes]:
    if hasattr(upload, "chunks"):
        return upload.chunks()
    return iter(lambda: upload.read(1 << 20), b"")


def store_document(project: Project, upload: Upload, *, kind: str, title: str = "",
                   stage: int | None = None,
                   uploaded_by: Any = None) -> tuple[ProjectDocument, bool]:
    """Store the upload's bytes and record them for the project. Idempotent: the same
    bytes of the same kind for the same project return the existing row and False.
    Raises DocumentRejected (empty 400, too large 413, refused type 415)."""
    if kind not in ProjectDocument.Kind.values:
        raise ValueError(f"unknown document kind {kind!r}")
    if stage is not None and stage not in Stage.values:
        raise ValueError(f"unknown approval stage {stage!r}")
    name = safe_name(getattr(upload, "name", ""))
    try:
        staged = storage.stage(_chunks(upload))
    except storage.DocumentTooLarge as exc:
        raise DocumentRejected(413, "too_large", str(exc)) from None
    with staged:  # discarded on every way out unless committed
        if staged.size == 0:
            raise DocumentRejected(400, "empty_file", "文件为空 (empty file)")
        try:
            detected = content_types.detect(staged.temp_path, name)
        except content_types.UnsupportedType as exc:
            raise DocumentRejected(415, exc.code, exc.detail) from None
        # Stored before the row exists: a row never points at missing bytes. Should the
        # row then fail, the file is only an unreferenced duplicate-free blob.
        staged.commit()
    existing = ProjectDocument.objects.filter(project=project, kind=kind,
                                              sha256=staged.sha256).first()
    if existing is not None:
        return existing, False
    title = (title or "").strip() or name.rsplit(".", 1)[0]
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin must not spoil the caller
            document = ProjectDocument.objects.create(
                project=project, kind=kind, title=title[:200], original_name=name,
                content_type=detected.content_type, size=staged.size, sha256=staged.sha256,
                stage=stage, uploaded_by=uploaded_by if getattr(
                    uploaded_by, "is_authenticated", False) else None)
    except IntegrityError:  # the same bytes arrived twice at once: the first one wins
        return ProjectDocument.objects.get(project=project, kind=kind,
                                           sha256=staged.sha256), False
    return document, True
