"""The run task, called directly, against the real demo stack (local channel, demo agent)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from test_framework.choices import Status
from test_framework.models import Result, Run
from test_framework.tasks import run_execute
from tests.factories import AgentFactory, ScenarioFactory


def queued_run(agent: Any, **scenario: Any) -> Run:
    s = ScenarioFactory(agent=agent, **scenario)
    result = Result.objects.create(organization=agent.organization, agent=agent)
    return Run.objects.create(
        organization=agent.organization,
        result=result,
        scenario=s,
        agent=agent,
        status=Status.IN_QUEUE,
        expected_outcome_prompt=s.expected_outcome_prompt,
    )


def demo_agent(stack: Any, query: str = "", secret: str = DEMO_SECRET, join_uid: int = 1) -> Any:
    return AgentFactory(
        agora_data={
            "session_endpoint_url": stack.endpoint_url + query,
            "client_id": DEMO_CLIENT_ID,
            "join_uid": join_uid,
        },
        agora_api_key=secret,
    )


def test_run_completes_with_transcript_metrics_and_recording(
    db: Any, wired: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []
    original = wired.open_session
    wired.open_session = lambda *a, **k: (d := original(*a, **k), tokens.append(d["agora_token"]))[
        0
    ]
    try:
        # The agent's join uid is the one the run joins as, in an encrypted channel.
        agent = demo_agent(wired, "?join_uid=4242&encryption=aes_128_gcm2", join_uid=4242)
        run = queued_run(
            agent,
            first_message="Hello, when are you open?",
            conditional_actions={
                "role": "patient",
                "conditions": [
                    {
                        "id": 1,
                        "condition": "x",
                        "action": "Can I book an appointment?",
                        "fixed_message": True,
                    }
                ],
            },
            expected_outcome_prompt='The agent says "Monday to Friday".',
        )
        run_execute(run.pk)
    finally:
        wired.open_session = original
    run.refresh_from_db()
    assert run.status == Status.COMPLETED, run.error_message
    assert run.success is True and run.expected_outcome["score"] == 100.0
    assert run.ended_reason == "Main agent-ended-call" and run.metadata["transport"] == "local"
    assert run.metadata["timeline"][0]["data"]["uid"] == 4242
    assert run.call_started_at is not None and run.call_started_at >= run.executed_at
    pacing = run.metadata["pacing"]  # our caller's own send-time jitter, kept per run
    assert (
        pacing["frames"] >= run.duration_seconds * 90
        and 0 <= pacing["p50_ms"] <= pacing["p99_ms"] <= pacing["max_ms"]
    )
    assert re.fullmatch(r"realtime \d+|nice -?\d+|normal", pacing["scheduled"]), pacing
    assert 0 < run.metadata["asr_real_time_factor"] < 1  # post-processing timed its transcription
    roles = [t["role"] for t in run.transcript_object]
    assert roles[:2] == ["Main Agent", "Testing Agent"] and "Main Agent" in roles[2:]
    # Each line opens on its turn's time (when the demo agent's greeting starts depends on the
    # machine's load: 0.x s, or 1.x s on a busy one).
    first = run.transcript_object[0]
    assert re.fullmatch(r"\d\d:\d\d", first["time"]), first
    assert run.transcript.startswith(f"[{first['time']}] Main Agent: {first['content']}")
    assert "Testing Agent: " in run.transcript
    metrics = {m["name"]: m for m in run.evaluation["metrics"]}
    latency = metrics["Latency"]
    assert 0 < latency["extra"]["percentiles"]["p50"] < 5000
    assert len(metrics) == 15 and metrics["Infrastructure Issues"]["passed"] is True
    assert metrics["Appropriate Termination by Main Agent"]["passed"] is True
    assert metrics["Transcription Accuracy"]["score"] >= 70 and metrics["Sentiment"]["enum"] in (
        "positive",
        "neutral",
    )
    assert (
        metrics["CSAT"]["score"] is None
        and "needs an LLM judge" in metrics["CSAT"]["explanation"][0]
    )
    assert run.recording and run.recording.size > 16000 * 4 * 5
    assert run.result.status == Status.COMPLETED and run.result.success_rate == 100.0

    # Secrets: neither the agent's secret nor the join token reaches a log line, a row or
    # an API answer.
    assert tokens
    client = APIClient()
    from cekura.accounts.services import api_key_create

    client.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=agent.organization)[1])
    answers = [
        client.get(f"/test_framework/v1/runs/{run.pk}/").content,
        client.get(f"/test_framework/v1/results/{run.result_id}/").content,
        client.get(f"/test_framework/v1/aiagents/{agent.pk}/").content,
        client.get("/test_framework/v1/runs/bulk/", {"run_ids": str(run.pk)}).content,
    ]
    stored = json.dumps([list(Run.objects.filter(pk=run.pk).values())], default=str)
    for secret in (DEMO_SECRET, *tokens):
        assert secret not in caplog.text
        assert secret not in stored
        for body in answers:
            assert secret.encode() not in body


@pytest.mark.parametrize(
    ("query", "secret", "ended", "message"),
    [
        (
            "?fault=never_join",
            DEMO_SECRET,
            "Main agent-call-not-connected",
            "the agent did not join the channel within 3 s",
        ),
        (
            "",
            "wrong-secret",
            "Main agent-call-not-connected",
            "session endpoint refused the credentials (HTTP 401): check the client id and secret",
        ),
        (
            "?join_uid=2",
            DEMO_SECRET,
            "Main agent-call-not-connected",
            "joining channel refused: token is for uid 2, not uid 1",
        ),
        (
            "?encryption=aes_256_gcm2&agent_key=other",
            DEMO_SECRET,
            "Main agent-call-not-connected",
            "the agent's audio could not be decrypted: its encryption mode, key or salt differ "
            "from what the session endpoint returned",
        ),
    ],
)
def test_runs_that_cannot_connect_fail_with_a_readable_reason(
    db: Any, wired: Any, query: str, secret: str, ended: str, message: str
) -> None:
    run = queued_run(demo_agent(wired, query, secret))
    run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.success, run.error_message, run.ended_reason) == (
        Status.FAILED,
        False,
        message,
        ended,
    )
    assert "wrong-secret" not in run.error_message
    run.result.refresh_from_db()
    assert run.result.status == Status.COMPLETED  # the agent's fault, not our infrastructure


@pytest.mark.parametrize(
    ("query", "status", "success", "ended"),
    [
        (
            "?delay_ms=6000",
            Status.COMPLETED,
            False,
            "Main agent-did-not-answer",
        ),  # slower than the 4 s limit
        # Leaving without a goodbye fails "Appropriate Termination by Main Agent".
        ("?fault=leave_mid_call&leave_after=2", Status.COMPLETED, False, "Main agent-ended-call"),
    ],
)
def test_agent_faults_end_runs_with_the_matching_reason(
    db: Any, wired: Any, settings: Any, query: str, status: str, success: bool, ended: str
) -> None:
    settings.SILENCE_LIMIT_SECONDS = 4
    run = queued_run(demo_agent(wired, query), first_message="Hello, when are you open?")
    run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.success) == (status, success), run.error_message
    assert run.ended_reason == ended
    run.result.refresh_from_db()
    assert run.result.status == Status.COMPLETED


def test_a_run_not_in_queue_is_left_alone(db: Any, wired: Any) -> None:
    run = queued_run(demo_agent(wired))
    Run.objects.filter(pk=run.pk).update(status=Status.CANCELLED)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.attempts == 0


def test_missing_agora_transport_fails_the_run_with_install_hint(
    db: Any, settings: Any, tmp_path: Any
) -> None:
    import httpx
    import respx

    settings.MEDIA_ROOT = str(tmp_path)
    settings.SESSION_ENDPOINT_ALLOW = ["agent.example.com"]  # a mocked endpoint: no DNS here
    agent = AgentFactory()
    run = queued_run(agent)
    with respx.mock:
        respx.post("https://agent.example.com/session").mock(
            return_value=httpx.Response(
                200, json={"agora_app_id": "f" * 32, "agora_channel": "c", "agora_token": "007x"}
            )
        )
        run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.ended_reason == "Testing agent-pipeline-error"
    assert "pip install '.[agora]'" in run.error_message


@pytest.mark.django_db(transaction=True)
def test_evaluate_metrics_rescores_stored_calls_without_calling_again(
    settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    from cekura.accounts.services import api_key_create
    from test_framework import pipeline
    from test_framework.models import Metric
    from tests.test_framework.recorded import recorded_runner

    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setattr("test_framework.dispatch.send_post", pipeline.postprocess_run)
    agent = AgentFactory()
    # A metric on the agent is scored by the task itself.
    hours = Metric.objects.create(
        organization=agent.organization,
        name="Says the days",
        eval_type="binary",
        type="custom_code",
        configuration={
            "rule": {"match": "regex", "patterns": [r"monday\b.*\bfriday"], "speaker": "Main Agent"}
        },
    )
    hours.agents.add(agent)
    run = queued_run(
        agent,
        first_message="Hello, when are you open?",
        expected_outcome_prompt='Says "Monday to Friday".',
    )
    runner = recorded_runner()  # the demo agent's answer: "... Monday to Friday ..."
    pipeline.execute_run(run.pk, runner=runner)
    run.refresh_from_db()
    assert run.success is True, (run.error_message, run.transcript)
    stored = {m["name"]: m for m in run.evaluation["metrics"]}
    assert stored["Says the days"]["passed"] is True and stored["Says the days"]["id"] == hours.pk
    # The scenario's expected outcome changes and a failing rule is attached to it; stored metrics
    # are wiped.
    run.scenario.expected_outcome_prompt = 'Says "we are closed on Sundays".'
    run.scenario.save()
    no_monday = Metric.objects.create(
        organization=agent.organization,
        name="Never says Monday",
        eval_type="binary",
        type="custom_code",
        configuration={"rule": {"match": "keyword", "patterns": ["Monday"], "expect": "absent"}},
    )
    run.scenario.metrics.add(no_monday)
    Run.objects.filter(pk=run.pk).update(evaluation={"metrics": []})
    client = APIClient()
    client.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=run.organization)[1])
    r = client.post(f"/test_framework/v1/results/{run.result_id}/evaluate_metrics/?wait=true")
    assert r.status_code == 200
    run.refresh_from_db()
    assert len(run.evaluation["metrics"]) == 17
    assert [m["name"] for m in run.evaluation["metrics"][-2:]] == [
        "Says the days",
        "Never says Monday",
    ]
    assert run.evaluation["metrics"][-1]["passed"] is False
    assert run.expected_outcome["passed"] is False and run.success is False
    assert r.json()["success_rate"] == 0.0 and r.json()["success_runs_count"] == 0
    assert len(runner.specs) == 1  # type: ignore[attr-defined]  # no new call was made
    detail = client.get(f"/test_framework/v1/results/{run.result_id}/").json()
    assert detail["failed_reasons"] == {"Expected Outcome": 1, "Never says Monday": 1}
    overall = detail["overall_evaluation"]
    assert (
        overall["Never says Monday"]["pass_rate"] == 0.0
        and overall["Says the days"]["pass_rate"] == 100.0
    )
    assert overall["Latency"]["turns"] >= 1 and set(overall["Latency"]["percentiles"]) == {
        "p50",
        "p90",
        "p95",
        "p99",
    }


def test_a_session_endpoint_on_our_own_network_is_refused(db: Any, settings: Any) -> None:
    settings.SESSION_ENDPOINT_ALLOW = []
    agent = AgentFactory(
        agora_data={
            "session_endpoint_url": "http://169.254.169.254/latest/meta-data/",
            "client_id": "c",
        }
    )
    run = queued_run(agent)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert "resolves to 169.254.169.254 (link-local address)" in run.error_message
