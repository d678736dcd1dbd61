from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    IN_QUEUE = "in_queue"
    RUNNING = "running"
    EVALUATING = "evaluating"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in_progress"  # results only: some runs under way


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.TIMEOUT, Status.CANCELLED})
IN_FLIGHT = frozenset({Status.IN_QUEUE, Status.RUNNING, Status.EVALUATING})
IN_CALL = frozenset({Status.IN_QUEUE, Status.RUNNING})  # what a concurrency limit counts


class ScenarioType(models.TextChoices):
    INSTRUCTION = "instruction"
    CONDITIONAL_ACTIONS = "conditional_actions"


class EvalType(models.TextChoices):
    BINARY = "binary"
    NUMERIC = "numeric"
    ENUM = "enum"
    CONTINUOUS_QUALITATIVE = "continuous_qualitative"


class MetricType(models.TextChoices):
    CUSTOM_CODE = "custom_code"
    LLM_JUDGE = "llm_judge"


RUN_TYPE_AGORA = "Agora"
