"""Tests as Code through a real worker, broker and database: the example spec validated and run
against the demo agent, polled and gated the way the hosted product's CI clients do."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.services import api_key_create
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cekura.tests.json"
TERMINAL = {"completed", "failed", "timeout", "cancelled"}


def gate(result: dict[str, Any]) -> tuple[bool, dict[str, str]]:
    """The clients' rule (spec/hosted-clients.md): pass only when the result completed and every
    run passed; for each run that did not, the reason they would print."""
    total, passed = int(result["total_runs_count"]), int(result["success_runs_count"])
    ok = result["status"] == "completed" and total > 0 and passed == total
    runs = result["runs"].values() if isinstance(result["runs"], dict) else result["runs"]
    reasons = {}
    for run in runs:
        label = (
            run["scenario"]["name"] if isinstance(run["scenario"], dict) else run["scenario_name"]
        )
        if run["status"] != "completed":
            reasons[label] = run["error_message"] or f"run ended {run['status']}"
        elif not run["success"]:
            names = []
            expected = run.get("expected_outcome")
            if (
                isinstance(expected, dict)
                and isinstance(expected.get("score"), int | float)
                and expected["score"] < 100
            ):
                names.append("expected outcome")
            names += [
                m["name"]
                for m in run["evaluation"]["metrics"]
                if str(m.get("type", "")).startswith("binary") and m.get("score_normalized") == 0
            ]
            reasons[label] = "failed: " + ", ".join(names) if names else "failed its checks"
    return ok, reasons


def poll(api: APIClient, result_id: int, timeout: float, logs: Path) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = api.get(f"/test_framework/v1/results/{result_id}/").json()
        if result["status"] in TERMINAL:
            return result
        time.sleep(1)
    pytest.fail(f"result {result_id} did not finish:\n" + (logs / "worker.log").read_text()[-3000:])


def agent_on(api: APIClient, stack: Any, name: str) -> dict[str, Any]:
    return api.post(
        "/test_framework/v1/aiagents/",
        {
            "agent_name": name,
            "description": "",
            "inbound": True,
            "agora_data": {"session_endpoint_url": stack.endpoint_url, "client_id": DEMO_CLIENT_ID},
            "agora_api_key": DEMO_SECRET,
        },
        format="json",
    ).json()


def test_the_example_spec_passes_and_a_broken_case_is_named_by_the_gate(worker_stack: Any) -> None:
    stack, tmp = worker_stack
    org = OrganizationFactory(credits=20)
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=org)[1])
    clinic, strict = (
        agent_on(api, stack, "Sunny Clinic"),
        agent_on(api, stack, "Sunny Clinic, strict"),
    )
    metric = api.post(
        "/test_framework/v1/metrics/",
        {
            "name": "Offers a discount",
            "type": "custom_code",
            "eval_type": "binary",
            "agents": [strict["id"]],
            "configuration": {"rule": {"match": "keyword", "patterns": ["discount"]}},
        },
        format="json",
    ).json()
    assert metric["slug"] == "offers_a_discount", metric

    spec = json.loads(EXAMPLE.read_text())
    checked = api.post(
        "/test_framework/v1/scenarios/validate_scenarios_json/",
        {"agent_id": clinic["id"], "spec": spec},
        format="json",
    )
    assert checked.status_code == 200, checked.json()
    org.refresh_from_db()
    assert (
        checked.json()["plan"]["total_runs"] == 2 and org.credits == 20
    )  # validating costs nothing
    good = api.post(
        "/test_framework/v1/scenarios/run_scenarios_json/",
        {"agent_id": clinic["id"], "spec": spec},
        format="json",
    )
    assert good.status_code == 200, good.json()

    broken = {
        "version": "1",
        "scenarios": [
            {
                "name": "Weekend opening",
                "type": "conditional_actions",
                "first_message": "Hello, are you open on Sunday?",
                "conditional_actions": {
                    "conditions": [
                        {
                            "condition": "the agent answers",
                            "action": "Okay, goodbye.",
                            "fixed_message": True,
                        }
                    ]
                },
                "expected_outcome": 'The agent says "we are open on Sunday".',
                "metrics": ["offers_a_discount"],
            }
        ],
    }
    bad = api.post(
        "/test_framework/v1/scenarios/run_scenarios_json/",
        {"agent_id": strict["id"], "spec": broken},
        format="json",
    )
    assert bad.status_code == 200, bad.json()

    result = poll(api, good.json()["id"], 240, tmp / "logs")
    ok, reasons = gate(result)
    assert ok, (reasons, result["failed_reasons"])
    runs = {r["scenario"]["key"]: r for r in result["runs"].values()}
    assert set(runs) == {"book_appointment", "greets_patient_by_name"}
    # The agent variables reached the agent through its session endpoint: it greeted by name.
    assert "Maria" in runs["greets_patient_by_name"]["transcript"]

    result = poll(api, bad.json()["id"], 240, tmp / "logs")
    ok, reasons = gate(result)
    assert not ok and result["status"] == "completed"
    assert reasons == {"Weekend opening": "failed: expected outcome, Offers a discount"}

    history = api.get(
        "/test_framework/v1/runs/", {"scenario_key": "book_appointment", "agent_id": clinic["id"]}
    ).json()
    assert history["count"] == 1 and history["results"][0]["result_id"] == good.json()["id"]
