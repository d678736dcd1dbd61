"""Re-scoring a result in the background (evaluate_metrics): one at a time, its progress
visible, never left under way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from test_framework import services, tasks
from test_framework.models import Result
from tests.factories import AgentFactory, ResultFactory, RunFactory


def test_evaluate_metrics_runs_in_the_background_with_progress(
    client: APIClient, org: Any, monkeypatch: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_rescore", sent.append)
    result = ResultFactory(agent=AgentFactory(organization=org), finished=True)
    RunFactory.create_batch(3, result=result, completed=True)
    RunFactory(result=result, failed=True)  # no stored call: not re-scored
    r = client.post(f"/test_framework/v1/results/{result.pk}/evaluate_metrics/")
    assert r.status_code == 202
    assert r.json()["rescore"]["state"] == "queued" and r.json()["rescore"]["total"] == 3
    assert sent == [result.pk]
    # Asked again while it waits: nothing more is queued.
    assert (
        client.post(f"/test_framework/v1/results/{result.pk}/evaluate_metrics/").status_code == 202
    )
    assert sent == [result.pk]
    # The worker takes it (the task itself), once.
    tasks.result_rescore(result.pk)
    tasks.result_rescore(result.pk)  # a second delivery does nothing
    detail = client.get(f"/test_framework/v1/results/{result.pk}/").json()
    assert detail["rescore"]["state"] == "done"
    assert (detail["rescore"]["done"], detail["rescore"]["total"]) == (3, 3)
    # Done: it may be asked for again.
    client.post(f"/test_framework/v1/results/{result.pk}/evaluate_metrics/")
    assert sent == [result.pk, result.pk]


def test_a_result_without_a_completed_call_cannot_be_rescored(client: APIClient, org: Any) -> None:
    result = ResultFactory(agent=AgentFactory(organization=org))
    RunFactory(result=result, failed=True)
    r = client.post(f"/test_framework/v1/results/{result.pk}/evaluate_metrics/")
    assert r.status_code == 400
    assert "no completed call" in str(r.json())
    assert Result.objects.get(pk=result.pk).rescore_state == ""


def test_a_lost_rescore_ends_failed_and_a_refused_one_says_so(org: Any, monkeypatch: Any) -> None:
    result = ResultFactory(agent=AgentFactory(organization=org), finished=True)
    RunFactory(result=result, completed=True)
    monkeypatch.setattr("test_framework.dispatch.send_rescore", lambda _id: None)
    services.result_rescore_request(result=result)
    Result.objects.filter(pk=result.pk).update(
        rescore_requested_at=timezone.now() - timedelta(hours=2)
    )
    assert services.rescores_overdue(after_seconds=3600) == [result.pk]
    result.refresh_from_db()
    assert result.rescore_state == "failed" and "did not finish" in result.rescore_error

    def refuse(_id: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("test_framework.dispatch.send_rescore", refuse)
    result = services.result_rescore_request(result=result)
    assert result.rescore_state == "failed" and "could not be queued" in result.rescore_error


def test_a_failing_rescore_ends_failed_with_the_reason(org: Any, monkeypatch: Any) -> None:
    result = ResultFactory(agent=AgentFactory(organization=org), finished=True)
    RunFactory(result=result, completed=True, recording="recordings/x.wav")
    monkeypatch.setattr("test_framework.dispatch.send_rescore", lambda _id: None)
    services.result_rescore_request(result=result)

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("no model")

    monkeypatch.setattr("test_framework.services.scoring._rescore_run", broken)
    tasks.result_rescore(result.pk)
    result.refresh_from_db()
    assert result.rescore_state == "failed" and "RuntimeError" in result.rescore_error
