from __future__ import annotations

from typing import Any

from django.http import HttpRequest

SECTIONS = {
    "agent": "agents",
    "key": "keys",
    "scenario": "scenarios",
    "result": "results",
    "run": "results",
}


def nav(request: HttpRequest) -> dict[str, Any]:
    """Which dashboard section the page belongs to, for the header."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.namespace != "dashboard":
        return {}
    name = match.url_name or ""
    return {"nav": next((v for k, v in SECTIONS.items() if name.startswith(k)), "")}
