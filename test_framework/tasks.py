"""The seam between Django and the plain libraries: load rows, call agora_runner and
evaluators with dataclasses, write their results back through services.

No transaction is held open across the call, the session endpoint, ASR or an LLM: each
status change is its own short update.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection

from agora_runner.audio import stereo_wav
from agora_runner.errors import RunnerError
from agora_runner.runner import execute_call
from agora_runner.speech import get_asr, get_tts
from agora_runner.transcribe import transcribe_call, transcript_text
from agora_runner.types import (
    CALL_NOT_CONNECTED,
    PIPELINE_ERROR,
    RUN_CANCELLED,
    CallOutcome,
)
from evaluators import CallData
from evaluators.catalogue import score_call

from . import selectors, services
from .choices import Status
from .models import Run

log = logging.getLogger(__name__)


def _fail(run_id: int, message: str, ended_reason: str, *, infrastructure: bool, status: str = Status.FAILED, extra: dict[str, Any] | None = None) -> None:
    """A run that ended without a finished call. Its credit comes back: only calls that
    reached the agent are charged."""
    metadata = {"ended_reason": ended_reason, "infrastructure": infrastructure, **(extra or {})}
    services.run_finish(run_id=run_id, status=status, success=False, error_message=message, metadata=metadata, refund=True)


class Watchdog:
    """While a run is held: a heartbeat every few seconds (so the reaper knows the worker
    lives), and the hang-up signal when someone cancels the run."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stop = threading.Event()  # handed to the call: set → hang up now
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"run-{run_id}-watchdog", daemon=True)

    def _loop(self) -> None:
        try:
            while not self._done.is_set():
                try:
                    if services.run_heartbeat(run_id=self.run_id) and not self.stop.is_set():
                        log.info("run %s: cancellation asked for; hanging up", self.run_id)
                        self.stop.set()
                except Exception:  # the database blinked: try again on the next beat
                    log.warning("run %s: heartbeat failed", self.run_id, exc_info=True)
                self._done.wait(settings.RUN_HEARTBEAT_SECONDS)
        finally:
            connection.close()

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


@shared_task(name="test_framework.run_execute", acks_late=True, ignore_result=True)
def run_execute(run_id: int) -> None:
    """Hold one simulated call and score it. Safe to deliver twice: the claim decides."""
    if not services.run_claim(run_id=run_id):
        log.info("run %s: not claimable (already taken or ended)", run_id)
        return
    try:
        with Watchdog(run_id) as watchdog:
            _execute(run_id, watchdog.stop)
    except SoftTimeLimitExceeded:
        _fail(run_id, "the run exceeded its time limit", PIPELINE_ERROR, infrastructure=True, status=Status.TIMEOUT)
    except RunnerError as exc:
        infra = exc.ended_reason == PIPELINE_ERROR
        _fail(run_id, exc.message, exc.ended_reason, infrastructure=infra)
    except Exception as exc:
        # The message names the exception class only: a repr could carry join details.
        log.exception("run %s: internal error", run_id)
        _fail(run_id, f"internal error in the testing agent ({exc.__class__.__name__})", PIPELINE_ERROR, infrastructure=True)


@shared_task(name="test_framework.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> int:
    """Periodic (Celery beat): end runs whose worker vanished mid-call."""
    return len(services.runs_reap(stale_after_seconds=settings.RUN_STALE_AFTER_SECONDS))


def _execute(run_id: int, stop: threading.Event | None = None) -> None:
    run = Run.objects.select_related("agent", "scenario").get(pk=run_id)
    try:
        spec = selectors.run_call_spec(run=run)
    except LookupError as exc:
        _fail(run_id, str(exc), PIPELINE_ERROR, infrastructure=False)
        return
    log.info("run %s: calling session endpoint and joining", run_id)
    asr = get_asr(settings.ASR_BACKEND, settings.ASR_THREADS, settings.WHISPER_CHECKPOINT)
    outcome = execute_call(spec, tts=get_tts(), asr=asr, stop=stop)
    meta = _metadata(outcome, run.seed)
    if not outcome.connected or outcome.ended_reason == CALL_NOT_CONNECTED:
        _fail(run_id, outcome.error or "the call did not connect", outcome.ended_reason, infrastructure=False, extra=meta)
        return
    services.run_mark_evaluating(run_id=run_id)
    assert outcome.recording is not None
    turns = transcribe_call(outcome.recording, outcome.caller_utterances, asr)
    transcript_object = [t.as_dict() for t in turns]
    # What every call that happened keeps: its recording, transcript and timeline.
    recorded: dict[str, Any] = {
        "error_message": outcome.error or "",
        "metadata": meta,
        "transcript": transcript_text(turns),
        "transcript_object": transcript_object,
        "duration_seconds": round(outcome.recording.duration_seconds, 2),
        "recording_wav": stereo_wav(outcome.recording.caller, outcome.recording.agent),
    }
    if outcome.ended_reason == RUN_CANCELLED:
        # Hung up on request: a cut-short call is not scored.
        services.run_finish(run_id=run_id, status=Status.CANCELLED, success=False, **recorded)
        log.info("run %s: cancelled during the call", run_id)
        return
    call = CallData(
        sample_rate=outcome.recording.sample_rate,
        caller=outcome.recording.caller,
        agent=outcome.recording.agent,
        transcript=transcript_object,
        caller_utterances=outcome.caller_utterances,
        timeline=meta["timeline"],
        expected_outcome_prompt=run.expected_outcome_prompt,
        ended_reason=outcome.ended_reason,
    )
    expected, metrics, success = score_call(call, llm=selectors.llm_config(), custom_metrics=selectors.run_custom_metrics(run))
    services.run_finish(
        run_id=run_id,
        status=Status.COMPLETED,
        success=success,
        evaluation={"metrics": [m.as_dict() for m in metrics]},
        expected_outcome=services.expected_outcome_dict(expected),
        **recorded,
    )
    log.info("run %s: completed (%s)", run_id, outcome.ended_reason)


def _metadata(outcome: CallOutcome, seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "ended_reason": outcome.ended_reason,
        "infrastructure": False,
        "transport": outcome.transport,
        "agent_uid": outcome.agent_uid,
        "other_uids": outcome.other_uids,
        "caller_utterances": outcome.caller_utterances,
        "timeline": [asdict(e) for e in outcome.timeline],
    }
