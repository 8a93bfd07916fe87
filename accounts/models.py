"""Accounts: people and connected systems, their department, role and API tokens."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.roles import DEPARTMENT_ROLES, STAFF_ROLES, Role, Scope


class Department(models.Model):
    code = models.CharField(_("部门代码"), max_length=32, unique=True)
    name_zh = models.CharField(_("部门名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("部门")
        verbose_name_plural = _("部门")

    def __str__(self) -> str:
        return self.name_zh

    @classmethod
    def natural_resources_bureau(cls) -> Department:
        """The county natural-resources bureau, which handles planning permits (the
        department of the demo reviewers and of the demo projects)."""
        department, _ = cls.objects.get_or_create(
            code="ZRZYJ", defaults={"name_zh": "内乡县自然资源局",
                                    "name_en": "Neixiang Natural Resources Bureau"})
        return department


class User(AbstractUser):
    role = models.CharField(_("角色"), max_length=32, choices=Role.choices, default=Role.NONE)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True,
                                   verbose_name=_("部门"), related_name="members")
    organization_name = models.CharField(_("单位名称"), max_length=200, blank=True)
    organization_credit_code = models.CharField(_("统一社会信用代码"), max_length=18,
                                                blank=True)
    # Enterprise users come from the provincial identity service (OpenID Connect).
    oidc_subject = models.CharField(_("统一身份认证标识"), max_length=255, null=True,
                                    blank=True, unique=True)
    password_changed_at = models.DateTimeField(_("密码修改时间"), null=True, blank=True)
    must_change_password = models.BooleanField(_("须修改密码"), default=False)

    class Meta:
        verbose_name = _("账号")
        verbose_name_plural = _("账号")
        constraints = [
            # Three-administrator separation leaves no room for an all-powerful account.
            models.CheckConstraint(condition=Q(is_superuser=False), name="no_superuser"),
            models.CheckConstraint(
                condition=~Q(role__in=[r.value for r in DEPARTMENT_ROLES])
                | Q(department__isnull=False),
                name="department_roles_have_a_department"),
        ]

    def set_password(self, raw_password: str | None) -> None:
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()
        self.must_change_password = False
        self._password_changed = True

    def save(self, *args, **kwargs) -> None:
        # The Django admin site is for the roles that manage resources; nobody else.
        self.is_staff = self.role in STAFF_ROLES
        super().save(*args, **kwargs)
        if getattr(self, "_password_changed", False):
            self._password_changed = False
            if self.has_usable_password():
                PasswordHistory.objects.create(user=self, password=self.password)

    def password_expired(self, max_age_days: int) -> bool:
        if not self.has_usable_password() or self.oidc_subject:
            return False
        if self.must_change_password:
            return True
        changed = self.password_changed_at or self.date_joined
        return timezone.now() - changed > dt.timedelta(days=max_age_days)


class PasswordHistory(models.Model):
    """Previous password hashes, so that the last few cannot be reused."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class ApiToken(models.Model):
    """A credential of an external system. Only a SHA-256 of the secret is stored; the
    secret is shown once when the token is issued."""

    account = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens",
                                verbose_name=_("账号"))
    name = models.CharField(_("名称"), max_length=100)
    prefix = models.CharField(_("前缀"), max_length=12, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices),
                        verbose_name=_("权限范围"))
    rate_limit_per_minute = models.PositiveIntegerField(_("每分钟请求上限"), default=600)
    created_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True,
                                   related_name="+", verbose_name=_("签发人"))
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    replaced_by = models.OneToOneField("self", on_delete=models.SET_NULL, null=True,
                                       blank=True, related_name="replaces")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SecurityPolicy(models.Model):
    """The security administrator's settings (one row). Defaults are the MLPS level 3
    baseline; see DOMAIN.md."""

    password_min_length = models.PositiveSmallIntegerField(_("密码最小长度"), default=8)
    password_max_age_days = models.PositiveSmallIntegerField(_("密码有效期（天）"), default=90)
    password_history = models.PositiveSmallIntegerField(_("不得重复使用的历史密码数"), default=5)
    lockout_failures = models.PositiveSmallIntegerField(_("锁定前允许失败次数"), default=5)
    lockout_minutes = models.PositiveSmallIntegerField(_("锁定时长（分钟）"), default=30)
    idle_timeout_minutes = models.PositiveSmallIntegerField(_("空闲超时（分钟）"), default=30)
    token_max_days = models.PositiveSmallIntegerField(_("令牌最长有效期（天）"), default=365)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("安全策略")
        verbose_name_plural = _("安全策略")

    @classmethod
    def current(cls) -> SecurityPolicy:
        policy = cls.objects.order_by("pk").first()
        return policy or cls.objects.create()


class TokenUsage(models.Model):
    """Requests per token per minute (rate limiting; old windows are pruned)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE)
    window_start = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "window_start"],
                                               name="token_usage_window")]
