from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from django.db import connection

from cekura.errors import InsufficientBalance
from test_framework import services
from test_framework.choices import Status
from test_framework.models import Result, Run
from tests.factories import AgentFactory, ScenarioFactory

T = TypeVar("T")


def make_result(n: int, limit: int | None = None, status: str = Status.PENDING) -> Result:
    agent = AgentFactory()
    s = ScenarioFactory(agent=agent)
    result = Result.objects.create(
        organization=agent.organization, agent=agent, concurrency_limit=limit
    )
    for _ in range(n):
        Run.objects.create(
            organization=agent.organization, result=result, scenario=s, agent=agent, status=status
        )
    return result


def race(fn: Callable[[], T]) -> list[T]:
    """fn's results, run by two threads released at once (each with its own connection)."""
    barrier = threading.Barrier(2)
    results: list[T] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(fn())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_claim_is_compare_and_set(db: Any) -> None:
    run = make_result(1, status=Status.IN_QUEUE).runs.get()
    assert services.run_claim(run_id=run.pk) is True
    assert services.run_claim(run_id=run.pk) is False  # a redelivered task does nothing
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.RUNNING, 1) and run.executed_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_run_only_one_wins() -> None:
    run = make_result(1, status=Status.IN_QUEUE).runs.get()
    assert sorted(race(lambda: services.run_claim(run_id=run.pk))) == [False, True]


def test_dispatch_respects_the_concurrency_limit_as_runs_end(
    db: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    result = make_result(3, limit=2)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.result_dispatch(result_id=result.pk)
        assert services.result_dispatch(result_id=result.pk) == []  # full
    assert len(first) == 2 and sent == first
    services.run_claim(run_id=first[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_finish(run_id=first[0], status=Status.FAILED, success=False)
    assert len(sent) == 3  # the freed slot went to the last pending run
    assert result.runs.filter(status=Status.PENDING).count() == 0


def test_run_finish_is_once_and_settles_the_result(db: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    result = make_result(2, status=Status.RUNNING)
    a, b = result.runs.all()
    # The recording is kept when the call ends (run_store_call); the run is scored after.
    assert services.run_store_call(
        run_id=a.pk, recording_wav=b"RIFF", metadata={}, duration_seconds=1.0
    )
    assert services.run_finish(run_id=a.pk, status=Status.COMPLETED, success=True)
    assert not services.run_finish(run_id=a.pk, status=Status.FAILED)  # already ended
    result.refresh_from_db()
    assert result.status == Status.IN_PROGRESS and result.success_rate == 50.0
    services.run_finish(run_id=b.pk, status=Status.FAILED, ended_reason="x", infrastructure=False)
    result.refresh_from_db()
    assert result.status == Status.COMPLETED and result.success_rate == 50.0
    a.refresh_from_db()
    assert a.recording.name.endswith(f"run{a.pk}.wav")


def test_result_fails_only_when_every_run_failed_on_our_side(db: Any) -> None:
    result = make_result(2, status=Status.RUNNING)
    for run in result.runs.all():
        services.run_finish(
            run_id=run.pk,
            status=Status.FAILED,
            ended_reason="Testing agent-pipeline-error",
            infrastructure=True,
        )
    result.refresh_from_db()
    assert result.status == Status.FAILED and result.success_rate == 0.0


def test_runs_the_broker_refuses_end_failed_not_stuck(
    db: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("test_framework.dispatch.send_call", broker_down)
    result = make_result(2)
    with django_capture_on_commit_callbacks(execute=True):
        services.result_dispatch(result_id=result.pk)
    runs = list(result.runs.all())
    assert {r.status for r in runs} == {Status.FAILED}
    assert (
        "could not be handed to the worker queue (ConnectionRefusedError)" in runs[0].error_message
    )
    result.refresh_from_db()
    assert result.status == Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_two_launches_racing_for_the_last_credits_only_one_is_debited(monkeypatch: Any) -> None:
    """Two launches of 2 runs each against a balance of 3: one wins, the other is refused and
    leaves nothing behind, and the balance never goes below zero. Each launch holds its
    transaction open for a moment after debiting, so the second debit runs while the first is
    still uncommitted (a read-then-write debit would let both through)."""
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    agent = AgentFactory()
    scenario = ScenarioFactory(agent=agent)
    type(agent.organization).objects.filter(pk=agent.organization_id).update(credits=3)
    real_dispatch = services.result_dispatch

    def slow_dispatch(**kw: Any) -> list[int]:
        time.sleep(0.5)
        return real_dispatch(**kw)

    monkeypatch.setattr(services, "result_dispatch", slow_dispatch)

    def launch() -> str:
        try:
            services.result_launch(
                organization=agent.organization, agent=agent, scenarios=[scenario], frequency=2
            )
        except InsufficientBalance:
            return "refused"
        return "launched"

    assert sorted(race(launch)) == ["launched", "refused"]
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 1
    assert Result.objects.count() == 1 and Run.objects.count() == 2
