"""End to end on the production stack: a real Celery worker process takes the task from a
real Redis broker, writes to Postgres, and the call goes through the local channel to the
demo agent (a separate process)."""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.services import api_key_create
from evaluators.text import word_error_rate
from test_framework.choices import TERMINAL
from test_framework.models import Result, Run
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LINES = ["Hi, I would like to book an appointment.", "Thursday would be great."]


def test_runs_complete_through_a_real_worker_broker_and_database(worker_stack: Any) -> None:
    stack, tmp = worker_stack
    org = OrganizationFactory(credits=10)
    client = APIClient()
    client.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
    agent = client.post("/test_framework/v1/aiagents/", {
        "agent_name": "Demo", "description": "demo receptionist", "inbound": True,
        "agora_data": {"session_endpoint_url": stack.endpoint_url, "client_id": DEMO_CLIENT_ID},
        "agora_api_key": DEMO_SECRET,
    }, format="json").json()
    scenario = client.post("/test_framework/v1/scenarios/", {
        "name": "Booking", "agent": agent["id"], "scenario_type": "conditional_actions", "first_message": LINES[0],
        "conditional_actions": {"role": "patient", "conditions": [{"id": 1, "condition": "asked for a day", "action": LINES[1], "fixed_message": True}]},
        "expected_outcome_prompt": 'Books it: "appointment is on Thursday".',
    }, format="json").json()
    launch = client.post("/test_framework/v1/scenarios-external/run_scenarios_agora/", {"agent_id": agent["id"], "scenarios": [scenario["id"]], "frequency": 2, "concurrency_limit": 1}, format="json")
    assert launch.status_code == 200, launch.json()
    ids = [r["id"] for r in launch.json()["runs"]]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = list(Run.objects.filter(pk__in=ids))
        if all(r.status in TERMINAL for r in runs):
            break
        assert stack.alive(), (tmp / "logs" / "worker.log").read_text()[-3000:]
        time.sleep(1)
    else:
        pytest.fail("runs did not end in time:\n" + (tmp / "logs" / "worker.log").read_text()[-3000:])
    runs = sorted(Run.objects.filter(pk__in=ids), key=lambda r: r.pk)
    for run in runs:
        assert run.status == "completed", run.error_message
        assert run.success is True, run.expected_outcome
        caller = [t["content"] for t in run.transcript_object if t["role"] == "Testing Agent"]
        assert len(caller) == len(LINES) + 1  # the scripted lines, then the goodbye
        said, heard = " ".join(LINES), " ".join(caller[: len(LINES)])
        assert word_error_rate(said, heard) <= 0.3, (said, heard)
        agent_text = " ".join(t["content"] for t in run.transcript_object if t["role"] == "Main Agent").lower()
        assert "thank you for calling" in agent_text and "thursday" in agent_text
        assert Path(tmp / "media" / run.recording.name).stat().st_size > 100_000
    # concurrency_limit 1 limits calls: the second call started only after the first call
    # ended (its post-processing may still have been running).
    assert runs[1].executed_at >= datetime.fromisoformat(runs[0].metadata["call_ended_at"])
    result = Result.objects.get(pk=launch.json()["id"])
    assert (result.status, result.success_rate) == ("completed", 100.0)
    detail = client.get(f"/test_framework/v1/results/{result.pk}/").json()
    assert (detail["total_runs_count"], detail["success_runs_count"], detail["failed_runs_count"]) == (2, 2, 0)
    recording = client.get(f"/test_framework/v1/runs/{ids[0]}/recording/")
    assert recording.status_code == 200 and recording["Content-Type"] == "audio/wav"
    # No log line of the worker or the demo stack carries the secret or a join token
    # (AccessToken2 text starts "007eJ": "007" + base64 of a zlib header).
    for name, task in (("worker", "run_execute"), ("worker-post", "run_postprocess"), ("demo-stack", "")):
        text = (tmp / "logs" / f"{name}.log").read_text()
        assert task in text, name  # calls and post-processing ran on their own workers
        assert DEMO_SECRET not in text and "007eJ" not in text, name


def test_make_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    """`manage.py demo` with SQLite and the filesystem broker, as `make demo` runs it."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "DJANGO_SETTINGS"))}
    env.update({"DJANGO_SETTINGS_MODULE": "settings.local", "CEKURA_VAR_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    proc = subprocess.run([sys.executable, "manage.py", "demo", "--timeout", "300"], cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=420)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3/3 done" in proc.stdout and "success rate 100%" in proc.stdout
    assert len(list((tmp_path / "media" / "recordings").rglob("*.wav"))) == 3
