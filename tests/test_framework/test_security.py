"""Organizations are walled off from each other on every endpoint, and each API key is rate
limited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from cekura.accounts.services import api_key_create
from test_framework.api.urls import RESOURCES
from test_framework.choices import Status
from test_framework.models import Metric, Personality, Result, Run
from tests.factories import AgentFactory, OrganizationFactory, ScenarioFactory

pytestmark = pytest.mark.django_db

ORG_SCOPED = {"aiagents", "scenarios", "runs", "results", "metrics", "personalities"}


def other_orgs_rows(tmp_path: Any) -> dict[str, Any]:
    """One row of every kind, all owned by a second organization."""
    agent = AgentFactory()
    org = agent.organization
    scenario = ScenarioFactory(agent=agent, organization=org)
    result = Result.objects.create(organization=org, agent=agent, status=Status.RUNNING)
    run = Run.objects.create(
        organization=org, result=result, scenario=scenario, agent=agent, status=Status.COMPLETED
    )
    run.recording.save("theirs.wav", ContentFile(b"RIFF"), save=True)
    metric = Metric.objects.create(
        organization=org,
        name="Theirs",
        eval_type="binary",
        type="llm_judge",
        prompt="Was it polite?",
    )
    personality = Personality.objects.create(organization=org, name="Theirs")
    return {
        "aiagents": agent,
        "scenarios": scenario,
        "results": result,
        "runs": run,
        "metrics": metric,
        "personalities": personality,
    }


def detail_routes() -> list[tuple[str, str, str]]:
    """(resource, path with {pk}, method) for every route that names one object."""
    out = []
    for name, viewset in RESOURCES:
        if name not in ORG_SCOPED:
            continue
        path = f"/test_framework/v1/{name}/{{pk}}/"
        for method, handler in (
            ("get", "retrieve"),
            ("put", "update"),
            ("patch", "partial_update"),
            ("delete", "destroy"),
        ):
            if hasattr(viewset, handler):
                out.append((name, path, method))
        for act in viewset.get_extra_actions():  # every @action(detail=True), found by DRF itself
            if act.detail:
                out += [(name, f"{path}{act.url_path}/", m) for m in act.mapping]
    return out


def test_every_endpoint_answers_404_for_another_organizations_ids(
    tmp_path: Any, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    theirs = other_orgs_rows(tmp_path)
    mine = OrganizationFactory(credits=100)
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=mine)[1])
    routes = detail_routes()
    # Every detail action the API has is probed (a new one would be picked up here).
    assert {"recording", "end_call", "end_calls", "evaluate_metrics"} <= {
        p.rstrip("/").split("/")[-1] for _, p, _ in routes
    }
    for resource, path, method in routes:
        url = path.format(pk=theirs[resource].pk)
        r = getattr(api, method)(url, {}, format="json")
        assert r.status_code == 404, (method.upper(), url, r.status_code, r.content[:200])
    # Launching with their agent or their scenarios: refused, nothing created, nothing spent.
    r = api.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        {"agent_id": theirs["aiagents"].pk, "scenarios": [theirs["scenarios"].pk]},
        format="json",
    )
    assert r.status_code in (400, 404), r.content
    mine.refresh_from_db()
    assert mine.credits == 100 and not Result.objects.filter(organization=mine).exists()
    # And nothing of theirs was changed or removed.
    run = Run.objects.get(pk=theirs["runs"].pk)
    assert run.status == Status.COMPLETED and run.cancel_requested_at is None and run.recording
    assert Result.objects.get(pk=theirs["results"].pk).status == Status.RUNNING
    for name in ("aiagents", "scenarios", "metrics", "personalities"):
        assert type(theirs[name]).objects.filter(pk=theirs[name].pk).exists(), name


def test_each_api_key_is_rate_limited_with_429_and_retry_after(settings: Any) -> None:
    cache.clear()
    settings.API_RATE_LIMITS = {"api": "5/min", "launch": "2/min"}
    org = OrganizationFactory(credits=100)
    first, second = APIClient(), APIClient()
    first.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
    second.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
    for _ in range(5):
        assert first.get("/test_framework/v1/aiagents/").status_code == 200
    r = first.get("/test_framework/v1/aiagents/")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0 and "throttled" in r.json()["detail"]
    assert (
        second.get("/test_framework/v1/aiagents/").status_code == 200
    )  # per key, not per organization
    # Launches have their own, tighter limit; a refused launch creates nothing.
    third = APIClient()
    third.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
    body = {"agent_id": 999999, "scenarios": [1]}
    assert [
        third.post(
            "/test_framework/v1/scenarios-external/run_scenarios_agora/", body, format="json"
        ).status_code
        for _ in range(3)
    ][-1] == 429
    assert (
        third.get("/test_framework/v1/aiagents/").status_code == 200
    )  # other endpoints still answer
    settings.API_RATE_LIMITS = {"api": None, "launch": None}
    assert all(
        first.get("/test_framework/v1/aiagents/").status_code == 200 for _ in range(3)
    )  # "off" lifts it


def test_prometheus_metrics_are_read_from_the_database_and_the_broker(settings: Any) -> None:
    from django.test import Client

    agent = AgentFactory()
    result = Result.objects.create(
        organization=agent.organization, agent=agent, status=Status.COMPLETED
    )
    for duration, rtf in ((25.0, 0.08), (95.0, 0.3)):
        Run.objects.create(
            organization=agent.organization,
            result=result,
            agent=agent,
            status=Status.COMPLETED,
            duration_seconds=duration,
            metadata={"asr_real_time_factor": rtf},
        )
    Run.objects.create(
        organization=agent.organization, result=result, agent=agent, status=Status.FAILED
    )
    settings.METRICS_TOKEN = ""
    text = Client().get("/metrics").content.decode()
    assert (
        'cekura_runs{status="completed"} 2.0' in text and 'cekura_runs{status="failed"} 1.0' in text
    )
    assert 'cekura_results{status="completed"} 1.0' in text
    assert (
        'cekura_call_duration_seconds_bucket{le="30.0"} 1.0' in text
        and 'cekura_call_duration_seconds_bucket{le="120.0"} 2.0' in text
    )
    assert "cekura_call_duration_seconds_sum 120.0" in text
    assert (
        'cekura_asr_real_time_factor_bucket{le="0.1"} 1.0' in text
        and "cekura_asr_real_time_factor_count 2.0" in text
    )
    assert (
        re.search(r'cekura_queue_depth\{queue="calls"\} \d', text)
        and "cekura_runs_stale 0.0" in text
    )
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_log_lines_carry_the_run_and_result_ids_in_both_formats() -> None:
    import json
    import logging
    import logging.config
    import threading

    from cekura.logcontext import ContextFilter, bound, in_context, logging_config

    def record() -> logging.LogRecord:
        rec = logging.LogRecord(
            "test_framework.tasks", logging.INFO, __file__, 1, "run %s: completed", (7,), None
        )
        ContextFilter().filter(rec)
        return rec

    inside: list[logging.LogRecord] = []
    with bound(run_id=7, result_id=3):
        t = threading.Thread(target=in_context(lambda: inside.append(record())))
        t.start()
        t.join()  # a thread started with in_context keeps the ids
    outside = record()
    for fmt in ("plain", "json"):
        cfg = logging_config("INFO", fmt)
        formatter = logging.config.DictConfigurator(cfg).configure_formatter(
            cfg["formatters"]["main"]
        )
        if fmt == "plain":
            assert " run=7 result=3 run 7: completed" in formatter.format(inside[0])
            assert "run=" not in formatter.format(outside)
        else:
            line = json.loads(formatter.format(inside[0]))
            assert (line["run_id"], line["result_id"], line["level"], line["message"]) == (
                7,
                3,
                "INFO",
                "run 7: completed",
            )
