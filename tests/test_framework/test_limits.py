"""Text limits (docs/limits.md): what one request may ask the workers to say and read. Over a
limit is a 400 naming the field, and nothing is created; a scenario stored over a limit before
the limits existed ends its run at once with the reason, its credit back."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from test_framework import limits
from test_framework.choices import Status
from test_framework.models import AIAgent, Scenario
from test_framework.tasks import run_execute
from tests.test_framework.test_specs import errors, spec
from tests.test_framework.test_tasks import queued_run

SCENARIOS = "/test_framework/v1/scenarios/"


def conditional(conditions: list[dict[str, Any]], role: str = "caller") -> dict[str, Any]:
    return {"role": role, "conditions": conditions}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (
            {"first_message": "x" * (limits.LINE + 1)},
            "first_message",
            "Ensure this field has no more than 1000 characters.",
        ),
        (
            {"instructions": "x" * (limits.TEXT + 1)},
            "instructions",
            "Ensure this field has no more than 20000 characters.",
        ),
        (
            {"expected_outcome_prompt": "x" * (limits.TEXT + 1)},
            "expected_outcome_prompt",
            "Ensure this field has no more than 20000 characters.",
        ),
    ],
)
def test_scenario_text_over_its_limit_is_a_400_naming_the_field(
    client: APIClient, agent: AIAgent, extra: dict, field: str, message: str
) -> None:
    before = Scenario.objects.count()
    r = client.post(SCENARIOS, {"name": "S", "agent": agent.pk, **extra}, format="json")
    assert r.status_code == 400 and r.json() == {field: [message]}
    assert Scenario.objects.count() == before
    at_limit = {
        k: v[: limits.LINE if k == "first_message" else limits.TEXT] for k, v in extra.items()
    }
    assert (
        client.post(
            SCENARIOS, {"name": "S", "agent": agent.pk, **at_limit}, format="json"
        ).status_code
        == 201
    )


def test_conditional_actions_limits(client: APIClient, agent: AIAgent) -> None:
    base = {"name": "C", "agent": agent.pk, "scenario_type": "conditional_actions"}
    one = {"condition": "when asked", "action": "Say hi", "fixed_message": True}
    r = client.post(
        SCENARIOS,
        {**base, "conditional_actions": conditional([one] * (limits.CONDITIONS + 1))},
        format="json",
    )
    assert r.status_code == 400 and r.json() == {
        "conditional_actions": {"conditions": ["Ensure this field has no more than 100 elements."]}
    }
    r = client.post(
        SCENARIOS,
        {**base, "conditional_actions": conditional([{**one, "action": "x" * (limits.LINE + 1)}])},
        format="json",
    )
    assert r.status_code == 400 and r.json() == {
        "conditional_actions": {
            "conditions": {"0": {"action": ["Ensure this field has no more than 1000 characters."]}}
        }
    }
    r = client.post(
        SCENARIOS,
        {**base, "conditional_actions": conditional([one], role="x" * (limits.ROLE + 1))},
        format="json",
    )
    assert r.status_code == 400 and "role" in r.json()["conditional_actions"]
    assert (
        client.post(
            SCENARIOS,
            {**base, "conditional_actions": conditional([one] * limits.CONDITIONS)},
            format="json",
        ).status_code
        == 201
    )


def test_a_spec_file_has_the_same_limits(client: APIClient, agent: AIAgent) -> None:
    body = spec({"name": "Long", "first_message": "x" * (limits.LINE + 1)})
    problems = errors(client, agent, body)
    assert "first_message" in str(problems) and "1000" in str(problems)
    body = spec(
        {
            "name": "Many",
            "type": "conditional_actions",
            "conditional_actions": {"conditions": [{"action": "x" * (limits.LINE + 1)}]},
        }
    )
    assert "action" in str(errors(client, agent, body))


def test_a_run_of_a_scenario_stored_over_the_limit_ends_at_once_with_the_reason(
    db: Any, agent: AIAgent
) -> None:
    run = queued_run(
        agent, first_message="Hello. " * 160_000
    )  # 1.1 MB (stripped of its last space), stored before there were limits
    credits_before = agent.organization.credits
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert run.error_message.startswith(
        "a caller line is 1,119,999 characters long; the limit is 1,000"
    )
    assert run.infrastructure is False
    agent.organization.refresh_from_db()
    assert agent.organization.credits > credits_before  # refunded: nothing was called
