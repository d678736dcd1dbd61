from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cekura.errors import InsufficientBalance, InvalidInput

from .models import ApiKey, Membership, Organization

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
    """Create a key; the raw key is returned once and never stored. An organization holds at
    most settings.MAX_API_KEYS_PER_ORGANIZATION live keys (InvalidInput past it)."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    limit = settings.MAX_API_KEYS_PER_ORGANIZATION
    with transaction.atomic():
        # The organization's row is the lock: two creations at once cannot both pass the count.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        live = ApiKey.objects.filter(organization=organization, revoked_at__isnull=True).count()
        if live >= limit:
            raise InvalidInput(
                f"This organization already has {live} live API keys (at most {limit}); revoke one "
                "first.",
                field="key",
            )
        key = ApiKey.objects.create(
            organization=organization, name=name, prefix=raw[:10], digest=api_key_digest(raw)
        )
    return key, raw


def api_key_revoke(*, organization: Organization, key_id: int) -> ApiKey:
    """Revoke one of the organization's keys (at once: the next request with it is refused)."""
    key = ApiKey.objects.filter(organization=organization, pk=key_id).first()
    if key is None:
        raise InvalidInput("No such API key.", field="key")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def user_create(
    *, username: str, password: str, organization: Organization, email: str = ""
) -> Membership:
    """A dashboard user in an organization; the password must pass Django's validators."""
    User = get_user_model()
    if not username.strip():
        raise InvalidInput("Username must not be empty.", field="username")
    if User.objects.filter(username=username.strip()).exists():
        raise InvalidInput(f"A user named {username.strip()!r} already exists.", field="username")
    try:
        validate_password(password)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        user = User.objects.create_user(username=username.strip(), password=password, email=email)
        return Membership.objects.create(user=user, organization=organization)


def organization_of(user: object) -> Organization | None:
    """The organization a signed-in dashboard user belongs to, if any."""
    membership = (
        Membership.objects.select_related("organization")
        .filter(user_id=getattr(user, "pk", None) or 0)
        .first()
    )
    return membership.organization if membership else None


def credits_add(*, organization: Organization, amount: int) -> int:
    if amount <= 0:
        raise InvalidInput("Credits to add must be a positive integer.", field="amount")
    Organization.objects.filter(pk=organization.pk).update(credits=F("credits") + amount)
    organization.refresh_from_db(fields=["credits"])
    return organization.credits


def credits_refund(*, organization_id: int, amount: int) -> None:
    """Give credits back (a run that never reached the agent, or failed on our side)."""
    if amount > 0:
        Organization.objects.filter(pk=organization_id).update(credits=F("credits") + amount)


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
