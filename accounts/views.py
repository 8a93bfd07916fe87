"""Sign-in, password change, and the security administrator's pages (roles, tokens,
policy). Account data itself (creating, disabling) is the system administrator's, in the
admin site."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import tokens
from accounts.access import public, requires
from accounts.forms import RoleAssignmentForm, SecurityPolicyForm, TokenIssueForm
from accounts.models import ApiToken, SecurityPolicy, User
from accounts.oidc import oidc_enabled
from accounts.roles import FUNCTIONS, ROLE_FUNCTIONS, Role
from audit.services import record

# `oidc_enabled` is called by the template at each rendering (settings may change).
login_view = public(auth_views.LoginView.as_view(template_name="accounts/login.html",
                                                 redirect_authenticated_user=True,
                                                 extra_context={"oidc_enabled": oidc_enabled}))
logout_view = public(auth_views.LogoutView.as_view(next_page="/"))


class PasswordChange(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = "/"

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        record("auth.password_changed", request=self.request, obj=self.request.user.username)
        messages.success(self.request, "密码已修改 (password changed)")
        return response


def password_change(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.path}")
    return PasswordChange.as_view()(request)


password_change.required_function = None  # any signed-in account


@requires("roles.assign")
def user_roles(request: HttpRequest) -> HttpResponse:
    users = User.objects.select_related("department").order_by("username")
    return render(request, "accounts/user_roles.html", {
        "users": users, "roles": Role.choices,
        "matrix": [(code, zh, en, [code in ROLE_FUNCTIONS[r] for r, _ in Role.choices])
                   for code, (zh, en) in FUNCTIONS.items()]})


@requires("roles.assign")
def assign_role(request: HttpRequest, user_id: int) -> HttpResponse:
    account = get_object_or_404(User, pk=user_id)
    if account.pk == request.user.pk:
        messages.error(request, "不能修改自己的角色 (cannot change your own role)")
        return redirect("user-roles")
    before = {"role": account.role, "department": account.department_id}
    form = RoleAssignmentForm(request.POST or None, instance=account)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            record("accounts.role_assigned", request=request, obj=account.username,
                   before=before, after={"role": account.role,
                                         "department": account.department_id})
        messages.success(request, f"已更新 {account.username} 的角色")
        return redirect("user-roles")
    return render(request, "accounts/assign_role.html", {"form": form, "account": account})


@requires("tokens.manage")
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenIssueForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = tokens.issue(data["account"], name=data["name"], scopes=data["scopes"],
                                  days=data["days"],
                                  rate_limit_per_minute=data["rate_limit_per_minute"],
                                  issued_by=request.user)
        except tokens.TokenError as exc:
            form.add_error(None, exc.detail)
        else:
            record("tokens.issued", request=request, obj=issued.token.prefix,
                   after={"account": data["account"].username, "scopes": data["scopes"],
                          "expires_at": issued.token.expires_at.isoformat()})
    return render(request, "accounts/tokens.html", {
        "form": form, "issued": issued,
        "tokens": ApiToken.objects.select_related("account", "created_by")})


@require_POST
@requires("tokens.manage")
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    tokens.revoke(token)
    record("tokens.revoked", request=request, obj=token.prefix)
    messages.success(request, f"令牌 {token.prefix} 已吊销 (revoked)")
    return redirect("token-list")


@require_POST
@requires("tokens.manage")
def token_rotate(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, revoked_at__isnull=True)
    issued = tokens.rotate(token, issued_by=request.user)
    record("tokens.rotated", request=request, obj=token.prefix,
           after={"new_prefix": issued.token.prefix})
    return render(request, "accounts/tokens.html", {
        "form": TokenIssueForm(), "issued": issued,
        "tokens": ApiToken.objects.select_related("account", "created_by")})


@requires("policy.manage")
def policy(request: HttpRequest) -> HttpResponse:
    current = SecurityPolicy.current()
    before = model_to_dict(current)
    form = SecurityPolicyForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        form.save()
        record("policy.changed", request=request, obj="security_policy", before=before,
               after=model_to_dict(current))
        messages.success(request, "安全策略已保存 (saved)")
        return redirect("security-policy")
    return render(request, "accounts/policy.html", {"form": form})
