from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import SecurityPolicy, User
from accounts.roles import DEPARTMENT_ROLES, Role, Scope


class RoleAssignmentForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["role", "department"]

    def clean(self) -> dict:
        data = super().clean()
        if data.get("role") in DEPARTMENT_ROLES and not data.get("department"):
            raise forms.ValidationError(_("审查人员和部门负责人须指定部门 (department required)"))
        if data.get("role") == Role.ANONYMOUS:
            raise forms.ValidationError(_("不能授予“公众”角色"))
        return data


class TokenIssueForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=User.objects.filter(role=Role.EXTERNAL_SYSTEM, is_active=True),
        label=_("外部系统账号"))
    name = forms.CharField(max_length=100, label=_("名称"))
    scopes = forms.MultipleChoiceField(choices=Scope.choices, label=_("权限范围"),
                                       widget=forms.CheckboxSelectMultiple)
    days = forms.IntegerField(min_value=1, max_value=3650, initial=365, label=_("有效期（天）"))
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=600,
                                               label=_("每分钟请求上限"))


class SecurityPolicyForm(forms.ModelForm):
    class Meta:
        model = SecurityPolicy
        exclude = ["updated_at"]

    def clean_password_min_length(self) -> int:
        value = self.cleaned_data["password_min_length"]
        if value < 8:
            raise forms.ValidationError(_("不得低于等保三级基线 8 位"))
        return value

    def clean_lockout_failures(self) -> int:
        value = self.cleaned_data["lockout_failures"]
        if not 1 <= value <= 10:
            raise forms.ValidationError(_("应为 1–10 次"))
        return value
