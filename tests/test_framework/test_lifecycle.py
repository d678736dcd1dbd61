"""A run's life beyond the happy path: live cancellation, the reaper, credits and health."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from cekura.accounts.services import api_key_create
from test_framework import pipeline, services
from test_framework.choices import Status
from test_framework.models import Result, Run
from test_framework.tasks import (
    delete_old_recordings,
    reap_stale_runs,
    run_execute,
    run_postprocess,
)
from tests.factories import AgentFactory, RunFactory, ScenarioFactory
from tests.test_framework.recorded import recorded_runner
from tests.test_framework.test_tasks import demo_agent, queued_run

LONG_CALL = [
    "Hello, I would like to book an appointment.",
    "Could you tell me your opening hours?",
    "And do you take walk ins?",
    "What about parking?",
]


@pytest.mark.django_db(transaction=True)
def test_end_call_hangs_up_a_live_call_and_keeps_the_recording(
    wired: Any,
) -> None:
    agent = demo_agent(wired)
    run = queued_run(
        agent,
        scenario_type="conditional_actions",
        first_message=LONG_CALL[0],
        conditional_actions={
            "role": "",
            "conditions": [
                {"id": i, "condition": "", "action": line, "fixed_message": True}
                for i, line in enumerate(LONG_CALL[1:], 1)
            ],
        },
    )
    credits_before = agent.organization.credits

    def hold() -> None:
        try:
            run_execute(run.pk)
        finally:
            connection.close()  # this thread's own database session

    worker = threading.Thread(target=hold, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    # Wait until the call is well under way: the greeting and the caller's first line (a line
    # is kept once said to its end; 8 s once left the first one unfinished on a busy machine),
    # long before its last line.
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if (
            run.status == Status.RUNNING
            and run.heartbeat_at
            and run.executed_at
            and timezone.now() - run.executed_at > timedelta(seconds=11)
        ):
            break
        time.sleep(0.2)
    assert run.status == Status.RUNNING
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=agent.organization)[1])
    r = api.post(f"/test_framework/v1/runs/{run.pk}/end_call/")
    assert r.status_code == 200 and r.json()["status"] == "running"
    worker.join(60)
    assert not worker.is_alive()
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.success is False
    assert run.ended_reason == "run-cancelled-by-user"
    # What was recorded before the hang-up is kept; the caller never got to its last line
    # (how the hang-up reaches the call is test_pipeline's).
    assert run.recording and (run.duration_seconds or 0) > 1
    said = [u["text"] for u in run.metadata["caller_utterances"]]
    assert said and LONG_CALL[-1] not in said
    assert any(t["role"] == "Main Agent" for t in run.transcript_object)
    run.result.refresh_from_db()
    assert run.result.status == Status.CANCELLED
    agent.organization.refresh_from_db()
    assert agent.organization.credits == credits_before  # a call that connected is charged


@pytest.mark.django_db(transaction=True)
def test_end_call_on_a_run_being_scored_ends_it_cancelled_unscored(
    settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    """A run whose call has ended waits in `evaluating` for post-processing; cancelled there,
    it ends `cancelled` with its recording and transcript, and is not scored (before, it was
    scored and ended `completed`, as if nobody had asked)."""
    settings.MEDIA_ROOT = str(tmp_path)
    handed: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_post", handed.append)
    run = RunFactory(queued=True)
    agent = run.agent
    pipeline.execute_run(run.pk, runner=recorded_runner())
    run.refresh_from_db()
    assert run.status == Status.EVALUATING and handed == [run.pk] and run.recording
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=agent.organization)[1])
    r = api.post(f"/test_framework/v1/runs/{run.pk}/end_call/")
    assert r.status_code == 200 and r.json()["status"] == "evaluating"
    run_postprocess(run.pk)
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.success is False
    assert run.cancelled_while == "evaluating" and run.ended_reason != "run-cancelled-by-user"
    assert run.recording and any(t["role"] == "Main Agent" for t in run.transcript_object)
    assert not run.evaluation.get("metrics")  # not scored
    run.result.refresh_from_db()
    assert run.result.status == Status.CANCELLED


def test_reaper_ends_silent_calls_and_hands_stored_calls_out_again(
    db: Any, settings: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    settings.RUN_STALE_AFTER_SECONDS = 30
    settings.MEDIA_ROOT = str(tmp_path)
    handed: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_post", handed.append)
    monkeypatch.setattr(
        "cekura.queues.queue_depth", lambda name: 0
    )  # the post-processing queue is empty
    agent = AgentFactory()
    scenario = ScenarioFactory(agent=agent)
    result = Result.objects.create(
        organization=agent.organization, agent=agent, status=Status.IN_PROGRESS
    )
    old = timezone.now() - timedelta(seconds=120)

    def make(status: str, **kw: Any) -> Run:
        return Run.objects.create(
            organization=agent.organization,
            result=result,
            scenario=scenario,
            agent=agent,
            status=status,
            executed_at=old,
            **kw,
        )

    in_call = make(Status.RUNNING, heartbeat_at=old)
    stored = make(Status.EVALUATING, heartbeat_at=old)
    stored.recording.save("r.wav", ContentFile(b"RIFF"), save=True)
    exhausted = make(
        Status.EVALUATING,
        heartbeat_at=old,
        ended_reason="main-agent-ended-call",
        post_attempts=2,
    )
    exhausted.recording.save("e.wav", ContentFile(b"RIFF"), save=True)
    alive = make(Status.RUNNING, heartbeat_at=timezone.now())
    credits = agent.organization.credits
    assert reap_stale_runs() == 3
    in_call.refresh_from_db()
    assert (
        in_call.status == Status.FAILED
        and "stopped (no heartbeat for 30 s)" in in_call.error_message
    )
    assert in_call.infrastructure and in_call.credit_refunded
    stored.refresh_from_db()  # the recording is kept: post-processing is handed out again
    assert (
        stored.status == Status.EVALUATING and handed == [stored.pk] and stored.post_attempts == 1
    )
    exhausted.refresh_from_db()  # third time: it ends, the recording kept, the call charged
    assert (
        exhausted.status == Status.FAILED and exhausted.recording and not exhausted.credit_refunded
    )
    assert exhausted.ended_reason == "main-agent-ended-call"
    alive.refresh_from_db()
    assert alive.status == Status.RUNNING
    agent.organization.refresh_from_db()
    assert agent.organization.credits == credits + settings.CREDITS_PER_RUN
    assert reap_stale_runs() == 0  # never twice


def test_stored_calls_waiting_in_a_busy_post_queue_are_not_reaped(
    db: Any, settings: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    """Under load a stored call can wait in the post-processing queue for longer than the
    stale limit, with no worker to beat for it: it is neither handed out again nor failed
    while that queue holds messages (or cannot be asked). A silent call is still ended."""
    settings.RUN_STALE_AFTER_SECONDS = 30
    settings.MEDIA_ROOT = str(tmp_path)
    handed: list[int] = []
    monkeypatch.setattr("test_framework.dispatch.send_post", handed.append)
    agent = AgentFactory()
    scenario = ScenarioFactory(agent=agent)
    result = Result.objects.create(
        organization=agent.organization, agent=agent, status=Status.IN_PROGRESS
    )
    old = timezone.now() - timedelta(seconds=600)
    waiting = Run.objects.create(
        organization=agent.organization,
        result=result,
        scenario=scenario,
        agent=agent,
        status=Status.EVALUATING,
        executed_at=old,
        heartbeat_at=old,
        post_attempts=2,
    )
    waiting.recording.save("w.wav", ContentFile(b"RIFF"), save=True)
    in_call = Run.objects.create(
        organization=agent.organization,
        result=result,
        scenario=scenario,
        agent=agent,
        status=Status.RUNNING,
        executed_at=old,
        heartbeat_at=old,
    )
    for depth in (40, None):
        monkeypatch.setattr("cekura.queues.queue_depth", lambda name, depth=depth: depth)
        reap_stale_runs()
        waiting.refresh_from_db()
        assert waiting.status == Status.EVALUATING and waiting.post_attempts == 2 and handed == []
    in_call.refresh_from_db()
    assert in_call.status == Status.FAILED
    monkeypatch.setattr(
        "cekura.queues.queue_depth", lambda name: 0
    )  # drained: its message was lost
    reap_stale_runs()
    waiting.refresh_from_db()
    assert waiting.status == Status.FAILED and waiting.recording  # third time: ends, recording kept


def test_a_queued_run_whose_message_was_lost_is_sent_again(
    db: Any, settings: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(
        "test_framework.dispatch.send_call", lambda run_id, **kw: sent.append(run_id)
    )
    agent = AgentFactory()
    with django_capture_on_commit_callbacks(execute=True):
        result = services.result_launch(
            organization=agent.organization,
            agent=agent,
            scenarios=[ScenarioFactory(agent=agent)],
            frequency=2,
            concurrency_limit=None,
        )
    first, second = result.runs.order_by("id")
    assert sent == [first.pk, second.pk]
    Run.objects.filter(pk=first.pk).update(updated_at=timezone.now() - timedelta(seconds=600))
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_CALLS_QUEUE)
    assert services.runs_requeue_lost(queued_for_seconds=120) == [first.pk]  # only the old one
    assert sent[-1] == first.pk
    assert services.runs_requeue_lost(queued_for_seconds=120) == []  # its clock was reset


def test_cancelling_unstarted_runs_refunds_them_once(db: Any, settings: Any) -> None:
    agent = AgentFactory()
    scenario = ScenarioFactory(agent=agent)
    org = agent.organization
    result = services.result_launch(
        organization=org, agent=agent, scenarios=[scenario], frequency=3, concurrency_limit=1
    )
    org.refresh_from_db()
    after_launch = org.credits
    services.result_cancel(result=result)
    services.result_cancel(result=result)
    org.refresh_from_db()
    assert org.credits == after_launch + 3 * settings.CREDITS_PER_RUN
    assert set(result.runs.values_list("status", flat=True)) == {"cancelled"}


def test_a_run_that_never_connected_gets_its_credit_back(
    db: Any, wired: Any, settings: Any
) -> None:
    agent = demo_agent(wired, query="?fault=never_join")
    run = queued_run(agent)
    credits = agent.organization.credits
    run_execute(run.pk)
    run.refresh_from_db()
    agent.organization.refresh_from_db()
    assert run.status == Status.FAILED and run.ended_reason == "Main agent-call-not-connected"
    assert agent.organization.credits == credits + settings.CREDITS_PER_RUN and run.credit_refunded


def test_healthz_checks_database_and_broker(db: Any, settings: Any) -> None:
    r = Client().get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.json()
    from cekura.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        r = Client().get("/healthz")
    finally:
        app.conf.broker_url = original
    assert (
        r.status_code == 503
        and r.json()["checks"]["broker"]["ok"] is False
        and r.json()["checks"]["database"]["ok"] is True
    )


def test_retention_deletes_old_recordings_and_keeps_the_rest(
    db: Any, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    agent = AgentFactory()
    result = Result.objects.create(
        organization=agent.organization, agent=agent, status=Status.COMPLETED
    )

    def ended(days_ago: float) -> Run:
        run = Run.objects.create(
            organization=agent.organization,
            result=result,
            agent=agent,
            status=Status.COMPLETED,
            finished_at=timezone.now() - timedelta(days=days_ago),
            transcript="kept",
        )
        run.recording.save(f"run{run.pk}.wav", ContentFile(b"RIFF...."), save=True)
        return run

    old, recent = ended(31), ended(29)
    settings.RECORDING_RETENTION_DAYS = 0
    assert delete_old_recordings() == 0  # 0 keeps everything
    settings.RECORDING_RETENTION_DAYS = 30
    old_path = Path(old.recording.path)
    assert delete_old_recordings() == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.recording and not old_path.exists() and old.transcript == "kept"
    assert (
        old.metadata["recording_retention_days"] == 30
        and recent.recording
        and Path(recent.recording.path).exists()
    )
    api = APIClient()
    api.credentials(HTTP_X_CEKURA_API_KEY=api_key_create(organization=agent.organization)[1])
    r = api.get(f"/test_framework/v1/runs/{old.pk}/recording/")
    assert (
        r.status_code == 404
        and "deleted on" in r.json()["detail"]
        and "kept 30 days" in r.json()["detail"]
    )
    assert delete_old_recordings() == 0


class FakeClock:
    """time.monotonic and time.sleep for code that waits: sleeping moves the clock on at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_post_processing_waits_for_live_calls_on_its_own_machine(
    db: Any, settings: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    """POST_YIELD_TO_CALLS_SECONDS: while a call is live on this machine (claimed here, its
    worker beating), post-processing waits for a turn (POST_PROCESSES_DURING_CALLS of them), up
    to the limit; a call on another machine, or one whose worker went silent, does not hold it
    up. (On a fake clock: no test waits.)"""
    from agora_runner.cpu import machine_id
    from test_framework import pipeline, postslots

    monkeypatch.setattr(pipeline, "time", FakeClock())
    settings.RUN_STALE_AFTER_SECONDS = 30
    settings.POST_YIELD_TO_CALLS_SECONDS = 6
    settings.POST_SLOTS_DIR = tmp_path
    settings.POST_PROCESSES_DURING_CALLS = 0
    settings.POST_SPARE_CORES = 0  # turns for idle cores: the next test
    queued = queued_run(AgentFactory())
    elsewhere = RunFactory(
        result=queued.result,
        running=True,
        machine="another-machine",
        call_started_at=timezone.now(),
    )
    assert pipeline.yield_to_calls() == (0, None)  # only another machine's call: no wait
    assert services.run_claim(run_id=queued.pk, machine=machine_id())
    assert Run.objects.get(pk=queued.pk).machine == machine_id()
    # Claimed here but still synthesising or calling its endpoint (which may take its time, or
    # be made to): not a live call yet.
    assert pipeline.yield_to_calls() == (0, None)
    services.run_mark_joining(run_id=queued.pk)
    assert pipeline.yield_to_calls() == (6, None)  # a live call here, no turns: waits it out
    # One turn during calls: the first task takes it at once, the next waits for it…
    settings.POST_PROCESSES_DURING_CALLS = 1
    waited, turn = pipeline.yield_to_calls()
    assert waited == 0 and turn is not None
    assert pipeline.yield_to_calls() == (6, None)
    # …and has it once it is given back.
    turn.release()
    waited, again = pipeline.yield_to_calls()
    assert waited == 0 and again is not None and again.index == 0
    again.release()
    assert postslots.take_turn(tmp_path / machine_id(), 1) is not None  # nothing left held
    settings.POST_SLOTS_DIR = tmp_path / "elsewhere"
    settings.POST_YIELD_TO_CALLS_SECONDS = 50
    Run.objects.filter(pk=queued.pk).update(status=Status.EVALUATING)
    assert pipeline.yield_to_calls() == (0, None)  # the call ended: goes at once, no turn
    Run.objects.filter(pk=queued.pk).update(
        status=Status.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=60)
    )
    assert pipeline.yield_to_calls() == (0, None)  # its worker went silent: not a live call
    settings.POST_YIELD_TO_CALLS_SECONDS = 0
    assert pipeline.yield_to_calls() == (0.0, None) and elsewhere.pk


