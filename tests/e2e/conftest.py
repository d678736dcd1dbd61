"""Fixtures for the end-to-end tests: a real worker process on the real broker and database."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

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
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "CEKURA_MEDIA_ROOT": str(tmp_path / "media"),
        "CEKURA_LOG_LEVEL": "INFO",
    }
    return env


@pytest.fixture
def worker_stack(tmp_path: Path, settings: Any) -> Any:
    env = stack_env(tmp_path, settings)
    stack = EmbeddedStack(env=env, web=False, worker_concurrency=2, log_dir=tmp_path / "logs")
    with stack:
        yield stack, tmp_path


