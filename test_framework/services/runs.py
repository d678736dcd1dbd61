"""A run's progress through its lifecycle as the workers and users drive it: dispatch under
the concurrency limit, claim, the stored call, the end, cancellation, heartbeats. Every status
change goes through test_framework.lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.vocabulary import EndedReason

from .. import dispatch, lifecycle, selectors, webhooks
from ..choices import IN_CALL, TERMINAL, Status
from ..models import Result, Run, WebhookDelivery

log = logging.getLogger(__name__)


UNSTARTED = frozenset({Status.PENDING, Status.IN_QUEUE})


def result_dispatch(*, result_id: int) -> list[int]:
    """Move pending runs to in_queue while the result has room under its concurrency
    limit, and enqueue them after commit. Returns the run ids enqueued."""
    with transaction.atomic():
        # The row lock serialises dispatchers of one result, so two runs finishing at once
        # cannot both fill the last free slot.
        result = Result.objects.select_for_update().get(pk=result_id)
        if result.status in TERMINAL:
            return []
        pending = result.runs.filter(status=Status.PENDING).order_by("id")
        if result.concurrency_limit:
            # The limit is on simultaneous calls: a run being transcribed holds no slot.
            room = result.concurrency_limit - result.runs.filter(status__in=IN_CALL).count()
            if room <= 0:
                return []
            pending = pending[:room]
        ids = list(pending.values_list("id", flat=True))
        if not ids:
            return []
        ids = lifecycle.runs_move(ids, Status.IN_QUEUE, sources={Status.PENDING})
        transaction.on_commit(lambda: runs_send(ids))
    return ids


def call_time_limit(max_duration: float) -> float:
    """Seconds a run's call task may take (Celery's soft limit on prefork; enforced by the
    waiting thread on the shared loop): the call's own limit and time to set it up and store it."""
    return max_duration + settings.RUN_TASK_OVERHEAD_SECONDS


def runs_send(run_ids: list[int], *, countdown: float = 0) -> None:
    """Hand runs to the calls queue (after `countdown` seconds). A run the broker would not
    take ends `failed` at once with the reason, rather than waiting in `in_queue` for a task
    that will never come."""
    for run_id in run_ids:
        run = Run.objects.select_related("scenario").filter(pk=run_id).first()
        scenario = selectors.run_scenario(run) if run else None
        max_duration = (
            scenario.max_duration if scenario else None
        ) or settings.DEFAULT_MAX_DURATION_SECONDS
        try:
            dispatch.send_call(
                run_id, soft_time_limit=call_time_limit(max_duration), countdown=countdown
            )
        except Exception as exc:  # kombu raises many kinds; every one means "not queued"
            log.error("run %s: could not be queued (%s)", run_id, exc.__class__.__name__)
            run_finish(
                run_id=run_id,
                status=Status.FAILED,
                success=False,
                error_message=(
                    f"the run could not be handed to the worker queue ({exc.__class__.__name__});"
                    " is the broker running?"
                ),
                ended_reason=EndedReason.PIPELINE_ERROR,
                infrastructure=True,
            )


def run_defer(*, run_id: int, seconds: float) -> bool:
    """Offer a queued run to the workers again in `seconds` (its organization has as many runs
    connecting on this worker as it may: test_framework.fairness). The run stays `in_queue`;
    its updated_at is touched so the reaper does not take it for lost meanwhile. False when the
    run is no longer queued (cancelled, or taken)."""
    if not Run.objects.filter(pk=run_id, status=Status.IN_QUEUE).update(updated_at=timezone.now()):
        return False
    runs_send([run_id], countdown=seconds)
    return True


def run_claim(*, run_id: int, machine: str = "") -> bool:
    """Compare-and-set in_queue → running. Only one worker can win; a redelivered task
    finds the run already claimed and does nothing."""
    won = lifecycle.run_move(
        run_id,
        Status.RUNNING,
        sources={Status.IN_QUEUE},
        executed_at=timezone.now(),
        machine=machine[:64],
    )
    if won:
        Run.objects.filter(pk=run_id).update(attempts=F("attempts") + 1)
    return won


