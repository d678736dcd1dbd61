"""OpenAPI extensions and post-processing.

drf-spectacular documents what a view returns on success; the answers every view shares (bad
input, no key, not found, rate limited) and the launches' short balance are added here, so that
every status code the API can answer is in the schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
# DRF's field errors ({"field": ["message"], "nested": {"0": {"field": [...]}}}) or {"detail":
# "..."}.
FIELD_ERRORS = {"type": "object", "additionalProperties": True}

ERRORS = {
    "400": ("Bad input: the field errors, or a detail.", "FieldErrors"),
    "401": ("No API key, or not a valid one.", "ErrorDetail"),
    "404": ("No such row in this organization (or no such page).", "ErrorDetail"),
    "429": (
        "Too many requests for this key or organization; Retry-After says when.",
        "ErrorDetail",
    ),
}
LAUNCH_ERRORS = {"402": ("Insufficient balance for this operation.", "ErrorDetail")}
RANGED = {"416": ("The Range header asks for bytes the file does not have.", "ErrorDetail")}
OPERATIONS = ("get", "post", "put", "patch", "delete")


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "cekura.auth.ApiKeyAuthentication"
    name = "CekuraApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-CEKURA-API-KEY"}


def document_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """A drf-spectacular post-processing hook: the shared error answers on every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", DETAIL)
    schemas.setdefault("FieldErrors", FIELD_ERRORS)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in OPERATIONS:
                continue
            extra = dict(ERRORS)
            if "run_scenarios" in path:
                extra.update(LAUNCH_ERRORS)
            if path.endswith("/recording/"):
                extra.update(RANGED)
            responses = operation.setdefault("responses", {})
            for code, (description, schema) in extra.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{schema}"}
                            }
                        },
                    },
                )
    return result
