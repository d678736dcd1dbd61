from __future__ import annotations

import secrets
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from cekura.accounts.models import Organization
from cekura.fields import EncryptedTextField

from .choices import RUN_TYPE_AGORA, EvalType, MetricType, ScenarioType, Status

# Lifecycle columns the API shows inside a run's `metadata`, when set (as it always has).
LIFECYCLE_FLAGS = (
    "credit_refunded",
    "post_attempts",
    "cancelled_while",
    "reaped",
    "post_processing_failed",
)


def new_seed() -> int:
    return secrets.randbits(31)


class AIAgent(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    agent_name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    inbound = models.BooleanField(default=True)
    language = models.CharField(max_length=16, default="en")
    assistant_provider = models.CharField(max_length=32, default="agora")
    agent_gives_first_message = models.BooleanField(default=True)
    # {"session_endpoint_url", "client_id", "auth_header_name", "request_method", "join_uid"}
    agora_data = models.JSONField(null=True, blank=True)
    # The secret sent to the session endpoint: encrypted at rest, never returned.
    agora_api_key = EncryptedTextField(blank=True, default="")
    # Deleted in the dashboard while it has results: hidden from lists, its results kept.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "AI agent"

    def __str__(self) -> str:
        return self.agent_name

    @property
    def agora_api_key_configured(self) -> bool:
        return bool(self.agora_api_key)


class Personality(models.Model):
    """How the simulated caller behaves: its prompt, voice speed, interruptions and noise."""

    class Interruption(models.TextChoices):
        NONE = "none"
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    class Noise(models.TextChoices):
        NONE = "none"
        WHITE = "white"
        OFFICE = "office"
        STREET = "street"
        CAFE = "cafe"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="personalities"
    )
    name = models.CharField(max_length=100)
    prompt = models.TextField(blank=True, default="")
    language = models.CharField(max_length=16, default="en")
    gender = models.CharField(max_length=16, blank=True, default="")
    speed = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.5), MaxValueValidator(2.0)]
    )
    interruption_level = models.CharField(
        max_length=8, choices=Interruption.choices, default=Interruption.NONE
    )
    background_noise = models.CharField(max_length=8, choices=Noise.choices, default=Noise.NONE)
    background_noise_snr_db = models.FloatField(
        default=20.0, validators=[MinValueValidator(0.0), MaxValueValidator(60.0)]
    )
    backchannels = models.BooleanField(default=False)
    voice = models.CharField(max_length=64, default="en_US-joe-medium")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "personalities"

    def __str__(self) -> str:
        return self.name


