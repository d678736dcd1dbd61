"""The demo agent's session endpoint reads a spec case's agent variables."""

from __future__ import annotations

from typing import Any

import httpx

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from agora_runner.demo.intents import GREETING, greeting_for


def test_the_greeting_names_the_patient_only_when_a_plain_name_is_given() -> None:
    assert (
        greeting_for({"patient_name": " Maria "})
        == "Hello Maria, thank you for calling Sunny Clinic. How can I help you today?"
    )
    assert greeting_for(None) == GREETING
    assert greeting_for({"patient_name": "<script>"}) == GREETING
    assert greeting_for({"patient_name": 42}) == GREETING


def test_the_endpoint_hands_agent_variables_to_the_agent(demo_stack: Any) -> None:
    headers = {"X-Cekura-Secret": DEMO_SECRET}
    r = httpx.post(
        demo_stack.endpoint_url,
        json={"client_id": DEMO_CLIENT_ID, "agent_variables": {"patient_name": "Maria"}},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["agora_channel"]
    assert demo_stack.agents[-1].variables == {"patient_name": "Maria"}
    r = httpx.get(
        demo_stack.endpoint_url,
        params={"client_id": DEMO_CLIENT_ID, "agent_variables": '{"patient_name": "Ana"}'},
        headers=headers,
    )
    assert r.status_code == 200 and demo_stack.agents[-1].variables == {"patient_name": "Ana"}
    r = httpx.post(
        demo_stack.endpoint_url,
        json={"client_id": DEMO_CLIENT_ID, "agent_variables": ["Maria"]},
        headers=headers,
    )
    assert (r.status_code, r.json()) == (400, {"error": "agent_variables must be a JSON object"})
