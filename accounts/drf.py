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
