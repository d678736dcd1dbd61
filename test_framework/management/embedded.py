"""What serve_embedded and demo do to the embedded default's database before they start."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.management import call_command


def prepare_database() -> None:
    """Migrate; re-encrypt secrets stored under the old public-derived field key with the kept
    random one (settings/local.py), so that the old key opens nothing any more."""
    call_command("migrate", interactive=False, verbosity=0)
    legacy = getattr(settings, "LEGACY_FIELD_ENCRYPTION_KEY", None)
    if legacy and legacy in settings.FIELD_ENCRYPTION_KEYS[1:]:
        call_command("rotate_field_keys", stdout=io.StringIO())
