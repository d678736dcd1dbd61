"""One organization's runs reaching their agents cannot take every thread of a calls worker:
past ORG_MAX_CONNECTING, its next run goes back to the queue and other organizations' runs are
claimed at once."""

from __future__ import annotations

from typing import Any

import pytest

from test_framework.choices import Status
from test_framework.fairness import CONNECTING
from test_framework.models import Run
from test_framework.tasks import run_execute
from tests.factories import AgentFactory
from tests.test_framework.test_tasks import queued_run

pytestmark = pytest.mark.django_db
REFUSED = {"session_endpoint_url": "http://169.254.169.254/latest/meta-data/", "client_id": "c"}


@pytest.fixture
def sent(monkeypatch: Any) -> list[tuple[list[int], dict[str, Any]]]:
    """What the workers are handed (the broker is the outside edge here)."""
    out: list[tuple[list[int], dict[str, Any]]] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: out.append(([run_id], kw))
    )
    return out


def test_past_its_share_an_organizations_run_waits_in_the_queue_and_others_are_claimed(
    settings: Any, sent: list[Any]
) -> None:
    settings.ORG_MAX_CONNECTING = 2
    settings.SESSION_ENDPOINT_ALLOW = []
    busy, other = AgentFactory(agora_data=REFUSED), AgentFactory(agora_data=REFUSED)
    waiting, theirs = queued_run(busy), queued_run(other)
    before = waiting.updated_at
    # Two of busy's runs are reaching their agents on this worker now.
    assert CONNECTING.try_enter(busy.organization_id) and CONNECTING.try_enter(busy.organization_id)
    try:
        run_execute(waiting.pk)
        waiting.refresh_from_db()
        assert (
            waiting.status == Status.IN_QUEUE
            and waiting.executed_at is None
            and waiting.updated_at > before
        )
        assert [(args, kw["countdown"]) for args, kw in sent] == [
            ([waiting.pk], settings.ORG_DEFER_SECONDS)
        ]
        # Another organization's run is claimed at once (and here refused by the address guard).
        run_execute(theirs.pk)
        theirs.refresh_from_db()
        assert (
            theirs.status == Status.FAILED
            and theirs.executed_at is not None
            and "link-local" in theirs.error_message
        )
        assert CONNECTING.connecting(other.organization_id) == 0  # its pass was given back
    finally:
        CONNECTING.leave(busy.organization_id)
        CONNECTING.leave(busy.organization_id)
    # With a place free, the deferred run is claimed when it comes back, and its pass returned.
    run_execute(waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == Status.FAILED and waiting.executed_at is not None
    assert CONNECTING.connecting(busy.organization_id) == 0 and len(sent) == 1


def test_a_deferred_run_cancelled_meanwhile_is_not_sent_again(
    settings: Any, sent: list[Any]
) -> None:
    settings.ORG_MAX_CONNECTING = 1
    agent = AgentFactory(agora_data=REFUSED)
    run = queued_run(agent)
    Run.objects.filter(pk=run.pk).update(status=Status.CANCELLED)
    assert CONNECTING.try_enter(agent.organization_id)
    try:
        run_execute(run.pk)
    finally:
        CONNECTING.leave(agent.organization_id)
    assert sent == [] and Run.objects.get(pk=run.pk).status == Status.CANCELLED


def test_zero_lifts_the_limit(settings: Any, sent: list[Any]) -> None:
    settings.ORG_MAX_CONNECTING = 0
    settings.SESSION_ENDPOINT_ALLOW = []
    agent = AgentFactory(agora_data=REFUSED)
    held = [CONNECTING.try_enter(agent.organization_id) for _ in range(50)]
    try:
        run = queued_run(agent)
        run_execute(run.pk)
        assert Run.objects.get(pk=run.pk).status == Status.FAILED and sent == []
    finally:
        for _ in held:
            CONNECTING.leave(agent.organization_id)
