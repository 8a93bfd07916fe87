"""Enterprise sign-in through the provincial unified identity service (OpenID Connect).

Government staff accounts are created by the system administrator; enterprise users
(Role.APPLICANT) sign in through the provincial single sign-on instead. This module is the
relying party: an authentication backend and the three views of mozilla-django-oidc
(mounted under ``/oidc/`` by ``config/urls.py``), hardened where the library is lenient:

* The provider is found by discovery (``{OIDC_OP_ISSUER}/.well-known/openid-configuration``,
  fetched lazily with a timeout; the document must name the configured issuer). Endpoints
  and the JWKS are cached per issuer.
* The ID token must be signed with the configured asymmetric algorithm (RS256 by default)
  by a key of the provider's JWKS; ``none`` and every HMAC algorithm are refused, so a token
  "signed" with the client secret or the public key cannot pass. Issuer, audience (and
  ``azp``), expiry, issued-at, subject and nonce are all checked; state is checked by the
  callback view, and PKCE (S256) is on by default. The userinfo ``sub`` must equal the ID
  token's.
* Accounts are matched by ``sub`` only (``User.oidc_subject``). A new subject becomes an
  APPLICANT with a username derived from a hash of ``sub`` (no personal data in it) and an
  unusable password. An existing account whose role is not APPLICANT, or that is inactive,
  is refused: a staff account is never reachable through single sign-on.
* The organisation name and unified social credit code come from configurable claims; the
  credit code must pass the GB 32100-2015 check, otherwise sign-in is refused.
* Every success and refusal is audited as ``auth.oidc_login`` with the reason.

Everything is read from settings at request time (tests point it at a local provider);
OIDC is off unless ``OIDC_OP_ISSUER`` and ``OIDC_RP_CLIENT_ID`` are set and this backend is in
AUTHENTICATION_BACKENDS, and then every ``/oidc/`` view answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from accounts.access import ANONYMOUS, principal_for_user, public
from accounts.roles import Role

LOGGER = logging.getLogger(__name__)

BACKEND_PATH = "accounts.oidc.ApplicantOIDCBackend"
EVENT = "auth.oidc_login"

# Asymmetric signature algorithms only: "none" and HS* (keyed with the client secret, or
# with a public key by a confused verifier) are never accepted.
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                "ES256", "ES384", "ES512"})
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}

# Defaults of the settings read here (settings.py sets most of them from the environment).
DEFAULTS: dict[str, Any] = {
    "OIDC_OP_ISSUER": "",
    "OIDC_RP_CLIENT_ID": "",
    "OIDC_RP_CLIENT_SECRET": "",
    "OIDC_RP_SIGN_ALGO": "RS256",
    "OIDC_RP_SCOPES": "openid profile",
    "OIDC_CLAIM_ORG_NAME": "org_name",
    "OIDC_CLAIM_CREDIT_CODE": "uscc",
    "OIDC_TIMEOUT": 10,  # seconds, every request to the provider
    "OIDC_USE_PKCE": True,
    "OIDC_CLOCK_SKEW_SECONDS": 60,
    "OIDC_DISCOVERY_TTL_SECONDS": 3600,
    "OIDC_JWKS_MIN_REFRESH_SECONDS": 30,  # an unknown kid refetches the JWKS at most this often
    "OIDC_CREATE_USER": True,
}
# Library settings this module does not let a deployment weaken.
ENFORCED: dict[str, Any] = {
    "OIDC_USE_NONCE": True,
    "OIDC_ALLOW_UNSECURED_JWT": False,
    "OIDC_RP_IDP_SIGN_KEY": None,  # keys come from the provider's JWKS
}
# Library endpoint settings, answered from discovery unless set explicitly.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_MISSING = object()

GENERIC_FAILURE = ("统一身份认证登录失败，请重试或联系系统管理员 "
                   "(sign-in through the unified identity service failed)")


class OIDCRefusal(Exception):
    """A refused sign-in: `reason` is audited, `message` is shown to the user."""

    def __init__(self, reason: str, message: str = GENERIC_FAILURE, *, subject: str = "",
                 account: str = "", detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.message = message
        self.subject = subject
        self.account = account
        self.detail = detail


def oidc_setting(name: str, *default: Any) -> Any:
    """A setting as this module uses it (enforced values, discovery, then defaults)."""
    if name in ENFORCED:
        return ENFORCED[name]
    if name in ENDPOINTS:
        explicit = getattr(settings, name, None)
        if explicit:
            return explicit
        return provider_metadata().get(ENDPOINTS[name]) or None
    fallback = DEFAULTS.get(name, default[0] if default else _MISSING)
    if fallback is _MISSING:
        return import_from_settings(name)
    return getattr(settings, name, fallback)


def oidc_enabled() -> bool:
    """Whether enterprise single sign-on is configured (the login page shows its link)."""
    return bool(oidc_setting("OIDC_OP_ISSUER") and oidc_setting("OIDC_RP_CLIENT_ID")
                and BACKEND_PATH in settings.AUTHENTICATION_BACKENDS)


def signing_algorithm() -> str:
    alg = str(oidc_setting("OIDC_RP_SIGN_ALGO")).strip().upper()
    if alg not in ALLOWED_ALGORITHMS:
        raise ImproperlyConfigured(f"OIDC_RP_SIGN_ALGO must be one of "
                                   f"{sorted(ALLOWED_ALGORITHMS)}, not {alg!r}")
    return alg


# --- Discovery and key cache ----------------------------------------------------------------

_cache_lock = threading.Lock()
_metadata: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def clear_caches() -> None:
    with _cache_lock:
        _metadata.clear()
        _jwks.clear()


def _http_get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=oidc_setting("OIDC_TIMEOUT"),
                        verify=oidc_setting("OIDC_VERIFY_SSL", True),
                        proxies=oidc_setting("OIDC_PROXY", None), **kwargs)


def provider_metadata() -> dict[str, Any]:
    """The provider's discovery document (cached). Raises OIDCRefusal when unreachable or
    when the document is not the configured issuer's."""
    issuer = str(oidc_setting("OIDC_OP_ISSUER") or "")
    if not issuer:
        raise ImproperlyConfigured("OIDC_OP_ISSUER is not set")
    now = time.monotonic()
    with _cache_lock:
        hit = _metadata.get(issuer)
        if hit and hit[0] > now:
            return hit[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = _http_get(url)
        response.raise_for_status()
        meta = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise OIDCRefusal("provider_unavailable", detail=f"discovery: {exc}") from exc
    if not isinstance(meta, dict) or str(meta.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise OIDCRefusal("discovery_issuer_mismatch",
                          detail=f"discovery names issuer {meta.get('issuer')!r}"
                          if isinstance(meta, dict) else "discovery is not an object")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
               if not meta.get(k)]
    if missing:
        raise OIDCRefusal("discovery_incomplete", detail=f"missing {missing}")
    with _cache_lock:
        _metadata[issuer] = (now + float(oidc_setting("OIDC_DISCOVERY_TTL_SECONDS")), meta)
    return meta


def expected_issuer() -> str:
    """The exact `iss` tokens must carry: the discovery document's issuer."""
    return str(provider_metadata()["issuer"])


def _fetch_jwks(uri: str) -> list[dict[str, Any]]:
    try:
        response = _http_get(uri)
        response.raise_for_status()
        keys = response.json().get("keys")
    except (requests.RequestException, ValueError, AttributeError) as exc:
        raise OIDCRefusal("provider_unavailable", detail=f"jwks: {exc}") from exc
    if not isinstance(keys, list):
        raise OIDCRefusal("provider_unavailable", detail="jwks has no key list")
    return [k for k in keys if isinstance(k, dict)]


def _jwks_keys(uri: str, *, refresh: bool = False) -> list[dict[str, Any]]:
    now = time.monotonic()
    with _cache_lock:
        hit = _jwks.get(uri)
    ttl = float(oidc_setting("OIDC_DISCOVERY_TTL_SECONDS"))
    min_refresh = float(oidc_setting("OIDC_JWKS_MIN_REFRESH_SECONDS"))
    if hit and (not refresh or now - hit[0] < min_refresh) and now - hit[0] < ttl:
        return hit[1]
    keys = _fetch_jwks(uri)
    with _cache_lock:
        _jwks[uri] = (now, keys)
    return keys


def _candidate_keys(keys: list[dict[str, Any]], alg: str, kid: str | None) -> list[dict]:
    kty = _KEY_TYPE[alg[:2]]
    return [k for k in keys
            if k.get("kty") == kty and k.get("use", "sig") == "sig"
            and k.get("alg", alg) == alg and (kid is None or k.get("kid") == kid)]


def signing_key(token_header: dict[str, Any], alg: str) -> Any:
    """The provider's public key for this token (JWKS by kid; refetched once on rotation)."""
    uri = oidc_setting("OIDC_OP_JWKS_ENDPOINT")
    kid = token_header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise OIDCRefusal("malformed_token", detail="kid is not a string")
    found = _candidate_keys(_jwks_keys(uri), alg, kid)
    if not found and kid is not None:
        found = _candidate_keys(_jwks_keys(uri, refresh=True), alg, kid)
    if len(found) != 1:
        raise OIDCRefusal("unknown_signing_key",
                          detail=f"{len(found)} JWKS keys match kid={kid!r} alg={alg}")
    try:
        return jwt.PyJWK(found[0], algorithm=alg).key
    except jwt.PyJWTError as exc:
        raise OIDCRefusal("unknown_signing_key", detail=str(exc)) from exc


_JWT_REASONS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.InvalidIssuedAtError, "token_not_yet_valid"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "algorithm_not_allowed"),
]


