"""The two steps of a run, as plain functions: holding the call (`execute_run`) and
post-processing the stored call (`postprocess_run`). The seam between Django and the plain
libraries: load rows, call agora_runner and evaluators with dataclasses, write their results
back through services. The runner, the ASR and the scorer are arguments (a test hands a fake
runner returning a recorded call); the Celery tasks (test_framework.tasks) call these.

No transaction is held open across the call, the session endpoint, ASR or an LLM: each
status change is its own short update.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agora_runner.cpu import machine_id
from agora_runner.errors import RunCancelled, RunnerError
from agora_runner.hearing import get_hearing
from agora_runner.host import CallTimeLimit
from agora_runner.runner import execute_call
from agora_runner.speech import get_asr, get_tts
from agora_runner.synthesis import get_synthesis
from agora_runner.transcribe import transcribe_call, transcript_text
from agora_runner.types import CallOutcome, CallRecording, CallSpec
from cekura.dbretry import with_db_retry
from cekura.logcontext import bound
from common.vocabulary import EndedReason
from common.wav import stereo_wav
from evaluators.catalogue import score_call

from . import assembly, postslots, services
from .choices import Status
from .fairness import CONNECTING, Pass
from .models import Run

log = logging.getLogger(__name__)


def _fail(
    run_id: int,
    message: str,
    ended_reason: str,
    *,
    infrastructure: bool,
    status: str = Status.FAILED,
    extra: dict[str, Any] | None = None,
) -> None:
    """A run whose call did not finish: it ends with the reason (its credit comes back by the
    lifecycle's rule: no call was stored). `extra`: what is known of the call, if anything."""
    with_db_retry(
        lambda: services.run_finish(
            run_id=run_id,
            status=status,
            success=False,
            error_message=message,
            metadata=extra or {},
            ended_reason=ended_reason,
            infrastructure=infrastructure,
        ),
        what=f"run {run_id}: ending",
    )


def _fail_post(run_id: int, message: str, *, status: str = Status.FAILED) -> None:
    """A stored call whose scoring failed: it ends with the reason, its recording, timeline
    and how the call ended kept (it is charged: the call happened)."""
    with_db_retry(
        lambda: services.run_finish(
            run_id=run_id,
            status=status,
            success=False,
            error_message=message,
            infrastructure=True,
            post_processing_failed=True,
        ),
        what=f"run {run_id}: ending",
    )


class Heartbeats:
    """The heartbeats of every run this process holds, from one thread: every
    RUN_HEARTBEAT_SECONDS one update for all of them (so the reaper knows the worker lives) and
    one query for those someone cancelled, whose hang-up signal it sets. A calls worker holds
    twenty calls at a time; a thread, a database connection and two queries a second for each
    were twenty threads taking the GIL from the calls' pacing. The thread ends when the process
    holds no run, and starts again with the next (also in a forked child)."""

    def __init__(self) -> None:
        self._held: dict[int, threading.Event] = {}  # run → its hang-up signal
        self._holders: dict[int, int] = {}  # run → how many hold it (a call, then its post)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, run_id: int) -> threading.Event:
        """Beat for this run from now on (the first beat at once). Returns its hang-up signal,
        the same one to every holder of the run."""
        with self._lock:
            stop = self._held.setdefault(run_id, threading.Event())
            self._holders[run_id] = self._holders.get(run_id, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="run-heartbeats", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return stop

    def release(self, run_id: int) -> None:
        """One holder is done with the run; the beats stop when the last one is."""
        with self._lock:
            left = self._holders.get(run_id, 0) - 1
            if left > 0:
                self._holders[run_id] = left
            else:
                self._holders.pop(run_id, None)
                self._held.pop(run_id, None)

    def _loop(self) -> None:
        try:
            while True:
                self._wake.clear()  # a run held from here on wakes the wait below
                with self._lock:
                    held = dict(self._held)
                    if not held:
                        self._thread = None
                        return
                self._beat(held)
                self._wake.wait(settings.RUN_HEARTBEAT_SECONDS)
        finally:
            connection.close()

    def _beat(self, held: dict[int, threading.Event]) -> None:
        try:
            cancelled = services.runs_heartbeat(run_ids=held)
        except Exception as exc:  # the database blinked: a fresh session on the next beat
            log.warning(
                "heartbeat of runs %s failed (%s)",
                ", ".join(map(str, sorted(held))),
                exc.__class__.__name__,
            )
            connection.close()
            return
        for run_id in cancelled:
            stop = held[run_id]
            if not stop.is_set():
                log.info("run %s: cancellation asked for; hanging up", run_id)
                stop.set()


HEARTBEATS = Heartbeats()


class Watchdog:
    """While a run is held: its heartbeat (HEARTBEATS), and `stop`, the hang-up signal set
    when someone cancels the run."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stop = threading.Event()

    def __enter__(self) -> Watchdog:
        self.stop = HEARTBEATS.hold(self.run_id)
        return self

    def __exit__(self, *exc: object) -> None:
        HEARTBEATS.release(self.run_id)


def _owners(run_id: int) -> tuple[int | None, int | None]:
    """The run's result and organization, in one query ((None, None): no such run). Every log
    line of a task names the run and its result; the fairness gate needs the organization."""
    row = with_db_retry(
        lambda: Run.objects.filter(pk=run_id).values_list("result_id", "organization_id").first(),
        what=f"run {run_id}: loading",
    )
    return row if row is not None else (None, None)


Runner = Callable[..., CallOutcome]


def live_call(
    spec: CallSpec,
    *,
    stop: threading.Event | None,
    on_joining: Callable[[], None],
    time_limit: float,
) -> CallOutcome:
    """The real call: this worker's voices and hearing, through agora_runner."""
    if settings.ASR_BACKEND == "faster-whisper":
        # Short-context Whisper, by default out of this process: the call's pacing keeps the GIL.
        hearing = call_hearing()
    else:
        hearing = get_asr(settings.ASR_BACKEND, settings.ASR_THREADS, settings.WHISPER_CHECKPOINT)
    return execute_call(
        spec,
        tts=call_synthesis(),
        asr=hearing,
        stop=stop,
        shared_loop=settings.CALLS_SHARED_LOOP,
        time_limit=time_limit,
        synthesis_budget=settings.SYNTHESIS_BUDGET_SECONDS,
        on_joining=on_joining,
        pacing_priority=settings.CALLS_PACING_PRIORITY,
    )


def execute_run(run_id: int, *, runner: Runner = live_call) -> None:
    """Hold one simulated call, then hand it to post-processing. Safe to deliver twice: the
    claim decides."""
    result_id, organization_id = _owners(run_id)
    with bound(run_id=run_id, result_id=result_id):
        _execute_run(run_id, organization_id, runner)


def _execute_run(run_id: int, organization_id: int | None, runner: Runner) -> None:
    if organization_id is None:
        log.info("run %s: no such run", run_id)
        return
    if not CONNECTING.try_enter(organization_id):
        # Its organization has as many runs reaching their agents here as it may: the thread
        # goes to other organizations' runs, and this one comes back shortly.
        if with_db_retry(
            lambda: services.run_defer(run_id=run_id, seconds=settings.ORG_DEFER_SECONDS),
            what=f"run {run_id}: deferring",
        ):
            log.info(
                "run %s: its organization has %s runs connecting on this worker; offered again in "
                "%g s",
                run_id,
                settings.ORG_MAX_CONNECTING,
                settings.ORG_DEFER_SECONDS,
            )
        return
    gate = Pass(CONNECTING, organization_id)
    try:
        _run_claimed(run_id, gate, runner)
    finally:
        gate.leave()


def _run_claimed(run_id: int, gate: Pass, runner: Runner) -> None:
    if not with_db_retry(
        lambda: services.run_claim(run_id=run_id, machine=machine_id()), what=f"run {run_id}: claim"
    ):
        log.info("run %s: not claimable (already taken or ended)", run_id)
        return
    try:
        with Watchdog(run_id) as watchdog:
            _call(run_id, runner, watchdog.stop, on_joining=gate.leave)
    except (SoftTimeLimitExceeded, CallTimeLimit):
        _fail(
            run_id,
            "the run exceeded its time limit",
            EndedReason.PIPELINE_ERROR,
            infrastructure=True,
            status=Status.TIMEOUT,
        )
    except RunCancelled as exc:
        _fail(
            run_id,
            exc.message,
            EndedReason.RUN_CANCELLED,
            infrastructure=False,
            status=Status.CANCELLED,
        )
    except RunnerError as exc:
        _fail(run_id, exc.message, exc.ended_reason, infrastructure=exc.infrastructure)
    except Exception as exc:
        # The message names the exception class only: a repr could carry join details.
        log.exception("run %s: internal error", run_id)
        _fail(
            run_id,
            f"internal error in the testing agent ({exc.__class__.__name__})",
            EndedReason.PIPELINE_ERROR,
            infrastructure=True,
        )


def call_synthesis() -> Any:
    """The caller's voice in this worker's calls: Piper, by default in a helper process of the
    worker (agora_runner.synthesis: Piper holds the GIL the calls' pacing needs), its lines
    kept once made."""
    return get_synthesis() if settings.SYNTHESIS_PROCESS else get_tts()


def call_hearing() -> Any:
    """How this worker's calls hear the agent: short-context Whisper, by default in helper
    processes (the call's pacing keeps the GIL); several when the process holds several calls."""
    helpers = settings.CALLS_HEARING_HELPERS if settings.CALLS_SHARED_LOOP else 1
    return get_hearing(in_process=not settings.HEARING_PROCESS, helpers=helpers)


def _call(
    run_id: int,
    runner: Runner,
    stop: threading.Event | None = None,
    on_joining: Callable[[], None] | None = None,
) -> None:
    """The call: reach the agent, hold the conversation, keep the recording. Transcription
    and scoring happen on the post-processing queue (`run_postprocess`)."""
    run = Run.objects.select_related("agent", "scenario").get(pk=run_id)
    try:
        spec = assembly.run_call_spec(run=run)
    except LookupError as exc:
        _fail(run_id, str(exc), EndedReason.PIPELINE_ERROR, infrastructure=False)
        return
    log.info("run %s: calling session endpoint and joining", run_id)
    outcome = runner(
        spec,
        stop=stop,
        on_joining=lambda: _joining(run_id, on_joining),
        # On the shared loop (Celery's threads pool) no task time limit applies: the call gets
        # the limit a prefork task gets.
        time_limit=services.call_time_limit(spec.max_duration_seconds),
    )
    meta = _metadata(outcome, run.seed)
    if not outcome.connected or outcome.ended_reason == EndedReason.CALL_NOT_CONNECTED:
        _fail(
            run_id,
            outcome.error or "the call did not connect",
            outcome.ended_reason,
            infrastructure=False,
            extra=meta,
        )
        return
    assert outcome.recording is not None
    recording = outcome.recording
    wav = stereo_wav(recording.caller, recording.agent)
    stored = with_db_retry(
        lambda: services.run_store_call(
            run_id=run_id,
            recording_wav=wav,
            metadata=meta,
            duration_seconds=round(recording.duration_seconds, 2),
            error_message=outcome.error or "",
            ended_reason=outcome.ended_reason,
        ),
        what=f"run {run_id}: storing the call",
    )
    if stored:
        log.info(
            "run %s: call ended (%s); queued for post-processing", run_id, outcome.ended_reason
        )
        services.run_enqueue_postprocess(run_id=run_id)


def _joining(run_id: int, then: Callable[[], None] | None) -> None:
    with_db_retry(lambda: services.run_mark_joining(run_id=run_id), what=f"run {run_id}: joining")
    if then is not None:
        then()


Scorer = Callable[..., tuple[Any, list[Any], bool | None]]


def post_asr() -> Any:
    """This post worker's recogniser for post-call transcripts (loaded once per process)."""
    return get_asr(
        settings.ASR_BACKEND,
        settings.ASR_THREADS,
        settings.WHISPER_CHECKPOINT,
        short_context=settings.POST_ASR_SHORT_CONTEXT,
    )


def postprocess_run(run_id: int, *, asr: Any = None, scorer: Scorer = score_call) -> None:
    """Transcribe and score a stored call (the post-processing queue). Safe to deliver twice:
    only the first to finish the run writes. `asr`: this worker's speech recogniser (loaded
    once per process when None)."""
    result_id, _ = _owners(run_id)
    with bound(run_id=run_id, result_id=result_id):
        _postprocess_run(run_id, asr, scorer)


def _postprocess_run(run_id: int, asr: Any, scorer: Scorer) -> None:
    run = with_db_retry(
        lambda: (
            Run.objects.select_related("scenario")
            .filter(pk=run_id, status=Status.EVALUATING)
            .first()
        ),
        what=f"run {run_id}: loading",
    )
    if run is None:
        log.info("run %s: nothing to post-process (not evaluating)", run_id)
        return
    try:
        with Watchdog(run_id):
            _postprocess(
                run,
                asr or post_asr(),
                scorer,
            )
    except SoftTimeLimitExceeded:
        _fail_post(run_id, "post-processing exceeded its time limit", status=Status.TIMEOUT)
    except Exception as exc:
        log.exception("run %s: post-processing failed", run_id)
        _fail_post(
            run_id,
            f"internal error while scoring the call ({exc.__class__.__name__}); the recording is "
            "kept",
        )


YIELD_POLL_SECONDS = 0.5
POST_WORK_RESERVE_SECONDS = 300
# Idle CPU is judged over this long before a turn is taken for it: long enough not to take a
# pause between two calls' bursts of synthesis for a spare core.
SPARE_WINDOW_SECONDS = 1.0
SPARE_CORES = postslots.SpareCores()


def yield_to_calls() -> tuple[float, postslots.Turn | None]:
    """Wait while calls are live on this machine and every turn for post-processing during
    calls is taken, up to POST_YIELD_TO_CALLS_SECONDS. There are POST_PROCESSES_DURING_CALLS
    turns, and one more for every POST_SPARE_CORES cores the machine left idle over the last
    SPARE_WINDOW_SECONDS. Returns the seconds waited and the turn taken (None when no calls
    were live, or the wait ran out): the caller holds it while it works and then releases
    it. (The reaper has a queue and a worker of its own, so it is never held up behind this
    wait.)"""
    # The wait counts against the task's time limit: some of it is kept for the work itself.
    limit = min(
        settings.POST_YIELD_TO_CALLS_SECONDS,
        settings.RUN_POST_TIME_LIMIT_SECONDS - POST_WORK_RESERVE_SECONDS,
    )
    started = time.monotonic()
    if limit <= 0:
        return 0.0, None
    machine = machine_id()
    turns = Path(settings.POST_SLOTS_DIR) / machine
    turn = None
    SPARE_CORES.forget()
    while time.monotonic() - started < limit:
        if not services.calls_live_on(
            machine=machine, fresh_seconds=settings.RUN_STALE_AFTER_SECONDS
        ):
            break
        SPARE_CORES.sample(time.monotonic())
        spare = SPARE_CORES.spare(SPARE_WINDOW_SECONDS)
        count = settings.POST_PROCESSES_DURING_CALLS + postslots.spare_turns(
            spare, settings.POST_SPARE_CORES
        )
        turn = postslots.take_turn(turns, count)
        if turn is not None:
            log.debug("post-processing during calls: turn %s (idle cores %s)", turn.index, spare)
            break
        time.sleep(min(YIELD_POLL_SECONDS, max(0.0, limit - (time.monotonic() - started))))
    return round(time.monotonic() - started, 2), turn


def _postprocess(run: Run, asr: Any, scorer: Scorer) -> None:
    waited, turn = yield_to_calls()
    try:
        _postprocess_call(run, asr, scorer, waited)
    finally:
        if turn is not None:
            turn.release()


def _postprocess_call(run: Run, asr: Any, scorer: Scorer, waited: float) -> None:
    meta = dict(run.metadata or {})
    if waited:
        meta["post_waited_for_calls_s"] = waited
    call = assembly.run_call_data(
        run, transcript=[], expected_outcome_prompt=run.expected_outcome_prompt
    )
    recording = CallRecording(call.sample_rate, call.caller, call.agent)
    started = time.monotonic()
    turns = transcribe_call(recording, call.caller_utterances, asr, timeline=call.timeline)
    meta["asr_real_time_factor"] = round(
        (time.monotonic() - started) / max(recording.duration_seconds, 1e-6), 4
    )
    call.transcript = [t.as_dict() for t in turns]
    recorded: dict[str, Any] = {
        "metadata": meta,
        "transcript": transcript_text(turns),
        "transcript_object": call.transcript,
    }
    # Hung up on request (a cut-short call), or cancelled after the call ended, while it
    # waited or was transcribed (the call's own ended_reason still says how the call ended):
    # either way it ends cancelled, unscored, with its recording and transcript.
    during_call = call.ended_reason == EndedReason.RUN_CANCELLED
    if during_call or with_db_retry(
        lambda: services.run_cancel_requested(run_id=run.pk),
        what=f"run {run.pk}: checking for a cancellation",
    ):
        with_db_retry(
            lambda: services.run_finish(
                run_id=run.pk,
                status=Status.CANCELLED,
                success=False,
                error_message=run.error_message,
                cancelled_while="" if during_call else Status.EVALUATING,
                **recorded,
            ),
            what=f"run {run.pk}: finishing",
        )
        log.info(
            "run %s: cancelled %s",
            run.pk,
            "during the call" if during_call else "while being scored",
        )
        return
    expected, metrics, success = scorer(
        call, llm=assembly.llm_config(), custom_metrics=assembly.run_custom_metrics(run)
    )
    # How long after the hang-up the result was ready (the call began to join at
    # call_started_at and lasted duration_seconds): what a user waits for after a call.
    if run.call_started_at is not None and run.duration_seconds:
        since = (timezone.now() - run.call_started_at).total_seconds() - run.duration_seconds
        meta["ready_after_call_s"] = round(max(since, 0.0), 2)
        meta["ready_after_call_ratio"] = round(max(since, 0.0) / run.duration_seconds, 3)
    with_db_retry(
        lambda: services.run_finish(
            run_id=run.pk,
            status=Status.COMPLETED,
            success=success,
            error_message=run.error_message,
            evaluation={"metrics": [m.as_dict() for m in metrics]},
            expected_outcome=services.expected_outcome_dict(expected),
            **recorded,
        ),
        what=f"run {run.pk}: finishing",
    )
    log.info("run %s: completed (%s)", run.pk, run.ended_reason)


def _metadata(outcome: CallOutcome, seed: int) -> dict[str, Any]:
    return {
        "seed": seed,
        "transport": outcome.transport,
        "agent_uid": outcome.agent_uid,
        "other_uids": outcome.other_uids,
        "pacing": outcome.pacing,
        "caller_utterances": outcome.caller_utterances,
        "timeline": [asdict(e) for e in outcome.timeline],
    }
