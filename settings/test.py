"""Tests: the production stack (Postgres, Redis) that the development and CI machines run."""

from __future__ import annotations

import os

from .base import *  # noqa: F403
from .base import DATABASES, derive_fernet_key, env

SECRET_KEY = "tests-only"
FIELD_ENCRYPTION_KEYS = [derive_fernet_key("tests-only-field-key")]
DATABASES["default"] = env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/test")
# Each pytest-xdist worker (gw0, gw1, ...) its own Redis database, as it has its own Postgres one:
# the end-to-end tests flush theirs.
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"redis://127.0.0.1:6379/{15 - _XDIST_WORKER}"
)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests hold overlapping calls on this one machine and wait for their results: post-processing
# does not wait for live calls unless a test asks (bench/load.py sets it as production does).
POST_YIELD_TO_CALLS_SECONDS = env.float("CEKURA_POST_YIELD_TO_CALLS_SECONDS", default=0.0)

from agora_runner.demo.defaults import DEMO_APP_ID  # noqa: E402

LOCAL_CHANNEL_APP_IDS = [DEMO_APP_ID]

# Static files straight from the apps (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The demo endpoint the tests call lives on this machine.
SESSION_ENDPOINT_ALLOW = ["127.0.0.1", "localhost", "::1"]
