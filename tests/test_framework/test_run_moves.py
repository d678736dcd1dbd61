"""The lifecycle table, walked whole: every move a run's status may make, and every one it may
not, each with what it does to the organization's credits (test_framework.lifecycle)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.conf import settings

from cekura.accounts.models import Organization
from test_framework import lifecycle, services
from test_framework.choices import TERMINAL, Status
from test_framework.models import Run
from tests.factories import ResultFactory, RunFactory

RUN_STATUSES = [s for s in Status if s != Status.IN_PROGRESS]
ALLOWED = {
    (Status.PENDING, Status.IN_QUEUE),
    (Status.PENDING, Status.CANCELLED),
    (Status.PENDING, Status.FAILED),
    (Status.IN_QUEUE, Status.RUNNING),
    (Status.IN_QUEUE, Status.CANCELLED),
    (Status.IN_QUEUE, Status.FAILED),
    (Status.RUNNING, Status.EVALUATING),
    (Status.RUNNING, Status.FAILED),
    (Status.RUNNING, Status.TIMEOUT),
    (Status.RUNNING, Status.CANCELLED),
    (Status.EVALUATING, Status.COMPLETED),
    (Status.EVALUATING, Status.FAILED),
    (Status.EVALUATING, Status.TIMEOUT),
    (Status.EVALUATING, Status.CANCELLED),
}
# A run is charged once its call is stored (it reached evaluating); ending earlier refunds.
REFUNDED = {(s, t) for s, t in ALLOWED if t in TERMINAL and s != Status.EVALUATING}


def credits(org_id: int) -> int:
    return Organization.objects.values_list("credits", flat=True).get(pk=org_id)


def test_the_table_is_the_issue_table() -> None:
    assert {(s, t) for s, ts in lifecycle.MOVES.items() for t in ts} == ALLOWED


@pytest.mark.parametrize(("source", "target"), list(itertools.product(RUN_STATUSES, RUN_STATUSES)))
def test_every_move(db: Any, source: Status, target: Status) -> None:
    run = RunFactory(status=source)
    before = credits(run.organization_id)
    if source in TERMINAL:
        # A run that has ended stays ended: a second delivery of its task does nothing.
        assert lifecycle.run_move(run.pk, target) is False
        moved = False
    elif (source, target) in ALLOWED:
        assert lifecycle.run_move(run.pk, target) is True
        moved = True
    else:
        with pytest.raises(lifecycle.IllegalMove, match=f"from {source} to {target}"):
            lifecycle.run_move(run.pk, target)
        moved = False
    run.refresh_from_db()
    assert run.status == (target if moved else source)
    refunded = moved and (source, target) in REFUNDED
    assert run.credit_refunded is refunded
    assert credits(run.organization_id) == before + (settings.CREDITS_PER_RUN if refunded else 0)
    assert (run.finished_at is not None) == (moved and target in TERMINAL)


def test_a_move_from_statuses_the_run_is_not_in_loses_without_changing_it(db: Any) -> None:
    run = RunFactory(running=True)
    assert lifecycle.run_move(run.pk, Status.RUNNING, sources={Status.IN_QUEUE}) is False
    assert lifecycle.run_move(run.pk, Status.EVALUATING, sources={Status.RUNNING}) is True
    with pytest.raises(lifecycle.IllegalMove):  # asked for, even if the run is elsewhere
        lifecycle.run_move(run.pk, Status.COMPLETED, sources={Status.PENDING})
    assert lifecycle.run_move(run.pk + 1000, Status.FAILED) is False  # no such run


def test_a_refund_happens_once_however_many_times_the_end_is_asked_for(db: Any) -> None:
    run = RunFactory(queued=True)
    before = credits(run.organization_id)
    for _ in range(3):
        services.run_finish(run_id=run.pk, status=Status.FAILED, infrastructure=True)
        services.run_request_cancel(run=run)
    run.refresh_from_db()
    assert (run.status, run.credit_refunded) == (Status.FAILED, True)
    assert credits(run.organization_id) == before + settings.CREDITS_PER_RUN


def test_cancelling_a_result_moves_and_refunds_its_unstarted_runs_in_one_step(db: Any) -> None:
    result = ResultFactory()
    pending = RunFactory.create_batch(3, result=result)
    queued = RunFactory(result=result, queued=True)
    stored = RunFactory(result=result, evaluating=True)
    done = RunFactory(result=result, completed=True)
    before = credits(result.organization_id)
    services.result_cancel(result=result)
    services.result_cancel(result=result)  # twice: nothing more moves or comes back
    statuses = dict(Run.objects.filter(result=result).values_list("pk", "status"))
    assert [statuses[r.pk] for r in [*pending, queued]] == [Status.CANCELLED] * 4
    assert statuses[stored.pk] == Status.EVALUATING  # asked to stop; ends when scored
    assert statuses[done.pk] == Status.COMPLETED
    assert credits(result.organization_id) == before + 4 * settings.CREDITS_PER_RUN
    assert Run.objects.get(pk=stored.pk).cancel_requested_at is not None


def test_runs_move_refuses_sources_that_charge_differently(db: Any) -> None:
    run = RunFactory(running=True)
    with pytest.raises(lifecycle.IllegalMove, match="charge some"):
        lifecycle.runs_move([run.pk], Status.FAILED, sources={Status.RUNNING, Status.EVALUATING})
    with pytest.raises(lifecycle.IllegalMove):
        lifecycle.runs_move([run.pk], Status.COMPLETED, sources={Status.RUNNING})
    run.refresh_from_db()
    assert run.status == Status.RUNNING


def test_run_finish_only_ends_runs(db: Any) -> None:
    run = RunFactory()
    with pytest.raises(lifecycle.IllegalMove):
        services.run_finish(run_id=run.pk, status=Status.RUNNING)


def test_lifecycle_facts_show_in_the_apis_metadata_as_before(db: Any) -> None:
    run = RunFactory(failed=True, metadata={"seed": 7}, reaped=True)
    assert run.api_metadata() == {
        "seed": 7,
        "ended_reason": "Testing agent-pipeline-error",
        "credit_refunded": True,
        "reaped": True,
    }
    assert "infrastructure" not in run.api_metadata()
    assert RunFactory().api_metadata() == {"ended_reason": None}


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_lifecycle_facts_out_of_metadata_and_back() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("test_framework", "0007_run_call_started_at")]
    after = [("test_framework", "0008_run_lifecycle_columns")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    agent = apps.get_model("test_framework", "AIAgent")
    org = apps.get_model("accounts", "Organization").objects.create(name="old", credits=1)
    a = agent.objects.create(organization=org, agent_name="a")
    result = apps.get_model("test_framework", "Result").objects.create(organization=org, agent=a)
    old = apps.get_model("test_framework", "Run").objects.create(
        organization=org,
        result=result,
        agent=a,
        status="failed",
        metadata={
            "seed": 3,
            "timeline": [],
            "ended_reason": "Testing agent-pipeline-error",
            "infrastructure": True,
            "credit_refunded": True,
            "post_attempts": 2,
            "reaped": True,
        },
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    run = Run.objects.get(pk=old.pk)
    assert run.metadata == {"seed": 3, "timeline": []}
    assert (run.ended_reason, run.infrastructure, run.credit_refunded) == (
        "Testing agent-pipeline-error",
        True,
        True,
    )
    assert (run.post_attempts, run.reaped, run.cancelled_while) == (2, True, "")
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    back = executor.loader.project_state(before).apps.get_model("test_framework", "Run")
    assert back.objects.get(pk=old.pk).metadata == {
        "seed": 3,
        "timeline": [],
        "ended_reason": "Testing agent-pipeline-error",
        "infrastructure": True,
        "credit_refunded": True,
        "post_attempts": 2,
        "reaped": True,
    }
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
