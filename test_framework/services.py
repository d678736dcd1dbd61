"""Use cases. Services write; selectors read. Every status move checks the current status."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from agora_runner.types import PIPELINE_ERROR, RUN_CANCELLED
from cekura.accounts.models import Organization
from cekura.accounts.services import credits_debit, credits_refund
from cekura.errors import InsufficientBalance, InvalidInput

from . import limits
from .choices import IN_CALL, TERMINAL, Status
from .models import AIAgent, Metric, Personality, Result, Run, Scenario, ShareLink
from .selectors import share_token_digest
from .specs import MAX_SPEC_BYTES, Plan, slug_of, spec_from_text, spec_plan

log = logging.getLogger(__name__)

# Publishing retries for about ten seconds (a broker restarting) before a run is given up on.
BROKER_RETRY = {"max_retries": 8, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2.0}

POST_ATTEMPTS = 3  # post-processing is handed out at most this many times

MSG_NO_AGORA = (
    "Agent must have Agora credentials configured (agora_data with session_endpoint_url)."
)
MSG_NO_URL = "Agent agora_data must include session_endpoint_url."
MSG_BAD_SCENARIOS = "Invalid scenario IDs or scenarios not found"


def agent_check_agora(*, agent: AIAgent) -> None:
    """The spec's two errors for an agent that cannot be called over Agora."""
    data = agent.agora_data
    if not isinstance(data, dict) or not data:
        raise InvalidInput(MSG_NO_AGORA, field="agent")
    if not str(data.get("session_endpoint_url") or "").strip():
        raise InvalidInput(MSG_NO_URL, field="agent")
    if not str(data.get("client_id") or "").strip() or not agent.agora_api_key:
        raise InvalidInput(MSG_NO_AGORA, field="agent")


def agent_test_endpoint(*, agent: AIAgent) -> Any:
    """Call the agent's session endpoint once, as a run would, and check what it answers
    (agora_runner.checker.Report: findings in plain words; nothing is stored)."""
    from agora_runner.checker import check_endpoint

    from .selectors import agent_endpoint_config

    agent_check_agora(agent=agent)
    config, join_uid = agent_endpoint_config(agent)
    return check_endpoint(
        config,
        join_uid=join_uid,
        local_app_ids=tuple(settings.LOCAL_CHANNEL_APP_IDS),
        local_address=settings.LOCAL_CHANNEL_ADDRESS,
    )


def result_launch_selected(
    *,
    organization: Organization,
    agent_id: int | None,
    scenario_ids: list[int] | None = None,
    first_n: int | None = None,
    frequency: int = 1,
    name: str = "",
    concurrency_limit: int | None = None,
    personality_ids: list[int] | None = None,
    any_agents_scenarios: bool = False,
) -> Result:
    """Launch from ids, as the API and the dashboard receive them: the agent (or the one agent
    of the chosen scenarios), the scenarios (ids, the first N, or all), the personalities.

    `any_agents_scenarios`: scenario ids may belong to another agent of the organization
    (`run_scenarios`: a catalog agent's scenarios run against the agent under test)."""
    from . import selectors

    if scenario_ids is None and agent_id is None:
        raise InvalidInput(
            'agent_id is required when scenarios is a number or "all".', field="agent_id"
        )
    agent = None
    if agent_id is not None:
        agent = agent_get(organization=organization, agent_id=agent_id)
    scenarios = selectors.scenarios_for_launch(
        organization=organization,
        agent=agent,
        ids=scenario_ids,
        first_n=first_n,
        of_agent_only=not any_agents_scenarios,
    )
    if not scenarios:
        raise InvalidInput(MSG_BAD_SCENARIOS, field="scenarios")
    if agent is None:
        if len({s.agent_id for s in scenarios}) != 1:
            raise InvalidInput("All scenarios must belong to the same agent.", field="scenarios")
        agent = scenarios[0].agent
    personalities = None
    if personality_ids:
        personalities = selectors.personalities_for_launch(
            organization=organization, ids=personality_ids
        )
        if personalities is None:
            raise InvalidInput(
                "Invalid personality IDs or personalities not found", field="personality_ids"
            )
    return result_launch(
        organization=organization,
        agent=agent,
        scenarios=scenarios,
        frequency=frequency,
        name=name,
        concurrency_limit=concurrency_limit,
        personalities=personalities,
    )


