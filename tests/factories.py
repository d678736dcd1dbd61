from __future__ import annotations

import factory
from django.utils import timezone

from cekura.accounts.models import Organization
from test_framework.choices import Status
from test_framework.models import AIAgent, Result, Run, Scenario


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"org-{n}")
    credits = 100


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIAgent

    organization = factory.SubFactory(OrganizationFactory)
    agent_name = factory.Sequence(lambda n: f"agent-{n}")
    description = "an agent"
    inbound = True
    agora_data = factory.LazyFunction(
        lambda: {
            "session_endpoint_url": "https://agent.example.com/session",
            "client_id": "client-1",
            "auth_header_name": "X-Cekura-Secret",
            "request_method": "POST",
            "join_uid": 1,
        }
    )
    agora_api_key = "s3cr3t-value-never-shown"


class ScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scenario

    organization = factory.SelfAttribute("agent.organization")
    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"scenario-{n}")
    first_message = "Hi, I would like to book an appointment."


class ResultFactory(factory.django.DjangoModelFactory):
    """A result of one agent; `ResultFactory(finished=True)` is one whose runs all ended."""

    class Meta:
        model = Result

    agent = factory.SubFactory(AgentFactory)
    organization = factory.SelfAttribute("agent.organization")
    agent_name = factory.SelfAttribute("agent.agent_name")
    name = factory.Sequence(lambda n: f"result-{n}")
    status = Status.IN_PROGRESS

    class Params:
        finished = factory.Trait(status=Status.COMPLETED)


class RunFactory(factory.django.DjangoModelFactory):
    """A run of a scenario in a result. Status traits give a run as the lifecycle leaves it:
    `queued`, `running` (claimed, beating), `evaluating` (call stored), `completed`,
    `failed` (on our side, refunded), `cancelled` (before it started, refunded)."""

    class Meta:
        model = Run

    result = factory.SubFactory(ResultFactory)
    agent = factory.SelfAttribute("result.agent")
    organization = factory.SelfAttribute("result.organization")
    scenario = factory.SubFactory(ScenarioFactory, agent=factory.SelfAttribute("..agent"))
    status = Status.PENDING

    class Params:
        queued = factory.Trait(status=Status.IN_QUEUE)
        running = factory.Trait(
            status=Status.RUNNING,
            executed_at=factory.LazyFunction(timezone.now),
            heartbeat_at=factory.LazyFunction(timezone.now),
            attempts=1,
        )
        evaluating = factory.Trait(
            status=Status.EVALUATING,
            executed_at=factory.LazyFunction(timezone.now),
            heartbeat_at=factory.LazyFunction(timezone.now),
            ended_reason="Testing agent-ended-call",
            duration_seconds=12.0,
            attempts=1,
        )
        completed = factory.Trait(
            status=Status.COMPLETED,
            success=True,
            ended_reason="Testing agent-ended-call",
            duration_seconds=12.0,
            finished_at=factory.LazyFunction(timezone.now),
        )
        failed = factory.Trait(
            status=Status.FAILED,
            success=False,
            ended_reason="Testing agent-pipeline-error",
            infrastructure=True,
            credit_refunded=True,
            error_message="internal error in the testing agent",
            finished_at=factory.LazyFunction(timezone.now),
        )
        cancelled = factory.Trait(
            status=Status.CANCELLED,
            success=False,
            ended_reason="run-cancelled-by-user",
            credit_refunded=True,
            finished_at=factory.LazyFunction(timezone.now),
        )
