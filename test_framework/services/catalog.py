"""The organization's agents and metrics: trying an agent's session endpoint, metric slugs."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from cekura.accounts.models import Organization

from .. import assembly
from ..models import AIAgent, Metric
from ..specs import slug_of
from .launch import agent_check_agora

log = logging.getLogger(__name__)


def agent_test_endpoint(*, agent: AIAgent) -> Any:
    """Call the agent's session endpoint once, as a run would, and check what it answers
    (agora_runner.checker.Report: findings in plain words; nothing is stored)."""
    from agora_runner.checker import check_endpoint

    agent_check_agora(agent=agent)
    config, join_uid = assembly.agent_endpoint_config(agent)
    return check_endpoint(
        config,
        join_uid=join_uid,
        local_app_ids=tuple(settings.LOCAL_CHANNEL_APP_IDS),
        local_address=settings.LOCAL_CHANNEL_ADDRESS,
    )


def metric_slug_taken(
    *, organization: Organization, slug: str, exclude_pk: int | None = None
) -> bool:
    taken = Metric.objects.filter(organization=organization, slug=slug)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()


def metric_slug_new(*, organization: Organization, name: str, exclude_pk: int | None = None) -> str:
    """A slug for a metric named `name`: from the name, made unique in the organization."""
    base = slug_of(name) or "metric"
    slug, n = base, 2
    while metric_slug_taken(organization=organization, slug=slug, exclude_pk=exclude_pk):
        slug, n = f"{base}_{n}", n + 1
    return slug