def agent_get(*, organization: Organization, agent_id: int) -> AIAgent:
    agent = AIAgent.objects.filter(organization=organization, pk=agent_id).first()
    if agent is None:
        raise InvalidInput("Agent not found.", field="agent_id")
    return agent


def result_launch(
    *,
    organization: Organization,
    agent: AIAgent,
    scenarios: Sequence[Scenario],
    frequency: int = 1,
    name: str = "",
    concurrency_limit: int | None = None,
    personalities: Sequence[Personality] | None = None,
) -> Result:
    """Create a Result and one Run per scenario × personality × frequency, debit credits,
    and enqueue.

    All in one transaction: a short balance or any error leaves nothing behind. Tasks are
    handed to the broker only once the rows are committed.
    """
    agent_check_agora(agent=agent)
    if not scenarios:
        raise InvalidInput(MSG_BAD_SCENARIOS, field="scenarios")
    if frequency < 1:
        raise InvalidInput("Ensure this value is greater than or equal to 1.", field="frequency")
    per_scenario: list[Personality | None] = list(personalities) if personalities else [None]
    count = len(scenarios) * len(per_scenario) * frequency
    if count > limits.RUNS_PER_LAUNCH:  # before building them
        raise InvalidInput(limits.too_many_runs(count), field="frequency")
    runs = [
        Run(
            scenario=scenario,
            personality=personality,
            expected_outcome_prompt=scenario.expected_outcome_prompt,
        )
        for _ in range(frequency)
        for scenario in scenarios
        for personality in per_scenario
    ]
    return _result_create(
        organization=organization,
        agent=agent,
        runs=runs,
        name=name,
        frequency=frequency,
        concurrency_limit=concurrency_limit,
    )


def result_launch_spec(
    *, organization: Organization, plan: Plan, name: str = "", frequency: int = 1
) -> Result:
    """Launch a spec file's plan (test_framework.specs.spec_plan): each case's runs keep a
    snapshot of the case and its key; nothing becomes a stored scenario or personality.
    Runs are interleaved by repetition, so the first run of every case comes first."""
    agent_check_agora(agent=plan.agent)
    runs = [
        Run(
            case=case.snapshot,
            scenario_key=case.key,
            personality_id=case.personality.id,
            expected_outcome_prompt=str(case.snapshot["expected_outcome"]),
        )
        for repetition in range(max(c.frequency for c in plan.cases))
        for case in plan.cases
        if repetition < case.frequency
    ]
    return _result_create(
        organization=organization,
        agent=plan.agent,
        runs=runs,
        name=name or plan.suite_name,
        frequency=frequency,
        concurrency_limit=plan.concurrency_limit,
    )


def _result_create(
    *,
    organization: Organization,
    agent: AIAgent,
    runs: list[Run],
    name: str,
    frequency: int,
    concurrency_limit: int | None,
) -> Result:
    """The Result and its (unsaved) runs, stored with the debit in one transaction; the first
    runs are enqueued once it commits."""
    if concurrency_limit is not None and concurrency_limit < 1:
        raise InvalidInput(
            "Ensure this value is greater than or equal to 1.", field="concurrency_limit"
        )
    if len(runs) > limits.RUNS_PER_LAUNCH:
        raise InvalidInput(limits.too_many_runs(len(runs)), field="frequency")
    with transaction.atomic():
        credits_debit(organization_id=organization.pk, amount=len(runs) * settings.CREDITS_PER_RUN)
        result = Result.objects.create(
            organization=organization,
            agent=agent,
            agent_name=agent.agent_name,
            name=name or f"Agora run {timezone.now():%Y-%m-%d %H:%M:%S}",
            status=Status.IN_PROGRESS,
            frequency=frequency,
            concurrency_limit=concurrency_limit,
        )
        for run in runs:
            run.organization, run.result, run.agent = organization, result, agent
            run.evaluation = {"metrics": []}
        Run.objects.bulk_create(runs)
        result_dispatch(result_id=result.pk)
    return result


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
        Run.objects.filter(id__in=ids, status=Status.PENDING).update(
            status=Status.IN_QUEUE, updated_at=timezone.now()
        )
        transaction.on_commit(lambda: _enqueue(ids))
    return ids


