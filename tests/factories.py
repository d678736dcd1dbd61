from __future__ import annotations

import factory

from cekura.accounts.models import Organization
from test_framework.models import AIAgent, Scenario


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
