"""Account administration for the system administrator: create, edit, disable accounts.

Roles, permissions and groups are not editable here (the security administrator assigns
roles on /accounts/roles/), and there are no superusers.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group

from accounts.models import Department, User
from audit.services import record

admin.site.unregister(Group)  # roles replace groups


class AccountCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("username", "last_name", "first_name", "email", "department",
                  "organization_name", "organization_credit_code")


@admin.register(User)
class AccountAdmin(DjangoUserAdmin):
    add_form = AccountCreationForm
    list_display = ("username", "last_name", "first_name", "role", "department", "is_active",
                    "last_login")
    list_filter = ("role", "department", "is_active")
    search_fields = ("username", "last_name", "first_name", "email", "organization_name")
    readonly_fields = ("role", "last_login", "date_joined", "password_changed_at")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("个人信息", {"fields": ("last_name", "first_name", "email")}),
        ("单位", {"fields": ("department", "organization_name", "organization_credit_code")}),
        ("状态", {"fields": ("is_active", "must_change_password", "role", "last_login",
                           "date_joined", "password_changed_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("username", "last_name", "first_name", "email", "department",
                           "organization_name", "organization_credit_code", "password1",
                           "password2")}),
    )

    def save_model(self, request: Any, obj: User, form: forms.Form, change: bool) -> None:
        if not change:
            obj.must_change_password = True  # initial passwords are changed at first sign-in
        before = None
        if change:
            old = User.objects.get(pk=obj.pk)
            before = {f: str(getattr(old, f)) for f in form.changed_data if hasattr(old, f)}
        super().save_model(request, obj, form, change)
        if not change:
            obj.must_change_password = True
            obj.save(update_fields=["must_change_password"])
        record("accounts.changed" if change else "accounts.created", request=request,
               obj=obj.username, before=before,
               after={f: str(getattr(obj, f)) for f in form.changed_data
                      if hasattr(obj, f) and "password" not in f})


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name_zh", "name_en")
