from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.db.models import F

from cekura.errors import InsufficientBalance, InvalidInput

from .models import ApiKey, Organization

KEY_PREFIX = "ck_"


def api_key_digest(raw: str) -> str:
    # Keys are 256 random bits, so a plain digest is enough; no slow hash needed.
    return hashlib.sha256(raw.encode()).hexdigest()


def organization_get_or_create(*, name: str) -> Organization:
    if not name.strip():
        raise InvalidInput("Organization name must not be empty.", field="organization")
    org, _ = Organization.objects.get_or_create(name=name.strip())
    return org


def api_key_create(*, organization: Organization, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organization=organization, name=name, prefix=raw[:10], digest=api_key_digest(raw)
    )
    return key, raw


def credits_add(*, organization: Organization, amount: int) -> int:
    if amount <= 0:
        raise InvalidInput("Credits to add must be a positive integer.", field="amount")
    Organization.objects.filter(pk=organization.pk).update(credits=F("credits") + amount)
    organization.refresh_from_db(fields=["credits"])
    return organization.credits


def credits_debit(*, organization_id: int, amount: int) -> None:
    """Debit atomically; a short balance raises and changes nothing.

    The conditional UPDATE is the guard: two launches racing for the last credits can
    never both succeed, and the balance never goes negative.
    """
    if amount <= 0:
        return
    with transaction.atomic():
        updated = Organization.objects.filter(pk=organization_id, credits__gte=amount).update(
            credits=F("credits") - amount
        )
    if updated != 1:
        raise InsufficientBalance()
