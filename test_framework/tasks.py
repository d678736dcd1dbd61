"""The Celery tasks: thin wrappers, each handing its message to the pipeline or a service.
Their names are what test_framework.dispatch and beat send."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import pipeline, services, webhook_payloads, webhooks
from .dispatch import (
    CALL_TASK,
    POST_TASK,
    REAP_TASK,
    RESCORE_TASK,
    RETENTION_TASK,
    SCHEDULES_TASK,
    WEBHOOK_TASK,
)


@shared_task(name=CALL_TASK, acks_late=True, ignore_result=True)
def run_execute(run_id: int) -> None:
    """Hold one simulated call, then hand it to post-processing (the calls queue)."""
    pipeline.execute_run(run_id)


@shared_task(name=POST_TASK, acks_late=True, ignore_result=True)
def run_postprocess(run_id: int) -> None:
    """Transcribe and score a stored call (the post-processing queue)."""
    pipeline.postprocess_run(run_id)


@shared_task(name=RESCORE_TASK, acks_late=True, ignore_result=True)
def result_rescore(result_id: int) -> None:
    """Score a result's stored calls again (the post-processing queue), with progress."""
    services.result_rescore(result_id=result_id)


@shared_task(name=REAP_TASK, ignore_result=True)
def reap_stale_runs() -> int:
    """Periodic (Celery beat, the maintenance queue): end runs whose worker vanished mid-call,
    hand out again the post-processing of stored calls, and re-send queued runs whose message
    the broker lost."""
    touched = services.runs_reap(stale_after_seconds=settings.RUN_STALE_AFTER_SECONDS)
    requeued = services.runs_requeue_lost(queued_for_seconds=settings.RUN_REQUEUE_AFTER_SECONDS)
    overdue = services.pre_triggers_overdue(after_seconds=webhooks.PRE_TRIGGER_OVERDUE_SECONDS)
    rescores = services.rescores_overdue(after_seconds=settings.RESCORE_TIME_LIMIT_SECONDS + 120)
    return len(touched) + len(requeued) + len(overdue) + len(rescores)


@shared_task(name=RETENTION_TASK, ignore_result=True)
def delete_old_recordings() -> int:
    """Periodic (Celery beat, the maintenance queue): RECORDING_RETENTION_DAYS."""
    return services.recordings_expire(days=settings.RECORDING_RETENTION_DAYS)


@shared_task(name=WEBHOOK_TASK, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt at a webhook delivery (the maintenance queue); the next, if any, is sent
    with its backoff."""
    return webhooks.deliver(
        delivery_id, build=webhook_payloads.payload_for, settled=services.pre_trigger_settled
    )


@shared_task(name=SCHEDULES_TASK, ignore_result=True)
def fire_schedules() -> int:
    """Periodic (Celery beat, the maintenance queue, every 20 s): launch the schedules whose
    fire time has come, each fire time once."""
    return len(services.cron_jobs_fire_due())
