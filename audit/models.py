"""The audit trail: who did what to what, from where, with what result.

Records are append-only and hash-chained *in the database* (migration 0003): a BEFORE INSERT
trigger assigns `seq`, `prev_hash`, `hash` and the time; UPDATE, DELETE and TRUNCATE are
refused by triggers. The application never changes or removes a record (see audit/chain.py).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

APPEND_ONLY = "审计记录只能追加，不能修改或删除 (audit records are append-only)"


class AppendOnlyError(Exception):
    pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(APPEND_ONLY)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(APPEND_ONLY)


class AuditRecord(models.Model):
    class Result(models.TextChoices):
        SUCCESS = "success", _("成功")
        DENIED = "denied", _("拒绝")
        FAILURE = "failure", _("失败")
        ERROR = "error", _("错误")

    # Assigned by the database trigger (the db_default makes Django read them back from
    # INSERT ... RETURNING): position in the chain, link to the previous record, own digest.
    seq = models.BigIntegerField(_("序号"), unique=True, db_default=0, editable=False)
    prev_hash = models.CharField(_("前一记录摘要"), max_length=64, db_default="",
                                 editable=False)
    hash = models.CharField(_("摘要"), max_length=64, db_default="", editable=False)
    # The database's clock (clock_timestamp() in the trigger), not the application's.
    occurred_at = models.DateTimeField(_("时间"), db_default=Now(), db_index=True,
                                       editable=False)
    event_type = models.CharField(_("事件类型"), max_length=64, db_index=True)
    subject = models.CharField(_("主体"), max_length=200)
    subject_role = models.CharField(_("主体角色"), max_length=32, blank=True)
    object = models.CharField(_("客体"), max_length=500, blank=True)
    source_ip = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    result = models.CharField(_("结果"), max_length=16, choices=Result.choices)
    detail = models.JSONField(_("详情"), default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.subject} {self.object}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(APPEND_ONLY)
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(APPEND_ONLY)
