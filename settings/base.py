"""Every setting is read here, from environment variables, through one reader.

`local.py`, `test.py` and `production.py` only change defaults; they never read the
environment on their own.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

from cekura.logcontext import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Error reports (the debug page, mail to ADMINS) hide anything named like a secret.
DEFAULT_EXCEPTION_REPORTER_FILTER = "cekura.reporting.SecretsFilter"
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
VAR_DIR = Path(env.str("CEKURA_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "cekura.accounts",
    "test_framework",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cekura.middleware.reject_null_characters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Inside CommonMiddleware, so a 404 still gets its trailing-slash redirect first.
    "cekura.errorpages.friendly_errors",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cekura.urls"
WSGI_APPLICATION = "cekura.wsgi.application"
# The API routes accept paths with and without their trailing slash, so a POST is never
# answered with a redirect that drops its body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "test_framework.dashboard.context.nav",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one file: WAL and a write lock taken at BEGIN
    # keep them from failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env.str("CEKURA_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["cekura.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "cekura.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cekura.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [
        "cekura.throttling.ApiKeyThrottle",
        "cekura.throttling.OrganizationThrottle",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "cekura.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
# Requests per API key: every endpoint, and launches (run_scenarios_agora) on their own.
# A rate is "N/s", "N/min", "N/hour" or "N/day"; "off" lifts the limit.
API_RATE_LIMITS = {
    scope: (None if rate == "off" else rate)
    for scope, rate in (
        ("api", env.str("CEKURA_RATE_LIMIT", default="600/min")),
        ("launch", env.str("CEKURA_LAUNCH_RATE_LIMIT", default="60/min")),
        # The same two, per organization, over all of its keys and users: minting more keys
        # does not buy more requests.
        ("api_org", env.str("CEKURA_ORG_RATE_LIMIT", default="1200/min")),
        ("launch_org", env.str("CEKURA_ORG_LAUNCH_RATE_LIMIT", default="120/min")),
    )
}
# Live (unrevoked) API keys one organization may hold at once.
MAX_API_KEYS_PER_ORGANIZATION = env.int("CEKURA_MAX_API_KEYS", default=25)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("CEKURA_CACHE_URL"),
        }
        if env.str("CEKURA_CACHE_URL", default="")
        # One web process (the embedded default, the tests): its own memory is enough.
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cekura Agora Simulations (self-hosted)",
    "DESCRIPTION": "Test voice AI agents that live in an Agora RTC channel.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's assets are served from the installed package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cekura.schema.document_errors",
    ],
}

# --- field encryption -------------------------------------------------------------------
# Fernet keys, newest first. Secrets in the database are encrypted with the first; all of
# them decrypt, so a key can be rotated without losing stored secrets.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])


def derive_fernet_key(secret: str) -> str:
    """A Fernet key derived from another secret (the embedded default's convenience)."""
    return base64.urlsafe_b64encode(
        hashlib.sha256(b"cekura-field-key:" + secret.encode()).digest()
    ).decode()


# --- credits ------------------------------------------------------------------------------
CREDITS_PER_RUN = env.int("CEKURA_CREDITS_PER_RUN", default=1)

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Two queues: live calls, and post-processing (ASR, metrics), so transcription never takes a
# live call's CPU slot. Workers on the post queue may run niced (CEKURA_WORKER_NICE).
CELERY_CALLS_QUEUE = env.str("CEKURA_CALLS_QUEUE", default="calls")
CELERY_POST_QUEUE = env.str("CEKURA_POST_QUEUE", default="post")
# The reaper and the retention run on a third queue, with a worker of their own (which also
# runs beat), so they are never held up behind calls or transcriptions.
CELERY_MAINTENANCE_QUEUE = env.str("CEKURA_MAINTENANCE_QUEUE", default="maintenance")
CELERY_TASK_DEFAULT_QUEUE = CELERY_POST_QUEUE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below (run and result ids on every line, JSON in production).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
WORKER_NICE = env.int("CEKURA_WORKER_NICE", default=0)
WORKER_CPU_POLICY = env.str(
    "CEKURA_WORKER_CPU_POLICY", default="normal"
)  # normal | batch | idle (Linux)
WORKER_PRELOAD = env.list(
    "CEKURA_WORKER_PRELOAD", default=[]
)  # "tts", "asr": loaded as each process starts
# The worker holding a run beats every RUN_HEARTBEAT_SECONDS (and sees cancellations then);
# a run silent for RUN_STALE_AFTER_SECONDS is ended by the reaper, which Celery beat runs
# every RUN_REAP_EVERY_SECONDS.
RUN_HEARTBEAT_SECONDS = env.float("CEKURA_RUN_HEARTBEAT_SECONDS", default=1.0)
RUN_STALE_AFTER_SECONDS = env.float("CEKURA_RUN_STALE_AFTER_SECONDS", default=60.0)
RUN_REAP_EVERY_SECONDS = env.float("CEKURA_RUN_REAP_EVERY_SECONDS", default=30.0)
# A run waiting in_queue this long while the calls queue is empty lost its message (a broker
# restarted without persistence): the reaper hands it over again.
RUN_REQUEUE_AFTER_SECONDS = env.float("CEKURA_RUN_REQUEUE_AFTER_SECONDS", default=120.0)
CELERY_TASK_ROUTES = {
    "test_framework.run_execute": {"queue": CELERY_CALLS_QUEUE},
    "test_framework.run_postprocess": {"queue": CELERY_POST_QUEUE},
    "test_framework.reap_stale_runs": {"queue": CELERY_MAINTENANCE_QUEUE},
    "test_framework.delete_old_recordings": {"queue": CELERY_MAINTENANCE_QUEUE},
    "test_framework.deliver_webhook": {"queue": CELERY_MAINTENANCE_QUEUE},
    "test_framework.fire_schedules": {"queue": CELERY_MAINTENANCE_QUEUE},
}
CELERY_BEAT_SCHEDULE = {
    "reap-stale-runs": {
        "task": "test_framework.reap_stale_runs",
        "schedule": RUN_REAP_EVERY_SECONDS,
    },
    "delete-old-recordings": {"task": "test_framework.delete_old_recordings", "schedule": 3600.0},
    "fire-schedules": {"task": "test_framework.fire_schedules", "schedule": 20.0},
}
# Post-processing (ASR and metrics of one stored call) is ended after this long.
RUN_POST_TIME_LIMIT_SECONDS = env.int("CEKURA_RUN_POST_TIME_LIMIT_SECONDS", default=900)
# How long a result's re-score (evaluate_metrics, in the background) may take before it is
# ended as failed.
RESCORE_TIME_LIMIT_SECONDS = env.int("CEKURA_RESCORE_TIME_LIMIT_SECONDS", default=1800)
# Recordings are deleted this many days after their run ended (0 keeps them for ever).
RECORDING_RETENTION_DAYS = env.int("CEKURA_RECORDING_RETENTION_DAYS", default=0)
# A call's task is given this long beyond the call's own maximum duration (joining, waiting
# for the agent, storing the recording) before the soft limit ends it.
RUN_TASK_OVERHEAD_SECONDS = env.int("CEKURA_RUN_TASK_OVERHEAD_SECONDS", default=180)

# --- calls ---------------------------------------------------------------------------------
DEFAULT_MAX_DURATION_SECONDS = env.int("CEKURA_DEFAULT_MAX_DURATION", default=300)
# Seconds a run may spend synthesising the caller's known lines before it joins (each line is
# at most 1,000 characters); lines left over are synthesised when they are said.
SYNTHESIS_BUDGET_SECONDS = env.float("CEKURA_SYNTHESIS_BUDGET", default=30.0)
# Per read; each attempt has a whole-exchange deadline, and all attempts (retries and the
# waits between them) a total one: an endpoint that drips its answer is cut off.
SESSION_ENDPOINT_TIMEOUT_SECONDS = env.float("CEKURA_SESSION_ENDPOINT_TIMEOUT", default=10.0)
SESSION_ENDPOINT_DEADLINE_SECONDS = env.float("CEKURA_SESSION_ENDPOINT_DEADLINE", default=15.0)
SESSION_ENDPOINT_TOTAL_SECONDS = env.float("CEKURA_SESSION_ENDPOINT_TOTAL", default=40.0)
# Session endpoints that may resolve to loopback or private addresses ("host", "host:port",
# or "*"). Production names none; the embedded default and the tests name this machine, where
# the demo endpoint lives.
SESSION_ENDPOINT_ALLOW = env.list("CEKURA_SESSION_ENDPOINT_ALLOW", default=[])
AGENT_JOIN_TIMEOUT_SECONDS = env.float("CEKURA_AGENT_JOIN_TIMEOUT", default=15.0)
# Runs of one organization that one calls worker process may have reaching their agent (session
# endpoint, synthesis) at once; more wait in the queue, so other organizations' runs start
# (test_framework.fairness). 0: no limit.
ORG_MAX_CONNECTING = env.int("CEKURA_ORG_MAX_CONNECTING", default=4)
# How long such a run waits before it is offered to the workers again.
ORG_DEFER_SECONDS = env.float("CEKURA_ORG_DEFER_SECONDS", default=2.0)
# Seconds the caller waits for the agent to answer a turn before ending the call.
SILENCE_LIMIT_SECONDS = env.float("CEKURA_SILENCE_LIMIT", default=15.0)
END_OF_TURN_SILENCE_MS = env.int("CEKURA_END_OF_TURN_SILENCE_MS", default=800)
# App ids served by our local channel; every other app id goes to Agora itself.
LOCAL_CHANNEL_ADDRESS = env.str("CEKURA_LOCAL_CHANNEL", default="127.0.0.1:7788")
LOCAL_CHANNEL_APP_IDS = env.list("CEKURA_LOCAL_CHANNEL_APP_IDS", default=[])
# Seeded conditions on the caller's uplink in the local channel, e.g.
# "latency_ms=80,jitter_ms=20,loss=0.02,seed=7". Checked here, so a typo fails at start-up.
LOCAL_CHANNEL_NETWORK = env.str("CEKURA_LOCAL_CHANNEL_NETWORK", default="")
from agora_runner.channel.network import NetworkConditions  # noqa: E402

NetworkConditions.parse(LOCAL_CHANNEL_NETWORK)

# --- speech --------------------------------------------------------------------------------
ASR_BACKEND = env.str("CEKURA_ASR_BACKEND", default="faster-whisper")
ASR_THREADS = env.int("CEKURA_ASR_THREADS", default=2)
# Post-call transcripts encode each turn with 5 s of margin, in a window of at least 10 s,
# rather than Whisper's whole 30 s window (faster-whisper): 1.2-3.3x less CPU per turn, the
# word error rate the same or lower in 7 of 8 rows (bench/hearing.py, bench/profile_post.py).
POST_ASR_SHORT_CONTEXT = env.bool("CEKURA_POST_ASR_SHORT_CONTEXT", default=True)
# A live call hears the agent through a helper process of its own (agora_runner.hearing), so
# transcription never stalls the call's frame pacing; 0 hears in a thread of the call's process.
HEARING_PROCESS = env.bool("CEKURA_HEARING_PROCESS", default=True)
# …and speaks through one (agora_runner.synthesis): Piper holds the GIL for parts of every
# sentence, which stalled the pacing of every call when each call had lines of its own to
# synthesise (bench/load.py --distinct-lines). 0 synthesises in the calls worker's process.
SYNTHESIS_PROCESS = env.bool("CEKURA_SYNTHESIS_PROCESS", default=True)
# A calls worker holds its calls on one shared event loop (agora_runner.host), on Celery's
# threads pool, heard by CALLS_HEARING_HELPERS helper processes. Off: a process per call
# (prefork), which paces frames less evenly and costs more CPU and memory per call.
CALLS_SHARED_LOOP = env.bool("CEKURA_CALLS_SHARED_LOOP", default=True)
CALLS_HEARING_HELPERS = env.int("CEKURA_CALLS_HEARING_HELPERS", default=2)
# The thread that paces live calls' frames runs real-time (SCHED_FIFO) at this priority, so it
# never waits behind other work for a CPU (agora_runner.cpu.pace_first; 0: a normal thread).
# Needs CAP_SYS_NICE: docker-compose.yml grants it to the calls worker; without it the thread
# is niced -10 where allowed, and a warning says so. bench/load.py: at 20 calls, jitter p99
# median 13.6 → 4.5 ms on a machine where the calls loop waited for a CPU (docs/benchmarks.md).
CALLS_PACING_PRIORITY = env.int("CEKURA_CALLS_PACING_PRIORITY", default=10)
# Post-processing waits up to this long while calls are live on its own machine, so that
# transcription does not share the CPU (and its caches) with calls pacing their frames
# (0: never waits). A post worker on a machine without calls never waits. At most
# RUN_POST_TIME_LIMIT_SECONDS − 300 (the wait counts against the task's time limit).
POST_YIELD_TO_CALLS_SECONDS = env.float("CEKURA_POST_YIELD_TO_CALLS_SECONDS", default=600.0)
# …except this many post-processing tasks at a time (0: none), which work during calls, on
# CPU time the calls leave (the post worker runs in Linux's idle class): results keep coming
# while calls go on, at some cost to the calls' pacing (docs/benchmarks.md). Turns are locks
# on files in POST_SLOTS_DIR/<machine>, shared by every post worker on the machine (a volume
# shared by its containers).
POST_PROCESSES_DURING_CALLS = env.int("CEKURA_POST_PROCESSES_DURING_CALLS", default=0)
# …and one more for every this many CPU cores the machine has left idle over the last second
# (0: none): a machine with a few calls scores them while they go on, a busy one waits.
POST_SPARE_CORES = env.float("CEKURA_POST_SPARE_CORES", default=0.5)
POST_SLOTS_DIR = Path(env.str("CEKURA_POST_SLOTS_DIR", default=str(VAR_DIR / "post-slots")))
WHISPER_CHECKPOINT = env.str("CEKURA_WHISPER_CHECKPOINT", default="")

# --- LLM (optional; everything runs offline without it) ------------------------------------
LLM_BASE_URL = env.str("CEKURA_LLM_BASE_URL", default="")
LLM_MODEL = env.str("CEKURA_LLM_MODEL", default="")
LLM_API_KEY = env.str("CEKURA_LLM_API_KEY", default="")
LLM_TIMEOUT_SECONDS = env.float("CEKURA_LLM_TIMEOUT", default=30.0)

# The server's address as its users reach it (behind a proxy, say), for the links it hands
# out (share links); empty: the address each request came in on.
PUBLIC_BASE_URL = env.str("CEKURA_PUBLIC_URL", default="")

# /metrics (Prometheus) asks for this bearer token when it is set.
METRICS_TOKEN = env.str("CEKURA_METRICS_TOKEN", default="")

# Every line carries the run and result it is about; CEKURA_LOG_FORMAT=json for one JSON
# object per line (production's default).
LOG_FORMAT = env.str("CEKURA_LOG_FORMAT", default="plain")
LOGGING = logging_config(env.str("CEKURA_LOG_LEVEL", default="INFO"), LOG_FORMAT)

# Content Security Policy on every page (django-csp): scripts, styles and media from this
# server only; no plugins, no framing. The API docs page is the one exception (cekura.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Sign-in (dashboard and admin) through django-axes: after LOGIN_FAILURE_LIMIT wrong passwords
# for one username from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES
# (answered 429); a right password before then starts the count again.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("CEKURA_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CEKURA_LOGIN_LOCKOUT_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "dashboard/locked_out.html"

# /metrics and the API schema and docs: in production they need credentials (the metrics
# token, or an API key or a signed-in user) unless opened here; elsewhere they are open.
METRICS_PUBLIC = env.bool("CEKURA_METRICS_PUBLIC", default=True)
API_DOCS_PUBLIC = env.bool("CEKURA_API_DOCS_PUBLIC", default=True)

# The dashboard signs users in with Django's auth.
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
