"""API throttling that tells anonymous clients apart by the same address as the sign-in lock-out."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle

from homesec.core.net import client_ip


class ClientUserRateThrottle(UserRateThrottle):
    """Per user when signed in; otherwise per client address, as homesec.core.net sees it
    (DRF's own guess trusts any X-Forwarded-For unless told how many proxies there are)."""

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or "unknown"
