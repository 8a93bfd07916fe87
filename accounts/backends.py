"""Django model permissions derived from roles, for the admin site only.

Everything else asks `accounts.access`; this backend only lets the admin site show the
pages a role's functions cover. Account editing never includes roles or permissions
(those belong to the security administrator).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend

from accounts.roles import functions_for

FUNCTION_MODEL_PERMS: dict[str, set[str]] = {
    "accounts.manage": {"accounts.add_user", "accounts.change_user", "accounts.view_user",
                        "accounts.add_department", "accounts.change_department",
                        "accounts.view_department"},
    "resources.manage": {"layers.add_layer", "layers.change_layer", "layers.view_layer",
                         "layers.view_layerversion", "layers.view_feature",
                         "approvals_link.view_project", "approvals_link.view_projectfootprint"},
    "layers.import": {"layers.view_layer", "layers.view_layerversion", "layers.view_feature",
                      "layers.change_feature", "layers.change_layer"},
    # Conformity rules are plan data: whoever publishes plan versions maintains them.
    "layers.publish": {"layers.view_layerversion", "approvals_link.view_conformityrule",
                       "approvals_link.add_conformityrule",
                       "approvals_link.change_conformityrule",
                       "approvals_link.delete_conformityrule"},
}


class RolePermissionBackend(BaseBackend):
    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        perms: set[str] = set()
        for function in functions_for(user_obj.role):
            perms |= FUNCTION_MODEL_PERMS.get(function, set())
        return perms

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return any(p.startswith(app_label + ".") for p in self.get_all_permissions(user_obj))
