"""Scoring stored calls again with the current metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from cekura.errors import InvalidInput

from .. import assembly, dispatch, selectors
from ..choices import Status
from ..models import Result, Run
from .runs import result_refresh

log = logging.getLogger(__name__)


def expected_outcome_dict(expected: Any) -> dict[str, Any]:
    """A run's `expected_outcome` field from the Expected Outcome metric."""
    return {"score": expected.score, "passed": expected.passed, "explanation": expected.explanation}


def result_reevaluate(
    *, result: Result, progress: Callable[[int, int], None] | None = None
) -> tuple[Result, int]:
    """Score every completed run of the result again from its stored recording, transcript
    and timeline with the current metrics — no new call. Returns (result, runs re-scored).
    `progress(done, total)` is told after each run."""
    from evaluators.catalogue import score_call

    scored = 0
    llm = assembly.llm_config()
    runs = list(result.runs.filter(status=Status.COMPLETED).select_related("scenario"))
    for done, run in enumerate(runs, start=1):
        if _rescore_run(run, llm, score_call):
            scored += 1
        if progress is not None:
            progress(done, len(runs))
    return result_refresh(result_id=result.pk), scored


def _rescore_run(run: Run, llm: Any, score_call: Callable[..., Any]) -> bool:
    if not run.recording:
        return False
    scenario = selectors.run_scenario(run)
    prompt = scenario.expected_outcome_prompt if scenario else run.expected_outcome_prompt
    try:
        call = assembly.run_call_data(
            run, transcript=list(run.transcript_object or []), expected_outcome_prompt=prompt
        )
    except (OSError, ValueError):
        log.warning("run %s: recording unreadable, not re-scored", run.pk)
        return False
    expected, metrics, success = score_call(
        call, llm=llm, custom_metrics=assembly.run_custom_metrics(run)
    )
    Run.objects.filter(pk=run.pk).update(
        evaluation={"metrics": [m.as_dict() for m in metrics]},
        expected_outcome=expected_outcome_dict(expected),
        expected_outcome_prompt=call.expected_outcome_prompt,
        success=success,
        updated_at=timezone.now(),
    )
    return True


RESCORE_UNDER_WAY = ("queued", "running")


def result_rescore_request(*, result: Result) -> Result:
    """Ask for the result's stored calls to be scored again, in the background (the
    post-processing queue). One re-score at a time per result: asking again while one is under
    way changes nothing. Raises InvalidInput when no call of it can be re-scored."""
    total = result.runs.filter(status=Status.COMPLETED).count()
    if not total:
        raise InvalidInput("This result has no completed call to score again.", field="result")
    claimed = (
        Result.objects.filter(pk=result.pk)
        .exclude(rescore_state__in=RESCORE_UNDER_WAY)
        .update(
            rescore_state="queued",
            rescore_done=0,
            rescore_total=total,
            rescore_error="",
            rescore_requested_at=timezone.now(),
        )
    )
    if claimed:
        try:
            dispatch.send_rescore(result.pk)
        except Exception as exc:  # the broker refused: say so rather than stay queued
            Result.objects.filter(pk=result.pk).update(
                rescore_state="failed",
                rescore_error=f"could not be queued ({exc.__class__.__name__}); is the broker "
                "running?",
            )
    result.refresh_from_db()
    return result


def result_rescore(*, result_id: int) -> None:
    """The background re-score (the task's body): the runs one by one, its progress written
    after each, ending `done` or `failed` with the reason."""
    result = Result.objects.filter(pk=result_id).first()
    if result is None:
        return
    if not Result.objects.filter(pk=result_id, rescore_state="queued").update(
        rescore_state="running"
    ):
        return  # delivered twice, or already ended: the first delivery does the work

    def progress(done: int, total: int) -> None:
        Result.objects.filter(pk=result_id).update(rescore_done=done, rescore_total=total)

    try:
        result_reevaluate(result=result, progress=progress)
    except Exception as exc:
        log.exception("result %s: re-score failed", result_id)
        Result.objects.filter(pk=result_id).update(
            rescore_state="failed",
            rescore_error=(
                f"re-scoring failed ({exc.__class__.__name__}); the worker's log says why"
            ),
        )
        return
    Result.objects.filter(pk=result_id).update(rescore_state="done")


def rescores_overdue(*, after_seconds: float) -> list[int]:
    """Re-scores asked for longer ago than `after_seconds` and not finished (their worker or
    message was lost): ended `failed`, so none stays under way for ever."""
    cutoff = timezone.now() - timedelta(seconds=after_seconds)
    stuck = list(
        Result.objects.filter(
            rescore_state__in=RESCORE_UNDER_WAY, rescore_requested_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    Result.objects.filter(pk__in=stuck, rescore_state__in=RESCORE_UNDER_WAY).update(
        rescore_state="failed",
        rescore_error="the re-score did not finish in time (its worker stopped); ask again",
    )
    return stuck
