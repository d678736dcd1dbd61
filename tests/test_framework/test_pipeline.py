"""A run's two steps (test_framework.pipeline) on a recorded call: the claim, the stored call,
transcription, scoring and the result, every way a call can end, and cancellation by its
mechanism. No real-time call is held here (tests/test_framework/recorded.py); the few tests that
hold one are in test_tasks.py and test_lifecycle.py."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from agora_runner.errors import RunnerError
from agora_runner.host import CallTimeLimit
from cekura.accounts.models import Organization
from common.vocabulary import EndedReason
from test_framework import pipeline, services
from test_framework.choices import Status
from test_framework.models import Run
from tests.factories import RunFactory
from tests.test_framework.recorded import recorded_runner

pytestmark = pytest.mark.django_db(transaction=True)  # the watchdog's thread reads the rows


@pytest.fixture
def post_inline(monkeypatch: Any, settings: Any, tmp_path: Any) -> list[int]:
    """Stored calls are post-processed here at once, as the post worker would."""
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RUN_HEARTBEAT_SECONDS = 0.05
    handed: list[int] = []

    def post(run_id: int) -> None:
        handed.append(run_id)
        pipeline.postprocess_run(run_id)

    monkeypatch.setattr("test_framework.dispatch.send_post", post)
    return handed


def credits(run: Run) -> int:
    return Organization.objects.values_list("credits", flat=True).get(pk=run.organization_id)


def test_a_recorded_call_is_stored_transcribed_scored_and_settles_its_result(
    post_inline: list[int],
) -> None:
    run = RunFactory(
        queued=True,
        scenario__first_message="Hello, when are you open?",
        expected_outcome_prompt='Says "Monday to Friday".',
    )
    before = credits(run)
    runner = recorded_runner()
    pipeline.execute_run(run.pk, runner=runner)
    run.refresh_from_db()
    assert post_inline == [run.pk]
    assert run.status == Status.COMPLETED and run.success is True, run.error_message
    assert run.ended_reason == EndedReason.MAIN_AGENT_ENDED and not run.credit_refunded
    assert credits(run) == before  # a call that happened is charged
    assert run.attempts == 1 and run.call_started_at is not None
    assert run.recording.name.endswith(f"run{run.pk}.wav") and 17 < run.duration_seconds < 19
    roles = [t["role"] for t in run.transcript_object]
    assert roles[:2] == ["Main Agent", "Testing Agent"]
    assert "open" in run.transcript.lower()
    metrics = {m["name"]: m for m in run.evaluation["metrics"]}
    assert len(metrics) == 15 and metrics["Infrastructure Issues"]["passed"] is True
    assert metrics["Latency"]["extra"]["percentiles"]["p50"] > 0
    assert metrics["Transcription Accuracy"]["score"] >= 70
    assert run.metadata["transport"] == "local" and run.metadata["pacing"]["frames"] > 0
    assert run.metadata["ready_after_call_s"] >= 0 and run.metadata["ready_after_call_ratio"] >= 0
    run.result.refresh_from_db()
    assert (run.result.status, run.result.success_rate) == (Status.COMPLETED, 100.0)
    # The runner was handed the scenario's call: the agent's endpoint, the caller's script.
    (spec,) = runner.specs  # type: ignore[attr-defined]
    assert spec.endpoint.url == "https://agent.example.com/session"
    assert spec.caller.first_message == "Hello, when are you open?"


@pytest.mark.parametrize(
    ("raised", "status", "reason", "message", "ours"),
    [
        (
            RunnerError("session endpoint refused the credentials (HTTP 401)"),
            Status.FAILED,
            EndedReason.PIPELINE_ERROR,
            "session endpoint refused the credentials (HTTP 401)",
            True,
        ),
        (
            CallTimeLimit(),
            Status.TIMEOUT,
            EndedReason.PIPELINE_ERROR,
            "the run exceeded its time limit",
            True,
        ),
        (
            KeyError("boom"),
            Status.FAILED,
            EndedReason.PIPELINE_ERROR,
            "internal error in the testing agent (KeyError)",
            True,
        ),
    ],
)
def test_a_call_that_breaks_ends_with_the_reason_and_its_credit_back(
    post_inline: list[int], raised: Exception, status: str, reason: str, message: str, ours: bool
) -> None:
    run = RunFactory(queued=True)
    before = credits(run)

    def breaks(spec: Any, stop: Any) -> None:
        raise raised

    pipeline.execute_run(run.pk, runner=recorded_runner(during=breaks))
    run.refresh_from_db()
    assert (run.status, run.ended_reason, run.error_message) == (status, reason, message)
    assert run.infrastructure is ours and run.credit_refunded and post_inline == []
    assert credits(run) == before + django_settings.CREDITS_PER_RUN


def test_a_call_that_never_connected_fails_refunded_with_what_was_known(
    post_inline: list[int],
) -> None:
    run = RunFactory(queued=True)
    runner = recorded_runner(
        connected=False,
        recording=None,
        ended_reason=EndedReason.CALL_NOT_CONNECTED,
        error="the agent did not join the channel within 15 s",
    )
    pipeline.execute_run(run.pk, runner=runner)
    run.refresh_from_db()
    assert (run.status, run.ended_reason) == (Status.FAILED, EndedReason.CALL_NOT_CONNECTED)
    assert run.error_message == "the agent did not join the channel within 15 s"
    assert run.credit_refunded and not run.infrastructure and not run.recording
    assert run.metadata["transport"] == "local"  # what the call did learn is kept
    run.result.refresh_from_db()
    assert run.result.status == Status.COMPLETED  # the agent's failure, not ours


def test_end_call_reaches_the_live_call_through_its_heartbeat(post_inline: list[int]) -> None:
    """The mechanism of a hang-up: cancelling a live run is seen by its worker's heartbeat,
    which sets the call's stop event; the call then ends cancelled, recording kept."""
    run = RunFactory(queued=True)
    heard: list[bool] = []

    def cancelled_meanwhile(spec: Any, stop: threading.Event | None) -> None:
        assert stop is not None and not stop.is_set()
        services.run_request_cancel(run=Run.objects.get(pk=run.pk))
        heard.append(stop.wait(10))

    runner = recorded_runner(during=cancelled_meanwhile, ended_reason=EndedReason.RUN_CANCELLED)
    pipeline.execute_run(run.pk, runner=runner)
    run.refresh_from_db()
    assert heard == [True]
    assert (run.status, run.ended_reason) == (Status.CANCELLED, EndedReason.RUN_CANCELLED)
    assert run.recording and run.transcript_object and not run.evaluation.get("metrics")
    assert not run.credit_refunded  # it connected: charged