def call_time_limit(max_duration: float) -> float:
    """Seconds a run's call task may take (Celery's soft limit on prefork; enforced by the
    waiting thread on the shared loop): the call's own limit and time to set it up and store it."""
    return max_duration + settings.RUN_TASK_OVERHEAD_SECONDS


def _enqueue(run_ids: list[int], *, countdown: float = 0) -> None:
    """Hand runs to the broker (after `countdown` seconds). A run the broker would not take
    ends `failed` at once with the reason, rather than waiting in `in_queue` for a task that
    will never come."""
    from .selectors import run_scenario
    from .tasks import run_execute

    for run_id in run_ids:
        run = Run.objects.select_related("scenario").filter(pk=run_id).first()
        scenario = run_scenario(run) if run else None
        max_duration = (
            scenario.max_duration if scenario else None
        ) or settings.DEFAULT_MAX_DURATION_SECONDS
        soft = call_time_limit(max_duration)
        try:
            run_execute.apply_async(
                args=[run_id],
                queue=settings.CELERY_CALLS_QUEUE,
                soft_time_limit=soft,
                time_limit=soft + 60,
                retry=True,
                retry_policy=BROKER_RETRY,
                countdown=countdown or None,
            )
        except Exception as exc:  # kombu raises many kinds; every one means "not queued"
            log.error("run %s: could not be queued (%s)", run_id, exc.__class__.__name__)
            run_finish(
                run_id=run_id,
                status=Status.FAILED,
                success=False,
                error_message=f"the run could not be handed to the worker queue ({exc.__class__.__name__}); is the broker running?",  # noqa: E501
                metadata={"ended_reason": "Testing agent-pipeline-error", "infrastructure": True},
            )


def run_defer(*, run_id: int, seconds: float) -> bool:
    """Offer a queued run to the workers again in `seconds` (its organization has as many runs
    connecting on this worker as it may: test_framework.fairness). The run stays `in_queue`;
    its updated_at is touched so the reaper does not take it for lost meanwhile. False when the
    run is no longer queued (cancelled, or taken)."""
    if not Run.objects.filter(pk=run_id, status=Status.IN_QUEUE).update(updated_at=timezone.now()):
        return False
    _enqueue([run_id], countdown=seconds)
    return True


def run_claim(*, run_id: int, machine: str = "") -> bool:
    """Compare-and-set in_queue → running. Only one worker can win; a redelivered task
    finds the run already claimed and does nothing."""
    now = timezone.now()
    with transaction.atomic():
        won = Run.objects.filter(pk=run_id, status=Status.IN_QUEUE).update(
            status=Status.RUNNING, executed_at=now, updated_at=now, machine=machine[:64]
        )
    if won:
        Run.objects.filter(pk=run_id).update(attempts=F("attempts") + 1)
    return won == 1


def run_mark_joining(*, run_id: int) -> None:
    """The run's call is joining the channel: from now on it is a live call on its machine."""
    Run.objects.filter(pk=run_id, status=Status.RUNNING).update(call_started_at=timezone.now())


def calls_live_on(*, machine: str, fresh_seconds: float) -> int:
    """Calls in progress on this machine whose worker is alive (a beat within fresh_seconds).
    A run still synthesising its lines or calling its session endpoint is not one."""
    cutoff = timezone.now() - timedelta(seconds=fresh_seconds)
    return (
        Run.objects.filter(status=Status.RUNNING, machine=machine, call_started_at__isnull=False)
        .filter(Q(heartbeat_at__gte=cutoff) | Q(heartbeat_at__isnull=True, executed_at__gte=cutoff))
        .count()
    )


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
    with transaction.atomic():
        moved = (
            Run.objects.filter(pk=run_id, status=Status.RUNNING).update(
                status=Status.EVALUATING,
                recording=name,
                metadata=metadata,
                duration_seconds=duration_seconds,
                error_message=error_message[:2000],
                heartbeat_at=now,
                updated_at=now,
            )
            == 1
        )
    if moved:
        result_dispatch(result_id=run.result_id)
    return moved


