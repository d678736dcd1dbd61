"""Launching runs: checking the agent, the scenarios and the balance, creating the result
and its runs with the debit in one transaction, and handing the first runs to the workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cekura.accounts.models import Organization
from cekura.accounts.services import credits_debit
from cekura.errors import InsufficientBalance, InvalidInput

from .. import limits, selectors, webhooks
from ..choices import Status
from ..models import AIAgent, CronJob, Personality, Result, Run, Scenario
from ..specs import MAX_SPEC_BYTES, Plan, spec_from_text, spec_plan
from .runs import result_dispatch

log = logging.getLogger(__name__)


MSG_NO_AGORA = (
    "Agent must have Agora credentials configured (agora_data with session_endpoint_url)."
)


MSG_NO_URL = "Agent agora_data must include session_endpoint_url."


MSG_BAD_SCENARIOS = "Invalid scenario IDs or scenarios not found"
MSG_AGENT_ID_REQUIRED = 'agent_id is required when scenarios is a number or "all".'


def agent_check_agora(*, agent: AIAgent) -> None:
    """The spec's two errors for an agent that cannot be called over Agora."""
    data = agent.agora_data
    if not isinstance(data, dict) or not data:
        raise InvalidInput(MSG_NO_AGORA, field="agent")
    if not str(data.get("session_endpoint_url") or "").strip():
        raise InvalidInput(MSG_NO_URL, field="agent")
    if not str(data.get("client_id") or "").strip() or not agent.agora_api_key:
        raise InvalidInput(MSG_NO_AGORA, field="agent")


def result_launch_selected(
    *,
    organization: Organization,
    agent_id: int | None,
    scenario_ids: list[int] | None = None,
    first_n: int | None = None,
    frequency: int = 1,
    name: str = "",
    concurrency_limit: int | None = None,
    personality_ids: list[int] | None = None,
    any_agents_scenarios: bool = False,
    cron_job: CronJob | None = None,
) -> Result:
    """Launch from ids, as the API and the dashboard receive them: the agent (or the one agent
    of the chosen scenarios), the scenarios (ids, the first N, or all), the personalities.

    `any_agents_scenarios`: scenario ids may belong to another agent of the organization
    (`run_scenarios`: a catalog agent's scenarios run against the agent under test)."""
    if scenario_ids is None and agent_id is None:
        raise InvalidInput(MSG_AGENT_ID_REQUIRED, field="agent_id")
    agent = None
    if agent_id is not None:
        agent = agent_get(organization=organization, agent_id=agent_id)
    scenarios = selectors.scenarios_for_launch(
        organization=organization,
        agent=agent,
        ids=scenario_ids,
        first_n=first_n,
        of_agent_only=not any_agents_scenarios,
    )
    if not scenarios:
        raise InvalidInput(MSG_BAD_SCENARIOS, field="scenarios")
    if agent is None:
        if len({s.agent_id for s in scenarios}) != 1:
            raise InvalidInput("All scenarios must belong to the same agent.", field="scenarios")
        agent = scenarios[0].agent
    personalities = None
    if personality_ids:
        personalities = selectors.personalities_for_launch(
            organization=organization, ids=personality_ids
        )
        if personalities is None:
            raise InvalidInput(
                "Invalid personality IDs or personalities not found", field="personality_ids"
            )
    return result_launch(
        organization=organization,
        agent=agent,
        scenarios=scenarios,
        frequency=frequency,
        name=name,
        concurrency_limit=concurrency_limit,
        personalities=personalities,
        cron_job=cron_job,
    )


def agent_get(*, organization: Organization, agent_id: int) -> AIAgent:
    agent = AIAgent.objects.filter(organization=organization, pk=agent_id).first()
    if agent is None:
        raise InvalidInput("Agent not found.", field="agent_id")
    return agent


def result_launch(
    *,
    organization: Organization,
    agent: AIAgent,
    scenarios: Sequence[Scenario],
    frequency: int = 1,
    name: str = "",
    concurrency_limit: int | None = None,
    personalities: Sequence[Personality] | None = None,
    cron_job: CronJob | None = None,
) -> Result:
    """Create a Result and one Run per scenario × personality × frequency, debit credits,
    and enqueue.

    All in one transaction: a short balance or any error leaves nothing behind. Tasks are
    handed to the broker only once the rows are committed.
    """
    agent_check_agora(agent=agent)
    if not scenarios:
        raise InvalidInput(MSG_BAD_SCENARIOS, field="scenarios")
    per_scenario: list[Personality | None] = list(personalities) if personalities else [None]
    count = len(scenarios) * len(per_scenario) * frequency
    if count > limits.RUNS_PER_LAUNCH:  # before building them
        raise InvalidInput(limits.too_many_runs(count), field="frequency")
    runs = [
        Run(
            scenario=scenario,
            personality=personality,
            expected_outcome_prompt=scenario.expected_outcome_prompt,
        )
        for _ in range(frequency)
        for scenario in scenarios
        for personality in per_scenario
    ]
    return _result_create(
        organization=organization,
        agent=agent,
        runs=runs,
        name=name,
        frequency=frequency,
        concurrency_limit=concurrency_limit,
        cron_job=cron_job,
    )