def test_one_thread_beats_for_every_held_run_and_hangs_up_only_the_cancelled_one(
    settings: Any,
) -> None:
    settings.RUN_HEARTBEAT_SECONDS = 0.05
    old = timezone.now() - timedelta(minutes=5)
    runs = [RunFactory(status=Status.RUNNING, heartbeat_at=old) for _ in range(3)]
    ended = RunFactory(status=Status.COMPLETED, heartbeat_at=old)
    beats = pipeline.Heartbeats()
    stops = {run.pk: beats.hold(run.pk) for run in [*runs, ended]}

    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "run-heartbeats"]

    assert len(threads()) == 1  # one thread for four runs
    wait_until(lambda: all(Run.objects.get(pk=r.pk).heartbeat_at > old for r in runs))
    assert Run.objects.get(pk=ended.pk).heartbeat_at == old  # an ended run is not revived
    services.run_request_cancel(run=Run.objects.get(pk=runs[1].pk))
    assert stops[runs[1].pk].wait(10)
    assert not any(stops[r.pk].is_set() for r in (runs[0], runs[2], ended))
    # A second holder of a run (its post-processing, inline) shares its signal, and the beats
    # go on until both are done with it.
    assert beats.hold(runs[1].pk) is stops[runs[1].pk]
    beats.release(runs[1].pk)
    Run.objects.filter(pk=runs[1].pk).update(heartbeat_at=old)
    wait_until(lambda: Run.objects.get(pk=runs[1].pk).heartbeat_at > old)
    for run_id in stops:
        beats.release(run_id)
    wait_until(lambda: not threads())  # nothing held: the thread ends
    again = beats.hold(runs[0].pk)  # and the next run held starts it again
    assert len(threads()) == 1 and not again.is_set()
    beats.release(runs[0].pk)


