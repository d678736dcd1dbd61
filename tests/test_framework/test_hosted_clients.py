"""What the hosted product's own CI clients call and read (spec/hosted-clients.md):
run_scenarios, share links, the legacy fields of binary metrics, JSON 404s, metric slugs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from test_framework.choices import Status
from test_framework.models import AIAgent, Metric, Result, Run, ShareLink
from test_framework.selectors import share_token_digest
from tests.factories import AgentFactory, ScenarioFactory


@pytest.fixture
def no_calls(monkeypatch: Any) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)


# --- run_scenarios ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "/test_framework/v1/scenarios/",
        "/test_framework/v1/scenarios-external/",
        "/test_framework/v2/scenarios/",
    ],
)
def test_run_scenarios_takes_the_hosted_body(
    client: APIClient, agent: AIAgent, no_calls: None, prefix: str
) -> None:
    a, b = ScenarioFactory(agent=agent, name="Book"), ScenarioFactory(agent=agent)
    body = {
        "agent_id": str(agent.pk),
        "scenarios": [str(a.pk), b.pk],
        "frequency": 2,
        "name": "CI",
        "concurrency_limit": 2,
        "project_id": 742,
        "mode": "different_numbers",
        "mock_tool_names": [],
        "agent_number": "+15555550100",
    }
    r = client.post(prefix + "run_scenarios/", body, format="json")
    assert r.status_code == 200, r.json()
    launched = r.json()
    assert set(launched) == {
        "id",
        "name",
        "agent",
        "status",
        "success_rate",
        "run_as_text",
        "is_cronjob",
        "runs",
        "created_at",
        "updated_at",
    }
    assert (launched["name"], launched["agent"], launched["status"], len(launched["runs"])) == (
        "CI",
        agent.pk,
        "in_progress",
        4,
    )
    assert launched["runs"][0]["scenario_name"] == "Book"
    assert Result.objects.get(pk=launched["id"]).concurrency_limit == 2


def test_run_scenarios_runs_a_catalog_agents_scenarios_against_another_agent(
    client: APIClient, org: Any, no_calls: None
) -> None:
    catalog = AgentFactory(organization=org, agent_name="Catalog")
    target = AgentFactory(organization=org, agent_name="Target")
    scenario = ScenarioFactory(agent=catalog, name="AS1 - Book")
    r = client.post(
        "/test_framework/v1/scenarios/run_scenarios/",
        {"agent_id": target.pk, "scenarios": [scenario.pk]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    run = Run.objects.get(pk=r.json()["runs"][0]["id"])
    assert (run.agent_id, run.scenario_id, run.result.agent_id) == (
        target.pk,
        scenario.pk,
        target.pk,
    )
    # run_scenarios_agora keeps to the agent's own scenarios, as documented.
    r = client.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        {"agent_id": target.pk, "scenarios": [scenario.pk]},
        format="json",
    )
    assert r.json() == {"scenarios": ["Invalid scenario IDs or scenarios not found"]}
    # Another organization's scenario stays unknown.
    foreign = ScenarioFactory()
    r = client.post(
        "/test_framework/v1/scenarios/run_scenarios/",
        {"agent_id": target.pk, "scenarios": [foreign.pk]},
        format="json",
    )
    assert r.json() == {"scenarios": ["Invalid scenario IDs or scenarios not found"]}


def test_run_scenarios_for_an_agent_without_agora(client: APIClient, org: Any) -> None:
    bare = AgentFactory(organization=org, agora_data=None, agora_api_key="")
    scenario = ScenarioFactory(agent=bare)
    r = client.post(
        "/test_framework/v1/scenarios/run_scenarios/",
        {"agent_id": bare.pk, "scenarios": [scenario.pk]},
        format="json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {
            "agent": [
                "Agent must have Agora credentials configured (agora_data with "
                "session_endpoint_url)."
            ]
        },
    )
    assert not Result.objects.exists()


def test_scenarios_listed_by_agent_with_page_size(client: APIClient, agent: AIAgent) -> None:
    """The benchmark runner lists its catalog with ?agent_id=…&page_size=100."""
    for i in range(3):
        ScenarioFactory(agent=agent, name=f"AS{i} - case")
    ScenarioFactory(agent=AgentFactory(organization=agent.organization))
    listed = client.get(
        "/test_framework/v1/scenarios/", {"agent_id": agent.pk, "page_size": 100}
    ).json()
    assert listed["count"] == 3 and [s["name"] for s in listed["results"]] == [
        "AS0 - case",
        "AS1 - case",
        "AS2 - case",
    ]


# --- what the clients read from a result -----------------------------------------------------


def _finished_run(agent: AIAgent, metrics: list[dict[str, Any]], **fields: Any) -> Run:
    result = Result.objects.create(
        organization=agent.organization,
        agent=agent,
        agent_name=agent.agent_name,
        name="R",
        status=Status.COMPLETED,
    )
    scenario = ScenarioFactory(agent=agent, name="Book an appointment")
    return Run.objects.create(
        organization=agent.organization,
        result=result,
        agent=agent,
        scenario=scenario,
        status=Status.COMPLETED,
        evaluation={"metrics": metrics},
        **fields,
    )


def test_binary_metrics_carry_the_legacy_fields(client: APIClient, agent: AIAgent) -> None:
    metrics = [
        {
            "id": 7,
            "name": "Infrastructure Issues",
            "eval_type": "binary",
            "passed": True,
            "explanation": [],
            "extra": {},
        },
        {
            "id": 8,
            "name": "Says goodbye",
            "eval_type": "binary",
            "passed": False,
            "explanation": ["no goodbye"],
            "extra": {},
        },
        {
            "id": 9,
            "name": "Not applicable",
            "eval_type": "binary",
            "passed": None,
            "explanation": [],
            "extra": {},
        },
        {
            "id": 2,
            "name": "Latency",
            "eval_type": "numeric",
            "score": 812.0,
            "explanation": [],
            "extra": {},
        },
    ]
    run = _finished_run(agent, metrics, success=False)
    for url in (
        f"/test_framework/v1/runs/{run.pk}/",
        f"/test_framework/v1/results/{run.result_id}/",
    ):
        body = client.get(url).json()
        got = (body if "evaluation" in body else body["runs"][str(run.pk)])["evaluation"]["metrics"]
        assert [
            (m.get("type"), m.get("score"), m.get("score_normalized"), m.get("passed")) for m in got
        ] == [
            ("binary_workflow_adherence", 5, 1, True),
            ("binary_workflow_adherence", 0, 0, False),
            ("binary_workflow_adherence", None, None, None),
            (None, 812.0, None, None),
        ]
        assert got[1]["eval_type"] == "binary" and got[1]["name"] == "Says goodbye"


def test_result_detail_runs_name_their_scenario_where_clients_look(
    client: APIClient, agent: AIAgent
) -> None:
    run = _finished_run(agent, [], success=True)
    detail = client.get(f"/test_framework/v1/results-external/{run.result_id}/").json()
    entry = detail["runs"][str(run.pk)]
    assert entry["scenario"] == {
        "id": run.scenario_id,
        "name": "Book an appointment",
        "key": "",
        "personality_name": None,
        "expected_outcome_prompt": "",
    }
    assert entry["scenario_name"] == "Book an appointment"
    assert isinstance(detail["total_runs_count"], int) and isinstance(
        detail["success_runs_count"], int
    )
    # runs/ and runs/bulk/ keep the scenario's id (the documented run shape).
    assert client.get(f"/test_framework/v1/runs/{run.pk}/").json()["scenario"] == run.scenario_id


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    "path",
    [
        "/test_framework/v1/scenarios/run_scenarios_pipecat_v2/",
        "/test_framework/v1/results/abc/",
        "/test_framework/v3/results/",
        "/test_framework/v1/nothing/",
        "/api/nothing/",
    ],
)
def test_unknown_api_paths_answer_a_short_json_404(
    client: APIClient, path: str, debug: bool
) -> None:
    with override_settings(DEBUG=debug):
        r = client.post(path, {}, format="json")
    assert (r.status_code, r["Content-Type"], r.json()) == (
        404,
        "application/json",
        {"detail": "Not found."},
    )


# --- share links -----------------------------------------------------------------------------


def _result_with_runs(agent: AIAgent) -> tuple[Result, Run]:
    run = _finished_run(
        agent,
        [
            {
                "id": 8,
                "name": "Says goodbye",
                "eval_type": "binary",
                "passed": False,
                "explanation": ["no goodbye"],
                "extra": {},
            }
        ],
        success=False,
        transcript_object=[
            {
                "role": "Main Agent",
                "content": "Hello from the clinic",
                "start_time": 0.5,
                "end_time": 1.5,
                "time": "00:00",
            }
        ],
    )
    return run.result, run


def _token(link_url: str) -> str:
    return link_url.rstrip("/").rsplit("/", 1)[1]


def test_a_shareable_link_opens_without_a_key_until_it_expires(
    client: APIClient, agent: AIAgent, tmp_path: Any, settings: Any
) -> None:
    result, run = _result_with_runs(agent)
    run.recording.save(
        "r.wav",
        __import__("django.core.files.base", fromlist=["ContentFile"]).ContentFile(
            b"RIFF0000WAVEdata"
        ),
    )
    expire = (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.post(
        f"/test_framework/v1/results/{result.pk}/create_shareable_link_token/",
        {"expire_at": expire},
        format="json",
    )
    assert r.status_code == 200, r.json()
    url = r.json()["shareable_link"]
    assert url.startswith("http://testserver/share/")
    token = _token(url)
    link = ShareLink.objects.get()
    assert link.digest == share_token_digest(token) and token not in str(
        list(ShareLink.objects.values())
    )
    anonymous = APIClient()
    page = anonymous.get(f"/share/{token}/")
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    text = page.content.decode()
    assert (
        "Book an appointment" in text
        and "Hello from the clinic" in text
        and "Says goodbye" in text
        and "did not pass" in text
    )
    assert agent.agora_api_key not in text and agent.agora_data["session_endpoint_url"] not in text
    audio = anonymous.get(f"/share/{token}/runs/{run.pk}/recording.wav")
    assert audio.status_code == 200 and b"".join(audio.streaming_content).startswith(b"RIFF")
    # Another result's run is not reachable through this link.
    other, other_run = _result_with_runs(agent)
    assert anonymous.get(f"/share/{token}/runs/{other_run.pk}/recording.wav").status_code == 404
    assert f"#{other.pk}" not in text
    # Expired: 404, like an unknown token.
    ShareLink.objects.update(expire_at=timezone.now() - timedelta(seconds=1))
    assert anonymous.get(f"/share/{token}/").status_code == 404
    assert anonymous.get("/share/not-a-token/").status_code == 404


def test_a_link_defaults_to_seven_days_and_refuses_a_past_expiry(
    client: APIClient, agent: AIAgent
) -> None:
    result, _ = _result_with_runs(agent)
    url = f"/test_framework/v1/results/{result.pk}/create_shareable_link_token/"
    assert client.post(url, {"expire_at": "2020-01-01T00:00:00Z"}, format="json").json() == {
        "expire_at": ["Must be in the future."]
    }
    assert client.post(url, format="json").status_code == 200
    link = ShareLink.objects.get()
    assert timedelta(days=6, hours=23) < link.expire_at - timezone.now() <= timedelta(days=7)
    other = Result.objects.create(organization=AgentFactory().organization, name="theirs")
    assert (
        client.post(
            f"/test_framework/v1/results/{other.pk}/create_shareable_link_token/", format="json"
        ).status_code
        == 404
    )


def test_a_report_of_several_results_and_its_revocation(client: APIClient, agent: AIAgent) -> None:
    first, _ = _result_with_runs(agent)
    second, _ = _result_with_runs(agent)
    r = client.post(
        "/test_framework/v1/results/reports/share/",
        {"result_ids": [first.pk, second.pk], "name": "Benchmark", "expire_at": None},
        format="json",
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["expire_at"] is None and body["share_url"].startswith("http://testserver/share/")
    token = _token(body["share_url"])
    page = APIClient().get(f"/share/{token}/").content.decode()
    assert "Benchmark" in page and f"#{first.pk}" in page and f"#{second.pk}" in page
    listed = client.get("/test_framework/v1/share-links/").json()["results"]
    assert listed[0]["result_ids"] == sorted([first.pk, second.pk]) and listed[0]["active"] is True
    assert token not in str(listed)
    revoked = client.post(
        f"/test_framework/v1/share-links/{body['id']}/revoke/", format="json"
    ).json()
    assert revoked["active"] is False and revoked["revoked_at"]
    assert APIClient().get(f"/share/{token}/").status_code == 404


def test_a_report_of_unknown_results_is_refused(client: APIClient, agent: AIAgent) -> None:
    first, _ = _result_with_runs(agent)
    theirs = Result.objects.create(organization=AgentFactory().organization, name="theirs")
    r = client.post(
        "/test_framework/v1/results/reports/share/",
        {"result_ids": [first.pk, theirs.pk]},
        format="json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {"result_ids": ["Invalid result IDs or results not found"]},
    )
    assert not ShareLink.objects.exists()


def test_creating_links_is_rate_limited_like_launches(
    client: APIClient, agent: AIAgent, settings: Any
) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMITS = {"api": None, "launch": "2/min"}
    result, _ = _result_with_runs(agent)
    url = f"/test_framework/v1/results/{result.pk}/create_shareable_link_token/"
    assert [client.post(url, format="json").status_code for _ in range(3)] == [200, 200, 429]
    cache.clear()


def test_share_link_reverse_names() -> None:
    assert reverse("share", kwargs={"token": "t"}) == "/share/t/"


# --- metric slugs ----------------------------------------------------------------------------


def test_metrics_get_a_slug_from_their_name_unique_and_editable(
    client: APIClient, agent: AIAgent
) -> None:
    body = {
        "name": "Greets by name!",
        "type": "llm_judge",
        "prompt": "Does the agent greet the caller by name?",
        "agents": [agent.pk],
    }
    first = client.post("/test_framework/v1/metrics/", body, format="json").json()
    second = client.post("/test_framework/v1/metrics/", body, format="json").json()
    assert (first["slug"], second["slug"]) == ("greets_by_name", "greets_by_name_2")
    r = client.patch(
        f"/test_framework/v1/metrics/{second['id']}/", {"slug": "greets_by_name"}, format="json"
    )
    assert (r.status_code, r.json()) == (
        400,
        {"slug": ["Another metric of this organization has this slug."]},
    )
    r = client.patch(
        f"/test_framework/v1/metrics/{second['id']}/", {"slug": "Greets"}, format="json"
    )
    assert r.json() == {"slug": ["A slug is lowercase letters, digits and _ only."]}
    r = client.patch(
        f"/test_framework/v1/metrics/{second['id']}/", {"slug": "polite_greeting"}, format="json"
    )
    assert r.status_code == 200 and Metric.objects.get(pk=second["id"]).slug == "polite_greeting"
    # Another organization may use the same slug.
    other = AgentFactory()
    Metric.objects.create(
        organization=other.organization, name="Greets", slug="greets_by_name", prompt="p"
    )


def test_existing_metrics_get_slugs_when_migrated(agent: AIAgent) -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("test_framework.migrations.0006_tests_as_code_and_share_links")
    other = AgentFactory().organization
    made = [
        Metric.objects.create(organization=org, name=name, prompt="p")
        for org, name in [
            (agent.organization, "Greets by name!"),
            (agent.organization, "greets-by-name"),
            (agent.organization, "???"),
            (other, "Greets by name"),
        ]
    ]
    migration.give_metrics_slugs(apps, None)
    assert [Metric.objects.get(pk=m.pk).slug for m in made] == [
        "greets_by_name",
        "greets_by_name_2",
        "metric",
        "greets_by_name",
    ]
