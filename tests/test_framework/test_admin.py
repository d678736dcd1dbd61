from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from test_framework.models import AIAgent
from tests.factories import AgentFactory, ScenarioFactory


def test_admin_never_shows_the_secret_and_keeps_it_when_left_empty(db: Any) -> None:
    User.objects.create_superuser("admin", "a@example.com", "pw")
    c = Client()
    c.force_login(User.objects.get(username="admin"))
    agent = AgentFactory(agora_api_key="very-secret-value")
    ScenarioFactory(agent=agent)
    listing = c.get("/admin/test_framework/aiagent/")
    assert (
        listing.status_code == 200
        and b"very-secret-value" not in listing.content
        and b">set<" in listing.content
    )
    page = c.get(f"/admin/test_framework/aiagent/{agent.pk}/change/")
    assert page.status_code == 200 and b"very-secret-value" not in page.content
    form = {
        "organization": agent.organization_id,
        "agent_name": "Renamed",
        "description": "d",
        "inbound": "on",
        "language": "en",
        "assistant_provider": "agora",
        "agent_gives_first_message": "on",
        "agora_data": '{"session_endpoint_url": "https://x.example.com/s", "client_id": "c"}',
        "agora_api_key": "",
    }
    assert c.post(f"/admin/test_framework/aiagent/{agent.pk}/change/", form).status_code == 302
    agent = AIAgent.objects.get(pk=agent.pk)
    assert (agent.agent_name, agent.agora_api_key) == ("Renamed", "very-secret-value")
    for path in (
        "/admin/test_framework/scenario/",
        "/admin/test_framework/result/",
        "/admin/test_framework/run/",
    ):
        assert c.get(path).status_code == 200, path


def test_a_large_result_is_not_listed_whole_in_the_admin(
    db: Any, django_assert_max_num_queries: Any
) -> None:
    """A result's admin page gives its runs' counts and a link to the runs page, which is
    paginated; neither grows with the number of runs (before: every run inline, one query each)."""
    from test_framework.choices import Status
    from test_framework.models import Result, Run

    User.objects.create_superuser("admin", "a@example.com", "pw")
    c = Client()
    c.force_login(User.objects.get(username="admin"))
    scenario = ScenarioFactory()
    result = Result.objects.create(organization=scenario.organization, agent=scenario.agent)
    Run.objects.bulk_create(
        [
            Run(
                organization=scenario.organization,
                result=result,
                scenario=scenario,
                agent=scenario.agent,
                status=Status.COMPLETED if i % 3 else Status.FAILED,
            )
            for i in range(600)
        ]
    )
    with django_assert_max_num_queries(20):
        page = c.get(f"/admin/test_framework/result/{result.pk}/change/")
    assert page.status_code == 200
    assert (
        b"200 failed, 400 completed" in page.content or b"400 completed, 200 failed" in page.content
    )
    link = f"/admin/test_framework/run/?result__id__exact={result.pk}"
    assert link.encode() in page.content.replace(b"&amp;", b"&")
    with django_assert_max_num_queries(20):
        listing = c.get(link)
    assert (
        listing.status_code == 200 and listing.content.count(b'class="action-select"') == 100
    )  # one page