def run_mark_joining(*, run_id: int) -> None:
    """The run's call is joining the channel: from now on it is a live call on its machine."""
    Run.objects.filter(pk=run_id, status=Status.RUNNING).update(call_started_at=timezone.now())


def _save_recording(run: Run, wav: bytes) -> str:
    path = f"recordings/org{run.organization_id}/result{run.result_id}/run{run.pk}.wav"
    return run.recording.storage.save(path, ContentFile(wav))


def run_store_call(
    *,
    run_id: int,
    recording_wav: bytes,
    metadata: dict[str, Any],
    duration_seconds: float,
    error_message: str = "",
    ended_reason: str = "",
) -> bool:
    """The call is over: keep its recording and timeline, and move the run running →
    evaluating for post-processing (its own queue). Its call slot is free from now: the next
    pending run of the result is dispatched. Returns False if the run had already moved on."""
    run = Run.objects.filter(pk=run_id, status=Status.RUNNING).first()
    if run is None:
        return False
    # The file is written outside the transaction; a run that lost the race below leaves an
    # orphan file at worst, never a run pointing at nothing.
    name = _save_recording(run, recording_wav)
    now = timezone.now()
    metadata = {**metadata, "call_ended_at": now.isoformat()}
    moved = lifecycle.run_move(
        run_id,
        Status.EVALUATING,
        sources={Status.RUNNING},
        recording=name,
        metadata=metadata,
        duration_seconds=duration_seconds,
        error_message=error_message,
        ended_reason=ended_reason,
        heartbeat_at=now,
    )
    if moved:
        result_dispatch(result_id=run.result_id)
    return moved


def run_enqueue_postprocess(*, run_id: int) -> None:
    """Hand a stored call to the post-processing queue (ASR, metrics). If the broker will not
    take it, the run stays `evaluating` with its recording kept and the reaper hands it over
    again once the broker is back."""
    try:
        dispatch.send_post(run_id)
    except Exception as exc:  # kombu raises many kinds
        log.error(
            "run %s: could not be queued for post-processing (%s); the reaper will retry",
            run_id,
            exc.__class__.__name__,
        )


def run_finish(
    *,
    run_id: int,
    status: str,
    success: bool | None = None,
    error_message: str = "",
    metadata: dict[str, Any] | None = None,
    transcript: str = "",
    transcript_object: list[dict[str, Any]] | None = None,
    evaluation: dict[str, Any] | None = None,
    expected_outcome: dict[str, Any] | None = None,
    **facts: Any,
) -> bool:
    """End a run in a terminal status, once (test_framework.lifecycle: the move must be one the
    table allows; its credit is settled by the lifecycle's rule). `facts` are lifecycle
    columns (ended_reason, infrastructure, cancelled_while, reaped, post_processing_failed).
    Returns False if it had already ended. The result then dispatches and settles."""
    if status not in TERMINAL:
        raise lifecycle.IllegalMove(f"run_finish ends runs; {status} is not an end")
    fields: dict[str, Any] = {"success": success, "error_message": error_message, **facts}
    if metadata is not None:
        fields["metadata"] = metadata
    if transcript_object is not None:
        fields["transcript"] = transcript
        fields["transcript_object"] = transcript_object
    if evaluation is not None:
        fields["evaluation"] = evaluation
    if expected_outcome is not None:
        fields["expected_outcome"] = expected_outcome
    done = lifecycle.run_move(run_id, status, **fields)
    if done:
        owners = Run.objects.filter(pk=run_id).values_list("result_id", "organization_id").first()
        if owners is not None:
            webhooks.run_completed(organization_id=owners[1], run_id=run_id)
            result_after_run(result_id=owners[0])
    return done


def result_after_run(*, result_id: int) -> None:
    """A run ended: start the next pending one, and settle the result if it was the last."""
    result_dispatch(result_id=result_id)
    result_refresh(result_id=result_id)