def decode_signed(token: Any, *, audience: str | None, require: list[str]) -> dict[str, Any]:
    """Verify a JWS from the provider: algorithm, signature (JWKS), issuer, audience, times."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise OIDCRefusal("malformed_token", detail="not a compact JWS")
    alg = signing_algorithm()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise OIDCRefusal("malformed_token", detail=str(exc)) from exc
    if header.get("alg") != alg:
        raise OIDCRefusal("algorithm_not_allowed",
                          detail=f"token alg {header.get('alg')!r}, expected {alg}")
    if header.get("crit"):
        raise OIDCRefusal("malformed_token", detail="unsupported crit header")
    key = signing_key(header, alg)
    try:
        claims = jwt.decode(
            token, key=key, algorithms=[alg], audience=audience, issuer=expected_issuer(),
            leeway=float(oidc_setting("OIDC_CLOCK_SKEW_SECONDS")),
            options={"require": require, "verify_aud": audience is not None,
                     "verify_signature": True, "verify_exp": True, "verify_iat": True,
                     "verify_iss": True})
    except jwt.PyJWTError as exc:
        reason = next((r for cls, r in _JWT_REASONS if isinstance(exc, cls)), "malformed_token")
        raise OIDCRefusal(reason, detail=str(exc)) from exc
    return claims


# --- Claims -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean_text(value: Any, max_length: int) -> str:
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("", value).strip()[:max_length]


def valid_credit_code(code: str) -> bool:
    """GB 32100-2015 unified social credit code, check character included (the one
    implementation lives with the construction units in approvals_link)."""
    from approvals_link.codes import is_valid_credit_code

    return is_valid_credit_code(code)


def organization_from(claims: dict[str, Any], subject: str) -> tuple[str, str]:
    """(organisation name, credit code) from the configured claims, or OIDCRefusal."""
    name = _clean_text(claims.get(oidc_setting("OIDC_CLAIM_ORG_NAME")), 200)
    raw = claims.get(oidc_setting("OIDC_CLAIM_CREDIT_CODE"))
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if not code:
        raise OIDCRefusal("missing_credit_code",
                          "统一身份认证未提供单位的统一社会信用代码，无法登录；请在统一身份认证平台"
                          "完善单位信息 (the identity service sent no unified social credit code)",
                          subject=subject)
    if not valid_credit_code(code):
        raise OIDCRefusal("invalid_credit_code",
                          "统一身份认证提供的统一社会信用代码无效（校验位不符），无法登录 "
                          "(the unified social credit code from the identity service is invalid)",
                          subject=subject, detail=f"credit code {code[:18]!r}")
    if not name:
        raise OIDCRefusal("missing_org_name",
                          "统一身份认证未提供单位名称，无法登录 "
                          "(the identity service sent no organisation name)", subject=subject)
    return name, code


def username_for(subject: str) -> str:
    """A username for a new account: a hash of `sub` (which may be a national ID number and
    must not show up in pages or logs), unique, at most 150 characters."""
    from accounts.models import User

    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()
    base = f"sso-{digest[:20]}"
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"[:150]
    return candidate


NOT_FOR_SSO = ("此统一身份认证账号不能登录本系统，请联系系统管理员 "
               "(this identity cannot sign in here; contact the system administrator)")


# --- Backend ----------------------------------------------------------------------------------


class ApplicantOIDCBackend(OIDCAuthenticationBackend):
    """Signs enterprise users in from the unified identity service; only ever APPLICANTs."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds every backend for every sign-in (passwords too) and for every
        # session lookup: nothing here may touch the network. Endpoints resolve lazily.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    # The attributes the library reads, resolved when used.
    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return oidc_setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str | None:
        return oidc_setting("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return oidc_setting("OIDC_OP_JWKS_ENDPOINT")

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return oidc_setting("OIDC_RP_CLIENT_ID")

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return oidc_setting("OIDC_RP_CLIENT_SECRET")

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return signing_algorithm()

    OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # Only the callback view's call: it passes the nonce of the flow, never a password.
        if request is None or "nonce" not in kwargs or {"username", "password"} & set(kwargs):
            return None
        if not oidc_enabled() or request.path != reverse("oidc_authentication_callback"):
            return None
        if not request.GET.get("code") or not request.GET.get("state"):
            return None
        try:
            user = super().authenticate(request, **kwargs)
            if user is None:
                raise OIDCRefusal("not_authenticated")
        except OIDCRefusal as refusal:
            request._oidc_refusal = refusal  # the callback view audits and explains it
            raise PermissionDenied(refusal.reason) from refusal
        except (SuspiciousOperation, requests.RequestException, ValueError) as exc:
            reason = ("token_request_failed" if isinstance(exc, requests.RequestException)
                      else "invalid_response")
            request._oidc_refusal = OIDCRefusal(reason, detail=str(exc)[:300])
            raise PermissionDenied(reason) from exc
        return user

    def verify_token(self, token: Any, **kwargs: Any) -> dict[str, Any]:
        """The ID token: signature, iss, aud/azp, exp, iat, sub and nonce."""
        client_id = self.OIDC_RP_CLIENT_ID
        claims = decode_signed(token, audience=client_id,
                               require=["iss", "aud", "exp", "iat", "sub"])
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client_id:
            raise OIDCRefusal("wrong_audience", detail="several audiences and azp is not us")
        if "azp" in claims and claims["azp"] != client_id:
            raise OIDCRefusal("wrong_audience", detail=f"azp {claims['azp']!r}")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255 or _CONTROL.search(subject):
            raise OIDCRefusal("malformed_token", detail="sub is not a usable identifier")
        expected, got = kwargs.get("nonce"), claims.get("nonce")
        if not (isinstance(expected, str) and isinstance(got, str) and expected
                and hmac.compare_digest(expected.encode(), got.encode())):
            raise OIDCRefusal("nonce_mismatch", subject=subject)
        return claims

    def get_userinfo(self, access_token: str, id_token: str,
                     payload: dict[str, Any]) -> dict[str, Any]:
        """Claims from the userinfo endpoint (JSON or a signed JWT); its `sub` must be the
        ID token's (OpenID Connect Core 5.3.2). Without an endpoint, the ID token's claims."""
        endpoint = self.OIDC_OP_USER_ENDPOINT
        if not endpoint:
            return dict(payload)
        response = _http_get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        if response.headers.get("content-type", "").lower().startswith("application/jwt"):
            info = decode_signed(response.text.strip(), audience=self.OIDC_RP_CLIENT_ID,
                                 require=["sub"])
        else:
            info = response.json()
        if not isinstance(info, dict) or info.get("sub") != payload.get("sub"):
            raise OIDCRefusal("userinfo_subject_mismatch", subject=str(payload.get("sub")))
        return info

    def get_or_create_user(self, access_token: str, id_token: str,
                           payload: dict[str, Any]) -> Any:
        subject = payload["sub"]
        info = self.get_userinfo(access_token, id_token, payload)
        claims = {**payload, **info}
        user = self.UserModel.objects.filter(oidc_subject=subject).first()
        if user is None:
            if not oidc_setting("OIDC_CREATE_USER"):
                raise OIDCRefusal("no_account", NOT_FOR_SSO, subject=subject)
            name, code = organization_from(claims, subject)
            try:
                with transaction.atomic():
                    user = self.create_applicant(subject, claims, name, code)
            except IntegrityError:  # the same person signing in twice at once
                user = self.UserModel.objects.filter(oidc_subject=subject).first()
                if user is None:
                    raise
            else:
                self.request._oidc_outcome = {"created": True}
                return user
        return self.update_user(user, claims)

    def create_applicant(self, subject: str, claims: dict[str, Any], name: str,
                         code: str) -> Any:
        user = self.UserModel(username=username_for(subject), role=Role.APPLICANT,
                              oidc_subject=subject, organization_name=name,
                              organization_credit_code=code,
                              first_name=_clean_text(claims.get("name"), 150))
        user.set_unusable_password()
        user.save()
        return user

    def update_user(self, user: Any, claims: dict[str, Any]) -> Any:
        subject = user.oidc_subject
        if user.role != Role.APPLICANT:
            # Staff (and every other role) sign in with their password only, whatever the
            # identity service says about them.
            raise OIDCRefusal("not_applicant", NOT_FOR_SSO, subject=subject,
                              account=user.username, detail=f"account role {user.role}")
        if not user.is_active:
            raise OIDCRefusal("inactive", "该账号已停用，请联系系统管理员 (this account is disabled)",
                              subject=subject, account=user.username)
        name, code = organization_from(claims, subject)
        before = {"organization_name": user.organization_name,
                  "organization_credit_code": user.organization_credit_code}
        user.organization_name, user.organization_credit_code = name, code
        display = _clean_text(claims.get("name"), 150)
        changed = ["organization_name", "organization_credit_code"]
        if display:
            user.first_name = display
            changed.append("first_name")
        user.save(update_fields=[*changed, "is_staff"])
        after = {"organization_name": name, "organization_credit_code": code}
        self.request._oidc_outcome = {"created": False, **(
            {"before": before, "after": after} if before != after else {})}
        return user

    def get_user(self, user_id: Any) -> Any:
        """The session's account, while it still may use single sign-on."""
        user = self.UserModel.objects.filter(pk=user_id).first()
        if user is None or not user.is_active or user.role != Role.APPLICANT:
            return None
        return user


# --- Views ------------------------------------------------------------------------------------


def _audit(request: HttpRequest, result: str, *, user: Any = None,
           refusal: OIDCRefusal | None = None, **detail: Any) -> None:
    from audit.services import record

    if refusal is not None:
        detail = {"reason": refusal.reason, **({"account": refusal.account}
                                                if refusal.account else {}),
                  **({"detail": refusal.detail} if refusal.detail else {}), **detail}
        LOGGER.warning("OIDC sign-in refused: %s", refusal)
    obj = (f"sub:{refusal.subject}" if refusal is not None and refusal.subject
           else f"sub:{user.oidc_subject}" if user is not None else "")
    record(EVENT, request=request, obj=obj, result=result,
           principal=principal_for_user(user) if user is not None else ANONYMOUS,
           detail={"issuer": str(oidc_setting("OIDC_OP_ISSUER")), **detail})


class ApplicantAuthenticateView(OIDCAuthenticationRequestView):
    """Starts the flow: redirect to the provider with state, nonce and PKCE."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:
        return oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return oidc_setting("OIDC_RP_CLIENT_ID")

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        try:
            provider_metadata()
        except OIDCRefusal as refusal:
            _audit(request, "denied", refusal=refusal)
            messages.error(request, "统一身份认证服务暂时无法访问，请稍后再试 "
                                    "(the unified identity service is unavailable)")
            return HttpResponseRedirect(reverse("login"))
        return super().get(request)


class ApplicantCallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: state, then the backend, then audit and a message."""

    get_settings = staticmethod(oidc_setting)

    @property
    def failure_url(self) -> str:
        return reverse("login")

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        states = request.session.get("oidc_states")
        state = request.GET.get("state")
        if request.GET.get("error"):
            # The provider refused (or the user cancelled). Forget the state; unlike the
            # library, do not sign a current user out on a link anybody can craft.
            if isinstance(states, dict) and states.pop(state, None) is not None:
                request.session["oidc_states"] = states
            request._oidc_refusal = OIDCRefusal(
                "provider_error", detail=_clean_text(request.GET.get("error"), 100))
            return self.login_failure()
        if not request.GET.get("code") or not state:
            request._oidc_refusal = OIDCRefusal("missing_code_or_state")
            return self.login_failure()
        if not isinstance(states, dict) or state not in states:
            # Forged, replayed, or from another browser: the library would answer 400.
            request._oidc_refusal = OIDCRefusal("state_mismatch")
            return self.login_failure()
        return super().get(request)

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        outcome = getattr(self.request, "_oidc_outcome", {})
        _audit(self.request, "success", user=self.user, account=self.user.username, **outcome)
        return response

    def login_failure(self) -> HttpResponse:
        request = self.request
        refusal = getattr(request, "_oidc_refusal", None)
        if refusal is None:
            locked = getattr(request, "axes_locked_out", False)
            refusal = OIDCRefusal("locked_out" if locked else "not_authenticated")
        _audit(request, "denied", refusal=refusal)
        messages.error(request, refusal.message)
        return super().login_failure()


class ApplicantLogoutView(OIDCLogoutView):
    get_settings = staticmethod(oidc_setting)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("single sign-on is not configured")
        return super().dispatch(request, *args, **kwargs)


# Mounted under "oidc/" (config/urls.py). Open to everyone: the flow is the sign-in itself.
urlpatterns = [
    path("callback/", public(ApplicantCallbackView.as_view()),
         name="oidc_authentication_callback"),
    path("authenticate/", public(ApplicantAuthenticateView.as_view()),
         name="oidc_authentication_init"),
    path("logout/", public(ApplicantLogoutView.as_view()), name="oidc_logout"),
]


# --- django-axes ------------------------------------------------------------------------------


def axes_lockout_parameters(request_or_attempt: Any, credentials: dict | None = None) -> list:
    """AXES_LOCKOUT_PARAMETERS when single sign-on is on. A callback carries no username:
    its failures are counted by source address only; with "username" in the parameters,
    every username-less failure would fall into one shared bucket and a few bad callbacks
    from anywhere would lock every enterprise user out."""
    from axes.helpers import get_client_username
    from axes.models import AccessBase

    base = list(getattr(settings, "AXES_PASSWORD_LOCKOUT_PARAMETERS",
                        ["username", "ip_address"]))
    if isinstance(request_or_attempt, AccessBase):
        username = request_or_attempt.username
    else:
        username = get_client_username(request_or_attempt, credentials)
    if username:
        return base
    kept: list = []
    for parameter in base:
        if isinstance(parameter, str):
            if parameter != "username":
                kept.append(parameter)
        else:
            rest = [p for p in parameter if p != "username"]
            if rest:
                kept.append(rest)
    return kept or ["ip_address"]
