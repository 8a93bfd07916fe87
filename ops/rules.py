"""Alert rules. Each is a small class whose `evaluate(now)` returns the findings that fire
now (an empty list: all clear). One finding per key (a source address, a user name, a
database alias...); ops.alerts turns findings into Alert records, updates the open alert of
the same rule and key instead of duplicating it, and resolves it when it stops firing.

A rule that cannot run this time raises RuleSkipped: its open alerts stay as they are.
Thresholds are settings (README, "Monitoring"); other apps may add rules with
`register_rule`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ops import conf

log = logging.getLogger(__name__)

CRITICAL, WARNING, INFO = "critical", "warning", "info"


@dataclass
class Finding:
    rule: str
    key: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class RuleSkipped(Exception):
    """The rule could not be evaluated this time (nothing to check with)."""


class Rule:
    name = ""
    title = ""  # shown on the operations page
    severity = WARNING

    def evaluate(self, now: dt.datetime) -> list[Finding]:
        """Every rule defines this; the base class finds nothing."""
        return []

    def min_interval_seconds(self) -> int:
        """Rules that are expensive run at most this often (0: every evaluation)."""
        return 0

    def describe(self) -> str:
        """The rule's threshold in words, for the operations page."""
        return ""

    def finding(self, key: str, message: str, /, **details: Any) -> Finding:
        return Finding(self.name, key, self.severity, message, details)


class DatabaseUnreachable(Rule):
    """A fresh connection to the database, with a short timeout, outside Django's pool."""

    name = "database_unreachable"
    title = "数据库不可达"
    severity = CRITICAL

    def __init__(self, dsn: str | None = None, alias: str = "default",
                 timeout: int | None = None):
        self.dsn = dsn
        self.alias = alias
        self.timeout = timeout

    def _timeout(self) -> int:
        return int(self.timeout or conf.get("ALERT_DB_TIMEOUT_SECONDS"))

    def conninfo(self) -> str:
        from django.db import connections
        from psycopg.conninfo import make_conninfo

        if self.dsn:
            return make_conninfo(self.dsn, connect_timeout=self._timeout())
        s = connections[self.alias].settings_dict
        params: dict[str, Any] = {"dbname": s.get("NAME"), "user": s.get("USER"),
                                  "password": s.get("PASSWORD"), "host": s.get("HOST"),
                                  "port": s.get("PORT")}
        for k, v in (s.get("OPTIONS") or {}).items():
            if k.startswith("ssl") or k in ("options", "application_name", "service"):
                params[k] = v
        return make_conninfo(**{k: v for k, v in params.items() if v},
                             connect_timeout=self._timeout())

    def describe(self) -> str:
        return f"连接超时 {self._timeout()} 秒"

    def evaluate(self, now: dt.datetime) -> list[Finding]:
        import psycopg

        try:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                conn.execute("select 1")
        except psycopg.Error as exc:
            return [self.finding(self.alias, f"数据库无法连接（{self._timeout()} 秒内未连通）"
                                 " (database unreachable)", error=type(exc).__name__,
                                 detail=str(exc).strip()[:500])]
        return []


class ErrorRateSpike(Rule):
    """Share of 5xx responses over the last N minutes (RequestTally, every worker)."""

    name = "error_rate_spike"
    title = "服务器错误率突增"
    severity = WARNING

    def describe(self) -> str:
        return (f"{conf.get('ALERT_ERROR_WINDOW_MINUTES')} 分钟内 5xx 占比 ≥ "
                f"{conf.get('ALERT_ERROR_RATE'):.0%}（至少 {conf.get('ALERT_ERROR_MIN_REQUESTS')}"
                " 个请求）")

    def evaluate(self, now: dt.datetime) -> list[Finding]:
        from django.db.models import Count, Sum

        from ops.models import ErrorEvent, RequestTally

        minutes = int(conf.get("ALERT_ERROR_WINDOW_MINUTES"))
        since = now - dt.timedelta(minutes=minutes)
        first_minute = since.replace(second=0, microsecond=0)
        totals = RequestTally.objects.filter(minute__gte=first_minute, minute__lte=now) \
            .aggregate(requests=Sum("requests"), errors=Sum("server_errors"))
        requests, errors = totals["requests"] or 0, totals["errors"] or 0
        threshold = float(conf.get("ALERT_ERROR_RATE"))
        if requests < int(conf.get("ALERT_ERROR_MIN_REQUESTS")) or errors / requests < threshold:
            return []
        rate = errors / requests
        top = list(ErrorEvent.objects.filter(time__gt=since, time__lte=now).exclude(path="")
                   .values("path").annotate(n=Count("id")).order_by("-n")[:5])
        return [self.finding("all", f"最近 {minutes} 分钟服务器错误率 {rate:.1%}（{errors}/"
                             f"{requests}），超过 {threshold:.0%} (5xx error rate spike)",
                             requests=requests, errors=errors, rate=round(rate, 4),
                             window_minutes=minutes, threshold=threshold,
                             top_paths=[{"path": t["path"], "count": t["n"]} for t in top])]


