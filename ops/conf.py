"""The ops settings with their defaults (config/settings.py sets them from the environment;
read here at use time so tests can override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "TILE_CACHE_DIR": None,  # VAR_DIR / "tiles"
    "METRICS_ALLOWED_IPS": ["127.0.0.1", "::1"],
    "OPS_BACKGROUND_ENABLED": False,
    "ALERT_SCHEDULER_ENABLED": True,
    "ALERT_INTERVAL_SECONDS": 60,
    "ALERT_EMAILS": [],
    "ALERT_EMAIL_FROM": None,  # DEFAULT_FROM_EMAIL
    "ALERT_WEBHOOK_URL": "",
    "ALERT_WEBHOOK_SECRET": "",
    "ALERT_WEBHOOK_TIMEOUT_SECONDS": 5.0,
    "ALERT_WEBHOOK_RETRIES": 1,
    "ALERT_WEBHOOK_RETRY_DELAY_SECONDS": 2.0,
    "ALERT_DB_TIMEOUT_SECONDS": 3,
    "ALERT_ERROR_WINDOW_MINUTES": 5,
    "ALERT_ERROR_RATE": 0.10,
    "ALERT_ERROR_MIN_REQUESTS": 20,
    "ALERT_BRUTE_FORCE_WINDOW_MINUTES": 10,
    "ALERT_BRUTE_FORCE_FAILURES": 10,
    "ALERT_AUDIT_CHAIN_INTERVAL_SECONDS": 600,
    "OPS_TALLY_FLUSH_SECONDS": 10,
    "OPS_ERROR_RETENTION_DAYS": 30,
    "OPS_ERROR_EVENTS_PER_MINUTE": 120,
    "OPS_STATE_DIR": None,  # VAR_DIR / "ops"
}


def get(name: str) -> Any:
    value = getattr(settings, name, DEFAULTS[name])
    if value is None and name == "TILE_CACHE_DIR":
        return Path(settings.VAR_DIR) / "tiles"
    if value is None and name == "OPS_STATE_DIR":
        return Path(settings.VAR_DIR) / "ops"
    if value is None and name == "ALERT_EMAIL_FROM":
        return settings.DEFAULT_FROM_EMAIL
    return value
