from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from test_framework.models import AIAgent
from tests.factories import AgentFactory, ScenarioFactory


def test_admin_never_shows_the_secret_and_keeps_it_when_left_empty(db: Any) -> None:
    User.objects.create_superuser("admin", "a@example.com", "pw")
    c = Client()
    c.login(username="admin", password="pw")
    agent = AgentFactory(agora_api_key="very-secret-value")
    ScenarioFactory(agent=agent)
    listing = c.get("/admin/test_framework/aiagent/")
    assert listing.status_code == 200 and b"very-secret-value" not in listing.content and b">set<" in listing.content
    page = c.get(f"/admin/test_framework/aiagent/{agent.pk}/change/")
    assert page.status_code == 200 and b"very-secret-value" not in page.content
    form = {
        "organization": agent.organization_id, "agent_name": "Renamed", "description": "d", "inbound": "on",
        "language": "en", "assistant_provider": "agora", "agent_gives_first_message": "on",
        "agora_data": '{"session_endpoint_url": "https://x.example.com/s", "client_id": "c"}', "agora_api_key": "",
    }
    assert c.post(f"/admin/test_framework/aiagent/{agent.pk}/change/", form).status_code == 302
    agent = AIAgent.objects.get(pk=agent.pk)
    assert (agent.agent_name, agent.agora_api_key) == ("Renamed", "very-secret-value")
    for path in ("/admin/test_framework/scenario/", "/admin/test_framework/result/", "/admin/test_framework/run/"):
        assert c.get(path).status_code == 200, path
