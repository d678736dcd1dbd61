from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from cekura.accounts.models import ApiKey, Organization


def test_create_api_key_prints_the_key_alone_on_its_last_line(db: Any) -> None:
    out = StringIO()
    call_command("create_api_key", "--organization", "Acme", "--credits", "5", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("ck_") and " " not in key
    org = Organization.objects.get(name="Acme")
    assert org.credits == 5
    assert not ApiKey.objects.filter(digest=key).exists()  # only the digest is stored
    c = APIClient()
    c.credentials(HTTP_X_CEKURA_API_KEY=key)
    assert c.get("/test_framework/v1/aiagents/").status_code == 200


def test_add_credits(db: Any) -> None:
    call_command("create_api_key", "--organization", "Acme", stdout=StringIO())
    out = StringIO()
    call_command("add_credits", "--organization", "Acme", "7", stdout=out)
    assert "now has 7 credits" in out.getvalue()
    with pytest.raises(CommandError, match="No organization"):
        call_command("add_credits", "--organization", "Nobody", "7")
    with pytest.raises(CommandError, match="positive"):
        call_command("add_credits", "--organization", "Acme", "0")
