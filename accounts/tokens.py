"""API tokens for external systems: issue (secret shown once), verify, rotate, revoke,
and a per-token request rate limit shared by all workers (counted in PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiToken, SecurityPolicy, User
from accounts.roles import Role, Scope

TOKEN_PREFIX = "nx"


class TokenError(Exception):
    def __init__(self, code: str, detail: str):
        self.code = code
        self.detail = detail
        super().__init__(detail)


@dataclass
class IssuedToken:
    token: ApiToken
    secret: str  # the only time it exists in clear


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(account: User, *, name: str, scopes: list[str], days: int | None = None,
          rate_limit_per_minute: int = 600, issued_by: User | None = None) -> IssuedToken:
    if account.role != Role.EXTERNAL_SYSTEM:
        raise TokenError("invalid_account", "令牌只能签发给外部系统账号 (tokens are for "
                         "external-system accounts)")
    unknown = set(scopes) - set(Scope.values)
    if not scopes or unknown:
        raise TokenError("invalid_scope", f"无效的权限范围 {sorted(unknown)} (invalid scopes)")
    policy = SecurityPolicy.current()
    days = days or policy.token_max_days
    if not 1 <= days <= policy.token_max_days:
        raise TokenError("invalid_expiry", f"有效期应为 1–{policy.token_max_days} 天")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        account=account, name=name, prefix=prefix, secret_sha256=_digest(secret),
        scopes=sorted(set(scopes)), rate_limit_per_minute=rate_limit_per_minute,
        created_by=issued_by, expires_at=timezone.now() + dt.timedelta(days=days))
    return IssuedToken(token, secret)


def rotate(token: ApiToken, *, issued_by: User | None = None,
           overlap_minutes: int = 0) -> IssuedToken:
    """A new secret with the same account, scopes and limits; the old one stops working
    now, or after an overlap so the connected system can switch without downtime."""
    with transaction.atomic():
        remaining = max(1, (token.expires_at - timezone.now()).days)
        new = issue(token.account, name=token.name, scopes=list(token.scopes), days=remaining,
                    rate_limit_per_minute=token.rate_limit_per_minute, issued_by=issued_by)
        token.replaced_by = new.token
        if overlap_minutes:
            token.expires_at = min(token.expires_at,
                                   timezone.now() + dt.timedelta(minutes=overlap_minutes))
        else:
            token.revoked_at = timezone.now()
        token.save(update_fields=["replaced_by", "expires_at", "revoked_at"])
    return new


def revoke(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def authenticate(secret: str) -> ApiToken:
    """The active token for a presented secret, or TokenError. Looked up by its public
    prefix, compared in constant time; revocation takes effect on the next request."""
    parts = secret.split("_", 2)  # the random part may itself contain "_"
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise TokenError("invalid_token", "令牌格式错误 (malformed token)")
    token = (ApiToken.objects.select_related("account", "account__department")
             .filter(prefix=parts[1]).first())
    if token is None or not hmac.compare_digest(token.secret_sha256, _digest(secret)):
        raise TokenError("invalid_token", "令牌无效 (invalid token)")
    if token.revoked_at is not None:
        raise TokenError("revoked_token", "令牌已吊销 (token revoked)")
    if token.expires_at <= timezone.now():
        raise TokenError("expired_token", "令牌已过期 (token expired)")
    if not token.account.is_active:
        raise TokenError("inactive_account", "账号已停用 (account disabled)")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def over_rate_limit(token: ApiToken) -> bool:
    """Fixed one-minute windows, counted atomically in the database (all workers)."""
    window = timezone.now().replace(second=0, microsecond=0)
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO accounts_tokenusage (token_id, window_start, requests) "
            "VALUES (%s, %s, 1) ON CONFLICT (token_id, window_start) "
            "DO UPDATE SET requests = accounts_tokenusage.requests + 1 RETURNING requests",
            [token.pk, window])
        count = cur.fetchone()[0]
    return count > token.rate_limit_per_minute
