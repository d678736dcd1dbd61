"""Production: Postgres and Redis; secrets have no defaults and must be set."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, env, logging_config

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
DATABASES["default"] = env.db("DATABASE_URL")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must name at least one Fernet key")
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("production settings expect a PostgreSQL DATABASE_URL")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS for a year, and plain HTTP redirected to HTTPS (the proxy in front says which it was),
# except the health and metrics probes, which come from inside. DJANGO_SSL_REDIRECT=0 and
# DJANGO_HSTS_SECONDS=0 for a deployment served over plain HTTP.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000)
# Subdomains and the browsers' preload list are the domain owner's call (check --deploy's W005
# and W021 until both are set).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Credentials for /metrics (CEKURA_METRICS_TOKEN or a staff user) and the API schema (an API
# key or a signed-in user), unless opened on purpose.
METRICS_PUBLIC = env.bool("CEKURA_METRICS_PUBLIC", default=False)
API_DOCS_PUBLIC = env.bool("CEKURA_API_DOCS_PUBLIC", default=False)
# Rate-limit counts are shared by every web process: Redis (the broker's, unless set apart).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CEKURA_CACHE_URL", default=CELERY_BROKER_URL),
    }
}
LOGGING = logging_config(
    env.str("CEKURA_LOG_LEVEL", default="INFO"), env.str("CEKURA_LOG_FORMAT", default="json")
)