def run_enqueue_postprocess(*, run_id: int) -> None:
    """Hand a stored call to the post-processing queue (ASR, metrics). If the broker will not
    take it, the run stays `evaluating` with its recording kept and the reaper hands it over
    again once the broker is back."""
    from .tasks import run_postprocess

    try:
        run_postprocess.apply_async(
            args=[run_id],
            queue=settings.CELERY_POST_QUEUE,
            retry=True,
            retry_policy=BROKER_RETRY,
            soft_time_limit=settings.RUN_POST_TIME_LIMIT_SECONDS,
            time_limit=settings.RUN_POST_TIME_LIMIT_SECONDS + 60,
        )
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
    refund: bool = False,
) -> bool:
    """End a run in a terminal status, once. Returns False if it had already ended.

    `refund`: the run's credit goes back to the organization (in the same transaction as the
    status change, so a run is refunded at most once): see `credit_policy` in the README.
    """
    assert status in TERMINAL, status
    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status in TERMINAL:
        return False
    fields: dict[str, Any] = {
        "status": status,
        "success": success,
        "error_message": error_message[:2000],
        "finished_at": timezone.now(),
        "updated_at": timezone.now(),
    }
    if metadata is not None:
        fields["metadata"] = metadata
    if transcript_object is not None:
        fields["transcript"] = transcript
        fields["transcript_object"] = transcript_object
    if evaluation is not None:
        fields["evaluation"] = evaluation
    if expected_outcome is not None:
        fields["expected_outcome"] = expected_outcome
    if refund:
        fields["metadata"] = {
            **(fields.get("metadata") or run.metadata or {}),
            "credit_refunded": True,
        }
    with transaction.atomic():
        done = Run.objects.filter(pk=run_id).exclude(status__in=TERMINAL).update(**fields) == 1
        if done and refund:
            credits_refund(organization_id=run.organization_id, amount=settings.CREDITS_PER_RUN)
    if done:
        result_after_run(result_id=run.result_id)
    return done


def result_after_run(*, result_id: int) -> None:
    """A run ended: start the next pending one, and settle the result if it was the last."""
    result_dispatch(result_id=result_id)
    result_refresh(result_id=result_id)


def result_counts(result: Result) -> dict[str, Any]:
    agg = result.runs.aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(status=Status.COMPLETED)),
        success=Count("id", filter=Q(success=True)),
        terminal=Count("id", filter=Q(status__in=TERMINAL)),
        cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
        infra_failed=Count(
            "id",
            filter=Q(status__in=[Status.FAILED, Status.TIMEOUT], metadata__infrastructure=True),
        ),
        duration=Sum("duration_seconds"),
    )
    # failed_runs_count: every ended run that did not succeed (failed, timed out, cancelled,
    # or completed with a failing evaluation), so CI can compare it with zero.
    agg["failed"] = agg["terminal"] - agg["success"]
    return agg


def result_refresh(*, result_id: int) -> Result:
    """Recompute success_rate; set the final status once every run has ended.

    A result is `failed` only when every run failed on our side (infrastructure), never
    for failed metrics; `cancelled` when every run was cancelled; otherwise `completed`.
    """
    with transaction.atomic():
        result = Result.objects.select_for_update().get(pk=result_id)
        c = result_counts(result)
        result.success_rate = round(100.0 * c["success"] / c["total"], 2) if c["total"] else 0.0
        if c["total"] and c["terminal"] == c["total"] and result.status not in TERMINAL:
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
    now = timezone.now()
    with transaction.atomic():
        unstarted = list(
            result.runs.select_for_update()
            .filter(status__in=[Status.PENDING, Status.IN_QUEUE])
            .values_list("pk", flat=True)
        )
        if unstarted:
            Run.objects.filter(pk__in=unstarted).update(
                status=Status.CANCELLED,
                finished_at=now,
                updated_at=now,
                metadata={"ended_reason": RUN_CANCELLED, "credit_refunded": True},
            )
            credits_refund(
                organization_id=result.organization_id,
                amount=len(unstarted) * settings.CREDITS_PER_RUN,
            )
    return result_refresh(result_id=result.pk)


