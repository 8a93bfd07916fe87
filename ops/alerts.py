"""Evaluating the alert rules: findings become Alert records (one open alert per rule and
key: a repeated firing bumps count and last_seen; an alert resolves when its rule, having
run, no longer fires), new alerts are notified, resolved ones that were notified get a
"resolved" notification, and an alert whose notification failed is retried next time.

When the database is unreachable nothing can be stored: the findings (the database rule's)
are notified directly and kept in ops.pending until the database is back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from ops import conf, notify, pending, tally
from ops.models import Alert, ErrorEvent, EvaluatorState, RequestTally
from ops.rules import Finding, Rule, RuleSkipped, default_rules

log = logging.getLogger(__name__)

DB_DOWN = (OperationalError, InterfaceError)
TALLY_KEEP = dt.timedelta(days=2)


@dataclass
class Report:
    now: dt.datetime
    opened: list[Alert] = field(default_factory=list)
    updated: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    recovered: list[Alert] = field(default_factory=list)  # stored after an outage
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    offline: bool = False

    def summary(self) -> dict[str, Any]:
        def names(alerts: list[Alert]) -> list[str]:
            return [f"{a.rule}[{a.key}]" for a in alerts]

        return {"at": self.now.isoformat(), "offline": self.offline,
                "opened": names(self.opened), "updated": names(self.updated),
                "resolved": names(self.resolved), "recovered": names(self.recovered),
                "skipped": self.skipped, "errors": self.errors}


def _rule_runs() -> dict[str, str]:
    try:
        state = EvaluatorState.objects.filter(pk=1).first()
    except DB_DOWN:
        return {}
    return dict(state.rule_runs) if state else {}


def _run_rules(rules: list[Rule], now: dt.datetime,
               report: Report) -> list[tuple[Rule, list[Finding]]]:
    runs = _rule_runs()
    results = []
    for rule in rules:
        interval = rule.min_interval_seconds()
        last = runs.get(rule.name)
        if interval and last and now - dt.datetime.fromisoformat(last) < dt.timedelta(
                seconds=interval):
            report.skipped[rule.name] = "not due"
            continue
        try:
            findings = rule.evaluate(now)
        except RuleSkipped as exc:
            report.skipped[rule.name] = str(exc)
            continue
        except DB_DOWN as exc:
            report.errors[rule.name] = f"database unavailable: {type(exc).__name__}"
            continue
        except Exception as exc:
            log.exception("alert rule %s failed", rule.name)
            report.errors[rule.name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        results.append((rule, findings))
    return results


def _restore_pending(report: Report) -> None:
    """Store alerts raised while the database was away (merged into an open alert of the
    same rule and key if there is one)."""
    entries = pending.load()
    if not entries:
        return
    for entry in entries.values():
        first = dt.datetime.fromisoformat(entry["first_seen"])
        last = dt.datetime.fromisoformat(entry["last_seen"])
        notified = entry.get("notified_at")
        notified = dt.datetime.fromisoformat(notified) if notified else None
        alert = Alert.objects.select_for_update().filter(
            rule=entry["rule"], key=entry["key"], resolved_at__isnull=True).first()
        if alert is None:
            alert = Alert.objects.create(
                rule=entry["rule"], key=entry["key"], severity=entry["severity"],
                message=entry["message"], first_seen=first, last_seen=last,
                count=entry["count"], notified_at=notified,
                details={**entry.get("details", {}), "_stored_after_outage": True})
        else:
            alert.first_seen = min(alert.first_seen, first)
            alert.last_seen = max(alert.last_seen, last)
            alert.count += entry["count"]
            alert.notified_at = alert.notified_at or notified
            alert.save()
        report.recovered.append(alert)
    transaction.on_commit(lambda: pending.remove(entries))


def _store(results: list[tuple[Rule, list[Finding]]], now: dt.datetime,
           report: Report) -> None:
    with transaction.atomic():
        _restore_pending(report)
        state, _ = EvaluatorState.objects.select_for_update().get_or_create(pk=1)
        for rule, findings in results:
            open_alerts = {a.key: a for a in Alert.objects.select_for_update().filter(
                rule=rule.name, resolved_at__isnull=True)}
            fired: set[str] = set()
            for f in findings:
                if f.key in fired:
                    continue
                fired.add(f.key)
                alert = open_alerts.get(f.key)
                if alert is None:
                    alert = Alert.objects.create(
                        rule=f.rule, key=f.key, severity=f.severity, message=f.message,
                        first_seen=now, last_seen=now, count=1, details=f.details)
                    report.opened.append(alert)
                else:
                    alert.count += 1
                    alert.last_seen = max(alert.last_seen, now)
                    alert.severity, alert.message = f.severity, f.message
                    kept = {k: v for k, v in alert.details.items() if k.startswith("_")}
                    alert.details = {**f.details, **kept}
                    alert.save()
                    report.updated.append(alert)
            for key, alert in open_alerts.items():
                if key not in fired:
                    alert.resolved_at = now
                    alert.save(update_fields=["resolved_at"])
                    report.resolved.append(alert)
            state.rule_runs[rule.name] = now.isoformat()
        state.save(update_fields=["rule_runs"])
        retention = dt.timedelta(days=int(conf.get("OPS_ERROR_RETENTION_DAYS")))
        ErrorEvent.objects.filter(time__lt=now - retention).delete()
        RequestTally.objects.filter(minute__lt=now - TALLY_KEEP).delete()


def _notify_stored(report: Report) -> None:
    due = report.opened + [a for a in report.updated + report.recovered
                           if a.notified_at is None and a.resolved_at is None]
    for alert in due:
        results = notify.send(alert, notify.FIRING)
        if not results:
            continue
        report.notifications.append({"alert": alert.pk, "event": notify.FIRING, **results})
        alert.details = {**alert.details, "_notifications": results}
        if notify.delivered(results):
            alert.notified_at = timezone.now()
        alert.save(update_fields=["details", "notified_at"])
    for alert in report.resolved:
        if alert.notified_at is not None:
            results = notify.send(alert, notify.RESOLVED)
            report.notifications.append({"alert": alert.pk, "event": notify.RESOLVED,
                                         **results})


def _unsaved(entry: dict[str, Any]) -> Alert:
    return Alert(rule=entry["rule"], key=entry["key"], severity=entry["severity"],
                 message=entry["message"], count=entry["count"], details=entry["details"],
                 first_seen=dt.datetime.fromisoformat(entry["first_seen"]),
                 last_seen=dt.datetime.fromisoformat(entry["last_seen"]))


def _notify_offline(entry: dict[str, Any], now: dt.datetime, report: Report) -> None:
    outcome = notify.send(_unsaved(entry), notify.FIRING)
    report.notifications.append({"alert": None, "event": notify.FIRING, **outcome})
    if notify.delivered(outcome):
        entry["notified_at"] = timezone.now().isoformat()


def _store_offline(results: list[tuple[Rule, list[Finding]]], now: dt.datetime,
                   report: Report, send: bool) -> None:
    report.offline = True
    with pending.editing() as data:
        for _rule, findings in results:
            for f in findings:
                k = pending.key(f.rule, f.key)
                entry = data["alerts"].get(k)
                if entry is not None:
                    entry.update(count=entry["count"] + 1, last_seen=now.isoformat(),
                                 message=f.message, details=f.details)
                    if entry["notified_at"] is None and send:  # the first try failed
                        _notify_offline(entry, now, report)
                    continue
                entry = {"rule": f.rule, "key": f.key, "severity": f.severity,
                         "message": f.message, "first_seen": now.isoformat(),
                         "last_seen": now.isoformat(), "count": 1, "details": f.details,
                         "notified_at": None}
                data["alerts"][k] = entry
                report.opened.append(_unsaved(entry))
                if send:
                    _notify_offline(entry, now, report)
        data["meta"]["last_offline_run"] = now.isoformat()


def evaluate(now: dt.datetime | None = None, rules: list[Rule] | None = None, *,
             send: bool = True) -> Report:
    """Run the rules once and record what they found. `now` and `rules` are for tests and
    for re-running one rule; `send=False` stores without notifying."""
    now = now or timezone.now()
    report = Report(now=now)
    tally.flush()  # this process's request counts, so the error-rate rule sees them
    results = _run_rules(default_rules() if rules is None else rules, now, report)
    try:
        _store(results, now, report)
    except DB_DOWN as exc:
        log.warning("alerts not stored, database unavailable (%s): notifying directly",
                    type(exc).__name__)
        report.opened, report.updated, report.resolved, report.recovered = [], [], [], []
        _store_offline(results, now, report, send)
        return report
    if send:
        _notify_stored(report)
    return report
