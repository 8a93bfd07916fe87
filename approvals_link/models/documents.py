"""Electronic documents of a project: approval documents, boundary files, application papers.

The bytes live under settings.DOCUMENTS_ROOT named by their SHA-256 (never by the uploaded
name, so no name can reach outside the store); this row keeps what the user sees.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ProjectDocument(models.Model):
    class Kind(models.TextChoices):
        APPROVAL = "approval", _("批准文件")
        BOUNDARY = "boundary", _("红线界址文件")
        APPLICATION = "application", _("申请材料")
        REPORT = "report", _("审查报告")
        OTHER = "other", _("其他")

    project = models.ForeignKey("approvals_link.Project", on_delete=models.CASCADE,
                                related_name="documents")
    kind = models.CharField(_("文件类别"), max_length=16, choices=Kind.choices)
    title = models.CharField(_("文件标题"), max_length=200, blank=True)
    original_name = models.CharField(_("原文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=100)
    size = models.PositiveBigIntegerField(_("大小(字节)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    stage = models.PositiveSmallIntegerField(_("审批阶段"), null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        ordering = ["project", "-uploaded_at", "id"]
        verbose_name = _("项目文件")
        verbose_name_plural = _("项目文件")
        constraints = [models.UniqueConstraint(fields=["project", "kind", "sha256"],
                                               name="document_once_per_project_kind")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.original_name}"
