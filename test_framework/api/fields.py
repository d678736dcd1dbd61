from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def coerce_id(value: Any) -> int:
    """Ids may arrive as JSON numbers or as strings ("12"); booleans and floats are refused."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError


@extend_schema_field(OpenApiTypes.INT)
class LenientIdField(serializers.Field):
    default_error_messages = {"invalid": "A valid integer is required."}

    def to_internal_value(self, data: Any) -> int:
        try:
            return coerce_id(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: Any) -> int:
        return int(value)
