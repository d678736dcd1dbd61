"""Scoring stored calls again with the current metrics."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from .. import assembly, selectors
from ..choices import Status
from ..models import Result, Run
from .runs import result_refresh

log = logging.getLogger(__name__)


def expected_outcome_dict(expected: Any) -> dict[str, Any]:
    """A run's `expected_outcome` field from the Expected Outcome metric."""
    return {"score": expected.score, "passed": expected.passed, "explanation": expected.explanation}


def result_reevaluate(*, result: Result) -> tuple[Result, int]:
    """Score every completed run of the result again from its stored recording, transcript
    and timeline with the current metrics — no new call. Returns (result, runs re-scored)."""
    from evaluators.catalogue import score_call

    scored = 0
    llm = assembly.llm_config()
    for run in result.runs.filter(status=Status.COMPLETED).select_related("scenario"):
        if not run.recording:
            continue
        scenario = selectors.run_scenario(run)
        prompt = scenario.expected_outcome_prompt if scenario else run.expected_outcome_prompt
        try:
            call = assembly.run_call_data(
                run, transcript=list(run.transcript_object or []), expected_outcome_prompt=prompt
            )
        except (OSError, ValueError):
            log.warning("run %s: recording unreadable, not re-scored", run.pk)
            continue
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
        scored += 1
    return result_refresh(result_id=result.pk), scored
