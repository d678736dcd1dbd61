"""Tests as Code over Agora: validate_scenarios_json / run_scenarios_json and the spec format
version "1". One test per rule, each asserting the exact key and message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from test_framework.assembly import run_call_spec, run_custom_metrics
from test_framework.choices import Status
from test_framework.models import AIAgent, Metric, Personality, Result, Run, Scenario
from tests.factories import AgentFactory

VALIDATE = "/test_framework/v1/scenarios/validate_scenarios_json/"
RUN_JSON = "/test_framework/v1/scenarios/run_scenarios_json/"
MSG_UNKNOWN = 'Unknown field: a version "1" spec does not have it.'


def case(**fields: Any) -> dict[str, Any]:
    return {"name": "Refund", "instructions": "Ask for a refund.", **fields}


def spec(*cases: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"version": "1", "scenarios": list(cases) or [case()], **envelope}


def errors(client: APIClient, agent: AIAgent, body: Any, **request: Any) -> dict[str, Any]:
    r = client.post(VALIDATE, {"agent_id": agent.pk, "spec": body, **request}, format="json")
    assert r.status_code == 400, r.json()
    return r.json()


def plan(client: APIClient, agent: AIAgent, body: Any, **request: Any) -> dict[str, Any]:
    r = client.post(VALIDATE, {"agent_id": agent.pk, "spec": body, **request}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["dry_run"] is True and r.json()["valid"] is True
    return r.json()["plan"]


@pytest.fixture
def metric(agent: AIAgent) -> Metric:
    m = Metric.objects.create(
        organization=agent.organization,
        name="Greets by name",
        slug="greets_by_name",
        type="custom_code",
        configuration={"rule": {"match": "keyword", "patterns": ["hello"]}},
    )
    m.agents.add(agent)
    return m


@pytest.fixture
def nothing_created(db: Any) -> Any:
    before = (
        Result.objects.count(),
        Run.objects.count(),
        Scenario.objects.count(),
        Personality.objects.count(),
    )
    yield
    assert (
        Result.objects.count(),
        Run.objects.count(),
        Scenario.objects.count(),
        Personality.objects.count(),
    ) == before


# --- the request -----------------------------------------------------------------------------


def test_agent_is_required_and_must_be_the_organizations(client: APIClient, agent: AIAgent) -> None:
    assert client.post(VALIDATE, {"spec": spec()}, format="json").json() == {
        "agent_id": ["This field is required."]
    }
    other = AgentFactory()
    r = client.post(VALIDATE, {"agent_id": other.pk, "spec": spec()}, format="json")
    assert (r.status_code, r.json()) == (400, {"agent_id": ["Agent not found."]})


def test_agent_without_agora_gets_the_documented_error(client: APIClient, org: Any) -> None:
    bare = AgentFactory(organization=org, agora_data=None, agora_api_key="")
    assert errors(client, bare, spec()) == {
        "agent": [
            "Agent must have Agora credentials configured (agora_data with session_endpoint_url)."
        ]
    }


def test_exactly_one_of_spec_or_file(client: APIClient, agent: AIAgent) -> None:
    message = {
        "spec": [
            "Send exactly one of spec (a JSON object) or file (a .json spec file, as multipart)."
        ]
    }
    assert client.post(VALIDATE, {"agent_id": agent.pk}, format="json").json() == message
    upload = SimpleUploadedFile(
        "cekura.tests.json", json.dumps(spec()).encode(), content_type="application/json"
    )
    r = client.post(
        VALIDATE,
        {"agent_id": agent.pk, "spec": json.dumps(spec()), "file": upload},
        format="multipart",
    )
    assert r.json() == message


def test_spec_as_a_multipart_file(client: APIClient, agent: AIAgent) -> None:
    upload = SimpleUploadedFile(
        "cekura.tests.json",
        json.dumps(spec(suite={"name": "From a file"})).encode(),
        content_type="application/json",
    )
    r = client.post(
        VALIDATE,
        {"agent_id": str(agent.pk), "channel": "voice", "file": upload},
        format="multipart",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["plan"]["suite_name"] == "From a file"


def test_a_file_that_is_not_json(client: APIClient, agent: AIAgent) -> None:
    upload = SimpleUploadedFile("cekura.tests.json", b"{not json", content_type="application/json")
    r = client.post(VALIDATE, {"agent_id": agent.pk, "file": upload}, format="multipart")
    assert (
        r.status_code == 400
        and list(r.json()) == ["file"]
        and r.json()["file"][0].startswith("Not valid JSON: ")
    )


def test_a_spec_that_is_not_an_object(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, [case()]) == {
        "spec": ["The spec must be a JSON object, not list."]
    }


def test_a_spec_over_1_mb(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(instructions="x" * 1_000_001))) == {
        "spec": ["The spec is larger than 1 MB."]
    }


@pytest.mark.parametrize("channel", ["text", "elevenlabs", "pipecat_v2", "livekit_v2"])
def test_channels_other_than_voice_are_refused(
    client: APIClient, agent: AIAgent, channel: str
) -> None:
    assert errors(client, agent, spec(), channel=channel) == {
        "channel": [
            f'"{channel}" runs are not available on this server: its agents live in Agora '
            'channels. Use channel "voice" (the default).'
        ]
    }


# --- the envelope ----------------------------------------------------------------------------


def test_version_is_required(client: APIClient, agent: AIAgent) -> None:
    body = spec()
    del body["version"]
    assert errors(client, agent, body) == {"version": ['This field is required: "1".']}


@pytest.mark.parametrize("version", [1, "2", None])
def test_version_must_be_the_string_1(client: APIClient, agent: AIAgent, version: Any) -> None:
    assert errors(client, agent, spec(version=version)) == {
        "version": ['Must be "1" (a string): the only spec format version this server reads.']
    }


def test_unknown_envelope_field(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(tests=[])) == {"tests": [MSG_UNKNOWN]}


@pytest.mark.parametrize("field", ["agent_id", "channel", "credentials"])
def test_a_spec_may_not_name_its_target(client: APIClient, agent: AIAgent, field: str) -> None:
    message = f"A spec says what to test; the request names the target. Remove {field} from the spec and send agent_id in the request."  # noqa: E501
    assert errors(client, agent, spec(**{field: 12})) == {field: [message]}
    assert errors(client, agent, spec(case(**{field: 12}))) == {f"scenarios[0].{field}": [message]}


def test_scenarios_are_required(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, {"version": "1"}) == {
        "scenarios": ["This field is required: the test cases, 1 to 200."]
    }


def test_scenarios_must_be_a_list(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, {"version": "1", "scenarios": {"name": "x"}}) == {
        "scenarios": ["Expected a list of test cases, not object."]
    }


def test_at_least_one_case(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, {"version": "1", "scenarios": []}) == {
        "scenarios": ["Give at least 1 test case."]
    }


def test_at_most_200_cases(client: APIClient, agent: AIAgent) -> None:
    body = spec(*[case(name=f"c{i}") for i in range(201)])
    assert errors(client, agent, body) == {
        "scenarios": ["A spec holds at most 200 test cases; this one has 201."]
    }
    assert (
        plan(client, agent, spec(*[case(name=f"c{i}") for i in range(200)]))["scenario_count"]
        == 200
    )


def test_suite_fields(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(suite={"name": 5, "owner": "me"})) == {
        "suite.owner": [MSG_UNKNOWN],
        "suite.name": ["Not a valid string."],
    }


def test_unknown_defaults_field(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(defaults={"instructions": "x"})) == {
        "defaults.instructions": [MSG_UNKNOWN]
    }


# --- a case ----------------------------------------------------------------------------------


def test_a_case_must_be_an_object(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(), "just a name")) == {
        "scenarios[1]": ["Expected a JSON object, not string."]
    }


def test_case_name_is_required(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec({"instructions": "x"})) == {
        "scenarios[0].name": ["This field is required."]
    }


def test_case_name_at_most_80_characters(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(name="n" * 81))) == {
        "scenarios[0].name": ["Ensure this field has no more than 80 characters."]
    }


def test_case_name_not_blank(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(name="  "))) == {
        "scenarios[0].name": ["This field may not be blank."]
    }


def test_unknown_case_field(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(steps=[]))) == {"scenarios[0].steps": [MSG_UNKNOWN]}


def test_key_defaults_to_the_name_and_must_be_unique(client: APIClient, agent: AIAgent) -> None:
    body = spec(case(name="Refund happy path"), case(name="Refund  happy-path"))
    assert errors(client, agent, body) == {
        "scenarios[1].key": [
            '"refund_happy_path" is already the key of scenarios[0]: each case needs its own key '
            "(it defaults to the name)."
        ]
    }
    body = spec(case(name="Refund happy path"), case(name="Refund  happy-path", key="refund_2"))
    assert [c["key"] for c in plan(client, agent, body)["scenarios"]] == [
        "refund_happy_path",
        "refund_2",
    ]


def test_explicit_keys_must_be_unique(client: APIClient, agent: AIAgent) -> None:
    body = spec(case(name="A", key="k"), case(name="B", key="k"))
    assert errors(client, agent, body) == {
        "scenarios[1].key": [
            '"k" is already the key of scenarios[0]: each case needs its own key (it defaults to '
            "the name)."
        ]
    }


def test_key_at_most_128_characters(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(key="k" * 129))) == {
        "scenarios[0].key": ["Ensure this field has no more than 128 characters."]
    }


def test_type_must_be_known(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(type="script"))) == {
        "scenarios[0].type": [
            '"script" is not a valid choice (instruction or conditional_actions).'
        ]
    }


def test_hosted_only_types_are_refused(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(type="real_world_fixed"))) == {
        "scenarios[0].type": [
            '"real_world_fixed" cases are not available on this server (instruction or '
            "conditional_actions)."
        ]
    }


def test_instruction_case_needs_instructions(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec({"name": "A", "instructions": " "})) == {
        "scenarios[0].instructions": [
            "Instructions are required for an instruction case: what the simulated caller does."
        ]
    }


def test_conditional_actions_case_needs_its_actions(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec({"name": "A", "type": "conditional_actions"})) == {
        "scenarios[0].conditional_actions": [
            "Required for a conditional_actions case: the caller's scripted lines."
        ]
    }


def test_conditional_actions_need_a_condition_with_an_action(
    client: APIClient, agent: AIAgent
) -> None:
    body = spec(
        {"name": "A", "type": "conditional_actions", "conditional_actions": {"conditions": []}}
    )
    assert errors(client, agent, body) == {
        "scenarios[0].conditional_actions.conditions": [
            "A conditional_actions case needs at least one condition."
        ]
    }
    body = spec(
        {
            "name": "A",
            "type": "conditional_actions",
            "conditional_actions": {"conditions": [{"condition": "asked", "fixed_message": "yes"}]},
        }
    )
    assert errors(client, agent, body) == {
        "scenarios[0].conditional_actions.conditions[0].fixed_message": ["Must be true or false."],
        "scenarios[0].conditional_actions.conditions[0].action": ["This field is required."],
    }


def test_first_message_not_blank(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(first_message=""))) == {
        "scenarios[0].first_message": ["This field may not be blank."]
    }


def test_frequency_at_least_1(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(frequency=0))) == {
        "scenarios[0].frequency": ["Ensure this value is greater than or equal to 1."]
    }
    assert errors(client, agent, spec(case(frequency="2"))) == {
        "scenarios[0].frequency": ["A valid integer is required."]
    }


def test_max_duration_within_the_scenario_range(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(max_duration=5))) == {
        "scenarios[0].max_duration": ["Ensure this value is greater than or equal to 10."]
    }
    assert errors(client, agent, spec(defaults={"max_duration": 4000})) == {
        "defaults.max_duration": ["Ensure this value is less than or equal to 3600."]
    }


def test_language_is_english(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(language="de"))) == {
        "scenarios[0].language": [
            '"de" is not available: the caller speaks, and calls are transcribed, in English '
            '("en") only.'
        ]
    }


def test_tags(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(tags=["ok", "t" * 65]))) == {
        "scenarios[0].tags[1]": ["Ensure this field has no more than 64 characters."]
    }
    assert errors(client, agent, spec(case(tags=[str(i) for i in range(33)]))) == {
        "scenarios[0].tags": ["Ensure this field has no more than 32 elements."]
    }
    assert errors(client, agent, spec(case(tags="smoke"))) == {
        "scenarios[0].tags": ["Expected a list, not string."]
    }


def test_tools(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(tools=["end_call", "dtmf", "fax"]))) == {
        "scenarios[0].tools[1]": [
            '"dtmf" is not available for calls in an Agora channel (available: end_call).'
        ],
        "scenarios[0].tools[2]": ['"fax" is not a valid choice.'],
    }


# --- metrics ---------------------------------------------------------------------------------


def test_metric_reference_form(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(metrics=["Greets By Name", 0]))) == {
        "scenarios[0].metrics[0]": [
            "A metric is named by its numeric id or by its slug (lowercase letters, digits and _)."
        ],
        "scenarios[0].metrics[1]": [
            "A metric is named by its numeric id or by its slug (lowercase letters, digits and _)."
        ],
    }


def test_unknown_metric_id(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(metrics=[999999]))) == {
        "scenarios[0].metrics[0]": ["No metric with id 999999 in this organization."]
    }


def test_unknown_metric_slug(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(metrics=["greetng_by_name"]))) == {
        "scenarios[0].metrics[0]": [
            "No metric with slug 'greetng_by_name' in this organization. Check the slug in the "
            "dashboard, or reference the metric by its numeric id."
        ]
    }


def test_another_organizations_metric_is_unknown(client: APIClient, agent: AIAgent) -> None:
    foreign = Metric.objects.create(
        organization=AgentFactory().organization, name="X", slug="x", prompt="p"
    )
    assert errors(client, agent, spec(case(metrics=[foreign.pk]))) == {
        "scenarios[0].metrics[0]": [f"No metric with id {foreign.pk} in this organization."]
    }


def test_metric_not_enabled_for_the_agent(
    client: APIClient, agent: AIAgent, metric: Metric
) -> None:
    other = AgentFactory(organization=agent.organization, agent_name="Other bot")
    assert errors(client, other, spec(case(metrics=["greets_by_name"]))) == {
        "scenarios[0].metrics[0]": [
            f"Metric 'Greets by name' (greets_by_name) is not enabled for agent {other.pk} (Other "
            "bot): "
            "the run would pass without checking it. Enable it for this agent, or drop it from the "
            "spec."
        ]
    }


def test_a_bad_default_metric_is_reported_once_at_defaults(
    client: APIClient, agent: AIAgent
) -> None:
    body = spec(case(name="A"), case(name="B"), defaults={"metrics": ["nope"]})
    assert errors(client, agent, body) == {
        "defaults.metrics[0]": [
            "No metric with slug 'nope' in this organization. Check the slug in the dashboard, or "
            "reference the metric by its numeric id."
        ]
    }


def test_metrics_by_id_or_slug_combined_with_defaults(
    client: APIClient, agent: AIAgent, metric: Metric
) -> None:
    second = Metric.objects.create(
        organization=agent.organization, name="Polite", slug="polite", prompt="Is the agent polite?"
    )
    second.agents.add(agent)
    body = spec(
        case(name="A", metrics=[second.pk, "greets_by_name"]),
        case(name="B"),
        defaults={"metrics": ["greets_by_name"]},
    )
    cases = plan(client, agent, body)["scenarios"]
    assert [c["metric_ids"] for c in cases] == [[metric.pk, second.pk], [metric.pk]]


# --- personalities ---------------------------------------------------------------------------


def test_personality_by_id_must_exist(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(personality=999999))) == {
        "scenarios[0].personality": ["No personality with id 999999 in this organization."]
    }


def test_personality_base_must_exist(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(personality={"base": 999999, "speed": 1.1}))) == {
        "scenarios[0].personality.base": ["No personality with id 999999 in this organization."]
    }


def test_inline_personality_needs_a_prompt(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(personality={"speed": 1.1}))) == {
        "scenarios[0].personality.prompt": [
            "Required when no base personality is given: how the simulated caller behaves."
        ]
    }


def test_inline_personality_values(client: APIClient, agent: AIAgent) -> None:
    body = spec(
        case(
            personality={
                "prompt": "In a hurry.",
                "speed": 3,
                "background_noise": "rain",
                "voice_id": "TX3LPax",
                "interruption_level": "max",
            }
        )
    )
    assert errors(client, agent, body) == {
        "scenarios[0].personality.speed": ["Ensure this value is between 0.5 and 2."],
        "scenarios[0].personality.interruption_level": [
            '"max" is not a valid choice (one of none, low, medium, high).'
        ],
        "scenarios[0].personality.background_noise": [
            '"rain" is not a valid choice (one of none, white, office, street, cafe).'
        ],
        "scenarios[0].personality.voice_id": [
            '"TX3LPax" is not a valid choice (one of en_US-joe-medium).'
        ],
    }


def test_hosted_voice_fields_are_refused_by_name(client: APIClient, agent: AIAgent) -> None:
    body = spec(
        case(
            personality={
                "prompt": "p",
                "voice_model": "eleven_multilingual_v2",
                "network_simulation": {},
            }
        )
    )
    assert errors(client, agent, body) == {
        "scenarios[0].personality.voice_model": [
            "Not available on this server: the caller speaks with its own voices (voice_id "
            "en_US-joe-medium); remove voice_model."
        ],
        "scenarios[0].personality.network_simulation": [MSG_UNKNOWN],
    }


def test_personality_modes_in_the_plan(client: APIClient, agent: AIAgent) -> None:
    base = Personality.objects.create(
        organization=agent.organization, name="Normal caller", prompt="Calm."
    )
    body = spec(
        case(name="existing", personality=base.pk),
        case(
            name="override", personality={"base": base.pk, "speed": 1.2, "background_noise": "off"}
        ),
        case(
            name="inline",
            personality={
                "prompt": "You interrupt often.",
                "name": "Hurried",
                "interruption_level": "high",
            },
        ),
        case(name="default"),
    )
    modes = [c["personality"] for c in plan(client, agent, body)["scenarios"]]
    assert modes == [
        {"mode": "existing", "id": base.pk, "name": "Normal caller"},
        {"mode": "override", "id": base.pk, "name": "Normal caller"},
        {"mode": "inline", "id": None, "name": "Hurried"},
        {"mode": "default", "id": None, "name": None},
    ]


# --- test data -------------------------------------------------------------------------------


def test_test_profile_by_id_is_not_stored_here(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(test_profile=4))) == {
        "scenarios[0].test_profile": [
            "Test profiles are not stored on this server: give the test data inline, as "
            '{"agent_variables": {...}, "caller_variables": {...}}.'
        ]
    }


def test_test_profile_may_not_be_empty(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(case(test_profile={}))) == {
        "scenarios[0].test_profile": [
            "Give agent_variables or caller_variables, or leave test_profile out."
        ]
    }


def test_test_profile_sections_are_objects(client: APIClient, agent: AIAgent) -> None:
    assert errors(
        client, agent, spec(case(test_profile={"agent_variables": ["ORD-1"], "notes": "x"}))
    ) == {
        "scenarios[0].test_profile.notes": [MSG_UNKNOWN],
        "scenarios[0].test_profile.agent_variables": ["Expected a JSON object, not list."],
    }


def test_placeholder_must_name_a_variable(client: APIClient, agent: AIAgent) -> None:
    body = spec(
        case(
            instructions="Order {{test_profile.order_id}}.",
            test_profile={"caller_variables": {"user_name": "Maria"}},
        )
    )
    assert errors(client, agent, body) == {
        "scenarios[0].instructions": [
            "{{test_profile.order_id}} is not defined: test_profile has no agent_variables or "
            "caller_variables key 'order_id'."
        ]
    }


def test_placeholder_without_a_test_profile(client: APIClient, agent: AIAgent) -> None:
    body = spec(case(first_message="Hi, I am {{ test_profile.user_name }}."))
    assert errors(client, agent, body) == {
        "scenarios[0].first_message": [
            "{{test_profile.user_name}} is not defined: this case has no test_profile."
        ]
    }


# --- all at once, and the plan ---------------------------------------------------------------


def test_every_problem_is_reported_at_once(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    body = {
        "version": "2",
        "defaults": {"frequency": 0},
        "scenarios": [
            case(metrics=["nope"]),
            {"instructions": "x"},
            case(name="Refund", language="fr"),
        ],
    }
    assert sorted(errors(client, agent, body)) == [
        "defaults.frequency",
        "scenarios[0].metrics[0]",
        "scenarios[1].name",
        "scenarios[2].key",
        "scenarios[2].language",
        "version",
    ]


def test_validation_costs_nothing_and_checks_no_balance(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    agent.organization.credits = 0
    agent.organization.save()
    body = spec(
        case(name="A", frequency=3),
        case(name="B"),
        suite={"name": "Checkout"},
        defaults={"frequency": 2, "concurrency_limit": 2},
    )
    answered = plan(client, agent, body, frequency=2)
    assert set(answered.pop("power")) == {"test", "level", "target_power", "note", "drops"}
    assert answered == {
        "agent_id": agent.pk,
        "channel": "voice",
        "suite_name": "Checkout",
        "scenario_count": 2,
        "total_runs": 10,
        "estimated_cost": 10,
        "concurrency_limit": 2,
        "scenarios": [
            {
                "key": "a",
                "name": "A",
                "type": "instruction",
                "frequency": 6,
                "metric_ids": [],
                "tags": [],
                "personality": {"mode": "default", "id": None, "name": None},
                "test_profile": {"mode": "none", "sections": []},
            },
            {
                "key": "b",
                "name": "B",
                "type": "instruction",
                "frequency": 4,
                "metric_ids": [],
                "tags": [],
                "personality": {"mode": "default", "id": None, "name": None},
                "test_profile": {"mode": "none", "sections": []},
            },
        ],
    }
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 0


def test_dry_run_checks_the_balance_and_creates_nothing(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    body = {"agent_id": agent.pk, "spec": spec(case(frequency=3))}
    r = client.post(RUN_JSON + "?dry_run=true", body, format="json")
    assert r.status_code == 200 and r.json()["plan"]["total_runs"] == 3
    agent.organization.credits = 2
    agent.organization.save()
    r = client.post(RUN_JSON + "?dry_run=true", body, format="json")
    assert (r.status_code, r.json()) == (402, {"detail": "Insufficient balance for this operation"})


def test_a_launch_makes_runs_that_keep_their_case(
    client: APIClient, agent: AIAgent, metric: Metric, monkeypatch: Any
) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    base = Personality.objects.create(
        organization=agent.organization, name="Calm", prompt="Calm.", speed=1.0
    )
    body = spec(
        case(
            name="Refund happy path",
            instructions="Order {{test_profile.order_id}} arrived damaged; you are {{test_profile.user_name}}.",  # noqa: E501
            expected_outcome='The agent says "refund".',
            metrics=["greets_by_name"],
            frequency=2,
            personality={"base": base.pk, "speed": 1.2},
            tags=["smoke"],
            test_profile={
                "agent_variables": {"order_id": "ORD-4471"},
                "caller_variables": {"user_name": "Maria"},
            },
        ),
        case(
            name="Hours",
            key="hours",
            type="conditional_actions",
            first_message="When are you open?",
            conditional_actions={
                "role": "patient",
                "conditions": [
                    {
                        "condition": "after the answer",
                        "action": "Thanks, bye.",
                        "fixed_message": True,
                    }
                ],
            },
        ),
        suite={"name": "Checkout regression"},
    )
    counts = (Scenario.objects.count(), Personality.objects.count())
    r = client.post(
        RUN_JSON, {"agent_id": agent.pk, "spec": body, "channel": "voice"}, format="json"
    )
    assert r.status_code == 200, r.json()
    launched = r.json()
    assert launched["name"] == "Checkout regression" and len(launched["runs"]) == 3
    assert [x["scenario_name"] for x in launched["runs"]] == [
        "Refund happy path",
        "Hours",
        "Refund happy path",
    ]
    assert all(x["scenario"] is None for x in launched["runs"])
    assert (
        Scenario.objects.count(),
        Personality.objects.count(),
    ) == counts  # nothing stored from the spec
    agent.organization.refresh_from_db()
    assert agent.organization.credits == 97
    run = Run.objects.get(pk=launched["runs"][0]["id"])
    assert run.scenario_key == "refund_happy_path" and run.personality_id == base.pk
    assert run.case["instructions"] == "Order ORD-4471 arrived damaged; you are Maria."
    assert run.expected_outcome_prompt == 'The agent says "refund".'
    call = run_call_spec(run=run)
    assert (
        call.caller.instructions == "Order ORD-4471 arrived damaged; you are Maria."
        and call.caller.personality == "Calm."
    )
    assert call.persona.speed == 1.2 and call.endpoint.agent_variables == {"order_id": "ORD-4471"}
    assert [m.id for m in run_custom_metrics(run)] == [metric.pk]
    scripted = run_call_spec(run=Run.objects.get(pk=launched["runs"][1]["id"]))
    assert (
        scripted.caller.first_message == "When are you open?"
        and scripted.endpoint.agent_variables is None
    )
    assert [c["action"] for c in scripted.caller.conditions] == ["Thanks, bye."]
    detail = client.get(f"/test_framework/v1/results/{launched['id']}/").json()
    labels = {r["scenario"]["name"] for r in detail["runs"].values()}
    assert labels == {"Refund happy path", "Hours"}
    refund = next(r for r in detail["runs"].values() if r["scenario"]["key"] == "refund_happy_path")
    assert refund["scenario"] == {
        "id": None,
        "name": "Refund happy path",
        "key": "refund_happy_path",
        "personality_name": "Calm",
        "expected_outcome_prompt": 'The agent says "refund".',
    }


def test_runs_of_a_case_are_found_by_key_across_results(
    client: APIClient, agent: AIAgent, monkeypatch: Any
) -> None:
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    body = {
        "agent_id": agent.pk,
        "spec": spec(case(name="Refund", key="refund"), case(name="Hours")),
    }
    first = client.post(RUN_JSON, body, format="json").json()
    second = client.post(RUN_JSON, body, format="json").json()
    found = client.get(
        "/test_framework/v1/runs/", {"scenario_key": "refund", "agent_id": agent.pk}
    ).json()
    assert found["count"] == 2 and {r["result_id"] for r in found["results"]} == {
        first["id"],
        second["id"],
    }
    assert all(
        r["scenario_key"] == "refund" and r["scenario_name"] == "Refund" for r in found["results"]
    )
    assert client.get("/test_framework/v1/runs/", {"agent_id": "x"}).json() == {
        "agent_id": ["A valid integer is required."]
    }


def test_a_launch_with_a_short_balance_creates_nothing(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    agent.organization.credits = 1
    agent.organization.save()
    r = client.post(
        RUN_JSON, {"agent_id": agent.pk, "spec": spec(case(frequency=2))}, format="json"
    )
    assert (r.status_code, r.json()) == (402, {"detail": "Insufficient balance for this operation"})


def test_a_case_run_is_still_called_after_its_result_is_listed(
    client: APIClient, agent: AIAgent, monkeypatch: Any
) -> None:
    """A run of a case has no stored scenario, yet it is not 'Scenario Deleted' anywhere."""
    monkeypatch.setattr("test_framework.dispatch.send_call", lambda *a, **k: None)
    launched = client.post(
        RUN_JSON, {"agent_id": agent.pk, "spec": spec(case(name="Hours"))}, format="json"
    ).json()
    run = client.get(f"/test_framework/v1/runs/{launched['runs'][0]['id']}/").json()
    assert (run["scenario"], run["scenario_name"], run["status"]) == (
        None,
        "Hours",
        Status.IN_QUEUE,
    )
    listed = client.get("/test_framework/v1/results/").json()["results"][0]
    assert listed["runs"][0]["scenario_name"] == "Hours"


def test_the_example_spec_is_valid_for_an_agora_agent(
    client: APIClient, agent: AIAgent, nothing_created: Any
) -> None:
    from pathlib import Path

    example = json.loads(
        (Path(__file__).resolve().parents[2] / "examples" / "cekura.tests.json").read_text()
    )
    got = plan(client, agent, example)
    assert (got["suite_name"], got["scenario_count"], got["total_runs"]) == (
        "Sunny Clinic receptionist",
        2,
        2,
    )
    assert [c["key"] for c in got["scenarios"]] == ["book_appointment", "greets_patient_by_name"]
    assert got["scenarios"][1]["test_profile"] == {
        "mode": "inline",
        "sections": ["agent_variables"],
    }


def test_the_plan_says_how_many_runs_a_drop_needs(client: APIClient, agent: AIAgent) -> None:
    from evaluators.power import DEFAULT_DROPS, power, runs_needed

    body = spec(case(name="A"), case(name="B", frequency=3))
    p = plan(client, agent, body, frequency=2)
    assert [c["frequency"] for c in p["scenarios"]] == [2, 6]
    drops = p["power"]["drops"]
    assert [(d["from"], d["to"]) for d in drops] == list(DEFAULT_DROPS)
    first = drops[0]
    assert first["runs_per_case"] == runs_needed(0.9, 0.7)
    assert first["power_at_frequency"] == {
        "2": round(power(2, 0.9, 0.7), 3),
        "6": round(power(6, 0.9, 0.7), 3),
    }
    # A drop of the user's own.
    own = plan(client, agent, body, detect_from=0.95, detect_to=0.6)["power"]["drops"]
    assert [(d["from"], d["to"]) for d in own] == [(0.95, 0.6)]
    assert own[0]["runs_per_case"] == runs_needed(0.95, 0.6)


def test_a_drop_needs_both_rates_and_two_different_ones(client: APIClient, agent: AIAgent) -> None:
    assert errors(client, agent, spec(), detect_from=0.9) == {
        "detect_to": ["Send detect_from and detect_to together (pass rates, 0 to 1)."]
    }
    assert errors(client, agent, spec(), detect_from=0.9, detect_to=0.9) == {
        "detect_to": [
            "Must differ from detect_from: no number of runs tells equal pass rates apart."
        ]
    }
    assert "detect_from" in errors(client, agent, spec(), detect_from=1.5, detect_to=0.5)
