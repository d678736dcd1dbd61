"""The dashboard through Django's test client: sign-in, tenancy, agents (write-only secret,
API validation, endpoint test), API keys, scenarios, the Configure Run launch, results and
the run page's audio, waveform and transcript."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.test import APIClient

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.models import ApiKey, Organization
from cekura.accounts.services import organization_get_or_create, user_create
from common.wav import stereo_wav
from test_framework.choices import Status
from test_framework.models import AIAgent, Result, Run, Scenario
from tests.factories import AgentFactory, ScenarioFactory

PASSWORD = "a-long-enough-passphrase-42"


def signed_in(org: Organization, username: str = "ada") -> Client:
    user_create(username=username, password=PASSWORD, organization=org)
    c = Client()
    assert sign_in(c, username, PASSWORD)
    return c


def sign_in(c: Client, username: str, password: str) -> bool:
    """Through the sign-in page, as a person does (django-axes watches it)."""
    return c.post("/login/", {"username": username, "password": password}).status_code == 302


@pytest.fixture
def org(db: Any) -> Organization:
    o = organization_get_or_create(name="Acme")
    o.credits = 50
    o.save()
    return o


def test_pages_need_a_signed_in_member(org: Organization) -> None:
    r = Client().get("/results/")
    assert r.status_code == 302 and r["Location"].startswith("/login/?next=/results/")
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="loner", password=PASSWORD)
    c = Client()
    assert sign_in(c, "loner", PASSWORD)
    assert c.get("/results/").status_code == 403
    page = Client().post("/login/", {"username": "nobody", "password": "x"})
    assert b"didn&#x27;t match" in page.content or b"didn't match" in page.content


def test_agora_agent_form_validates_like_the_api_and_never_shows_the_secret(
    org: Organization,
) -> None:
    c = signed_in(org)
    grid = c.get("/agents/new/").content.decode()
    assert 'data-provider="agora"' in grid and "/agents/new/agora/" in grid
    form = {
        "agent_name": "Front desk",
        "session_endpoint_url": "file:///etc/passwd",
        "client_id": "c-1",
        "secret": "",
        "request_method": "POST",
        "auth_header_name": "X-Cekura-Secret",
        "join_uid": "1",
        "agent_gives_first_message": "on",
    }
    r = c.post("/agents/new/agora/", form)
    assert r.status_code == 200 and "Enter a valid http:// or https:// URL." in r.content.decode()
    assert not AIAgent.objects.exists()
    r = c.post(
        "/agents/new/agora/", {**form, "session_endpoint_url": "https://agent.example.com/session"}
    )
    assert "A secret is required" in r.content.decode() and not AIAgent.objects.exists()
    r = c.post(
        "/agents/new/agora/",
        {
            **form,
            "session_endpoint_url": "https://agent.example.com/session",
            "secret": "sup3r-s3cret",
            "request_method": "GET",
            "join_uid": "7",
        },
    )
    agent = AIAgent.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/agents/{agent.pk}/"
    assert agent.organization == org and agent.agora_api_key == "sup3r-s3cret"
    assert agent.agora_data == {
        "session_endpoint_url": "https://agent.example.com/session",
        "client_id": "c-1",
        "request_method": "GET",
        "auth_header_name": "X-Cekura-Secret",
        "join_uid": 7,
    }
    page = c.get(f"/agents/{agent.pk}/").content.decode()
    assert "sup3r-s3cret" not in page and "data-secret-state>set<" in page
    # Saving without typing a secret keeps the stored one.
    c.post(
        f"/agents/{agent.pk}/",
        {**form, "session_endpoint_url": "https://agent.example.com/v2", "secret": ""},
    )
    agent.refresh_from_db()
    assert (
        agent.agora_api_key == "sup3r-s3cret"
        and agent.agora_data["session_endpoint_url"] == "https://agent.example.com/v2"
    )
    assert "sup3r-s3cret" not in c.get("/agents/").content.decode()


def test_rows_of_another_organization_are_not_found(org: Organization) -> None:
    other = AgentFactory()
    scenario = ScenarioFactory(agent=other)
    c = signed_in(org)
    for url in (f"/agents/{other.pk}/", f"/scenarios/{scenario.pk}/"):
        assert c.get(url).status_code == 404
    assert c.post(f"/agents/{other.pk}/test/", {"agent_name": "x"}).status_code == 404
    r = c.post("/scenarios/run/", {"scenario_ids": str(scenario.pk), "frequency": "1"}, follow=True)
    assert "Invalid scenario IDs or scenarios not found" in r.content.decode()
    assert not Result.objects.exists()


def test_test_endpoint_tests_the_values_on_screen_without_saving(
    org: Organization, demo_stack: Any
) -> None:
    agent = AgentFactory(
        organization=org,
        agora_api_key=DEMO_SECRET,
        agora_data={"session_endpoint_url": "http://127.0.0.1:9/old", "client_id": DEMO_CLIENT_ID},
    )
    c = signed_in(org)
    form = {
        "agent_name": agent.agent_name,
        "session_endpoint_url": demo_stack.endpoint_url,  # edited, not saved
        "client_id": DEMO_CLIENT_ID,
        "secret": "",  # empty: the stored secret
        "request_method": "POST",
        "auth_header_name": "X-Cekura-Secret",
        "join_uid": "1",
    }
    page = c.post(f"/agents/{agent.pk}/test/", form).content.decode()
    assert "session endpoint answered the contract" in page
    assert "Tested the values on screen (nothing was saved): the endpoint is ready" in page
    assert f'value="{demo_stack.endpoint_url}"' in page  # the form keeps what was typed
    agent.refresh_from_db()
    assert agent.agora_data["session_endpoint_url"] == "http://127.0.0.1:9/old"
    page = c.post(f"/agents/{agent.pk}/test/", {**form, "secret": "wrong"}).content.decode()
    assert "fix the failures above" in page
    agent.refresh_from_db()
    assert agent.agora_api_key == DEMO_SECRET
    # A new agent can be tried before it is saved.
    before = AIAgent.objects.count()
    page = c.post("/agents/new/agora/test/", {**form, "secret": DEMO_SECRET}).content.decode()
    assert "the endpoint is ready" in page and AIAgent.objects.count() == before
    bad = c.post(f"/agents/{agent.pk}/test/", {**form, "session_endpoint_url": "nope"})
    assert bad.status_code == 400 and "nothing was called" in bad.content.decode()


def test_api_keys_are_shown_once_and_can_be_revoked(org: Organization) -> None:
    c = signed_in(org)
    r = c.post("/keys/", {"name": "ci"})
    assert r.status_code == 302 and r["Location"] == "/keys/"  # a refresh repeats nothing
    page = c.get("/keys/").content.decode()
    raw = page.split('id="new-key">')[1].split("<")[0]
    key = ApiKey.objects.get(organization=org)
    # Carried to that page encrypted: the session never holds the key in plain text.
    from django.contrib.sessions.models import Session

    assert all(raw not in str(s.get_decoded()) for s in Session.objects.all())
    assert (
        raw.startswith("ck_") and key.digest != raw and raw not in c.get("/keys/").content.decode()
    )
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=raw)
    assert api.get("/test_framework/v1/aiagents/").status_code == 200
    c.post(f"/keys/{key.pk}/revoke/")
    assert api.get("/test_framework/v1/aiagents/").status_code == 401


def test_scenarios_form_and_configure_run_launch(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    c = signed_in(org)
    r = c.post(
        "/scenarios/new/",
        {
            "name": "Book",
            "agent": agent.pk,
            "scenario_type": "conditional_actions",
            "first_message": "Hi there",
            "step_when": ["asks for a day", "", ""],
            "step_say": ["Tuesday please", "Thanks, goodbye", ""],
            "expected_outcome_prompt": 'Says "booked"',
        },
    )
    assert r.status_code == 302
    scenario = Scenario.objects.get(name="Book")
    assert [(x["condition"], x["action"]) for x in scenario.conditional_actions["conditions"]] == [
        ("asks for a day", "Tuesday please"),
        ("", "Thanks, goodbye"),
    ]
    page = c.get("/scenarios/").content.decode()
    assert 'data-agora="1"' in page and "WebRTC" in page and "VOICE" in page
    r = c.post(
        "/scenarios/run/",
        {
            "scenario_ids": str(scenario.pk),
            "frequency": "2",
            "name": "nightly",
            "concurrency_limit": "1",
        },
    )
    result = Result.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/results/{result.pk}/"
    assert result.runs.count() == 2 and result.name == "nightly" and result.concurrency_limit == 1
    org.refresh_from_db()
    assert org.credits == 48
    progress = c.get(f"/results/progress.json?ids={result.pk}").json()["results"][0]
    assert progress == {
        "id": result.pk,
        "status": result.status,
        "label": result.status,
        "total": 2,
        "done": 0,
        "running": progress["running"],
        "success_rate": 0.0,
        "terminal": False,
        "rescore": "",
        "rescore_done": 0,
        "rescore_total": 0,
    }
    assert "nightly" in c.get("/results/").content.decode()
    # Not enough credits: a clear message and nothing created.
    org.credits = 0
    org.save()
    r = c.post("/scenarios/run/", {"scenario_ids": str(scenario.pk), "frequency": "1"}, follow=True)
    assert Result.objects.count() == 1 and "credit" in r.content.decode().lower()


def test_run_page_has_audio_waveform_transcript_and_metrics(org: Organization) -> None:
    agent = AgentFactory(organization=org)
    scenario = ScenarioFactory(agent=agent)
    result = Result.objects.create(
        organization=org, agent=agent, agent_name=agent.agent_name, status=Status.COMPLETED
    )
    run = Run.objects.create(
        organization=org,
        result=result,
        scenario=scenario,
        agent=agent,
        status=Status.COMPLETED,
        success=True,
        transcript_object=[
            {
                "role": "Main Agent",
                "content": "Hello, Sunny Clinic.",
                "start_time": 0.5,
                "end_time": 1.5,
                "time": "00:00",
            },
            {
                "role": "Testing Agent",
                "content": "Hi, when are you open?",
                "start_time": 2.0,
                "end_time": 3.2,
                "time": "00:02",
            },
        ],
        evaluation={
            "metrics": [
                {
                    "id": 2,
                    "name": "Latency",
                    "eval_type": "numeric",
                    "score": 640.0,
                    "explanation": ["Median 640 ms"],
                    "extra": {"turns": [{"latency_ms": 640.0}, {"latency_ms": 910.0}]},
                }
            ]
        },
        ended_reason="Testing agent-ended-call",
        duration_seconds=4.0,
    )
    t = np.arange(16000 * 4) / 16000
    run.recording.save(
        "r.wav",
        ContentFile(
            stereo_wav(
                (3000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16), np.zeros(len(t), np.int16)
            )
        ),
    )
    c = signed_in(org)
    page = c.get(f"/runs/{run.pk}/").content.decode()
    assert (
        'data-start="2.0"' in page
        and "Hi, when are you open?" in page
        and "Agora" in page
        and "Testing agent-ended-call" in page
    )
    assert f"/runs/{run.pk}/recording.wav" in page and "Median 640 ms" in page
    wav = c.get(f"/runs/{run.pk}/recording.wav")
    assert (
        wav.status_code == 200
        and wav["Content-Type"] == "audio/wav"
        and wav["Accept-Ranges"] == "bytes"
    )
    whole = b"".join(wav.streaming_content)
    part = c.get(f"/runs/{run.pk}/recording.wav", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[100:200]
    tail = c.get(f"/runs/{run.pk}/recording.wav", HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == whole[-10:]
    assert (
        c.get(f"/runs/{run.pk}/recording.wav", HTTP_RANGE=f"bytes={len(whole)}-").status_code == 416
    )
    wave = c.get(f"/runs/{run.pk}/waveform.json").json()
    assert wave["seconds"] == 4.0 and max(wave["caller"]) > 0.08 and max(wave["agent"]) == 0.0
    summary = c.get(f"/results/{result.pk}/").content.decode()
    assert 'id="latency-plot"' in summary and "p50" in summary
    assert "Half of the agent&#x27;s answers began within" in summary
    assert 'data-field="ended">Testing agent-ended-call</td>' in summary  # how each run ended
    assert c.get(f"/runs/{run.pk}/status.json").json() == {
        "id": run.pk,
        "status": "completed",
        "terminal": True,
    }


def test_create_user_command(db: Any, monkeypatch: Any) -> None:
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("CEKURA_USER_PASSWORD", PASSWORD)
    call_command("create_user", "grace", organization="Acme")
    assert sign_in(Client(), "grace", PASSWORD)
    monkeypatch.setenv("CEKURA_USER_PASSWORD", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command("create_user", "hopper", organization="Acme")


def test_compare_page_shows_which_cases_got_worse(org: Organization) -> None:
    from tests.factories import ResultFactory, RunFactory, ScenarioFactory

    agent = AgentFactory(organization=org)
    scenario = ScenarioFactory(agent=agent, name="Booking")
    before, after = ResultFactory(agent=agent), ResultFactory(agent=agent)
    for result, ok in ((before, True), (after, False)):
        RunFactory.create_batch(10, result=result, scenario=scenario, completed=True, success=ok)
    c = signed_in(org)
    assert 'id="compare-link"' in c.get("/results/").content.decode()
    empty = c.get("/results/compare/").content.decode()
    assert "Choose a result" in empty and "compare-table" not in empty
    page = c.get(f"/results/compare/?baseline={before.pk}&candidate={after.pk}").content.decode()
    assert 'id="compare-table"' in page and "Booking" in page
    assert "<strong>worse</strong>" in page and "10/10" in page and "0/10" in page
    other = ResultFactory()  # another organization's result is never compared
    page = c.get(f"/results/compare/?baseline={before.pk}&candidate={other.pk}").content.decode()
    assert "compare-table" not in page


def test_agent_trends_page_charts_results_and_links_comparisons(org: Organization) -> None:
    from tests.factories import ResultFactory, RunFactory, ScenarioFactory

    agent = AgentFactory(organization=org, agent_name="Clinic")
    scenario = ScenarioFactory(agent=agent, name="Booking")
    c = signed_in(org)
    assert "has no ended results yet" in c.get(f"/agents/{agent.pk}/trends/").content.decode()
    before, after = (
        ResultFactory(agent=agent, finished=True),
        ResultFactory(agent=agent, finished=True),
    )
    for result, outcomes in ((before, [True, True]), (after, [True, False])):
        for ok in outcomes:
            RunFactory(result=result, scenario=scenario, completed=True, success=ok)
    assert f"/agents/{agent.pk}/trends/" in c.get("/agents/").content.decode()
    page = c.get(f"/agents/{agent.pk}/trends/").content.decode()
    assert 'id="pass-trend"' in page and "<polygon" in page  # the line and its interval
    assert f"?baseline={before.pk}&amp;candidate={after.pk}" in page
    assert 'id="flaky-table"' in page and "3 of 4" in page
    other = AgentFactory()
    assert c.get(f"/agents/{other.pk}/trends/").status_code == 404


def test_launch_dialog_power_estimate(org: Organization) -> None:
    from evaluators.power import power, runs_needed

    c = signed_in(org)
    assert 'id="power"' in c.get("/scenarios/").content.decode()
    r = c.get("/scenarios/power.json", {"frequency": 10, "from": 90, "to": 70})
    assert r.json() == {
        "frequency": 10,
        "power": round(power(10, 0.9, 0.7), 3),
        "runs_needed": runs_needed(0.9, 0.7),
        "target_power": 0.8,
        "max_runs": 200,
    }
    for bad in ({"frequency": "x"}, {"frequency": 0}, {"from": 70, "to": 70}, {"to": 120}):
        assert c.get("/scenarios/power.json", bad).status_code == 400
    assert c.get("/scenarios/power.json", {"from": 90, "to": 89}).json()["runs_needed"] is None


def test_schedules_page_creates_pauses_and_shows_history(
    org: Organization, monkeypatch: Any
) -> None:
    from datetime import UTC, datetime

    from test_framework import services
    from test_framework.models import CronJob

    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    agent = AgentFactory(organization=org, agent_name="Clinic")
    ScenarioFactory(agent=agent, name="Hours")
    c = signed_in(org)
    page = c.get("/schedules/").content.decode()
    assert "No schedules yet." in page and "Clinic: Hours" in page
    bad = c.post(
        "/schedules/", {"name": "x", "expression": "0 9 * *", "agent": agent.pk}
    ).content.decode()
    assert "expression: A cron expression has five fields" in bad
    assert CronJob.objects.count() == 0
    r = c.post(
        "/schedules/",
        {
            "name": "Mornings",
            "expression": "0 9 * * 1-5",
            "timezone": "Europe/Berlin",
            "agent": agent.pk,
            "frequency": "1",
        },
    )
    assert r.status_code == 302
    job = CronJob.objects.get()
    listed = c.get("/schedules/").content.decode()
    assert "At 09:00, Monday through Friday (Europe/Berlin)" in listed and ">Pause<" in listed
    c.post(f"/schedules/{job.pk}/toggle/")
    job.refresh_from_db()
    assert not job.enabled and job.next_fire_at is None
    assert ">Resume<" in c.get("/schedules/").content.decode()
    CronJob.objects.filter(pk=job.pk).update(
        enabled=True, next_fire_at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    services.cron_jobs_fire_due(now=datetime(2027, 1, 1, 0, 1, tzinfo=UTC))
    detail = c.get(f"/schedules/{job.pk}/").content.decode()
    assert 'id="firings-table"' in detail and "2027-01-01 00:00" in detail
    assert 'id="trend-plot"' in detail


def test_webhooks_page_adds_a_webhook_and_resends_a_delivery(
    org: Organization, monkeypatch: Any
) -> None:
    from test_framework.models import Webhook, WebhookDelivery

    resent: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_webhook", lambda pk, **k: resent.append(pk))
    c = signed_in(org)
    assert "No webhooks yet." in c.get("/webhooks/").content.decode()
    bad = c.post("/webhooks/", {"url": "ftp://x", "events": ["result.completed"]})
    assert "url: " in bad.content.decode() and Webhook.objects.count() == 0
    r = c.post(
        "/webhooks/",
        {
            "url": "https://hooks.example.com/a",
            "secret": "s3cret-hook",
            "events": ["result.completed"],
        },
    )
    assert r.status_code == 302
    hook = Webhook.objects.get()
    page = c.get("/webhooks/").content.decode()
    assert "https://hooks.example.com/a" in page and "s3cret-hook" not in page
    delivery = WebhookDelivery.objects.create(
        organization=org,
        webhook=hook,
        event="result.completed",
        idempotency_key="k",
        state="failed",
        attempts=3,
        status_code=500,
        error="the receiver answered HTTP 500",
    )
    assert "the receiver answered HTTP 500" in c.get("/webhooks/").content.decode()
    c.post(f"/webhooks/deliveries/{delivery.pk}/resend/")
    delivery.refresh_from_db()
    assert resent == [delivery.pk] and delivery.state == "pending" and delivery.attempts == 0
