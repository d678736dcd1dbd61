"""Tells drf-spectacular how API-key authentication looks in the OpenAPI schema."""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "cekura.auth.ApiKeyAuthentication"
    name = "CekuraApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-CEKURA-API-KEY"}
