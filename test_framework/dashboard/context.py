from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from cekura.accounts.services import organization_of

SECTIONS = {
    "agent": "agents",
    "key": "keys",
    "scenario": "scenarios",
    "result": "results",
    "run": "results",
    "personalit": "personalities",
    "metric": "metrics",
    "credits": "credits",
}


def nav(request: HttpRequest) -> dict[str, Any]:
    """Which dashboard section the page belongs to, and the organization's credit balance, for
    the header."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.namespace != "dashboard":
        return {}
    name = match.url_name or ""
    out: dict[str, Any] = {
        "nav": next((v for k, v in SECTIONS.items() if name.startswith(k)), ""),
        "credits": None,
        "credits_per_run": settings.CREDITS_PER_RUN,
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        org = organization_of(user)
        out["credits"] = org.credits if org is not None else None
    return out
