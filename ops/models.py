"""What monitoring keeps: alerts, recent errors, request tallies, the evaluator's state."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """One firing of a rule for one key (an address, a user name, "default"...). While it is
    open (resolved_at empty) a repeated firing only bumps count and last_seen."""

    class Severity(models.TextChoices):
        CRITICAL = "critical", _("严重")
        WARNING = "warning", _("警告")
        INFO = "info", _("提示")

    rule = models.CharField(_("规则"), max_length=64, db_index=True)
    key = models.CharField(_("对象"), max_length=200, blank=True, default="")
    severity = models.CharField(_("级别"), max_length=16, choices=Severity.choices)
    message = models.TextField(_("说明"))
    first_seen = models.DateTimeField(_("首次发生"), db_index=True)
    last_seen = models.DateTimeField(_("最近发生"))
    count = models.PositiveIntegerField(_("次数"), default=1)
    resolved_at = models.DateTimeField(_("解除时间"), null=True, blank=True, db_index=True)
    resolved_by = models.CharField(_("解除人"), max_length=200, blank=True,
                                   help_text=_("空：规则不再触发时自动解除"))
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledged_by = models.CharField(_("确认人"), max_length=200, blank=True)
    notified_at = models.DateTimeField(_("通知时间"), null=True, blank=True)
    details = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        verbose_name = _("告警")
        verbose_name_plural = _("告警")
        constraints = [models.UniqueConstraint(fields=["rule", "key"],
                                               condition=Q(resolved_at__isnull=True),
                                               name="ops_alert_one_open_per_rule_key")]

    def __str__(self) -> str:
        return f"{self.rule}[{self.key}] {self.severity}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def as_dict(self) -> dict:
        def iso(value: Any) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.pk, "rule": self.rule, "key": self.key, "severity": self.severity,
                "message": self.message, "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen), "count": self.count,
                "resolved_at": iso(self.resolved_at), "details": self.details}


class ErrorEvent(models.Model):
    """A server error: an ERROR log record (with its traceback) or a 5xx response."""

    time = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    logger = models.CharField(_("日志来源"), max_length=100, blank=True)
    level = models.CharField(_("级别"), max_length=16, default="ERROR")
    message = models.TextField(_("消息"))
    method = models.CharField(_("方法"), max_length=10, blank=True)
    path = models.CharField(_("路径"), max_length=300, blank=True)
    status_code = models.PositiveSmallIntegerField(_("状态码"), null=True, blank=True)
    traceback = models.TextField(_("调用栈（摘录）"), blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        verbose_name = _("错误事件")
        verbose_name_plural = _("错误事件")


class RequestTally(models.Model):
    """Requests and server errors per minute, summed over every worker and host (each
    process adds its own counts every few seconds). The error-rate rule reads these."""

    minute = models.DateTimeField(unique=True)
    requests = models.BigIntegerField(default=0)
    server_errors = models.BigIntegerField(default=0)


class EvaluatorState(models.Model):
    """One row: when alert rules were last evaluated (so that only one worker evaluates per
    interval) and when each slow rule last ran."""

    last_started = models.DateTimeField(null=True)
    last_finished = models.DateTimeField(null=True)
    last_summary = models.JSONField(default=dict)
    rule_runs = models.JSONField(default=dict)

    @classmethod
    def get(cls) -> EvaluatorState:
        state, _ = cls.objects.get_or_create(pk=1)
        return state
