from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from cekura.accounts.models import Organization
from cekura.accounts.services import api_key_create
from test_framework.choices import Status
from test_framework.models import AIAgent, Metric, Result, Run
from tests.factories import AgentFactory, OrganizationFactory, ScenarioFactory

RUN = "/test_framework/v1/scenarios-external/run_scenarios_agora/"
AGORA = {"session_endpoint_url": "https://agent.example.com/session", "client_id": "c-1"}


def test_missing_or_wrong_key_is_401(db: Any) -> None:
    anon = APIClient()
    assert anon.get("/test_framework/v1/aiagents/").status_code == 401
    anon.credentials(HTTP_X_CEKURA_API_KEY="ck_wrong")
    r = anon.get("/test_framework/v1/aiagents/")
    assert r.status_code == 401 and r.json() == {"detail": "Invalid API key."}


@pytest.mark.parametrize(
    "prefix",
    [
        "/test_framework/v1/aiagents/",
        "/test_framework/v1/aiagents-external/",
        "/test_framework/v2/aiagents/",
    ],
)
def test_agent_crud_under_every_prefix_with_write_only_secret(
    client: APIClient, prefix: str
) -> None:
    body = {
        "agent_name": "A",
        "description": "d",
        "inbound": True,
        "agora_data": AGORA,
        "agora_api_key": "the-secret",
    }
    r = client.post(prefix, body, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert "agora_api_key" not in data and data["agora_api_key_configured"] is True
    assert data["agora_data"] == {
        **AGORA,
        "auth_header_name": "X-Cekura-Secret",
        "request_method": "POST",
        "join_uid": 1,
    }
    assert data["language"] == "en" and data["assistant_provider"] == "agora"
    # Patching without the secret keeps it; the database holds only ciphertext.
    r = client.patch(
        f"{prefix}{data['id']}/", {"agora_data": {**AGORA, "request_method": "get"}}, format="json"
    )
    assert r.status_code == 200 and r.json()["agora_data"]["request_method"] == "GET"
    agent = AIAgent.objects.get(pk=data["id"])
    assert agent.agora_api_key == "the-secret"
    raw = AIAgent.objects.filter(pk=agent.pk).values_list("agora_api_key", flat=True).query
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT agora_api_key FROM test_framework_aiagent WHERE id = %s", [agent.pk])
        stored = cur.fetchone()[0]
    assert stored.startswith("fernet:") and "the-secret" not in stored and raw is not None


def test_agent_validation_errors(client: APIClient) -> None:
    r = client.post(
        "/test_framework/v1/aiagents/",
        {"agent_name": "A", "description": "d", "inbound": True, "agora_data": {"client_id": "x"}},
        format="json",
    )
    assert r.status_code == 400 and "session_endpoint_url" in r.json()["agora_data"]
    r = client.post(
        "/test_framework/v1/aiagents/",
        {"agent_name": "A", "description": "d", "inbound": True, "agora_data": AGORA},
        format="json",
    )
    assert r.json() == {"agora_api_key": ["A secret is required when agora_data is configured."]}
    r = client.post(
        "/test_framework/v1/aiagents/",
        {
            "agent_name": "A",
            "description": "d",
            "inbound": True,
            "agora_data": {**AGORA, "session_endpoint_url": "file:///etc/passwd"},
            "agora_api_key": "s",
        },
        format="json",
    )
    assert r.json() == {
        "agora_data": {"session_endpoint_url": ["Enter a valid http:// or https:// URL."]}
    }


def test_scenarios_both_types_and_defaults(client: APIClient, agent: AIAgent) -> None:
    r = client.post(
        "/test_framework/v1/scenarios/", {"name": "S", "agent": str(agent.pk)}, format="json"
    )
    assert r.status_code == 201, r.json()
    s = r.json()
    assert (
        s["scenario_type"],
        s["first_message"],
        s["scenario_language"],
        s["tags"],
        s["max_duration"],
    ) == ("instruction", "Hello", "en", [], None)
    body = {
        "name": "C",
        "agent": agent.pk,
        "scenario_type": "conditional_actions",
        "conditional_actions": {
            "role": "patient",
            "conditions": [
                {"condition": "FIRST_MESSAGE", "action": "Hi there", "fixed_message": True}
            ],
        },
    }
    r = client.post("/test_framework/v1/scenarios/", body, format="json")
    assert r.status_code == 201
    assert r.json()["conditional_actions"]["conditions"][0] == {
        "id": 1,
        "condition": "FIRST_MESSAGE",
        "action": "Hi there",
        "type": "standard",
        "fixed_message": True,
    }
    assert (
        client.post(
            "/test_framework/v1/scenarios/", {"name": "x" * 81, "agent": agent.pk}, format="json"
        ).status_code
        == 400
    )
    assert (
        "max_duration"
        in client.post(
            "/test_framework/v1/scenarios/",
            {"name": "S", "agent": agent.pk, "max_duration": 5},
            format="json",
        ).json()
    )
    other = AgentFactory()  # another organization's agent is "not found"
    assert (
        "agent"
        in client.post(
            "/test_framework/v1/scenarios/", {"name": "S", "agent": other.pk}, format="json"
        ).json()
    )


def test_launch_creates_runs_debits_credits_and_enqueues_after_commit(
    client: APIClient, agent: AIAgent, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    a, b = ScenarioFactory(agent=agent, name="First"), ScenarioFactory(agent=agent)
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = client.post(
            RUN,
            {
                "agent_id": str(agent.pk),
                "scenarios": [str(a.pk), b.pk],
                "frequency": 2,
                "name": "CI",
                "tags": ["x"],
                "whatever": 1,
            },
            format="json",
        )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert set(body) == {
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
    assert (
        body["name"],
        body["agent"],
        body["status"],
        body["success_rate"],
        body["run_as_text"],
        body["is_cronjob"],
    ) == ("CI", agent.pk, "in_progress", 0.0, False, False)
    assert len(body["runs"]) == 4 and body["runs"][0]["scenario_name"] == "First"
    assert set(body["runs"][0]) == {"id", "status", "scenario", "scenario_name"}
    assert len(callbacks) == 1 and sorted(sent) == sorted(r["id"] for r in body["runs"])
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 96


def test_launch_first_n_and_all(client: APIClient, agent: AIAgent, monkeypatch: Any) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    s1, s2, _ = (
        ScenarioFactory(agent=agent),
        ScenarioFactory(agent=agent),
        ScenarioFactory(agent=agent),
    )
    r = client.post(RUN, {"agent_id": agent.pk, "scenarios": 2}, format="json")
    assert [x["scenario"] for x in r.json()["runs"]] == [s1.pk, s2.pk]
    r = client.post(RUN, {"agent_id": agent.pk, "scenarios": "all"}, format="json")
    assert len(r.json()["runs"]) == 3


def test_launch_concurrency_limit_enqueues_only_that_many(
    client: APIClient, agent: AIAgent, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    s = ScenarioFactory(agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            RUN,
            {"agent_id": agent.pk, "scenarios": [s.pk], "frequency": 5, "concurrency_limit": 2},
            format="json",
        )
    statuses = sorted(x["status"] for x in r.json()["runs"])
    assert statuses == ["in_queue", "in_queue", "pending", "pending", "pending"] and len(sent) == 2


@pytest.mark.parametrize(
    ("agora_data", "secret", "expected"),
    [
        (
            None,
            "",
            {
                "agent": [
                    "Agent must have Agora credentials configured (agora_data with "
                    "session_endpoint_url)."
                ]
            },
        ),
        (
            {"client_id": "x"},
            "s",
            {"agent": ["Agent agora_data must include session_endpoint_url."]},
        ),
    ],
)
def test_launch_agent_errors_exactly_as_documented(
    client: APIClient, org: Organization, agora_data: Any, secret: str, expected: dict
) -> None:
    agent = AgentFactory(organization=org, agora_data=agora_data, agora_api_key=secret)
    s = ScenarioFactory(agent=agent)
    r = client.post(RUN, {"agent_id": agent.pk, "scenarios": [s.pk]}, format="json")
    assert (r.status_code, r.json()) == (400, expected)
    assert not Result.objects.exists()


@pytest.mark.parametrize("scenarios", [[999999], [], "some", -1, 0, [True]])
def test_launch_invalid_scenarios(client: APIClient, agent: AIAgent, scenarios: Any) -> None:
    r = client.post(RUN, {"agent_id": agent.pk, "scenarios": scenarios}, format="json")
    assert (r.status_code, r.json()) == (
        400,
        {"scenarios": ["Invalid scenario IDs or scenarios not found"]},
    )


def test_launch_other_organizations_scenario_is_invalid(client: APIClient, agent: AIAgent) -> None:
    foreign = ScenarioFactory()
    r = client.post(RUN, {"scenarios": [foreign.pk]}, format="json")
    assert r.json() == {"scenarios": ["Invalid scenario IDs or scenarios not found"]}


def test_launch_needs_agent_id_for_n_and_all(client: APIClient, agent: AIAgent) -> None:
    assert "agent_id" in client.post(RUN, {"scenarios": "all"}, format="json").json()
    assert (
        "frequency"
        in client.post(
            RUN, {"agent_id": agent.pk, "scenarios": "all", "frequency": 0}, format="json"
        ).json()
    )


def test_insufficient_balance_is_402_and_creates_nothing(client: APIClient, agent: AIAgent) -> None:
    Organization.objects.filter(pk=agent.organization_id).update(credits=3)
    s = ScenarioFactory(agent=agent)
    r = client.post(RUN, {"agent_id": agent.pk, "scenarios": [s.pk], "frequency": 4}, format="json")
    assert (r.status_code, r.json()) == (402, {"detail": "Insufficient balance for this operation"})
    assert not Result.objects.exists() and not Run.objects.exists()
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 3


def test_post_without_trailing_slash_is_not_redirected(
    client: APIClient, agent: AIAgent, monkeypatch: Any
) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    s = ScenarioFactory(agent=agent)
    r = client.post(RUN.rstrip("/"), {"agent_id": agent.pk, "scenarios": [s.pk]}, format="json")
    assert r.status_code == 200 and len(r.json()["runs"]) == 1


def _finished_result(agent: AIAgent) -> Result:
    s = ScenarioFactory(agent=agent)
    result = Result.objects.create(
        organization=agent.organization,
        agent=agent,
        name="R",
        status=Status.COMPLETED,
        success_rate=50.0,
    )
    Run.objects.create(
        organization=agent.organization,
        result=result,
        scenario=s,
        agent=agent,
        status=Status.COMPLETED,
        success=True,
        duration_seconds=65.2,
        ended_reason="Main agent-ended-call",
        transcript="[00:00] Main Agent: hi",
    )
    Run.objects.create(
        organization=agent.organization,
        result=result,
        scenario=s,
        agent=agent,
        status=Status.FAILED,
        success=False,
        ended_reason="Main agent-call-not-connected",
        error_message="no",
    )
    return result


def test_result_detail_carries_numeric_counts(client: APIClient, agent: AIAgent) -> None:
    result = _finished_result(agent)
    r = client.get(f"/test_framework/v1/results/{result.pk}/")
    d = r.json()
    assert (
        d["total_runs_count"],
        d["completed_runs_count"],
        d["success_runs_count"],
        d["failed_runs_count"],
    ) == (2, 1, 1, 1)
    assert d["success_rate"] == 50.0 and d["total_duration"] == "01:05" and d["run_type"] == "Agora"
    assert isinstance(d["runs"], dict) and set(d["runs"]) == {str(r.pk) for r in result.runs.all()}
    assert d["run_settings"] == {"frequency": 1, "concurrency_limit": None}
    assert d["failed_reasons"] == {"Main agent-call-not-connected": 1}
    listing = client.get("/test_framework/v2/results/").json()
    assert listing["count"] == 1 and isinstance(listing["results"][0]["runs"], list)


def test_runs_bulk_and_run_shape(client: APIClient, agent: AIAgent) -> None:
    result = _finished_result(agent)
    ids = [r.pk for r in result.runs.all()]
    r = client.get("/test_framework/v1/runs/bulk/", {"run_ids": ",".join(map(str, ids))})
    runs = r.json()
    assert isinstance(runs, list) and [x["id"] for x in runs] == ids
    run = runs[0]
    for key in (
        "scenario_name",
        "agent_name",
        "result_id",
        "result_name",
        "evaluation",
        "expected_outcome",
        "transcript_object",
        "voice_recording_url",
        "testing_channel_index",
        "timestamp",
        "executed_at",
    ):
        assert key in run
    assert (run["duration"], run["run_type"], run["metadata"]) == (
        "01:05",
        "Agora",
        {"ended_reason": "Main agent-ended-call"},
    )
    assert client.get("/test_framework/v1/runs/bulk/", {"run_ids": "[1,2]"}).status_code == 400
    ScenarioFactory._meta.model.objects.filter(pk=run["scenario"]).delete()
    assert (
        client.get(f"/test_framework/v1/runs/{ids[0]}/").json()["scenario_name"]
        == "Scenario Deleted"
    )


def test_recording_missing_from_storage_is_404_not_500(
    client: APIClient, agent: AIAgent, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    run = _finished_result(agent).runs.first()
    Run.objects.filter(pk=run.pk).update(recording="recordings/gone.wav")
    r = client.get(f"/test_framework/v1/runs/{run.pk}/recording/")
    assert r.status_code == 404 and "missing" in r.json()["detail"]


def test_other_organizations_rows_answer_404(client: APIClient, db: Any) -> None:
    other = AgentFactory()
    result = _finished_result(other)
    run = result.runs.first()
    for path in (
        f"/test_framework/v1/aiagents/{other.pk}/",
        f"/test_framework/v1/results/{result.pk}/",
        f"/test_framework/v1/runs/{run.pk}/",
        f"/test_framework/v1/runs/{run.pk}/recording/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/test_framework/v1/runs/bulk/", {"run_ids": str(run.pk)}).json() == []


def test_end_calls_cancels_runs_not_started(client: APIClient, agent: AIAgent) -> None:
    s = ScenarioFactory(agent=agent)
    result = Result.objects.create(organization=agent.organization, agent=agent)
    for _ in range(2):
        Run.objects.create(
            organization=agent.organization,
            result=result,
            scenario=s,
            agent=agent,
            status=Status.PENDING,
        )
    r = client.post(f"/test_framework/v1/results/{result.pk}/end_calls/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert set(result.runs.values_list("status", flat=True)) == {"cancelled"}


def test_metrics_are_bare_arrays_and_predefined_catalogue(
    client: APIClient, agent: AIAgent
) -> None:
    r = client.post(
        "/test_framework/v1/metrics/",
        {
            "name": "Polite",
            "eval_type": "binary",
            "type": "llm_judge",
            "prompt": "Was the agent polite?",
            "agents": [agent.pk],
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert isinstance(client.get("/test_framework/v1/metrics/").json(), list)
    names = [m["name"] for m in client.get("/test_framework/v1/predefined-metrics/").json()]
    assert "Latency" in names and "Expected Outcome" in names


def test_custom_metrics_are_checked_before_they_are_saved(
    client: APIClient, agent: AIAgent
) -> None:
    url = "/test_framework/v1/metrics/"
    rule = {
        "rule": {
            "match": "keyword",
            "patterns": ["refund"],
            "speaker": "Main Agent",
            "expect": "absent",
        }
    }
    ok = client.post(
        url,
        {"name": "No refunds", "eval_type": "binary", "type": "custom_code", "configuration": rule},
        format="json",
    )
    assert ok.status_code == 201, ok.json()
    assert ok.json()["configuration"] == rule
    bad = [
        (
            {"type": "custom_code", "configuration": {"code": "import os"}},
            "configuration",
            "Custom code is never run",
        ),
        (
            {
                "type": "custom_code",
                "configuration": {"rule": {"match": "regex", "patterns": ["(a)\\1"]}},
            },
            "configuration",
            "not a valid regex",
        ),
        ({"type": "llm_judge", "prompt": " "}, "prompt", "needs a prompt"),
        (
            {"type": "llm_judge", "prompt": "Tone?", "eval_type": "enum", "enum_values": []},
            "enum_values",
            "needs enum_values",
        ),
    ]
    for body, field, message in bad:
        r = client.post(url, {"name": "Bad", "eval_type": "binary", **body}, format="json")
        assert r.status_code == 400 and message in r.json()[field][0], r.json()
    # A partial update is checked against what is already stored.
    r = client.patch(
        f"{url}{ok.json()['id']}/", {"eval_type": "enum", "enum_values": ["a"]}, format="json"
    )
    assert r.status_code == 400 and "binary or numeric" in r.json()["configuration"][0]
    assert Metric.objects.filter(organization=agent.organization).count() == 1


def test_schema_and_docs_are_served(client: APIClient, db: Any) -> None:
    schema = APIClient().get("/api/schema/")
    assert schema.status_code == 200 and b"run_scenarios_agora" in schema.content
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_schema_generates_without_warnings_and_documents_the_key_header(
    db: Any, tmp_path: Any
) -> None:
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert (
        "X-CEKURA-API-KEY" in text
        and "/test_framework/v1/scenarios-external/run_scenarios_agora/" in text
    )


def test_keys_of_two_organizations_see_only_their_own(db: Any) -> None:
    a, b = OrganizationFactory(), OrganizationFactory()
    AgentFactory(organization=a), AgentFactory(organization=b)
    c = APIClient()
    c.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=a)[1])
    assert c.get("/test_framework/v1/aiagents/").json()["count"] == 1


def test_personalities_crud_and_validation(client: APIClient) -> None:
    r = client.post(
        "/test_framework/v1/personalities/",
        {
            "name": "Hurried",
            "prompt": "You are in a hurry.",
            "speed": 1.3,
            "interruption_level": "high",
            "background_noise": "cafe",
            "backchannels": True,
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    p = r.json()
    assert (p["language"], p["voice"], p["background_noise_snr_db"]) == (
        "en",
        "en_US-joe-medium",
        20.0,
    )
    bad = client.post(
        "/test_framework/v2/personalities/",
        {"name": "x", "speed": 3, "background_noise": "jungle", "voice": "nope"},
        format="json",
    ).json()
    assert set(bad) == {"speed", "background_noise", "voice"}
    assert client.get("/test_framework/v1/personalities-external/").json()["count"] == 1


def test_launch_with_personalities_runs_each_scenario_with_each(
    client: APIClient, agent: AIAgent, monkeypatch: Any
) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    s1, s2 = ScenarioFactory(agent=agent), ScenarioFactory(agent=agent)
    ids = [
        client.post("/test_framework/v1/personalities/", {"name": n}, format="json").json()["id"]
        for n in ("calm", "angry")
    ]
    r = client.post(
        RUN,
        {
            "agent_id": agent.pk,
            "scenarios": [s1.pk, s2.pk],
            "personality_ids": [str(ids[0]), ids[1]],
            "frequency": 2,
        },
        format="json",
    )
    assert r.status_code == 200 and len(r.json()["runs"]) == 8
    runs = Run.objects.filter(result_id=r.json()["id"])
    assert sorted({(x.scenario_id, x.personality_id) for x in runs}) == sorted(
        {(s.pk, p) for s in (s1, s2) for p in ids}
    )
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 92
    detail = client.get(f"/test_framework/v1/runs/{runs[0].pk}/").json()
    assert detail["personality"] in ids
    r = client.post(
        RUN,
        {"agent_id": agent.pk, "scenarios": [s1.pk], "personality_ids": [999999]},
        format="json",
    )
    assert (r.status_code, r.json()) == (
        400,
        {"personality_ids": ["Invalid personality IDs or personalities not found"]},
    )


def test_run_spec_carries_the_personality(db: Any, agent: AIAgent) -> None:
    from test_framework import assembly
    from test_framework.models import Personality

    p = Personality.objects.create(
        organization=agent.organization,
        name="fast",
        prompt="Be brief.",
        speed=1.5,
        interruption_level="low",
        background_noise="street",
        background_noise_snr_db=12,
        backchannels=True,
    )
    s = ScenarioFactory(agent=agent, personality=p.pk)
    result = Result.objects.create(organization=agent.organization, agent=agent)
    run = Run.objects.create(
        organization=agent.organization, result=result, scenario=s, agent=agent
    )
    spec = assembly.run_call_spec(run=run)  # the scenario's personality, by id
    assert (
        spec.persona.speed,
        spec.persona.interruption_level,
        spec.persona.background_noise,
        spec.persona.noise_snr_db,
        spec.persona.backchannels,
    ) == (1.5, "low", "street", 12, True)
    assert spec.caller.personality == "Be brief." and spec.seed == run.seed


def test_compare_two_results_case_by_case(client: APIClient, org: Any) -> None:
    from tests.factories import ResultFactory, RunFactory, ScenarioFactory

    agent = AgentFactory(organization=org)
    scenario = ScenarioFactory(agent=agent, name="Opening hours")
    latency = {"name": "Latency", "eval_type": "numeric", "score": 300.0}
    before, after = ResultFactory(agent=agent), ResultFactory(agent=agent)
    for result, ok in ((before, True), (after, False)):
        for _ in range(10):
            RunFactory(
                result=result,
                scenario=scenario,
                completed=True,
                success=ok,
                evaluation={
                    "metrics": [
                        {"name": "Infrastructure Issues", "eval_type": "binary", "passed": ok},
                        {**latency, "extra": {"turns": [{"latency_ms": 300.0}]}},
                    ]
                },
            )
    RunFactory(result=after, scenario=scenario, failed=True)  # not a finished call: left out
    r = client.get(
        "/test_framework/v1/results/compare/", {"baseline": before.pk, "candidate": after.pk}
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["baseline"]["runs_compared"] == body["candidate"]["runs_compared"] == 10
    rows = {row["measure"]: row for row in body["rows"]}
    assert rows["Success"]["case_name"] == "Opening hours"
    assert rows["Success"]["verdict"] == "worse" and rows["Success"]["p_adjusted"] < 0.05
    assert rows["Infrastructure Issues"]["verdict"] == "worse"
    assert rows["Latency"]["verdict"] == "no clear change" and rows["Latency"]["p_value"] == 1.0
    assert body["summary"] == {"worse": 2, "no clear change": 1}

    other = ResultFactory()  # another organization's
    r = client.get(
        "/test_framework/v1/results/compare/", {"baseline": before.pk, "candidate": other.pk}
    )
    assert r.status_code == 400
    assert r.json() == {"candidate": [f"No result '{other.pk}' in your organization."]}
    r = client.get("/test_framework/v1/results/compare/", {"baseline": "x"})
    assert r.json() == {
        "baseline": ["No result 'x' in your organization."],
        "candidate": ["This query parameter is required: a result id."],
    }


def test_agent_trends_pass_rate_latency_and_flaky_cases(client: APIClient, org: Any) -> None:
    from evaluators.compare import wilson
    from tests.factories import ResultFactory, RunFactory, ScenarioFactory

    agent = AgentFactory(organization=org)
    steady = ScenarioFactory(agent=agent, name="Opening hours")
    wobbly = ScenarioFactory(agent=agent, name="Refund")

    def run(result: Any, scenario: Any, ok: bool, latencies: list[float]) -> None:
        turns = [{"latency_ms": v} for v in latencies] + [{"latency_ms": None}]
        RunFactory(
            result=result,
            scenario=scenario,
            completed=True,
            success=ok,
            evaluation={
                "metrics": [{"name": "Latency", "eval_type": "numeric", "extra": {"turns": turns}}]
            },
        )

    first, second = (
        ResultFactory(agent=agent, finished=True),
        ResultFactory(agent=agent, finished=True),
    )
    run(first, steady, True, [100, 200])
    run(first, wobbly, True, [300])
    run(second, steady, True, [400])
    run(second, wobbly, False, [500, 600, 700, 800])
    ResultFactory(agent=agent)  # still in progress: not on the trend
    r = client.get(f"/test_framework/v1/aiagents/{agent.pk}/trends/")
    assert r.status_code == 200, r.content
    body = r.json()
    assert [p["result"] for p in body["results"]] == [first.pk, second.pk]  # oldest first
    a, b = body["results"]
    assert (a["passed"], a["runs"], a["pass_rate"]) == (2, 2, 1.0)
    assert (b["passed"], b["runs"], b["pass_rate"]) == (1, 2, 0.5)
    assert b["interval"] == pytest.approx(list(wilson(1, 2)))
    # The turns' latencies pooled per result: 100, 200, 300 and 400, 500, 600, 700, 800.
    assert a["latency_p50_ms"] == 200 and a["latency_p90_ms"] == pytest.approx(280)
    assert b["latency_p50_ms"] == 600 and b["latency_p90_ms"] == pytest.approx(760)
    # Refund passed in the first result and failed in the second: flaky across them though
    # neither result alone shows it.
    (flaky,) = body["flaky_cases"]
    assert (flaky["name"], flaky["passed"], flaky["runs"]) == ("Refund", 1, 2)

    r = client.get(f"/test_framework/v1/aiagents/{agent.pk}/trends/", {"last": 1})
    assert [p["result"] for p in r.json()["results"]] == [second.pk]
    assert r.json()["flaky_cases"] == []
    assert client.get(f"/test_framework/v1/aiagents/{agent.pk}/trends/", {"last": 0}).json() == {
        "last": ["A whole number from 1 to 100."]
    }
    other = AgentFactory()
    assert client.get(f"/test_framework/v1/aiagents/{other.pk}/trends/").status_code == 404
