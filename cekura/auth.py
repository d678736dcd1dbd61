"""`X-CEKURA-API-KEY` authentication: every request acts for the key's organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework import authentication, exceptions

from cekura.accounts.models import ApiKey, Organization
from cekura.accounts.services import api_key_digest

HEADER = "X-CEKURA-API-KEY"


@dataclass
class ApiKeyPrincipal:
    """What `request.user` is for an API-key request."""

    organization: Organization
    api_key_id: int
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False

    @property
    def pk(self) -> str:
        return f"apikey:{self.api_key_id}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        raw = request.headers.get(HEADER)
        if raw is None:
            return None
        raw = raw.strip()
        if not raw:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        key = (
            ApiKey.objects.select_related("organization")
            .filter(digest=api_key_digest(raw), revoked_at__isnull=True)
            .first()
        )
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return ApiKeyPrincipal(organization=key.organization, api_key_id=key.pk), key

    def authenticate_header(self, request: Any) -> str:
        # Having a value here is what makes DRF answer 401 (not 403) to a missing key.
        return HEADER


from . import schema as _schema  # noqa: E402,F401  (registers the OpenAPI scheme)
