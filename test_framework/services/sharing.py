"""Share links: read-only pages of some results for anyone holding the link."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from cekura.accounts.models import Organization

from .. import selectors
from ..models import Result, ShareLink

log = logging.getLogger(__name__)


SHARE_LINK_DEFAULT_DAYS = 7


def share_link_create(
    *, organization: Organization, results: Sequence[Result], name: str = "", expire_at: Any = ...
) -> tuple[ShareLink, str]:
    """A link anyone can open to read `results` until `expire_at` (default: in 7 days; None:
    until revoked). Returns the link and its token, which is shown once: only its digest is
    kept."""
    if expire_at is ...:
        expire_at = timezone.now() + timedelta(days=SHARE_LINK_DEFAULT_DAYS)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ShareLink.objects.create(
            organization=organization,
            name=name[:200],
            digest=selectors.share_token_digest(token),
            expire_at=expire_at,
        )
        link.results.set(results)
    log.info("share link %s created for result(s) %s", link.pk, [r.pk for r in results])
    return link, token


def share_link_revoke(*, link: ShareLink) -> ShareLink:
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db()
    return link
