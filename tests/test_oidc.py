"""Enterprise single sign-on against a real local OpenID Connect provider, over HTTP.

The browser is a requests.Session that follows redirects by hand: /oidc/authenticate/ →
the provider's /authorize → /oidc/callback/?code&state → signed in (or refused).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
from django.urls import URLPattern
from django.utils import timezone

from accounts import oidc
from accounts.models import User
from accounts.roles import Role
from approvals_link.codes import credit_code_check_digit
from approvals_link.models import Project
from audit.models import AuditRecord
from tests.conftest import http_login
from tests.oidc_provider import OIDCTestProvider, ProviderUser

pytestmark = pytest.mark.django_db(transaction=True)

SSO_LINK = "统一身份认证登录"


def uscc(first17: str) -> str:
    return first17 + credit_code_check_digit(first17)


USCC = "91350100M000100Y43"  # a real code (check character 3)
USCC_2 = uscc("91411325MA3X7K2P0")
ORG = "内乡县某某建设有限公司"


@dataclass
class SSO:
    base: str
    provider: OIDCTestProvider

    def start(self, session: requests.Session, next_url: str | None = None) -> str:
        """Our redirect to the provider, then the provider's redirect back: the callback URL."""
        params = {"next": next_url} if next_url else None
        r = session.get(f"{self.base}/oidc/authenticate/", params=params,
                        allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        authorize = r.headers["Location"]
        assert authorize.startswith(f"{self.provider.issuer}/authorize?")
        assert "nonce=" in authorize and "state=" in authorize
        assert "code_challenge_method=S256" in authorize
        r = requests.get(authorize, allow_redirects=False, timeout=10)  # the provider's site
        assert r.status_code == 302, r.text
        callback = r.headers["Location"]
        assert callback.startswith(f"{self.base}/oidc/callback/?code=")
        return callback

    def sign_in(self, session: requests.Session | None = None,
                next_url: str | None = None) -> tuple[requests.Session, requests.Response]:
        session = session or requests.Session()
        callback = self.start(session, next_url)
        return session, session.get(callback, allow_redirects=False, timeout=10)

    def signed_in_as(self, session: requests.Session) -> str | None:
        """The username the site shows in its header, or None when anonymous."""
        page = session.get(f"{self.base}/", timeout=10).text
        if 'action="/accounts/logout/"' not in page:
            return None
        for user in User.objects.all():
            if f"{user.username} ·" in page:
                return user.username
        raise AssertionError("signed in as an unknown account")


def last_oidc_audit() -> AuditRecord:
    return AuditRecord.objects.filter(event_type="auth.oidc_login").order_by("-id").first()


def configure(settings, provider: OIDCTestProvider) -> None:
    settings.OIDC_OP_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = provider.client_id
    settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, oidc.BACKEND_PATH]
    settings.AXES_LOCKOUT_PARAMETERS = "accounts.oidc.axes_lockout_parameters"
    oidc.clear_caches()


@pytest.fixture
def provider():
    user = ProviderUser(sub="hn-uis-0000123456", name="李四",
                        claims={"org_name": ORG, "uscc": USCC})
    with OIDCTestProvider(user=user) as p:
        p.require_pkce = True
        yield p
    oidc.clear_caches()


@pytest.fixture
def sso(settings, provider, live_server) -> SSO:
    configure(settings, provider)
    provider.redirect_uris = [f"{live_server.url}/oidc/callback/"]
    return SSO(live_server.url, provider)


def assert_refused(sso: SSO, session: requests.Session, response: requests.Response,
                   reason: str, message: str | None = None) -> AuditRecord:
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/accounts/login/"
    page = session.get(f"{sso.base}/accounts/login/", timeout=10).text
    if message:
        assert message in page
    assert sso.signed_in_as(session) is None
    entry = last_oidc_audit()
    assert entry.result == "denied"
    assert entry.detail["reason"] == reason, entry.detail
    assert entry.subject == "anonymous"
    return entry


# --- configured or not ------------------------------------------------------------------------


