"""The embedded stack survives its children being killed: each of the demo stack, the calls
worker, the post-processing worker, the maintenance worker and the web server is SIGKILLed three
times (all five at once, in three rounds), is started again each time, and the stack then holds a
call to the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cekura.embedded import EmbeddedStack
from test_framework.choices import Status
from test_framework.models import Run
from tests.e2e.conftest import demo_scenario, stack_env
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHILDREN = ["demo-stack", "worker", "worker-post", "maintenance", "web"]


@pytest.fixture
def full_stack(tmp_path: Path, settings: Any) -> Iterator[EmbeddedStack]:
    said: list[str] = []
    # Short pauses between restarts: the pause's growth is tested on cheap children in
    # tests/test_embedded_supervisor.py; here what matters is that each real child comes back.
    with EmbeddedStack(
        env=stack_env(tmp_path, settings),
        web=True,
        log_dir=tmp_path / "logs",
        log=said.append,
        backoff=(0.2, 0.5, 1.0),
    ) as stack:
        stack.said = said  # type: ignore[attr-defined]
        yield stack


def wait_running(stack: EmbeddedStack, name: str, old_pid: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stack.running(name) and stack.children[name].proc.pid != old_pid:
            return
        time.sleep(0.2)
    pytest.fail(f"{name} was not started again: {stack.said[-5:]}")  # type: ignore[attr-defined]


def test_the_embedded_stack_survives_three_kills_of_each_child(full_stack: EmbeddedStack) -> None:
    stack = full_stack
    for _ in range(3):  # each round kills every child, then waits for each to come back
        pids = {name: stack.children[name].proc.pid for name in CHILDREN}
        for name in CHILDREN:
            stack.crash(name)
            assert stack.alive()
        for name in CHILDREN:
            wait_running(stack, name, pids[name])
    assert stack.restarts == dict.fromkeys(CHILDREN, 3)
    assert stack.alive() and stack.gave_up is None
    deadline = time.monotonic() + 60  # the web server listens again
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.web_url}/healthz", timeout=2).status_code < 500:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    org = OrganizationFactory(credits=5)
    api, agent, scenario = demo_scenario(
        stack, org, "After the kills", ["Hello, when are you open?", "Thanks, that is all."]
    )
    launch = api.post(
        "/test_framework/v1/scenarios-external/run_scenarios_agora/",
        {"agent_id": agent["id"], "scenarios": [scenario["id"]]},
        format="json",
    )
    assert launch.status_code == 200, launch.json()
    run_id = launch.json()["runs"][0]["id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        run = Run.objects.get(pk=run_id)
        if run.status in (Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED):
            break
        time.sleep(0.5)
    assert run.status == Status.COMPLETED, (run.status, run.error_message)
    logs = stack.log_dir  # type: ignore[assignment]
    assert (logs / "worker.log").read_text().count("--- embedded: worker starting") == 4  # type: ignore[operator]
