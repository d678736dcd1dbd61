"""Views of the project as a whole (not of one app)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated

from cekura.auth import ApiKeyAuthentication


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """A path under the API that names nothing: DRF's 404 body."""
    return JsonResponse({"detail": "Not found."}, status=404)


class _DocsAccess:
    """The schema and its docs page: open, or (production's default) for an API key or a
    signed-in dashboard user; settings.API_DOCS_PUBLIC decides on each request."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [
        ApiKeyAuthentication,
        SessionAuthentication,
    ]

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if settings.API_DOCS_PUBLIC else [IsAuthenticated()]


class SchemaView(_DocsAccess, SpectacularAPIView):
    pass


class DocsView(_DocsAccess, SpectacularSwaggerView):
    @extend_schema(exclude=True)
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().get(request, *args, **kwargs)
        # Swagger UI's page starts itself with an inline script and style.
        response._csp_update = {
            "script-src": ["'self'", "'unsafe-inline'"],
            "style-src": ["'self'", "'unsafe-inline'"],
        }
        return response
