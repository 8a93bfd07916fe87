"""DRF authentication that reuses what ApiTokenMiddleware established."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        token = getattr(request._request, "api_token", None)
        if token is None:
            return None
        return token.account, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="neixiang"'


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
except ImportError:  # pragma: no cover - drf-spectacular is pinned in requirements.txt
    OpenApiAuthenticationExtension = None

if OpenApiAuthenticationExtension is not None:
    class ApiTokenScheme(OpenApiAuthenticationExtension):
        """Tells integrators, in /api/schema/, how to send the token (and keeps
        drf-spectacular from warning that it cannot describe this authentication)."""

        target_class = "accounts.drf.ApiTokenAuthentication"
        name = "apiToken"

        def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
            return {"type": "http", "scheme": "bearer", "bearerFormat": "nx_<prefix>_<secret>",
                    "description": "外部系统令牌，由系统管理员签发 (API token of an external "
                                   "system, issued by the system administrator)"}