def test_without_configuration_there_is_no_sso(client, settings):
    settings.OIDC_OP_ISSUER = ""
    assert not oidc.oidc_enabled()
    page = client.get("/accounts/login/").content.decode()
    assert SSO_LINK not in page and "/oidc/" not in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert client.post("/oidc/logout/").status_code == 404
    assert not AuditRecord.objects.filter(event_type="auth.oidc_login").exists()


def test_issuer_without_the_backend_is_not_enabled(settings):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:1"
    settings.OIDC_RP_CLIENT_ID = "x"
    assert not oidc.oidc_enabled()  # a link that could not work is not shown


def test_login_page_links_to_sso_when_configured(sso):
    page = requests.get(f"{sso.base}/accounts/login/", timeout=10).text
    assert SSO_LINK in page and 'href="/oidc/authenticate/"' in page


def test_oidc_views_are_marked_public():
    for pattern in oidc.urlpatterns:
        assert isinstance(pattern, URLPattern)
        assert pattern.callback.required_function is None, pattern


# --- the happy path ---------------------------------------------------------------------------


def test_first_sign_in_creates_an_applicant(sso):
    Project.objects.create(project_code="2024-411325-47-01-000777", name="某某厂房",
                           construction_unit_credit_code=USCC)
    session, r = sso.sign_in()
    assert r.status_code == 302 and r.headers["Location"] == "/", r.text

    user = User.objects.get()
    assert user.oidc_subject == "hn-uis-0000123456"
    assert user.role == Role.APPLICANT and not user.is_staff and user.is_active
    assert user.organization_name == ORG and user.organization_credit_code == USCC
    assert user.first_name == "李四"
    assert not user.has_usable_password()
    assert user.username.startswith("sso-") and "0000123456" not in user.username
    assert sso.signed_in_as(session) == user.username

    # The session works for the API too: the applicant sees its own organisation's project.
    listed = session.get(f"{sso.base}/api/projects", timeout=10).json()
    assert [p["project_code"] for p in listed["projects"]] == ["2024-411325-47-01-000777"]

    entry = last_oidc_audit()
    assert entry.result == "success" and entry.detail["created"] is True
    assert entry.subject == user.username and entry.subject_role == Role.APPLICANT
    assert entry.object == "sub:hn-uis-0000123456"
    # Discovery and keys were fetched once, the token exchanged once.
    assert sso.provider.requests.count("/.well-known/openid-configuration") == 1
    assert sso.provider.requests.count("/token") == 1


def test_second_sign_in_reuses_the_account_and_updates_the_organisation(sso):
    _, r = sso.sign_in()
    first = User.objects.get()
    sso.provider.user.claims = {"org_name": "内乡县某某建设集团有限公司", "uscc": USCC_2}

    session, r = sso.sign_in()
    assert r.status_code == 302 and r.headers["Location"] == "/"
    user = User.objects.get()
    assert user.pk == first.pk and user.username == first.username
    assert user.organization_name == "内乡县某某建设集团有限公司"
    assert user.organization_credit_code == USCC_2
    assert sso.signed_in_as(session) == user.username
    entry = last_oidc_audit()
    assert entry.result == "success" and entry.detail["created"] is False
    assert entry.detail["before"]["organization_credit_code"] == USCC
    assert entry.detail["after"]["organization_credit_code"] == USCC_2
    # The cached discovery document and keys served both sign-ins.
    assert sso.provider.requests.count("/.well-known/openid-configuration") == 1
    assert sso.provider.requests.count("/jwks") == 1


def test_next_is_followed_only_within_the_site(sso):
    _, r = sso.sign_in(next_url="/api/projects")
    assert r.headers["Location"] == "/api/projects"
    _, r = sso.sign_in(next_url="https://evil.example/phish")
    assert r.headers["Location"] == "/"


