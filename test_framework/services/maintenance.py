"""Looking after runs nobody holds any more (the reaper), messages the broker lost, and the
recordings retention deletes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from cekura import queues
from common.vocabulary import EndedReason

from .. import webhooks
from ..choices import TERMINAL, Status
from ..models import Run, WebhookDelivery
from .runs import pre_trigger_settled, run_enqueue_postprocess, run_finish, runs_send

log = logging.getLogger(__name__)


POST_ATTEMPTS = 3  # post-processing is handed out at most this many times


def calls_live_on(*, machine: str, fresh_seconds: float) -> int:
    """Calls in progress on this machine whose worker is alive (a beat within fresh_seconds).
    A run still synthesising its lines or calling its session endpoint is not one."""
    cutoff = timezone.now() - timedelta(seconds=fresh_seconds)
    return (
        Run.objects.filter(status=Status.RUNNING, machine=machine, call_started_at__isnull=False)
        .filter(Q(heartbeat_at__gte=cutoff) | Q(heartbeat_at__isnull=True, executed_at__gte=cutoff))
        .count()
    )


def runs_reap(*, stale_after_seconds: float) -> list[int]:
    """Look after the runs whose worker vanished (killed, machine lost): no heartbeat for
    `stale_after_seconds`.

    - In a call: the call is gone. The run ends `failed` with the reason, on our side, and its
      credit comes back.
    - Evaluating: the recording is stored, so post-processing is handed out again, up to
      POST_ATTEMPTS times; after that the run ends `failed`, recording kept. Only while the
      post-processing queue is empty: a run waiting its turn in that queue has no worker to
      beat for it, and under load it can wait longer than `stale_after_seconds` (handing it
      out again would only lengthen the queue, and after POST_ATTEMPTS fail a healthy run).

    Returns the ids ended or handed out again.
    """
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    stale = Run.objects.filter(status__in=[Status.RUNNING, Status.EVALUATING]).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, executed_at__lt=cutoff)
    )
    touched = []
    post_depth: int | None = -1  # not asked yet
    for run in stale:
        stored = run.status == Status.EVALUATING and bool(run.recording)
        if stored and post_depth == -1:
            post_depth = queues.queue_depth(settings.CELERY_POST_QUEUE)
            if post_depth != 0:
                log.info(
                    "reaper: %s message(s) wait in the post-processing queue; stored calls are "
                    "left to it",
                    post_depth,
                )
        if stored and post_depth != 0:
            continue
        if stored and run.post_attempts + 1 < POST_ATTEMPTS:
            if Run.objects.filter(
                pk=run.pk, status=Status.EVALUATING, heartbeat_at=run.heartbeat_at
            ).update(
                post_attempts=F("post_attempts") + 1,
                heartbeat_at=timezone.now(),
                updated_at=timezone.now(),
            ):
                log.warning(
                    "run %s: post-processing worker vanished; handing it out again (attempt %s)",
                    run.pk,
                    run.post_attempts + 2,
                )
                run_enqueue_postprocess(run_id=run.pk)
                touched.append(run.pk)
            continue
        message = (
            f"the worker holding this run stopped (no heartbeat for {stale_after_seconds:g} s); "
            "the run was ended by the reaper"
        )
        # A run reaped mid-call ended in our pipeline; a stored call keeps how it ended.
        facts: dict[str, Any] = {"infrastructure": True, "reaped": True}
        if run.status == Status.RUNNING:
            facts["ended_reason"] = EndedReason.PIPELINE_ERROR
        if run_finish(
            run_id=run.pk, status=Status.FAILED, success=False, error_message=message, **facts
        ):
            log.warning("run %s: reaped (worker vanished)", run.pk)
            touched.append(run.pk)
    return touched


def runs_requeue_lost(*, queued_for_seconds: float) -> list[int]:
    """Hand runs that have waited in `in_queue` for `queued_for_seconds` to the broker again,
    when the calls queue is empty: their message was lost (a broker restarted without
    persistence). A duplicate is harmless; the claim lets one through."""
    if queues.queue_depth(settings.CELERY_CALLS_QUEUE) != 0:
        return []  # still draining (or unknown): their messages may well be there
    cutoff = timezone.now() - timedelta(seconds=queued_for_seconds)
    ids = list(
        Run.objects.filter(status=Status.IN_QUEUE, updated_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    if ids:
        Run.objects.filter(pk__in=ids, status=Status.IN_QUEUE).update(updated_at=timezone.now())
        log.warning(
            "runs %s: queued for over %g s with an empty queue; handed to the broker again",
            ids,
            queued_for_seconds,
        )
        runs_send(ids)
    return ids


def recordings_expire(*, days: int, batch: int = 500) -> int:
    """Delete the recordings of runs that ended more than `days` days ago (0: keep all). The
    run keeps its transcript, metrics and a note of when the recording went."""
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    for run in Run.objects.filter(status__in=TERMINAL, finished_at__lt=cutoff).exclude(
        recording=""
    )[:batch]:
        name = run.recording.name or ""
        try:
            run.recording.storage.delete(name)
        except OSError:
            log.warning("run %s: recording could not be deleted; tried again next time", run.pk)
            continue
        meta = {
            **(run.metadata or {}),
            "recording_deleted_at": timezone.now().isoformat(),
            "recording_retention_days": days,
        }
        Run.objects.filter(pk=run.pk, recording=name).update(
            recording="", metadata=meta, updated_at=timezone.now()
        )
        deleted += 1
    if deleted:
        log.info("retention: deleted %s recording(s) older than %s day(s)", deleted, days)
    return deleted


def pre_triggers_overdue(*, after_seconds: float) -> list[int]:
    """Launches whose pre-trigger is still pending long after it was sent (its messages were
    lost with a broker): the delivery fails, and the launch with it, instead of its runs
    waiting in `pending` for ever. Returns the deliveries ended."""
    cutoff = timezone.now() - timedelta(seconds=after_seconds)
    ended = []
    for delivery in WebhookDelivery.objects.filter(
        event=webhooks.RESULT_PRE_TRIGGER,
        state=WebhookDelivery.State.PENDING,
        created_at__lt=cutoff,
    ):
        if WebhookDelivery.objects.filter(
            pk=delivery.pk, state=WebhookDelivery.State.PENDING
        ).update(
            state=WebhookDelivery.State.FAILED,
            error=f"no answer within {after_seconds:g} s of the launch",
        ):
            delivery.refresh_from_db()
            pre_trigger_settled(delivery)
            ended.append(delivery.pk)
    return ended