def wait_until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "never came true"
        time.sleep(0.02)


def test_a_run_cancelled_while_scored_ends_cancelled_unscored(
    post_inline: list[int], monkeypatch: Any
) -> None:
    run = RunFactory(queued=True)
    real_post = pipeline.postprocess_run

    def cancel_then_post(run_id: int) -> None:
        services.run_request_cancel(run=Run.objects.get(pk=run_id))
        real_post(run_id)

    monkeypatch.setattr("test_framework.dispatch.send_post", cancel_then_post)
    pipeline.execute_run(run.pk, runner=recorded_runner())
    run.refresh_from_db()
    assert (run.status, run.cancelled_while) == (Status.CANCELLED, "evaluating")
    assert run.ended_reason == EndedReason.MAIN_AGENT_ENDED  # how the call itself ended
    assert run.transcript_object and not run.evaluation.get("metrics")


def test_scoring_that_fails_keeps_the_call_and_charges_it(
    post_inline: list[int], monkeypatch: Any
) -> None:
    run = RunFactory(queued=True)
    before = credits(run)

    def broken_scorer(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a metric broke")

    monkeypatch.setattr(
        "test_framework.dispatch.send_post",
        lambda run_id: pipeline.postprocess_run(run_id, scorer=broken_scorer),
    )
    pipeline.execute_run(run.pk, runner=recorded_runner())
    run.refresh_from_db()
    assert run.status == Status.FAILED and run.post_processing_failed and run.infrastructure
    assert "internal error while scoring the call (ValueError)" in run.error_message
    assert run.recording and not run.credit_refunded and credits(run) == before
    assert run.ended_reason == EndedReason.MAIN_AGENT_ENDED  # how the call itself ended


def test_a_call_the_agent_never_answered_completes_unsuccessful(post_inline: list[int]) -> None:
    """The agent joined but did not answer (the runner's silent-agent case, in test_call.py):
    the call is scored, and fails however its metrics came out."""
    run = RunFactory(queued=True)
    runner = recorded_runner(
        ended_reason=EndedReason.MAIN_AGENT_DID_NOT_ANSWER,
        error="the agent did not answer within 15 s",
    )
    pipeline.execute_run(run.pk, runner=runner)
    run.refresh_from_db()
    assert (run.status, run.success) == (Status.COMPLETED, False)
    assert run.ended_reason == EndedReason.MAIN_AGENT_DID_NOT_ANSWER
    assert run.error_message == "the agent did not answer within 15 s"


def test_a_reply_heard_during_the_call_is_not_transcribed_again(post_inline: list[int]) -> None:
    from agora_runner.types import TimelineEvent
    from tests.test_framework.recorded import recorded_outcome

    live = "We are open Monday to Friday, from eight to six."
    outcome = recorded_outcome()
    timeline = [
        *outcome.timeline,
        TimelineEvent(11.9, "agent_turn_heard", {"text": live, "start": 7.85, "end": 11.85}),
    ]
    run = RunFactory(queued=True, scenario__first_message="Hello, when are you open?")
    pipeline.execute_run(run.pk, runner=recorded_runner(outcome, timeline=timeline))
    run.refresh_from_db()
    agent = [t["content"] for t in run.transcript_object if t["role"] == "Main Agent"]
    assert live in agent and len(agent) == 3  # the greeting and the goodbye transcribed after
    assert any(e["kind"] == "agent_turn_heard" for e in run.metadata["timeline"])


def test_post_call_transcripts_use_a_short_window_of_at_least_ten_seconds() -> None:
    from agora_runner.speech import FasterWhisperASR

    asr = pipeline.post_asr()
    assert isinstance(asr, FasterWhisperASR)
    assert asr.short_context and asr.min_window_frames == 1000
