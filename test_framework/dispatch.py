"""The one seam between the use cases and the task queue.

Services hand work to workers only through these functions, by task name: no service imports
the task module (so there is no import cycle through it), and a test replaces what a worker
would do by patching one place.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.conf import settings

log = logging.getLogger(__name__)

CALL_TASK = "test_framework.run_execute"
POST_TASK = "test_framework.run_postprocess"
REAP_TASK = "test_framework.reap_stale_runs"
RETENTION_TASK = "test_framework.delete_old_recordings"
WEBHOOK_TASK = "test_framework.deliver_webhook"
SCHEDULES_TASK = "test_framework.fire_schedules"
RESCORE_TASK = "test_framework.result_rescore"

# Publishing retries for about ten seconds (a broker restarting) before a run is given up on.
BROKER_RETRY = {"max_retries": 8, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}


def _send(name: str, run_id: int, **options: Any) -> None:
    if current_app.conf.task_always_eager:  # CELERY_TASK_ALWAYS_EAGER: run it here and now
        current_app.tasks[name].apply(args=[run_id])
        return
    current_app.send_task(name, args=[run_id], retry=True, retry_policy=BROKER_RETRY, **options)


def send_call(run_id: int, *, soft_time_limit: float, countdown: float | None = None) -> None:
    """Hand a queued run to the calls queue (after `countdown` seconds). Raises whatever the
    broker raises when it will not take the message."""
    _send(
        CALL_TASK,
        run_id,
        queue=settings.CELERY_CALLS_QUEUE,
        soft_time_limit=soft_time_limit,
        time_limit=soft_time_limit + 60,
        countdown=countdown or None,
    )


def send_post(run_id: int) -> None:
    """Hand a stored call to the post-processing queue (ASR, metrics). Raises whatever the
    broker raises when it will not take the message."""
    _send(
        POST_TASK,
        run_id,
        queue=settings.CELERY_POST_QUEUE,
        soft_time_limit=settings.RUN_POST_TIME_LIMIT_SECONDS,
        time_limit=settings.RUN_POST_TIME_LIMIT_SECONDS + 60,
    )


def send_rescore(result_id: int) -> None:
    """Hand a result's re-score to the post-processing queue (it reads the stored calls)."""
    _send(
        RESCORE_TASK,
        result_id,
        queue=settings.CELERY_POST_QUEUE,
        soft_time_limit=settings.RESCORE_TIME_LIMIT_SECONDS,
        time_limit=settings.RESCORE_TIME_LIMIT_SECONDS + 60,
    )


def send_webhook(delivery_id: int, *, countdown: float = 0) -> None:
    """Hand a webhook delivery's next attempt to the maintenance queue (after `countdown` s)."""
    _send(
        WEBHOOK_TASK,
        delivery_id,
        queue=settings.CELERY_MAINTENANCE_QUEUE,
        countdown=countdown or None,
        soft_time_limit=120,
        time_limit=180,
    )