class Metric(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=200)
    # How a spec file names the metric (`^[a-z0-9_]+$`, unique in the organization): derived
    # from the name when the metric is created through the API or the dashboard, editable.
    slug = models.CharField(max_length=100, blank=True, default="")
    description = models.TextField(blank=True, default="")
    eval_type = models.CharField(max_length=32, choices=EvalType.choices, default=EvalType.BINARY)
    enum_values = models.JSONField(default=list, blank=True)
    type = models.CharField(max_length=32, choices=MetricType.choices, default=MetricType.LLM_JUDGE)
    prompt = models.TextField(blank=True, default="")
    configuration = models.JSONField(default=dict, blank=True)
    agents = models.ManyToManyField(AIAgent, blank=True, related_name="metrics")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"],
                condition=~models.Q(slug=""),
                name="metric_slug_unique_in_organization",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Scenario(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="scenarios"
    )
    agent = models.ForeignKey(AIAgent, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=80)
    scenario_type = models.CharField(
        max_length=32, choices=ScenarioType.choices, default=ScenarioType.INSTRUCTION
    )
    instructions = models.TextField(blank=True, default="")
    conditional_actions = models.JSONField(null=True, blank=True)
    first_message = models.TextField(default="Hello")
    expected_outcome_prompt = models.TextField(blank=True, default="")
    metrics = models.ManyToManyField(Metric, blank=True, related_name="scenarios")
    tags = models.JSONField(default=list, blank=True)
    scenario_language = models.CharField(max_length=16, default="en")
    max_duration = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(10), MaxValueValidator(3600)]
    )
    personality = models.IntegerField(null=True, blank=True)
    # Deleted in the dashboard while it has runs: hidden from lists, its runs keep their name.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Result(models.Model):
    """One launch: the runs of some scenarios × frequency against one agent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="results")
    agent = models.ForeignKey(AIAgent, on_delete=models.SET_NULL, null=True, related_name="results")
    agent_name = models.CharField(max_length=200, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    success_rate = models.FloatField(default=0.0)
    run_as_text = models.BooleanField(default=False)
    is_cronjob = models.BooleanField(default=False)
    cron_job = models.ForeignKey(
        "CronJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="results"
    )
    run_type = models.CharField(max_length=16, default=RUN_TYPE_AGORA)
    frequency = models.PositiveIntegerField(default=1)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)
    # Re-scoring the stored calls (evaluate_metrics), a background task: where it stands.
    rescore_state = models.CharField(max_length=16, blank=True, default="")
    rescore_done = models.PositiveIntegerField(default=0)
    rescore_total = models.PositiveIntegerField(default=0)
    rescore_error = models.CharField(max_length=500, blank=True, default="")
    rescore_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name or f"Result {self.pk}"


class Run(models.Model):
    """One simulated call. Its status is moved only by services, each checking the current one."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="runs")
    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="runs")
    scenario = models.ForeignKey(
        Scenario, on_delete=models.SET_NULL, null=True, related_name="runs"
    )
    # A run of a spec file's case (Tests as Code) has no stored scenario: it keeps a snapshot
    # of its case (test_framework.specs.case_snapshot) and the case's stable key, by which its
    # history is found across results.
    case = models.JSONField(null=True, blank=True)
    scenario_key = models.CharField(max_length=128, blank=True, default="", db_index=True)
    agent = models.ForeignKey(AIAgent, on_delete=models.SET_NULL, null=True, related_name="runs")
    personality = models.ForeignKey(
        Personality, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    success = models.BooleanField(null=True)
    evaluation = models.JSONField(default=dict, blank=True)
    expected_outcome = models.JSONField(null=True, blank=True)
    expected_outcome_prompt = models.TextField(blank=True, default="")
    transcript = models.TextField(blank=True, default="")
    transcript_object = models.JSONField(default=list, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    recording = models.FileField(upload_to="recordings/", blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # What happened in the call (timeline, caller lines, transport, pacing, seed, ...). How the
    # run ended is in the lifecycle columns below (test_framework.lifecycle moves them).
    metadata = models.JSONField(default=dict, blank=True)
    # How the call ended (agora_runner.types: "Main agent-ended-call", ...), blank until known.
    ended_reason = models.CharField(max_length=64, blank=True, default="")
    # The run failed on our side (the testing agent, a worker, the broker), not the agent's.
    infrastructure = models.BooleanField(default=False)
    credit_refunded = models.BooleanField(default=False)
    # Times the reaper handed the stored call to post-processing again.
    post_attempts = models.PositiveSmallIntegerField(default=0)
    # The status the run was in when it was cancelled, where that is not evident ("evaluating").
    cancelled_while = models.CharField(max_length=16, blank=True, default="")
    reaped = models.BooleanField(default=False)  # ended by the reaper: its worker vanished
    post_processing_failed = models.BooleanField(default=False)
    run_type = models.CharField(max_length=16, default=RUN_TYPE_AGORA)
    testing_channel_index = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    # Everything random in a call comes from this seed: the same seed replays the same caller.
    seed = models.PositiveBigIntegerField(default=new_seed)
    timestamp = models.DateTimeField(auto_now_add=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    # When the call began to join the channel, after the caller's lines and the session
    # endpoint: until then the run is not a live call for post-processing to wait for.
    call_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker holding the run touches this every few seconds; the reaper ends runs whose
    # worker went silent.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # The machine (its Linux boot id) whose worker holds the call: post-processing on the same
    # machine can wait for its live calls (POST_YIELD_TO_CALLS_SECONDS). Never shown by the API.
    machine = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    def api_metadata(self) -> dict[str, Any]:
        """The run's `metadata` as the API has always shown it: the call's data with the
        lifecycle facts that apply (`ended_reason` always, the others when set)."""
        meta: dict[str, Any] = {**(self.metadata or {}), "ended_reason": self.ended_reason or None}
        for name in LIFECYCLE_FLAGS:
            value = getattr(self, name)
            if value:
                meta[name] = value
        return meta

    @property
    def scenario_name(self) -> str:
        if self.case:
            return str(self.case.get("name") or self.scenario_key)
        return self.scenario.name if self.scenario_id and self.scenario else "Scenario Deleted"


class ShareLink(models.Model):
    """A read-only page of some results that anyone with its link can open until it expires
    or is revoked. Only the token's SHA-256 digest is stored; the link is shown once."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="share_links"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    digest = models.CharField(max_length=64, unique=True)
    results = models.ManyToManyField(Result, related_name="share_links")
    expire_at = models.DateTimeField(null=True, blank=True)  # None: until revoked
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name or f"Share link {self.pk}"


class Webhook(models.Model):
    """Where an organization is told about its results. The secret goes in every delivery's
    X-CEKURA-SECRET header and keys its signature; it is encrypted at rest, never returned."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedTextField(blank=True, default="")
    events = models.JSONField(default=list)  # test_framework.webhooks.EVENTS
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Webhook {self.pk} ({self.url})"


class WebhookDelivery(models.Model):
    """One event sent to one webhook: what was sent, and how each attempt went."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    subject_id = models.PositiveBigIntegerField(default=0)  # the result's or the run's id
    idempotency_key = models.CharField(max_length=128)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # of the last attempt
    error = models.CharField(max_length=500, blank=True, default="")  # of the last attempt
    duration_ms = models.FloatField(null=True, blank=True)  # of the last attempt
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "idempotency_key"], name="one_delivery_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to webhook {self.webhook_id} ({self.state})"


class CronJob(models.Model):
    """A schedule: at each fire time of its cron expression (in its time zone) it launches what
    run_scenarios launches, and the result carries is_cronjob and the job's id."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="cron_jobs"
    )
    name = models.CharField(max_length=200)
    expression = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="UTC")
    agent = models.ForeignKey(AIAgent, on_delete=models.CASCADE, related_name="cron_jobs")
    # As run_scenarios takes them: {"ids": [...]}, {"first_n": N} or {"all": true}.
    scenarios = models.JSONField(default=dict)
    frequency = models.PositiveIntegerField(default=1)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)
    personality_ids = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    # Fire even while the job's previous result is still in progress.
    allow_overlap = models.BooleanField(default=False)
    # The next fire time, claimed by compare-and-set: exactly one beat fires it.
    next_fire_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CronFiring(models.Model):
    """One fire time of a schedule: the result it launched, or why it launched nothing."""

    job = models.ForeignKey(CronJob, on_delete=models.CASCADE, related_name="firings")
    fire_at = models.DateTimeField()
    result = models.ForeignKey(
        Result, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    skipped = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "fire_at"], name="one_firing_per_fire_time")
        ]

    def __str__(self) -> str:
        return f"{self.job} at {self.fire_at:%Y-%m-%d %H:%M}"
