"""The base API view that checks a function per HTTP method: sign in first, then the role.

Kept apart from accounts.drf (DRF's authentication setting imports that module, and this
one imports APIView, which reads that setting).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http.response import HttpResponseBase
from rest_framework.exceptions import NotAuthenticated
from rest_framework.views import APIView

from accounts.access import deny, principal_of


class SignInRequired(NotAuthenticated):
    default_detail = "请先登录或提供接口令牌 Authorization: Bearer <令牌> (authentication required)"


def wants_json(request: Any) -> bool:
    """An API client: asks for JSON, or sends JSON (integrations often omit Accept)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    sent = request.META.get("CONTENT_TYPE", "")
    return "json" in accept or sent.startswith("application/json")


class FunctionAPIView(APIView):
    """An API view naming the function (accounts.roles) each HTTP method requires.

    The check runs before anything is read. Callers without credentials are told to
    authenticate rather than refused: 401 with `WWW-Authenticate: Bearer` for API clients,
    the sign-in page otherwise (the site's convention, as `access.requires` does for
    pages). Every refusal is audited.
    """

    functions: dict[str, str | None] = {}
    default_function: str | None = None

    def function_for(self, method: str | None) -> str | None:
        return self.functions.get(method or "", self.default_function)

    def check_permissions(self, request: Any) -> None:
        function = self.function_for(request.method)
        if function is not None:
            principal = principal_of(request)
            if not principal.can(function):
                refusal = deny(request, function, request.path)
                if principal.user is None:
                    raise SignInRequired()
                raise refusal
        super().check_permissions(request)

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, SignInRequired) and not wants_json(self.request):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
