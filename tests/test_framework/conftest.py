from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from cekura.accounts.services import api_key_create
from tests.factories import AgentFactory, OrganizationFactory


@pytest.fixture
def org(db: Any) -> Any:
    return OrganizationFactory(name="acme", credits=100)


@pytest.fixture
def api_key(org: Any) -> str:
    return api_key_create(organization=org)[1]


@pytest.fixture
def client(api_key: str) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_X_CEKURA_API_KEY=api_key)
    return c


@pytest.fixture
def agent(org: Any) -> Any:
    return AgentFactory(organization=org)


@pytest.fixture
def wired(settings: Any, demo_stack: Any, tmp_path: Any, monkeypatch: Any) -> Any:
    """Runs executed in this process reach the in-process demo stack, with short waits. A call
    handed to the post-processing queue is post-processed here at once, as the post worker
    would (the end-to-end tests cross the real broker)."""
    from test_framework.tasks import run_postprocess

    monkeypatch.setattr("test_framework.dispatch.send_post", run_postprocess)
    settings.LOCAL_CHANNEL_ADDRESS = demo_stack.channel_address
    settings.MEDIA_ROOT = str(tmp_path)
    settings.AGENT_JOIN_TIMEOUT_SECONDS = 3
    # The demo agent answers on the CPU the rest of the suite shares: on a busy 2-core machine
    # an answer can take seconds. Tests of an agent too slow to answer set a shorter limit.
    settings.SILENCE_LIMIT_SECONDS = 10
    settings.RUN_HEARTBEAT_SECONDS = 0.5
    return demo_stack