class FakeStat(FakeClock):
    """A fake clock that also writes the kernel's per-CPU counters (/proc/stat's layout, 100
    ticks a second) as time passes: `idle` of the machine's two CPUs stay idle."""

    def __init__(self, path: Any) -> None:
        super().__init__()
        self.path = path
        self.idle = 0.0
        self.ticks = [[1000, 0, 500, 9000, 10, 0, 5, 0], [800, 0, 400, 9500, 20, 0, 5, 0]]
        self.write()

    def write(self) -> None:
        lines = ["cpu  " + " ".join(str(sum(c)) for c in zip(*self.ticks, strict=True))]
        lines += [f"cpu{i} " + " ".join(map(str, t)) for i, t in enumerate(self.ticks)]
        self.path.write_text("\n".join([*lines, "intr 12345 0", "ctxt 999"]) + "\n")

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        for t in self.ticks:  # idle spread evenly; the rest is user time
            t[3] += round(seconds * 100 * self.idle / len(self.ticks))
            t[0] += round(seconds * 100) - round(seconds * 100 * self.idle / len(self.ticks))
        self.write()


def test_post_processing_takes_a_turn_for_every_spare_core_during_calls(
    db: Any, settings: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    """POST_SPARE_CORES: while calls are live, a task takes a turn when the machine has left
    that many cores idle over the last second, one turn per that many; a busy machine leaves none,
    and its tasks wait. (The kernel's counters are written by the test, on a fake clock.)"""
    from agora_runner.cpu import machine_id
    from test_framework import pipeline, postslots

    clock = FakeStat(tmp_path / "stat")
    monkeypatch.setattr(pipeline, "time", clock)
    monkeypatch.setattr(pipeline, "SPARE_CORES", postslots.SpareCores(clock.path, {0, 1}))
    settings.RUN_STALE_AFTER_SECONDS = 30
    settings.POST_YIELD_TO_CALLS_SECONDS = 6
    settings.POST_SLOTS_DIR = tmp_path / "turns"
    settings.POST_PROCESSES_DURING_CALLS = 0
    settings.POST_SPARE_CORES = 1.0
    call = queued_run(AgentFactory())
    assert services.run_claim(run_id=call.pk, machine=machine_id())
    services.run_mark_joining(run_id=call.pk)

    clock.idle = 0.6  # calls keep the machine busy: no core to spare, the task waits it out
    assert pipeline.yield_to_calls() == (6, None)
    clock.idle = 1.5  # a core to spare, judged over 1 s: a turn after 1 s
    waited, first = pipeline.yield_to_calls()
    assert waited == 1 and first is not None and first.index == 0
    # Still 1.5 cores idle while it works (it is light): not enough for a second turn…
    assert pipeline.yield_to_calls() == (6, None)
    clock.idle = 2.0  # …2 are
    waited, second = pipeline.yield_to_calls()
    assert waited == 1 and second is not None and second.index == 1
    first.release()
    second.release()
    settings.POST_SPARE_CORES = 0  # never for idle cores
    assert pipeline.yield_to_calls() == (6, None)
    settings.POST_SPARE_CORES = 0.5  # one turn per half a core idle
    clock.idle = 1.0
    waited, first = pipeline.yield_to_calls()
    waited2, second = pipeline.yield_to_calls()
    assert (waited, waited2) == (1, 1) and first is not None and second is not None
    assert {first.index, second.index} == {0, 1}
    first.release()
    second.release()


def test_spare_cores_reads_the_kernels_counters_for_this_processs_cpus(tmp_path: Any) -> None:
    """SpareCores: idle and I/O-wait ticks over all ticks, of the CPUs this process may use,
    averaged from the latest reading at least a window older than the newest; nothing until
    there is one, or when the counters cannot be read."""
    from test_framework.postslots import SpareCores, spare_turns

    clock = FakeStat(tmp_path / "stat")
    both, first = SpareCores(clock.path, {0, 1}), SpareCores(clock.path, {0})
    for meter in (both, first):
        meter.sample(clock.monotonic())
    assert both.spare(2) is None  # one reading
    clock.idle = 1.0
    clock.sleep(1)
    clock.ticks[0][4] += 50  # CPU 0 waited on I/O for half a second more (idle to it)
    clock.ticks[1][0] += 50  # and CPU 1 was busy for the same
    clock.write()
    for meter in (both, first):
        meter.sample(clock.monotonic())
    assert both.spare(2) is None  # not 2 s of readings yet
    clock.idle = 0.0
    clock.sleep(1)
    for meter in (both, first):
        meter.sample(clock.monotonic())
    # Over 2 s, 250 ticks on each CPU: CPU 0 idle (or waiting) for 100 of them, CPU 1 for 50
    assert both.spare(2) == pytest.approx(150 / 250)
    assert first.spare(2) == pytest.approx(100 / 250)
    assert both.spare(1) == pytest.approx(0.0)  # the last second alone: all busy
    assert spare_turns(both.spare(2), 0.5) == 1 and spare_turns(1.0, 0.5) == 2
    assert spare_turns(None, 1.0) == 0 and spare_turns(3.0, 0) == 0
    missing = SpareCores(tmp_path / "none", {0})
    missing.sample(0.0)
    missing.sample(5.0)
    assert missing.spare(2) is None
    both.forget()
    assert both.spare(0) is None


def test_a_post_processing_turn_is_one_process_at_a_time_and_freed_when_its_holder_dies(
    tmp_path: Any,
) -> None:
    """Turns are exclusive across processes, and a killed holder gives its turn back (the
    kernel drops its lock): no turn is ever lost to a crash."""
    import subprocess
    import sys

    from test_framework import postslots

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from test_framework import postslots; "
            f"t = postslots.take_turn(pathlib.Path({str(tmp_path)!r}), 2); "
            "print(t.index, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "0"
        second = postslots.take_turn(tmp_path, 2)
        assert second is not None and second.index == 1  # the other of the two
        assert postslots.take_turn(tmp_path, 2) is None  # both held
        holder.kill()
        holder.wait()
        first = postslots.take_turn(tmp_path, 2)
        assert first is not None and first.index == 0  # freed by the kernel
        first.release()
        second.release()
        turn = postslots.take_turn(tmp_path, 1)
        assert turn is not None
        with turn:
            assert turn.index == 0
        assert postslots.take_turn(tmp_path, 1) is not None  # given back on leaving the block
        assert postslots.take_turn(tmp_path, 0) is None  # no turns at all
        blocked = tmp_path / "a-file"
        blocked.write_text("")
        assert postslots.take_turn(blocked / "turns", 1) is None  # cannot be made: none
    finally:
        holder.kill()


@pytest.mark.django_db(transaction=True)
def test_a_run_cancelled_while_its_endpoint_stalls_ends_cancelled_and_refunded(
    settings: Any,
) -> None:
    """An endpoint that accepts the connection and never answers holds the run only until
    someone cancels it: the worker's thread is freed, the run ends `cancelled`, its credit back."""
    import socket

    settings.SESSION_ENDPOINT_TIMEOUT_SECONDS = 60.0
    settings.SESSION_ENDPOINT_DEADLINE_SECONDS = 60.0
    settings.SESSION_ENDPOINT_TOTAL_SECONDS = 120.0
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    agent = AgentFactory(
        agora_data={
            "session_endpoint_url": f"http://127.0.0.1:{server.getsockname()[1]}/session",
            "client_id": "c",
        },
        agora_api_key="s",
    )
    run = queued_run(agent, first_message="Hello.")
    credits_before = agent.organization.credits

    def hold() -> None:
        try:
            run_execute(run.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=hold, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while not accepted and time.monotonic() < deadline:  # the endpoint has been reached
        time.sleep(0.05)
    assert accepted
    run.refresh_from_db()
    assert run.status == Status.RUNNING
    services.run_request_cancel(run=run)
    worker.join(30)
    assert not worker.is_alive()
    run.refresh_from_db()
    assert run.status == Status.CANCELLED and run.success is False
    assert run.ended_reason == "run-cancelled-by-user"
    assert "cancelled while its session endpoint was called" in run.error_message
    agent.organization.refresh_from_db()
    assert (
        agent.organization.credits == credits_before + settings.CREDITS_PER_RUN
    )  # refunded (this fixture charged nothing)
    server.close()
