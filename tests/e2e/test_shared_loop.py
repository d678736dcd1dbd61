"""A calls worker on Celery's threads pool holds its calls on one shared event loop
(CEKURA_CALLS_SHARED_LOOP): two runs at once, through a real worker, Redis and Postgres."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cekura.embedded import EmbeddedStack
from test_framework.choices import Status
from test_framework.models import Run
from tests.e2e.conftest import demo_scenario, stack_env
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_two_runs_at_once_on_one_shared_loop(tmp_path: Path, settings: Any) -> None:
    env = {**stack_env(tmp_path, settings), "CEKURA_CALLS_SHARED_LOOP": "1"}
    with EmbeddedStack(env=env, web=False, worker_concurrency=2, log_dir=tmp_path / "logs") as stack:
        org = OrganizationFactory(credits=10)
        api, agent, scenario = demo_scenario(stack, org, "Hours", ["Hello, when are you open?", "Thank you."])
        launch = api.post("/test_framework/v1/scenarios-external/run_scenarios_agora/",
                          {"agent_id": agent["id"], "scenarios": [scenario["id"]], "frequency": 2}, format="json")
        assert launch.status_code == 200, launch.json()
        ids = [r["id"] for r in launch.json()["runs"]]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = list(Run.objects.filter(pk__in=ids))
            if all(r.status in (Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED) for r in runs):
                break
            time.sleep(1)
        log = (tmp_path / "logs" / "worker.log").read_text()
        assert all(r.status == Status.COMPLETED for r in runs), [(r.status, r.error_message) for r in runs] + [log[-3000:]]
    assert "concurrency: 2 (thread)" in log  # one process, two threads, one loop
    spans = sorted((r.executed_at.timestamp(), r.executed_at.timestamp() + r.duration_seconds) for r in runs)
    assert spans[1][0] < spans[0][1]  # the two calls overlapped
    for run in runs:
        assert "open" in run.transcript.lower()
        assert run.metadata["pacing"]["frames"] >= run.duration_seconds * 90
        heard = [e for e in run.metadata["timeline"] if e["kind"] == "agent_turn_heard"]
        assert heard and heard[0]["data"]["text"]  # the hearing pool heard the greeting
