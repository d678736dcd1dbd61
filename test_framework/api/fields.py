from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cekura.converters import MAX_ID  # a row id: 64-bit signed in every database we run on

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() takes "²" and "٣"


def coerce_id(value: Any) -> int:
    """Ids may arrive as JSON numbers or as strings ("12"); booleans, floats, signs, digits
    other than 0-9 and numbers past the database's range are refused (ValueError)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value <= MAX_ID:
        return value
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
