"""Fixtures for the end-to-end tests: a real worker process on the real broker and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from agora_runner.demo.defaults import DEMO_CLIENT_ID, DEMO_SECRET
from cekura.accounts.services import api_key_create
from cekura.embedded import EmbeddedStack


def stack_env(tmp_path: Path, settings: Any) -> dict[str, str]:
    """The worker's environment: this test's database and broker (flushed)."""
    # The API in this process serves the files the worker writes: one media root for both.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    db = connection.settings_dict
    broker = settings.CELERY_BROKER_URL
    redis.Redis.from_url(broker).flushdb()
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.test",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",  # noqa: E501
        "CELERY_BROKER_URL": broker,
        "CEKURA_MEDIA_ROOT": str(tmp_path / "media"),
        "CEKURA_LOG_LEVEL": "INFO",
    }
    return env


# The two ways a calls worker can hold its calls: every call on one shared event loop (the
# default) and a process per call (prefork, CEKURA_CALLS_SHARED_LOOP=0). The kill test runs on
# both; the other end-to-end tests on the default.
POOLS = {"shared-loop": {}, "prefork": {"CEKURA_CALLS_SHARED_LOOP": "0"}}


def _worker_stack(
    tmp_path: Path, settings: Any, pool: dict[str, str]
) -> Iterator[tuple[EmbeddedStack, Path]]:
    env = {**stack_env(tmp_path, settings), **pool}
    with EmbeddedStack(
        env=env, web=False, worker_concurrency=2, log_dir=tmp_path / "logs"
    ) as stack:
        yield stack, tmp_path


@pytest.fixture
def worker_stack(tmp_path: Path, settings: Any) -> Iterator[tuple[EmbeddedStack, Path]]:
    yield from _worker_stack(tmp_path, settings, POOLS["shared-loop"])


@pytest.fixture(params=list(POOLS))
def pooled_worker_stack(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Any
) -> Iterator[tuple[EmbeddedStack, Path]]:
    yield from _worker_stack(tmp_path, settings, POOLS[request.param])


def demo_scenario(
    stack: Any, organization: Any, name: str, lines: list[str]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Through the API, as `organization`: an agent on the demo stack and a scenario whose
    caller says `lines` in order. Returns the API client, the agent and the scenario."""
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=organization)[1])
    agent = api.post(
        "/test_framework/v1/aiagents/",
        {
            "agent_name": "Demo",
            "description": "",
            "inbound": True,
            "agora_data": {"session_endpoint_url": stack.endpoint_url, "client_id": DEMO_CLIENT_ID},
            "agora_api_key": DEMO_SECRET,
        },
        format="json",
    ).json()
    scenario = api.post(
        "/test_framework/v1/scenarios/",
        {
            "name": name,
            "agent": agent["id"],
            "scenario_type": "conditional_actions",
            "first_message": lines[0],
            "conditional_actions": {
                "conditions": [
                    {"condition": "", "action": line, "fixed_message": True} for line in lines[1:]
                ]
            },
        },
        format="json",
    ).json()
    return api, agent, scenario
