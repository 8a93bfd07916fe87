"""The client's address, also behind the documented nginx arrangement.

With PROXY_COUNT = 0 (default) the address is the socket peer; behind N trusted reverse
proxies it is the N-th address from the right of X-Forwarded-For, which a client cannot
forge past the proxies it went through. Lockout (django-axes), rate limits and the audit
trail all use this one function.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    count = getattr(settings, "PROXY_COUNT", 0)
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                if h.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR") or None
