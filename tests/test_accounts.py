"""Sign-in policy, passwords, sessions, tokens and the security administrator's pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, SecurityPolicy, User
from accounts.passwords import ComplexityValidator, HistoryValidator
from accounts.roles import Role, Scope
from audit.models import AuditRecord
from tests.conftest import STRONG_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("password", ["Sh0rt!", "alllowercase1!", "ALLUPPERCASE1!",
                                      "NoDigitsHere!", "NoSymbols123abc"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        ComplexityValidator().validate(password)


def test_strong_password_passes():
    ComplexityValidator().validate("Ab1!efgh")


def test_last_five_passwords_cannot_be_reused(make_user):
    user = make_user(Role.REVIEWER, "wang", password="First#Pass1")
    for n in range(2, 7):
        user.set_password(f"Pass#{n}word{n}")
        user.save()
    history = HistoryValidator()
    for n in range(2, 7):
        with pytest.raises(ValidationError):
            history.validate(f"Pass#{n}word{n}", user)
    history.validate("First#Pass1", user)  # six changes ago: allowed again


def test_passwords_are_hashed_with_argon2(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = make_user(Role.REVIEWER, "zhao")
    assert user.password.startswith("argon2$")


def test_expired_password_forces_a_change(make_user, client):
    user = make_user(Role.REVIEWER, "liu")
    User.objects.filter(pk=user.pk).update(
        password_changed_at=timezone.now() - dt.timedelta(days=91))
    client.force_login(user)
    page = client.get("/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/password/")
    api = client.get("/api/layers")
    assert api.status_code == 403 and api.json()["error"] == "password_expired"
    response = client.post("/accounts/password/", {
        "old_password": STRONG_PASSWORD, "new_password1": "N3w!Password-x",
        "new_password2": "N3w!Password-x"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AuditRecord.objects.filter(event_type="auth.password_changed").exists()


def test_new_accounts_must_change_their_initial_password(make_user, client):
    user = make_user(Role.REVIEWER, "new", must_change_password=False)
    User.objects.filter(pk=user.pk).update(must_change_password=True)
    client.force_login(user)
    assert client.get("/").status_code == 302


def test_idle_session_expires_after_the_policy_timeout(make_user, client):
    user = make_user(Role.REVIEWER, "idle")
    client.force_login(user)
    client.get("/")
    assert client.session.get_expiry_age() == 30 * 60
    # Thirty minutes without a request: the stored session has expired.
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    page = client.get("/accounts/roles/")
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_the_session_is_saved_at_most_once_a_minute(make_user, client, settings):
    """Tile requests must not each write the session; the expiry still slides."""
    client.force_login(make_user(Role.REVIEWER, "busy"))
    client.get("/")
    saved = Session.objects.get().expire_date
    for _ in range(5):
        client.get("/healthz")
        client.get("/api/layers")
    assert Session.objects.get().expire_date == saved  # not re-saved within the interval
    settings.SESSION_TOUCH_SECONDS = 0
    client.get("/api/layers")
    assert Session.objects.get().expire_date > saved  # due: the expiry slides again


def test_policy_timeout_is_applied(make_user, client):
    policy = SecurityPolicy.current()
    policy.idle_timeout_minutes = 10
    policy.save()
    client.force_login(make_user(Role.REVIEWER, "ten"))
    client.get("/")
    assert client.session.get_expiry_age() == 600


def test_security_headers_and_csp(client):
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'self'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_sign_in_form_is_csrf_protected(make_user):
    make_user(Role.REVIEWER, "csrf")
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "csrf",
                                                "password": STRONG_PASSWORD})
    assert response.status_code == 403


def test_sign_in_works_and_is_audited(make_user, client):
    make_user(Role.REVIEWER, "signin")
    response = client.post("/accounts/login/", {"username": "signin",
                                                "password": STRONG_PASSWORD},
                           REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302
    assert client.get("/").context["user"].username == "signin"


# --- API tokens ---------------------------------------------------------------------------

@pytest.fixture
def system(make_user):
    return make_user(Role.EXTERNAL_SYSTEM, "approval-system")


def test_token_is_shown_once_and_stored_hashed(make_user, client, system):
    secadmin = make_user(Role.SECURITY_ADMIN, "sec")
    client.force_login(secadmin)
    page = client.post("/accounts/tokens/", {"account": system.pk, "name": "县审批系统",
                                             "scopes": ["map:read", "approvals:write"],
                                             "days": 30, "rate_limit_per_minute": 100})
    assert page.status_code == 200
    secret = page.context["issued"].secret
    token = ApiToken.objects.get()
    assert secret.startswith(f"nx_{token.prefix}_") and secret not in token.secret_sha256
    assert len(token.secret_sha256) == 64
    listing = client.get("/accounts/tokens/").content.decode()
    assert token.prefix in listing and secret not in listing
    assert AuditRecord.objects.filter(event_type="tokens.issued", object=token.prefix).exists()


def test_tokens_only_for_external_systems(make_user):
    with pytest.raises(tokens.TokenError):
        tokens.issue(make_user(Role.REVIEWER, "r"), name="x", scopes=[Scope.MAP_READ])


def test_revocation_is_immediate(client, system):
    issued = tokens.issue(system, name="t", scopes=[Scope.MAP_READ])
    headers = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    assert client.get("/api/layers", **headers).status_code == 200
    tokens.revoke(issued.token)
    response = client.get("/api/layers", **headers)
    assert response.status_code == 401 and response.json()["error"] == "revoked_token"


def test_expired_and_invalid_tokens_are_refused(client, system):
    issued = tokens.issue(system, name="t", scopes=[Scope.MAP_READ])
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for secret, code in ((issued.secret, "expired_token"),
                         (issued.secret[:-2] + "xx", "invalid_token"),
                         ("nx_deadbeef_nothing", "invalid_token"), ("garbage", "invalid_token")):
        response = client.get("/api/layers", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code == 401 and response.json()["error"] == code, secret
    assert AuditRecord.objects.filter(event_type="auth.token_refused").count() >= 4


def test_rotation_replaces_the_secret(client, system):
    old = tokens.issue(system, name="t", scopes=[Scope.MAP_READ])
    new = tokens.rotate(old.token)
    assert client.get("/api/layers", HTTP_AUTHORIZATION=f"Bearer {old.secret}"
                      ).status_code == 401
    assert client.get("/api/layers", HTTP_AUTHORIZATION=f"Bearer {new.secret}"
                      ).status_code == 200
    assert list(new.token.scopes) == ["map:read"]


def test_rotation_with_overlap_keeps_the_old_secret_briefly(client, system):
    old = tokens.issue(system, name="t", scopes=[Scope.MAP_READ])
    tokens.rotate(old.token, overlap_minutes=5)
    assert client.get("/api/layers", HTTP_AUTHORIZATION=f"Bearer {old.secret}"
                      ).status_code == 200


def test_rate_limit_per_token(client, system):
    issued = tokens.issue(system, name="t", scopes=[Scope.MAP_READ], rate_limit_per_minute=3)
    codes = [client.get("/api/layers", HTTP_AUTHORIZATION=f"Bearer {issued.secret}"
                        ).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_token_requests_need_no_csrf(system):
    issued = tokens.issue(system, name="t", scopes=[Scope.MAP_READ])
    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/api/layers/NOPE/versions", HTTP_AUTHORIZATION=f"Bearer "
                                                                         f"{issued.secret}")
    assert response.status_code == 404  # reached the view: no CSRF refusal


# --- the security administrator's pages ---------------------------------------------------

def test_security_admin_assigns_roles_and_it_is_audited(make_user, client):
    sec = make_user(Role.SECURITY_ADMIN, "sec")
    target = make_user(Role.NONE, "newcomer")
    department = make_user(Role.REVIEWER, "someone").department
    client.force_login(sec)
    response = client.post(f"/accounts/roles/{target.pk}/", {"role": Role.REVIEWER,
                                                             "department": department.pk})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.REVIEWER
    entry = AuditRecord.objects.get(event_type="accounts.role_assigned")
    assert entry.detail["before"]["role"] == "none" and entry.detail["after"]["role"] == \
        "reviewer" and entry.subject == "sec"


def test_reviewer_role_requires_a_department(make_user, client):
    sec = make_user(Role.SECURITY_ADMIN, "sec")
    target = make_user(Role.NONE, "newcomer")
    client.force_login(sec)
    page = client.post(f"/accounts/roles/{target.pk}/", {"role": Role.REVIEWER})
    assert page.status_code == 200
    target.refresh_from_db()
    assert target.role == Role.NONE


def test_nobody_changes_their_own_role(make_user, client):
    sec = make_user(Role.SECURITY_ADMIN, "sec")
    client.force_login(sec)
    client.post(f"/accounts/roles/{sec.pk}/", {"role": Role.AUDIT_ADMIN})
    sec.refresh_from_db()
    assert sec.role == Role.SECURITY_ADMIN


def test_policy_cannot_go_below_the_baseline(make_user, client):
    client.force_login(make_user(Role.SECURITY_ADMIN, "sec"))
    data = {"password_min_length": 6, "password_max_age_days": 90, "password_history": 5,
            "lockout_failures": 5, "lockout_minutes": 30, "idle_timeout_minutes": 30,
            "token_max_days": 365}
    assert client.post("/accounts/policy/", data).status_code == 200
    assert SecurityPolicy.current().password_min_length == 8
    data["password_min_length"] = 10
    assert client.post("/accounts/policy/", data).status_code == 302
    assert SecurityPolicy.current().password_min_length == 10
    assert AuditRecord.objects.filter(event_type="policy.changed").exists()


def test_no_superuser_can_exist(db):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        User.objects.create_superuser("root", "r@example.org", STRONG_PASSWORD)


def test_system_admin_creates_accounts_that_must_change_password(make_user, client):
    client.force_login(make_user(Role.SYSTEM_ADMIN, "sys"))
    response = client.post("/admin/accounts/user/add/", {
        "username": "zhangsan", "last_name": "张", "first_name": "三", "email": "",
        "organization_name": "", "organization_credit_code": "",
        "password1": "Init!Pass-2024", "password2": "Init!Pass-2024",
        "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    created = User.objects.get(username="zhangsan")
    assert created.must_change_password and created.role == Role.NONE
    assert AuditRecord.objects.filter(event_type="accounts.created", object="zhangsan").exists()


def test_create_admins_makes_three_separate_administrators(settings, tmp_path):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("create_admins", "--demo-accounts", verbosity=0)
    roles = dict(User.objects.values_list("username", "role"))
    assert roles["sysadmin"] == Role.SYSTEM_ADMIN and roles["secadmin"] == Role.SECURITY_ADMIN
    assert roles["auditadmin"] == Role.AUDIT_ADMIN and roles["demo_reviewer"] == Role.REVIEWER
    assert all(u.must_change_password for u in User.objects.exclude(role=Role.EXTERNAL_SYSTEM))
    lines = (tmp_path / "initial-passwords.txt").read_text().splitlines()
    assert len(lines) == len(roles)
    for line in lines:
        username, _, password = line.split("\t")
        ComplexityValidator().validate(password)
        assert User.objects.get(username=username).check_password(password)
    call_command("create_admins", verbosity=0)  # idempotent
    assert User.objects.count() == len(roles)


def test_client_address_behind_trusted_proxies(settings, rf):
    from accounts.network import client_ip

    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.5")
    settings.PROXY_COUNT = 0
    assert client_ip(request) == "127.0.0.1"
    settings.PROXY_COUNT = 1  # nginx appended the real peer; the rest is client-supplied
    assert client_ip(request) == "10.0.0.5"
