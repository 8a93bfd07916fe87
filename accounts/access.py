"""The one place where access is decided.

Every page, REST endpoint, OGC service and tile path asks `has_function` / `require`
(functions from `accounts.roles`), and data-level visibility (layers by access level,
projects by department or owner) comes from the selectors here. Denials are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

from accounts.roles import FUNCTIONS, Role, functions_for

LAYER_LEVEL_FUNCTION = {"public": "map.public", "internal": "map.internal",
                        "confidential": "map.confidential"}


@dataclass(frozen=True)
class Principal:
    """Who is asking: an account (or nobody), its role, and what it may do here."""

    user: Any  # accounts.User or None
    role: str
    functions: frozenset[str]
    department_id: int | None = None
    token: Any = None  # accounts.ApiToken when the request came with one

    @property
    def name(self) -> str:
        if self.user is None:
            return "anonymous"
        return self.user.get_username() + (f" (token {self.token.prefix})" if self.token
                                           else "")

    def can(self, function: str) -> bool:
        return function in self.functions


ANONYMOUS = Principal(user=None, role=Role.ANONYMOUS,
                      functions=functions_for(Role.ANONYMOUS))


def principal_for_user(user: Any, token: Any = None) -> Principal:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return ANONYMOUS
    scopes = list(token.scopes) if token is not None else None
    return Principal(user=user, role=user.role, functions=functions_for(user.role, scopes),
                     department_id=user.department_id, token=token)


def principal_of(actor: Any) -> Principal:
    """The principal of a request (cached on it), a DRF request, a user, or None."""
    if isinstance(actor, Principal):
        return actor
    request = getattr(actor, "_request", actor)  # DRF wraps Django's request
    if isinstance(request, HttpRequest):
        cached = getattr(request, "_principal", None)
        if cached is None:
            cached = principal_for_user(getattr(request, "user", None),
                                        getattr(request, "api_token", None))
            request._principal = cached
        return cached
    return principal_for_user(actor)


def has_function(actor: Any, function: str) -> bool:
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function}")
    return principal_of(actor).can(function)


def deny(actor: Any, function: str, obj: str = "") -> PermissionDenied:
    """Record the refusal and return the exception to raise."""
    from audit.services import record  # audit depends on accounts, not the other way round

    request = getattr(actor, "_request", actor)
    record("access.denied", request=request if isinstance(request, HttpRequest) else None,
           principal=principal_of(actor), obj=obj or function, result="denied",
           detail={"function": function})
    return PermissionDenied(f"无权执行：{FUNCTIONS[function][0]} "
                            f"(not allowed: {FUNCTIONS[function][1]})")


def require(actor: Any, function: str, obj: str = "") -> Principal:
    """Refuse (audited) or allow. Allowed uses are audited by what they do: explicit
    records in the views and the audit middleware's record of every write."""
    principal = principal_of(actor)
    if not principal.can(function):
        raise deny(actor, function, obj)
    return principal


def requires(function: str) -> Callable:
    """Decorator for Django views; the required function is recorded on the view so the
    permission-matrix test can enumerate every endpoint."""
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            principal = principal_of(request)
            if principal.user is None and not principal.can(function):
                # Nobody signed in yet: the sign-in page, not a bare refusal.
                return redirect_to_login(request.get_full_path())
            require(request, function, request.path)
            return view(request, *args, **kwargs)

        wrapped.required_function = function  # type: ignore[attr-defined]
        return wrapped

    return decorate


def public(view: Callable) -> Callable:
    """Mark a view as open to everyone (still enumerated by the matrix test)."""
    view.required_function = None  # type: ignore[attr-defined]
    return view


class Requires(BasePermission):
    """DRF permission: `permission_classes = [Requires.of("layers.import")]`."""

    function = "map.public"

    @classmethod
    def of(cls, function: str) -> type[Requires]:
        if function not in FUNCTIONS:
            raise ValueError(f"unknown function {function}")
        return type(f"Requires_{function.replace('.', '_')}", (cls,), {"function": function})

    def has_permission(self, request: Any, view: Any) -> bool:
        require(request, self.function, request.path)
        return True


def layer_access_levels(actor: Any) -> list[str]:
    principal = principal_of(actor)
    return [level for level, fn in LAYER_LEVEL_FUNCTION.items() if principal.can(fn)]


def can_see_layer(actor: Any, access_level: str) -> bool:
    return access_level in layer_access_levels(actor)
