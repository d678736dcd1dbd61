"""Assembly: what the plain libraries are handed, built from rows. The runner's input (a
run's CallSpec: its endpoint, caller script, persona, limits) and the evaluators' input (a
stored call's CallData, the custom metrics that apply, the LLM judge's settings)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings

from agora_runner.channel.network import NetworkConditions
from agora_runner.types import CallerScript, CallSpec, Persona, SessionEndpointConfig
from common.llm import LLMConfig
from common.vocabulary import DEFAULT_SECRET_HEADER
from common.wav import read_wav
from evaluators import CallData
from evaluators.custom import CustomMetric

from .models import AIAgent, Metric, Personality, Run, Scenario
from .selectors import run_personality, run_scenario


def scenario_caller_script(
    scenario: Scenario, personality: Personality | None = None
) -> CallerScript:
    """The scenario as plain data: its opening line (a FIRST_MESSAGE condition wins over
    first_message) and its other conditions in id order."""
    first = (scenario.first_message or "").strip() or "Hello"
    conditions: list[dict[str, Any]] = []
    data = scenario.conditional_actions if isinstance(scenario.conditional_actions, dict) else {}
    for cond in sorted(
        (c for c in data.get("conditions", []) if isinstance(c, dict)),
        key=lambda c: c.get("id") or 0,
    ):
        action = str(cond.get("action") or "").strip()
        if not action:
            continue
        if str(cond.get("condition", "")).strip().upper() == "FIRST_MESSAGE":
            first = action
        else:
            conditions.append(
                {
                    "id": cond.get("id"),
                    "condition": str(cond.get("condition") or ""),
                    "action": action,
                    "fixed_message": bool(cond.get("fixed_message")),
                }
            )
    return CallerScript(
        first_message=first,
        scenario_type=scenario.scenario_type,
        instructions=scenario.instructions or "",
        conditions=tuple(conditions),
        personality=personality.prompt if personality else "",
    )


def persona_of(personality: Personality | None) -> Persona:
    if personality is None:
        return Persona()
    return Persona(
        speed=personality.speed,
        interruption_level=personality.interruption_level,
        background_noise=personality.background_noise,
        noise_snr_db=personality.background_noise_snr_db,
        backchannels=personality.backchannels,
    )


def run_custom_metrics(run: Run) -> list[CustomMetric]:
    """The metrics attached to the run's scenario (or named by its case) or to its agent, once
    each, in id order."""
    q = Metric.objects.none()
    if run.case:
        q = q | Metric.objects.filter(pk__in=[int(i) for i in run.case.get("metric_ids") or []])
    elif run.scenario_id:
        q = q | Metric.objects.filter(scenarios=run.scenario_id)
    if run.agent_id:
        q = q | Metric.objects.filter(agents=run.agent_id)
    return [
        CustomMetric(
            m.pk,
            m.name,
            m.eval_type,
            m.type,
            m.prompt,
            dict(m.configuration or {}),
            tuple(m.enum_values or ()),
        )
        for m in q.filter(organization_id=run.organization_id).distinct().order_by("id")
    ]


def llm_config() -> LLMConfig | None:
    if not (settings.LLM_BASE_URL and settings.LLM_MODEL):
        return None
    return LLMConfig(
        settings.LLM_BASE_URL,
        settings.LLM_MODEL,
        settings.LLM_API_KEY,
        settings.LLM_TIMEOUT_SECONDS,
    )


def agent_endpoint_config(agent: AIAgent) -> tuple[SessionEndpointConfig, int]:
    """The agent's session endpoint as the runner calls it (secret decrypted in memory), and
    the caller's join uid."""
    data: dict[str, Any] = agent.agora_data or {}
    config = SessionEndpointConfig(
        url=str(data.get("session_endpoint_url", "")),
        client_id=str(data.get("client_id", "")),
        secret=agent.agora_api_key,
        header_name=str(data.get("auth_header_name") or DEFAULT_SECRET_HEADER),
        method=str(data.get("request_method") or "POST").upper(),
        timeout_seconds=settings.SESSION_ENDPOINT_TIMEOUT_SECONDS,
        deadline_seconds=settings.SESSION_ENDPOINT_DEADLINE_SECONDS,
        total_seconds=settings.SESSION_ENDPOINT_TOTAL_SECONDS,
        allow_hosts=tuple(settings.SESSION_ENDPOINT_ALLOW),
    )
    return config, int(data.get("join_uid") or 1)


def run_call_spec(*, run: Run) -> CallSpec:
    """Everything the runner needs for one run, as plain data (the secret decrypted in memory)."""
    agent = run.agent
    scenario = run_scenario(run)
    if agent is None or scenario is None:
        raise LookupError("the run's agent or scenario was deleted")
    personality = run_personality(run)
    endpoint, join_uid = agent_endpoint_config(agent)
    variables = (run.case or {}).get("agent_variables")
    if variables:
        endpoint = replace(endpoint, agent_variables=dict(variables))
    return CallSpec(
        endpoint=endpoint,
        join_uid=join_uid,
        caller=scenario_caller_script(scenario, personality),
        persona=persona_of(personality),
        seed=run.seed,
        llm=llm_config(),
        max_duration_seconds=float(scenario.max_duration or settings.DEFAULT_MAX_DURATION_SECONDS),
        agent_join_timeout_seconds=settings.AGENT_JOIN_TIMEOUT_SECONDS,
        silence_limit_seconds=settings.SILENCE_LIMIT_SECONDS,
        end_of_turn_silence_ms=settings.END_OF_TURN_SILENCE_MS,
        agent_gives_first_message=agent.agent_gives_first_message,
        local_channel_address=settings.LOCAL_CHANNEL_ADDRESS,
        local_channel_app_ids=tuple(settings.LOCAL_CHANNEL_APP_IDS),
        local_network=NetworkConditions.parse(settings.LOCAL_CHANNEL_NETWORK),
    )


def run_call_data(
    run: Run, *, transcript: list[dict[str, Any]], expected_outcome_prompt: str
) -> CallData:
    """A stored call as the evaluators read it: the run's stereo recording (caller left, agent
    right) and the timeline kept in its metadata. Raises OSError or ValueError when the
    recording cannot be read."""
    with run.recording.open("rb") as fh:
        rate, stereo = read_wav(fh.read())
    meta = run.metadata or {}
    return CallData(
        sample_rate=rate,
        caller=stereo[:, 0].copy(),
        agent=stereo[:, 1].copy(),
        transcript=transcript,
        caller_utterances=list(meta.get("caller_utterances") or []),
        timeline=list(meta.get("timeline") or []),
        expected_outcome_prompt=expected_outcome_prompt,
        ended_reason=run.ended_reason,
    )