def result_launch_spec(
    *, organization: Organization, plan: Plan, name: str = "", frequency: int = 1
) -> Result:
    """Launch a spec file's plan (test_framework.specs.spec_plan): each case's runs keep a
    snapshot of the case and its key; nothing becomes a stored scenario or personality.
    Runs are interleaved by repetition, so the first run of every case comes first."""
    agent_check_agora(agent=plan.agent)
    runs = [
        Run(
            case=case.snapshot,
            scenario_key=case.key,
            personality_id=case.personality.id,
            expected_outcome_prompt=str(case.snapshot["expected_outcome"]),
        )
        for repetition in range(max(c.frequency for c in plan.cases))
        for case in plan.cases
        if repetition < case.frequency
    ]
    return _result_create(
        organization=organization,
        agent=plan.agent,
        runs=runs,
        name=name or plan.suite_name,
        frequency=frequency,
        concurrency_limit=plan.concurrency_limit,
    )


# The input's shape (frequency and concurrency_limit within their bounds, ids that are ids) is
# checked where it arrives: the API's serializers, the dashboard's forms, the spec reader. The
# rules here are those that need the rows: the agent, the scenarios, the balance, the runs.
def _result_create(
    *,
    organization: Organization,
    agent: AIAgent,
    runs: list[Run],
    name: str,
    frequency: int,
    concurrency_limit: int | None,
    cron_job: CronJob | None = None,
) -> Result:
    """The Result and its (unsaved) runs, stored with the debit in one transaction; the first
    runs are enqueued once it commits. `cron_job`: the schedule that launched it."""
    if len(runs) > limits.RUNS_PER_LAUNCH:
        raise InvalidInput(limits.too_many_runs(len(runs)), field="frequency")
    with transaction.atomic():
        credits_debit(organization_id=organization.pk, amount=len(runs) * settings.CREDITS_PER_RUN)
        result = Result.objects.create(
            organization=organization,
            agent=agent,
            agent_name=agent.agent_name,
            name=name or f"Agora run {timezone.now():%Y-%m-%d %H:%M:%S}",
            status=Status.IN_PROGRESS,
            frequency=frequency,
            concurrency_limit=concurrency_limit,
            is_cronjob=cron_job is not None,
            cron_job=cron_job,
        )
        for run in runs:
            run.organization, run.result, run.agent = organization, result, agent
            run.evaluation = {"metrics": []}
        Run.objects.bulk_create(runs)
        # A pre-trigger webhook holds the runs until the organization's server says go
        # (runs.pre_trigger_settled); otherwise the first runs go now.
        if not webhooks.pre_trigger(organization_id=organization.pk, result_id=result.pk):
            result_dispatch(result_id=result.pk)
    return result


def spec_plan_for(
    *,
    organization: Organization,
    agent_id: int,
    spec: Any = None,
    file: Any = None,
    channel: str = "voice",
    frequency: int = 1,
    concurrency_limit: int | None = None,
) -> Plan:
    """A spec file read against one of the organization's agents, as run_scenarios_json and
    validate_scenarios_json receive it (`spec`: an object, or JSON text; `file`: an upload).
    Raises InvalidFields with every problem; creates nothing, checks no balance."""
    agent = agent_get(organization=organization, agent_id=agent_id)
    agent_check_agora(agent=agent)
    if file is not None:
        spec = spec_from_text(file.read(MAX_SPEC_BYTES + 1), field="file")
    elif isinstance(spec, str):
        spec = spec_from_text(spec, field="spec")
    return spec_plan(
        organization=organization,
        agent=agent,
        spec=spec,
        channel=channel,
        frequency=frequency,
        concurrency_limit=concurrency_limit,
    )


def result_launch_spec_checked(
    *,
    organization: Organization,
    plan: Plan,
    name: str = "",
    frequency: int = 1,
    dry_run: bool = False,
) -> Result | None:
    """run_scenarios_json: launch the plan, or with `dry_run` only check that it could be
    launched now (the balance too), creating nothing."""
    if dry_run:
        organization.refresh_from_db(fields=["credits"])
        if organization.credits < plan.estimated_cost:
            raise InsufficientBalance()
        return None
    return result_launch_spec(organization=organization, plan=plan, name=name, frequency=frequency)
