"""Roles, the functions of the system, and the permission matrix between them.

This module is the written permission matrix: README's table is generated from it
(`python manage.py permission_matrix`) and every check in the system goes through
`accounts.access`, which reads only this table. A role is a set of functions; an API token
further narrows its account's functions to the token's scopes.

Three-administrator separation (三员分立) is a property of the table: the system, security
and audit administrators share no function, and each account has exactly one role.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ANONYMOUS = "anonymous", _("公众（未登录）")
    NONE = "none", _("未授权账号")
    APPLICANT = "applicant", _("申请人（企业）")
    REVIEWER = "reviewer", _("审查人员")
    DEPARTMENT_HEAD = "department_head", _("部门负责人")
    PLAN_DATA_MANAGER = "plan_data_manager", _("规划数据管理员")
    SYSTEM_ADMIN = "system_admin", _("系统管理员")
    SECURITY_ADMIN = "security_admin", _("安全管理员")
    AUDIT_ADMIN = "audit_admin", _("审计管理员")
    EXTERNAL_SYSTEM = "external_system", _("外部系统")


# Functions: (code, Chinese, English). Codes are stable; checks name them.
FUNCTIONS: dict[str, tuple[str, str]] = {
    "map.public": ("查看公开图层与地图服务", "View public layers and map services"),
    "map.internal": ("查看内部图层", "View internal layers"),
    "map.confidential": ("查看涉密图层", "View confidential layers"),
    "layers.import": ("导入图层版本", "Import layer versions"),
    "layers.publish": ("发布图层版本", "Publish layer versions"),
    "boundary.check": ("红线预检（不保存）", "Check a boundary file (nothing stored)"),
    "projects.view_own": ("查看本单位项目", "View own projects"),
    "projects.view_department": ("查看本部门经办项目", "View the department's projects"),
    "projects.view_all": ("查看全部项目", "View all projects"),
    "approvals.write": ("推送审批数据", "Push approval records"),
    "documents.read": ("下载项目文件", "Download project documents"),
    "documents.upload": ("上传项目文件", "Upload project documents"),
    "conformity.run": ("合规性审查", "Run conformity checks"),
    "conformity.sign_off": ("审查报告签发", "Sign off conformity reports"),
    "accounts.manage": ("账号管理", "Manage accounts"),
    "resources.manage": ("资源与备份管理", "Manage resources and backups"),
    "ops.view": ("运行监控与告警", "View monitoring and alerts"),
    "roles.assign": ("角色授权", "Assign roles"),
    "policy.manage": ("安全策略", "Manage security policies"),
    "tokens.manage": ("接口令牌管理", "Manage API tokens"),
    "audit.read": ("查阅审计记录", "Read audit records"),
    "audit.export": ("导出审计记录", "Export audit records"),
}

_PUBLIC = {"map.public"}
_REVIEWER = _PUBLIC | {"map.internal", "boundary.check", "projects.view_department",
                       "documents.read", "documents.upload", "conformity.run"}

ROLE_FUNCTIONS: dict[str, frozenset[str]] = {
    Role.ANONYMOUS: frozenset(_PUBLIC | {"boundary.check"}),
    Role.NONE: frozenset(_PUBLIC),
    Role.APPLICANT: frozenset(_PUBLIC | {"boundary.check", "projects.view_own",
                                         "documents.read", "documents.upload"}),
    Role.REVIEWER: frozenset(_REVIEWER),
    Role.DEPARTMENT_HEAD: frozenset(_REVIEWER | {"map.confidential", "conformity.sign_off"}),
    # Planners see every project: publishing a plan amendment must show whom it affects.
    Role.PLAN_DATA_MANAGER: frozenset(_PUBLIC | {"map.internal", "map.confidential",
                                                 "layers.import", "layers.publish",
                                                 "boundary.check", "conformity.run",
                                                 "projects.view_all"}),
    Role.SYSTEM_ADMIN: frozenset(_PUBLIC | {"accounts.manage", "resources.manage",
                                            "ops.view"}),
    Role.SECURITY_ADMIN: frozenset(_PUBLIC | {"roles.assign", "policy.manage",
                                              "tokens.manage"}),
    Role.AUDIT_ADMIN: frozenset(_PUBLIC | {"audit.read", "audit.export"}),
    Role.EXTERNAL_SYSTEM: frozenset(_PUBLIC | {"map.internal", "approvals.write",
                                               "projects.view_all", "documents.read"}),
}

ADMIN_ROLES = (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)
DEPARTMENT_ROLES = (Role.REVIEWER, Role.DEPARTMENT_HEAD)
# Roles whose accounts use the Django admin site (resources, accounts, layers).
STAFF_ROLES = (Role.SYSTEM_ADMIN, Role.PLAN_DATA_MANAGER)


class Scope(models.TextChoices):
    MAP_READ = "map:read", _("读取地图服务")
    APPROVALS_WRITE = "approvals:write", _("写入审批数据")
    DOCUMENTS_READ = "documents:read", _("读取项目文件")


# What each token scope can unlock (still within the account's role).
SCOPE_FUNCTIONS: dict[str, frozenset[str]] = {
    Scope.MAP_READ: frozenset({"map.public", "map.internal", "map.confidential"}),
    Scope.APPROVALS_WRITE: frozenset({"approvals.write", "projects.view_all"}),
    Scope.DOCUMENTS_READ: frozenset({"documents.read", "projects.view_all"}),
}


def functions_for(role: str, scopes: list[str] | None = None) -> frozenset[str]:
    granted = ROLE_FUNCTIONS.get(role, ROLE_FUNCTIONS[Role.ANONYMOUS])
    if scopes is None:
        return granted
    allowed: set[str] = set()
    for scope in scopes:
        allowed |= SCOPE_FUNCTIONS.get(scope, frozenset())
    return granted & frozenset(allowed)
