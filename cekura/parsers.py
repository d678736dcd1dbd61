"""Request bodies as JSON, with a bound on nesting: a body nested thousands deep is a 400, not
a RecursionError in the parser (500) or in whatever later walks it. A NUL character anywhere in
the body is a 400 too: PostgreSQL holds none in text or jsonb."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64


def problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """What makes a parsed body unacceptable (too deep, a NUL in a string), or None. Walked
    without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "null characters are not allowed"
            continue
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return f"nested deeper than {limit} levels"
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, dict | list | str)
        )
    return None


def loads(text: str | bytes) -> Any:
    """json.loads with the nesting bound; ValueError for either problem."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    found = problem(value)
    if found:
        raise ValueError(found)
    return value


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
        found = problem(data)
        if found:
            raise ParseError(f"JSON parse error - {found}")
        return data
