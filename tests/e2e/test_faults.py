"""Faults done for real: the worker holding a live call is SIGKILLed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from test_framework.choices import Status
from test_framework.models import Result, Run
from test_framework.tasks import reap_stale_runs
from tests.e2e.conftest import demo_scenario
from tests.factories import OrganizationFactory
from tests.test_framework.test_lifecycle import LONG_CALL as LINES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_call_leaves_no_run_running(
    pooled_worker_stack: Any, settings: Any
) -> None:
    stack, tmp = pooled_worker_stack
    settings.RUN_STALE_AFTER_SECONDS = 5
    org = OrganizationFactory(credits=10)
    api, agent, scenario = demo_scenario(stack, org, "Long", list(LINES))
    launch = api.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        {"agent_id": agent["id"], "scenarios": [scenario["id"]]},
        format="json",
    )
    assert launch.status_code == 200, launch.json()
    run_id = launch.json()["runs"][0]["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run_id)
        if run.status == Status.RUNNING and run.heartbeat_at is not None:
            break
        time.sleep(0.25)
    else:
        pytest.fail("the run never started:\n" + (tmp / "logs" / "worker.log").read_text()[-3000:])
    time.sleep(3)  # well into the call
    stack.kill("worker")
    assert (
        Run.objects.get(pk=run_id).status == Status.RUNNING
    )  # nobody ended it: the worker is gone
    time.sleep(settings.RUN_STALE_AFTER_SECONDS + 1)
    # The reaper (Celery beat's periodic task; beat died with this worker) ends the run.
    assert reap_stale_runs() == 1
    run = Run.objects.get(pk=run_id)
    assert run.status == Status.FAILED and "the run was ended by the reaper" in run.error_message
    assert run.ended_reason == "Testing agent-pipeline-error" and run.credit_refunded
    result = Result.objects.get(pk=run.result_id)
    assert result.status == Status.FAILED  # its only run failed on our side
    org.refresh_from_db()
    assert org.credits == 10  # debited at launch, refunded by the reaper
    assert reap_stale_runs() == 0
