"""The embedded default: SQLite, a broker that needs no server, the local channel."""

from __future__ import annotations

import secrets as _secrets

from cryptography.fernet import Fernet

from .base import *  # noqa: F403
from .base import VAR_DIR, derive_fernet_key, env
from .kept import kept_secret

# Off, as in production: an error page never shows a request's locals (DJANGO_DEBUG=1 turns
# it on for development).
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Random on first start and kept in var/keys/ (mode 0600), unless the environment names them:
# the SQLite file alone does not open the agents' secrets.
SECRET_KEY = SECRET_KEY or kept_secret(  # noqa: F405
    VAR_DIR / "keys" / "django-secret-key", lambda: _secrets.token_urlsafe(50)
)
# Before, the embedded default derived its field key from a public default secret: that key
# still opens secrets stored then (never used to encrypt); serve_embedded and demo re-encrypt
# them with the kept key at start.
LEGACY_FIELD_ENCRYPTION_KEY = derive_fernet_key("embedded-default-not-for-production")
FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or [  # noqa: F405
    kept_secret(VAR_DIR / "keys" / "field-encryption-key", lambda: Fernet.generate_key().decode()),
    LEGACY_FIELD_ENCRYPTION_KEY,
]

# kombu's filesystem transport: the web process and the worker share a folder, no server.
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }

from agora_runner.demo.defaults import DEMO_APP_ID  # noqa: E402

LOCAL_CHANNEL_APP_IDS = LOCAL_CHANNEL_APP_IDS or [DEMO_APP_ID]  # noqa: F405

# Static files straight from the apps (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The demo endpoint lives on this machine.
SESSION_ENDPOINT_ALLOW = SESSION_ENDPOINT_ALLOW or ["127.0.0.1", "localhost", "::1"]  # noqa: F405