def run_request_cancel(*, run: Run) -> Run:
    """End one run: not started → cancelled now; in a call → its worker hangs up; being scored
    → it ends cancelled, unscored, once its transcript is made."""
    if run.status in (Status.PENDING, Status.IN_QUEUE):
        run_finish(
            run_id=run.pk,
            status=Status.CANCELLED,
            success=False,
            metadata={"ended_reason": RUN_CANCELLED},
            refund=True,
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


def run_heartbeat(*, run_id: int) -> bool:
    """The worker holding the run is alive. Returns True when a cancellation was asked for."""
    Run.objects.filter(pk=run_id, status__in=[Status.RUNNING, Status.EVALUATING]).update(
        heartbeat_at=timezone.now()
    )
    return run_cancel_requested(run_id=run_id)


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
        meta = dict(run.metadata or {})
        stored = run.status == Status.EVALUATING and bool(run.recording)
        if stored and post_depth == -1:
            from cekura.queues import queue_depth

            post_depth = queue_depth(settings.CELERY_POST_QUEUE)
            if post_depth != 0:
                log.info(
                    "reaper: %s message(s) wait in the post-processing queue; stored calls are "
                    "left to it",
                    post_depth,
                )
        if stored and post_depth != 0:
            continue
        if stored and meta.get("post_attempts", 0) + 1 < POST_ATTEMPTS:
            meta["post_attempts"] = meta.get("post_attempts", 0) + 1
            if Run.objects.filter(
                pk=run.pk, status=Status.EVALUATING, heartbeat_at=run.heartbeat_at
            ).update(metadata=meta, heartbeat_at=timezone.now(), updated_at=timezone.now()):
                log.warning(
                    "run %s: post-processing worker vanished; handing it out again (attempt %s)",
                    run.pk,
                    meta["post_attempts"] + 1,
                )
                run_enqueue_postprocess(run_id=run.pk)
                touched.append(run.pk)
            continue
        message = (
            f"the worker holding this run stopped (no heartbeat for {stale_after_seconds:g} s); "
            "the run was ended by the reaper"
        )
        refund = run.status == Status.RUNNING  # a call that was recorded is charged
        meta.update({"infrastructure": True, "reaped": True})
        if refund:
            meta["ended_reason"] = PIPELINE_ERROR
        if run_finish(
            run_id=run.pk,
            status=Status.FAILED,
            success=False,
            error_message=message,
            metadata=meta,
            refund=refund,
        ):
            log.warning("run %s: reaped (worker vanished)", run.pk)
            touched.append(run.pk)
    return touched


def runs_requeue_lost(*, queued_for_seconds: float) -> list[int]:
    """Hand runs that have waited in `in_queue` for `queued_for_seconds` to the broker again,
    when the calls queue is empty: their message was lost (a broker restarted without
    persistence). A duplicate is harmless; the claim lets one through."""
    from cekura.queues import queue_depth

    if queue_depth(settings.CELERY_CALLS_QUEUE) != 0:
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
        _enqueue(ids)
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


def expected_outcome_dict(expected: Any) -> dict[str, Any]:
    """A run's `expected_outcome` field from the Expected Outcome metric."""
    return {"score": expected.score, "passed": expected.passed, "explanation": expected.explanation}


def result_reevaluate(*, result: Result) -> tuple[Result, int]:
    """Score every completed run of the result again from its stored recording, transcript
    and timeline with the current metrics — no new call. Returns (result, runs re-scored)."""
    from evaluators.catalogue import score_call

    from .selectors import llm_config, run_call_data, run_custom_metrics, run_scenario

    scored = 0
    llm = llm_config()
    for run in result.runs.filter(status=Status.COMPLETED).select_related("scenario"):
        if not run.recording:
            continue
        scenario = run_scenario(run)
        prompt = scenario.expected_outcome_prompt if scenario else run.expected_outcome_prompt
        try:
            call = run_call_data(
                run, transcript=list(run.transcript_object or []), expected_outcome_prompt=prompt
            )
        except (OSError, ValueError):
            log.warning("run %s: recording unreadable, not re-scored", run.pk)
            continue
        expected, metrics, success = score_call(
            call, llm=llm, custom_metrics=run_custom_metrics(run)
        )
        Run.objects.filter(pk=run.pk).update(
            evaluation={"metrics": [m.as_dict() for m in metrics]},
            expected_outcome=expected_outcome_dict(expected),
            expected_outcome_prompt=call.expected_outcome_prompt,
            success=success,
            updated_at=timezone.now(),
        )
        scored += 1
    return result_refresh(result_id=result.pk), scored


def metric_slug_taken(
    *, organization: Organization, slug: str, exclude_pk: int | None = None
) -> bool:
    taken = Metric.objects.filter(organization=organization, slug=slug)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    return taken.exists()


def metric_slug_new(*, organization: Organization, name: str, exclude_pk: int | None = None) -> str:
    """A slug for a metric named `name`: from the name, made unique in the organization."""
    base = slug_of(name) or "metric"
    slug, n = base, 2
    while metric_slug_taken(organization=organization, slug=slug, exclude_pk=exclude_pk):
        slug, n = f"{base}_{n}", n + 1
    return slug


def spec_plan_for(
    *,
    organization: Organization,
    agent_id: int,
    spec: Any = None,
    file: Any = None,
    channel: str = "voice",
    frequency: int = 1,
    concurrency_limit: int | None = None,
) -> Plan:
    """A spec file read against one of the organization's agents, as run_scenarios_json and
    validate_scenarios_json receive it (`spec`: an object, or JSON text; `file`: an upload).
    Raises InvalidFields with every problem; creates nothing, checks no balance."""
    agent = agent_get(organization=organization, agent_id=agent_id)
    agent_check_agora(agent=agent)
    if file is not None:
        spec = spec_from_text(file.read(MAX_SPEC_BYTES + 1), field="file")
    elif isinstance(spec, str):
        spec = spec_from_text(spec, field="spec")
    return spec_plan(
        organization=organization,
        agent=agent,
        spec=spec,
        channel=channel,
        frequency=frequency,
        concurrency_limit=concurrency_limit,
    )


def result_launch_spec_checked(
    *,
    organization: Organization,
    plan: Plan,
    name: str = "",
    frequency: int = 1,
    dry_run: bool = False,
) -> Result | None:
    """run_scenarios_json: launch the plan, or with `dry_run` only check that it could be
    launched now (the balance too), creating nothing."""
    if dry_run:
        organization.refresh_from_db(fields=["credits"])
        if organization.credits < plan.estimated_cost:
            raise InsufficientBalance()
        return None
    return result_launch_spec(organization=organization, plan=plan, name=name, frequency=frequency)


SHARE_LINK_DEFAULT_DAYS = 7


def share_link_create(
    *, organization: Organization, results: Sequence[Result], name: str = "", expire_at: Any = ...
) -> tuple[ShareLink, str]:
    """A link anyone can open to read `results` until `expire_at` (default: in 7 days; None:
    until revoked). Returns the link and its token, which is shown once: only its digest is
    kept."""
    if expire_at is ...:
        expire_at = timezone.now() + timedelta(days=SHARE_LINK_DEFAULT_DAYS)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ShareLink.objects.create(
            organization=organization,
            name=name[:200],
            digest=share_token_digest(token),
            expire_at=expire_at,
        )
        link.results.set(results)
    log.info("share link %s created for result(s) %s", link.pk, [r.pk for r in results])
    return link, token


def share_link_revoke(*, link: ShareLink) -> ShareLink:
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db()
    return link
