"""Accounts and pages that an outsider can reach: sign-in throttled and locked, a cap on live
keys, rate limits per organization, a Content Security Policy, and production's defaults
(HSTS, /metrics and the API schema behind credentials)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from cekura.accounts.models import ApiKey
from cekura.accounts.services import api_key_create, api_key_revoke, user_create
from cekura.errors import InvalidInput
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase-42"


def sign_in(c: Client, username: str, password: str) -> Any:
    return c.post("/login/", {"username": username, "password": password})


def test_sign_in_is_locked_after_five_wrong_passwords_for_that_user_only(settings: Any) -> None:
    org = OrganizationFactory()
    user_create(username="ada", password=PASSWORD, organization=org)
    user_create(username="grace", password=PASSWORD, organization=org)
    c = Client()
    answers = [
        sign_in(c, "ada", f"wrong-{i}").status_code for i in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert answers[:-1] == [200] * (
        settings.AXES_FAILURE_LIMIT - 1
    )  # the form again, with its error
    assert answers[-1] == 429
    locked = sign_in(c, "ada", PASSWORD)  # even the right password, until the lock lifts
    assert (
        locked.status_code == 429
        and b"Sign-in locked" in locked.content
        and b"0:15:00" in locked.content
    )
    assert "_auth_user_id" not in c.session
    assert sign_in(Client(), "grace", PASSWORD).status_code == 302  # another user is not locked
    # The admin's sign-in is held to the same lock.
    get_user_model().objects.filter(username="ada").update(is_staff=True)
    assert (
        Client().post("/admin/login/", {"username": "ada", "password": PASSWORD}).status_code == 429
    )


def test_a_right_password_starts_the_count_again(settings: Any) -> None:
    user_create(username="ada", password=PASSWORD, organization=OrganizationFactory())
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(Client(), "ada", "wrong").status_code == 200
    assert sign_in(Client(), "ada", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(Client(), "ada", "wrong").status_code == 200
    assert sign_in(Client(), "ada", PASSWORD).status_code == 302


def test_an_organization_holds_a_bounded_number_of_live_keys(settings: Any) -> None:
    settings.MAX_API_KEYS_PER_ORGANIZATION = 3
    org = OrganizationFactory()
    keys = [api_key_create(organization=org)[0] for _ in range(3)]
    with pytest.raises(
        InvalidInput, match=r"already has 3 live API keys \(at most 3\); revoke one first"
    ):
        api_key_create(organization=org)
    assert ApiKey.objects.filter(organization=org).count() == 3
    api_key_create(organization=OrganizationFactory())  # another organization has its own cap
    api_key_revoke(organization=org, key_id=keys[0].pk)
    api_key_create(organization=org)


def test_the_dashboard_says_when_the_key_cap_is_reached(settings: Any) -> None:
    settings.MAX_API_KEYS_PER_ORGANIZATION = 1
    org = OrganizationFactory()
    user_create(username="ada", password=PASSWORD, organization=org)
    c = Client()
    assert sign_in(c, "ada", PASSWORD).status_code == 302
    assert c.post("/keys/", {"name": "one"}).status_code == 302
    page = c.post("/keys/", {"name": "two"}, follow=True)
    assert page.status_code == 200 and b"revoke one first" in page.content
    assert ApiKey.objects.filter(organization=org).count() == 1


def test_rate_limits_hold_per_organization_across_its_keys(settings: Any) -> None:
    cache.clear()
    settings.API_RATE_LIMITS = {
        "api": None,
        "launch": None,
        "api_org": "6/min",
        "launch_org": "2/min",
    }
    org = OrganizationFactory(credits=100)
    clients = []
    for _ in range(3):
        c = APIClient()
        c.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
        clients.append(c)
    codes = [clients[i % 3].get("/test_framework/v1/aiagents/").status_code for i in range(7)]
    assert codes == [200] * 6 + [429]
    other = APIClient()
    other.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=OrganizationFactory())[1])
    assert other.get("/test_framework/v1/aiagents/").status_code == 200  # another organization
    cache.clear()
    body = {"agent_id": 999999, "scenarios": [1]}
    launches = [
        clients[i % 3]
        .post("/test_framework/v1/scenarios/run_scenarios_agora/", body, format="json")
        .status_code
        for i in range(3)
    ]
    assert launches == [400, 400, 429]


def test_pages_carry_a_content_security_policy(settings: Any) -> None:
    policy = Client().get("/login/")["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy
        and "object-src 'none'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert "unsafe-inline" not in policy
    settings.API_DOCS_PUBLIC = True
    docs = Client().get("/api/docs/")
    assert (
        docs.status_code == 200
        and "script-src 'self' 'unsafe-inline'" in docs["Content-Security-Policy"]
    )


def test_schema_and_docs_need_credentials_unless_opened(settings: Any) -> None:
    settings.API_DOCS_PUBLIC = False
    assert Client().get("/api/schema/").status_code == 401
    assert Client().get("/api/docs/").status_code == 401
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=OrganizationFactory())[1])
    assert api.get("/api/schema/?format=json").status_code == 200
    member = Client()
    user_create(username="ada", password=PASSWORD, organization=OrganizationFactory())
    assert sign_in(member, "ada", PASSWORD).status_code == 302
    assert (
        member.get("/api/docs/").status_code == 200
        and member.get("/api/schema/").status_code == 200
    )
    settings.API_DOCS_PUBLIC = True
    assert Client().get("/api/schema/").status_code == 200


def test_metrics_need_a_token_or_a_staff_user_unless_opened(settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_PUBLIC = False
    assert Client().get("/metrics").status_code == 401
    get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    staff = Client()
    staff.force_login(get_user_model().objects.get(username="ops"))
    assert staff.get("/metrics").status_code == 200
    settings.METRICS_PUBLIC = True
    assert Client().get("/metrics").status_code == 200


def production_setting(name: str, **env: str) -> str:
    """A value as settings.production computes it, in a fresh interpreter (it reads the
    environment at import)."""
    base = {
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": "ZmRmZGZkZmRmZGZkZmRmZGZkZmRmZGZkZmRmZGZkZmQ=",
        "DATABASE_URL": "postgres://u@127.0.0.1:5432/test",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
    }
    code = (
        f"import django; from django.conf import settings; django.setup(); print(settings.{name})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_production_defaults_to_hsts_https_and_closed_metrics_and_docs() -> None:
    assert production_setting("SECURE_HSTS_SECONDS") == "31536000"
    assert production_setting("SECURE_SSL_REDIRECT") == "True"
    assert production_setting("METRICS_PUBLIC") == "False"
    assert production_setting("API_DOCS_PUBLIC") == "False"
    assert production_setting("API_DOCS_PUBLIC", CEKURA_API_DOCS_PUBLIC="1") == "True"
    assert production_setting("SECURE_SSL_REDIRECT", DJANGO_SSL_REDIRECT="0") == "False"