def test_password_sign_in_needs_no_provider(settings, live_server, make_user, sso):
    """Django builds every backend for a password sign-in: ours must not call the provider."""
    sso.provider.stop()
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9"  # nothing listens there
    oidc.clear_caches()
    make_user(Role.REVIEWER, "reviewer1")
    session = http_login(live_server.url, "reviewer1")
    assert "reviewer1 ·" in session.get(f"{live_server.url}/", timeout=10).text
    # The SSO link itself refuses cleanly while the provider is unreachable.
    r = requests.get(f"{live_server.url}/oidc/authenticate/", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/accounts/login/"
    assert last_oidc_audit().detail["reason"] == "provider_unavailable"


# --- a misbehaving provider -------------------------------------------------------------------


@pytest.mark.parametrize("misbehaviour,reason", [
    ("wrong_issuer", "wrong_issuer"),
    ("wrong_audience", "wrong_audience"),
    ("expired", "token_expired"),
    ("bad_signature", "bad_signature"),
    ("alg_none", "algorithm_not_allowed"),
    ("hs256_client_secret", "algorithm_not_allowed"),
    ("hs256_public_key", "algorithm_not_allowed"),
    ("wrong_nonce", "nonce_mismatch"),
    ("missing_nonce", "nonce_mismatch"),
    ("userinfo_other_sub", "userinfo_subject_mismatch"),
])
def test_bad_tokens_are_refused(sso, misbehaviour, reason):
    sso.provider.misbehave = misbehaviour
    session, r = sso.sign_in()
    assert_refused(sso, session, r, reason, message="统一身份认证登录失败")
    assert not User.objects.exists()


def test_discovery_naming_another_issuer_is_refused(sso):
    sso.provider.misbehave = "discovery_wrong_issuer"
    r = requests.get(f"{sso.base}/oidc/authenticate/", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/accounts/login/"
    assert last_oidc_audit().detail["reason"] == "discovery_issuer_mismatch"
    assert "/authorize" not in sso.provider.requests


def test_provider_error_is_refused_without_signing_anybody_out(sso):
    session, _ = sso.sign_in()
    username = sso.signed_in_as(session)
    r = session.get(f"{sso.base}/oidc/callback/?error=access_denied&state=x",
                    allow_redirects=False, timeout=10)
    assert r.headers["Location"] == "/accounts/login/"
    assert last_oidc_audit().detail["reason"] == "provider_error"
    assert sso.signed_in_as(session) == username


# --- state and replay -------------------------------------------------------------------------


def test_forged_state_is_refused(sso):
    session = requests.Session()
    callback = sso.start(session)
    forged = callback.split("&state=")[0] + "&state=forged"
    r = session.get(forged, allow_redirects=False, timeout=10)
    assert_refused(sso, session, r, "state_mismatch")
    assert "/token" not in sso.provider.requests  # refused before the code was used


def test_a_callback_from_another_browser_is_refused(sso):
    """Login CSRF / code injection: the victim's browser never started this flow."""
    callback = sso.start(requests.Session())  # the attacker's own flow
    victim = requests.Session()
    r = victim.get(callback, allow_redirects=False, timeout=10)
    assert_refused(sso, victim, r, "state_mismatch")


def test_a_callback_cannot_be_replayed(sso):
    session = requests.Session()
    callback = sso.start(session)
    assert session.get(callback, allow_redirects=False, timeout=10).headers["Location"] == "/"
    for browser in (session, requests.Session()):  # the state was used up
        r = browser.get(callback, allow_redirects=False, timeout=10)
        assert r.headers["Location"] == "/accounts/login/"
        assert last_oidc_audit().detail["reason"] == "state_mismatch"
    assert sso.provider.requests.count("/token") == 1


# --- who may sign in --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN,
                                  Role.AUDIT_ADMIN, Role.PLAN_DATA_MANAGER, Role.NONE,
                                  Role.EXTERNAL_SYSTEM])
