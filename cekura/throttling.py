"""Rate limits per API key and per organization (429 with Retry-After). The rates are read
from settings on each request, so they can be changed without a restart of the test process;
the counts live in the default cache (Redis in production, so every web process shares
them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyThrottle(SimpleRateThrottle):
    """Every request made with one API key (or by one signed-in user)."""

    scope = "api"

    def __init__(self) -> None:  # the rate is looked up per request, not at import
        pass

    def get_rate(self) -> str | None:
        return settings.API_RATE_LIMITS.get(self.scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return None  # refused by authentication anyway
        ident = f"key{user.api_key_id}" if hasattr(user, "api_key_id") else f"user{user.pk}"
        return f"throttle:{self.scope}:{ident}"


class LaunchThrottle(ApiKeyThrottle):
    """Launches (each one places calls and spends credits) have a tighter limit of their own."""

    scope = "launch"


class OrganizationThrottle(ApiKeyThrottle):
    """Every request of one organization, whichever of its keys made it: more keys do not buy
    more requests."""

    scope = "api_org"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        organization = getattr(request.user, "organization", None)
        return None if organization is None else f"throttle:{self.scope}:org{organization.pk}"


class OrganizationLaunchThrottle(OrganizationThrottle):
    scope = "launch_org"


# What a launch (or anything else that places calls or mints links) is held to.
LAUNCH_THROTTLES = [
    ApiKeyThrottle,
    OrganizationThrottle,
    LaunchThrottle,
    OrganizationLaunchThrottle,
]
