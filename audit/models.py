"""The audit trail: who did what to what, from where, with what result."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecord(models.Model):
    class Result(models.TextChoices):
        SUCCESS = "success", _("成功")
        DENIED = "denied", _("拒绝")
        FAILURE = "failure", _("失败")
        ERROR = "error", _("错误")

    occurred_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    event_type = models.CharField(_("事件类型"), max_length=64, db_index=True)
    subject = models.CharField(_("主体"), max_length=200)
    subject_role = models.CharField(_("主体角色"), max_length=32, blank=True)
    object = models.CharField(_("客体"), max_length=500, blank=True)
    source_ip = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    result = models.CharField(_("结果"), max_length=16, choices=Result.choices)
    detail = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