def result_refresh(*, result_id: int) -> Result:
    """Recompute success_rate; set the final status once every run has ended.

    A result is `failed` only when every run failed on our side (infrastructure), never
    for failed metrics; `cancelled` when every run was cancelled; otherwise `completed`.
    """
    with transaction.atomic():
        result = Result.objects.select_for_update().get(pk=result_id)
        c = selectors.result_progress(result)
        result.success_rate = round(100.0 * c["success"] / c["total"], 2) if c["total"] else 0.0
        if c["total"] and c["terminal"] == c["total"] and result.status not in TERMINAL:
            webhooks.result_completed(organization_id=result.organization_id, result_id=result.pk)
            if c["cancelled"] == c["total"]:
                result.status = Status.CANCELLED
            elif c["infra_failed"] == c["total"]:
                result.status = Status.FAILED
            else:
                result.status = Status.COMPLETED
        result.save(update_fields=["success_rate", "status", "updated_at"])
    return result


def result_cancel(*, result: Result) -> Result:
    """Cancel every run of the result: those not started end now (their credit comes back);
    those in a call are asked to hang up, which their worker does within a second or two,
    keeping what was recorded; those being scored end unscored."""
    for run in result.runs.filter(status__in=[Status.RUNNING, Status.EVALUATING]):
        run_request_cancel(run=run)
    lifecycle.runs_move(
        list(result.runs.filter(status__in=UNSTARTED).values_list("pk", flat=True)),
        Status.CANCELLED,
        sources=UNSTARTED,
        success=False,
        ended_reason=EndedReason.RUN_CANCELLED,
    )
    return result_refresh(result_id=result.pk)


def run_request_cancel(*, run: Run) -> Run:
    """End one run: not started → cancelled now; in a call → its worker hangs up; being scored
    → it ends cancelled, unscored, once its transcript is made."""
    if run.status in UNSTARTED:
        run_finish(
            run_id=run.pk,
            status=Status.CANCELLED,
            success=False,
            ended_reason=EndedReason.RUN_CANCELLED,
        )
    elif run.status in (Status.RUNNING, Status.EVALUATING):
        Run.objects.filter(pk=run.pk, cancel_requested_at__isnull=True).update(
            cancel_requested_at=timezone.now()
        )
    run.refresh_from_db()
    return run


def run_cancel_requested(*, run_id: int) -> bool:
    """Someone asked for this run to end."""
    return Run.objects.filter(pk=run_id, cancel_requested_at__isnull=False).exists()


def runs_heartbeat(*, run_ids: Iterable[int]) -> set[int]:
    """The worker holding these runs is alive: one update for all of them. Returns those whose
    cancellation was asked for."""
    ids = list(run_ids)
    Run.objects.filter(pk__in=ids, status__in=[Status.RUNNING, Status.EVALUATING]).update(
        heartbeat_at=timezone.now()
    )
    return set(
        Run.objects.filter(pk__in=ids, cancel_requested_at__isnull=False).values_list(
            "pk", flat=True
        )
    )


def pre_trigger_settled(delivery: WebhookDelivery) -> None:
    """A launch's pre-trigger webhook answered for good. Once every pre-trigger of the result is
    delivered, its first runs go; if one failed, the runs end `failed` with the reason (and
    their credits come back: no call was placed)."""
    if delivery.event != webhooks.RESULT_PRE_TRIGGER:
        return
    result_id = delivery.subject_id
    if delivery.state == WebhookDelivery.State.DELIVERED:
        pending = WebhookDelivery.objects.filter(
            organization_id=delivery.organization_id,
            idempotency_key=delivery.idempotency_key,
        ).exclude(state=WebhookDelivery.State.DELIVERED)
        if not pending.exists():
            result_dispatch(result_id=result_id)
        return
    why = delivery.error or "no answer"
    lifecycle.runs_move(
        list(
            Run.objects.filter(result_id=result_id, status=Status.PENDING).values_list(
                "pk", flat=True
            )
        ),
        Status.FAILED,
        sources={Status.PENDING},
        success=False,
        infrastructure=False,
        error_message=(
            f"the pre-trigger webhook did not accept the launch ({why}); no call was placed"
        ),
    )
    result_refresh(result_id=result_id)