def test_a_non_applicant_account_is_never_reachable(sso, make_user, role):
    """Even when the identity service (or whoever controls a subject there) presents the
    `sub` stored on a staff account, the staff account is not signed in."""
    staff = make_user(role, "staff1", oidc_subject=sso.provider.user.sub)
    session, r = sso.sign_in()
    entry = assert_refused(sso, session, r, "not_applicant", message="不能登录本系统")
    assert entry.detail["account"] == "staff1"
    staff.refresh_from_db()
    assert staff.role == role and staff.organization_credit_code == ""
    assert User.objects.count() == 1


def test_an_inactive_applicant_is_refused(sso, make_user):
    make_user(Role.APPLICANT, "firm1", oidc_subject=sso.provider.user.sub, is_active=False)
    session, r = sso.sign_in()
    assert_refused(sso, session, r, "inactive", message="已停用")


def test_a_deactivated_applicant_loses_the_session(sso):
    session, _ = sso.sign_in()
    User.objects.update(is_active=False)
    assert sso.signed_in_as(session) is None


@pytest.mark.parametrize("claims,reason,message", [
    ({"org_name": ORG, "uscc": "91350100M000100Y44"}, "invalid_credit_code", "校验位不符"),
    ({"org_name": ORG, "uscc": "91350100M0001O0Y43"}, "invalid_credit_code", "校验位不符"),
    ({"org_name": ORG}, "missing_credit_code", "未提供单位的统一社会信用代码"),
    ({"uscc": USCC}, "missing_org_name", "未提供单位名称"),
])
def test_organisation_claims_are_required_and_checked(sso, claims, reason, message):
    sso.provider.user.claims = claims
    session, r = sso.sign_in()
    assert_refused(sso, session, r, reason, message=message)
    assert not User.objects.exists()


def test_an_invalid_credit_code_also_refuses_an_existing_applicant(sso):
    sso.sign_in()
    sso.provider.user.claims = {"org_name": ORG, "uscc": "91350100M000100Y44"}
    session, r = sso.sign_in()
    assert_refused(sso, session, r, "invalid_credit_code")
    assert User.objects.get().organization_credit_code == USCC  # unchanged


def test_claim_names_are_configurable(sso, settings):
    settings.OIDC_CLAIM_ORG_NAME = "enterprise_name"
    settings.OIDC_CLAIM_CREDIT_CODE = "credit_code"
    sso.provider.user.claims = {"enterprise_name": ORG, "credit_code": USCC.lower()}
    _, r = sso.sign_in()
    assert r.headers["Location"] == "/"
    assert User.objects.get().organization_credit_code == USCC


def test_usernames_are_unique_and_bounded(db, make_user):
    long_sub = "x" * 255
    name = oidc.username_for(long_sub)
    assert name.startswith("sso-") and len(name) <= 150
    make_user(Role.APPLICANT, name)
    other = oidc.username_for(long_sub)
    assert other != name and other.startswith(name)
    assert oidc.username_for("a/../b c") != oidc.username_for("a/../b  c")


# --- lockout (django-axes) --------------------------------------------------------------------


def test_failed_callbacks_lock_out_the_source_address(sso):
    sso.provider.misbehave = "wrong_nonce"
    statuses = [sso.sign_in()[1].status_code for _ in range(5)]
    assert statuses == [302, 302, 302, 302, 429]
    sso.provider.misbehave = None
    session, r = sso.sign_in()
    assert r.status_code == 429 and sso.signed_in_as(session) is None
    assert last_oidc_audit().detail["reason"] == "locked_out"


def test_failures_from_elsewhere_do_not_lock_everybody_out(sso, settings):
    """SSO failures carry no username; counted under username=None they would be one
    bucket shared by every enterprise user."""
    from axes.models import AccessAttempt

    AccessAttempt.objects.create(username=None, ip_address="203.0.113.9", user_agent="x",
                                 http_accept="*/*", path_info="/oidc/callback/",
                                 get_data="", post_data="", failures_since_start=50,
                                 attempt_time=timezone.now())
    session, r = sso.sign_in()
    assert r.status_code == 302 and sso.signed_in_as(session)
    # What the plain setting would do:
    settings.AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
    _, r = sso.sign_in()
    assert r.status_code == 429
