"""Alert notifications: e-mail (Django's e-mail backend, to ALERT_EMAILS) and a webhook
(JSON POST to ALERT_WEBHOOK_URL, with a timeout and retries; signed with HMAC-SHA256 in
X-Neixiang-Signature when ALERT_WEBHOOK_SECRET is set). Neither needs the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests
from django.core.mail import send_mail
from django.utils import timezone

from ops import conf

log = logging.getLogger(__name__)

FIRING, RESOLVED = "firing", "resolved"
SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}


def payload(alert: Any, event: str) -> dict[str, Any]:
    return {"source": "neixiang-blueprint", "event": event,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(), "alert": alert.as_dict()}


def _when(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %z") if value else "-"


def _email(alert: Any, event: str) -> str:
    recipients = [a.strip() for a in conf.get("ALERT_EMAILS") if a.strip()]
    state = "已解除" if event == RESOLVED else SEVERITY_ZH.get(alert.severity, alert.severity)
    subject = f"[内乡一张蓝图 告警·{state}] {alert.rule}: {alert.message}"[:200]
    lines = [alert.message, "",
             f"规则 (rule): {alert.rule}", f"对象 (key): {alert.key or '-'}",
             f"级别 (severity): {alert.severity}",
             f"首次发生 (first seen): {_when(alert.first_seen)}",
             f"最近发生 (last seen): {_when(alert.last_seen)}",
             f"次数 (count): {alert.count}"]
    if event == RESOLVED and alert.resolved_at:
        lines.append(f"解除时间 (resolved): {_when(alert.resolved_at)}")
    details = {k: v for k, v in (alert.details or {}).items() if not k.startswith("_")}
    if details:
        lines += ["", "详情 (details):", json.dumps(details, ensure_ascii=False, indent=2,
                                                   default=str)]
    lines += ["", "运行监控页面 (operations page): /ops/"]
    send_mail(subject, "\n".join(lines), conf.get("ALERT_EMAIL_FROM"), recipients,
              fail_silently=False)
    return "ok"


def post_webhook(url: str, body: dict[str, Any]) -> str:
    data = json.dumps(body, ensure_ascii=False, default=str).encode()
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "neixiang-blueprint-ops/1",
               "X-Neixiang-Event": str(body.get("event", ""))}
    if secret := conf.get("ALERT_WEBHOOK_SECRET"):
        digest = hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
        headers["X-Neixiang-Signature"] = f"sha256={digest}"
    attempts = 1 + max(0, int(conf.get("ALERT_WEBHOOK_RETRIES")))
    timeout = float(conf.get("ALERT_WEBHOOK_TIMEOUT_SECONDS"))
    outcome = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(float(conf.get("ALERT_WEBHOOK_RETRY_DELAY_SECONDS")))
        try:
            response = requests.post(url, data=data, headers=headers, timeout=timeout,
                                     allow_redirects=False)
        except requests.RequestException as exc:
            outcome = f"error: {type(exc).__name__}"
            continue
        if 200 <= response.status_code < 300:
            return "ok"
        outcome = f"error: HTTP {response.status_code}"
    return outcome


def send(alert: Any, event: str = FIRING) -> dict[str, str]:
    """Notify on every configured channel; returns {channel: "ok" | "error: ..."}."""
    results: dict[str, str] = {}
    if conf.get("ALERT_EMAILS"):
        try:
            results["email"] = _email(alert, event)
        except Exception as exc:  # noqa: BLE001 - SMTP trouble must not stop the webhook
            results["email"] = f"error: {type(exc).__name__}: {exc}"[:300]
    if url := conf.get("ALERT_WEBHOOK_URL"):
        results["webhook"] = post_webhook(url, payload(alert, event))
    for channel, outcome in results.items():
        if outcome != "ok":
            log.warning("alert %s[%s] %s: %s notification failed: %s", alert.rule, alert.key,
                        event, channel, outcome)
    return results


def delivered(results: dict[str, str]) -> bool:
    return any(v == "ok" for v in results.values())