class SignInBruteForce(Rule):
    """Failed sign-ins (django-axes) in the last N minutes, per source address and per user
    name. Counts each failure from AccessFailureLog when AXES_ENABLE_ACCESS_FAILURE_LOG is
    on; otherwise sums AccessAttempt.failures_since_start of attempts active in the window
    (axes keeps counting failures during a lockout)."""

    name = "signin_brute_force"
    title = "登录暴力破解"
    severity = WARNING

    def describe(self) -> str:
        return (f"{conf.get('ALERT_BRUTE_FORCE_WINDOW_MINUTES')} 分钟内同一来源地址或同一账号"
                f"登录失败 ≥ {conf.get('ALERT_BRUTE_FORCE_FAILURES')} 次")

    def evaluate(self, now: dt.datetime) -> list[Finding]:
        from axes.models import AccessAttempt, AccessFailureLog
        from django.conf import settings
        from django.db.models import Count, Sum

        minutes = int(conf.get("ALERT_BRUTE_FORCE_WINDOW_MINUTES"))
        threshold = int(conf.get("ALERT_BRUTE_FORCE_FAILURES"))
        since = now - dt.timedelta(minutes=minutes)
        if getattr(settings, "AXES_ENABLE_ACCESS_FAILURE_LOG", False):
            rows, measure = AccessFailureLog.objects, Count("id")
        else:
            rows, measure = AccessAttempt.objects, Sum("failures_since_start")
        rows = rows.filter(attempt_time__gt=since, attempt_time__lte=now)
        findings = []
        for field_name, label, prefix in (("ip_address", "来源地址", "ip"),
                                          ("username", "账号", "user")):
            counted = (rows.exclude(**{f"{field_name}__isnull": True}).values(field_name)
                       .annotate(n=measure).filter(n__gte=threshold).order_by("-n"))
            for row in counted:
                value = row[field_name]
                findings.append(self.finding(
                    f"{prefix}:{value}"[:200],
                    f"登录失败过多：{label} {value} 在 {minutes} 分钟内失败 {row['n']} 次"
                    " (sign-in brute force)",
                    by=field_name, value=value, failures=row["n"], window_minutes=minutes,
                    threshold=threshold))
        return findings


class AuditChainBroken(Rule):
    """The tamper-evidence chain of the audit trail (audit.chain.verify(), when present)."""

    name = "audit_chain_broken"
    title = "审计记录链被破坏"
    severity = CRITICAL

    def min_interval_seconds(self) -> int:
        return int(conf.get("ALERT_AUDIT_CHAIN_INTERVAL_SECONDS"))

    def describe(self) -> str:
        return f"每 {self.min_interval_seconds()} 秒校验一次"

    def evaluate(self, now: dt.datetime) -> list[Finding]:
        try:
            chain = importlib.import_module("audit.chain")
        except ModuleNotFoundError as exc:
            if exc.name in ("audit.chain", "audit"):
                raise RuleSkipped("audit.chain 不可用 (audit chain not available)") from exc
            raise
        verify = getattr(chain, "verify", None)
        if verify is None:
            raise RuleSkipped("audit.chain.verify 不可用 (no verify())")
        result = verify()
        if getattr(result, "ok", False):
            return []
        message = str(getattr(result, "message", "") or "")
        problem = getattr(result, "problem", None)
        return [self.finding("audit", f"审计记录链校验失败：{message} (audit chain broken)",
                             message=message[:1000], kind=getattr(problem, "kind", None),
                             seq=getattr(problem, "seq", None),
                             checked=getattr(result, "checked", None))]


_extra_rules: list[Rule] = []
_lock = threading.Lock()


def register_rule(rule: Rule) -> None:
    """Add a rule to the default set (e.g. an outbox backlog rule); replaces one of the same
    name."""
    with _lock:
        _extra_rules[:] = [r for r in _extra_rules if r.name != rule.name] + [rule]


def default_rules() -> list[Rule]:
    with _lock:
        extra = list(_extra_rules)
    return [DatabaseUnreachable(), ErrorRateSpike(), SignInBruteForce(), AuditChainBroken(),
            *extra]
