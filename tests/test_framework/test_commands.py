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


def test_field_keys_rotate_and_old_keys_still_decrypt(db: Any, settings: Any) -> None:
    from cryptography.fernet import Fernet
    from django.core.management import CommandError, call_command
    from django.db import connection

    from test_framework.models import AIAgent
    from tests.factories import AgentFactory

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    agent = AgentFactory(agora_api_key="rotate-me")

    def raw() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT agora_api_key FROM test_framework_aiagent WHERE id = %s", [agent.pk]
            )
            return cursor.fetchone()[0]

    before = raw()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert AIAgent.objects.get(pk=agent.pk).agora_api_key == "rotate-me"  # old keys still decrypt
    call_command("rotate_field_keys")
    assert raw() != before and "rotate-me" not in raw()
    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone: the secret still opens
    assert AIAgent.objects.get(pk=agent.pk).agora_api_key == "rotate-me"
    rotated = raw()
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_field_keys")
    assert raw() == rotated
