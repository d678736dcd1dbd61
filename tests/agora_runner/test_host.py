"""Several calls on one shared event loop (agora_runner.host), as a threads-pool calls worker
holds them."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agora_runner.host import CallTimeLimit, SharedLoop
from agora_runner.runner import execute_call
from common.vocabulary import EndedReason
from tests.agora_runner.test_call import spec_for


def test_the_shared_loop_runs_every_thread_s_coroutine_on_one_loop_thread() -> None:
    shared = SharedLoop()

    async def where(delay: float) -> int:
        await asyncio.sleep(delay)
        return threading.get_ident()

    with ThreadPoolExecutor(4) as pool:
        idents = list(pool.map(lambda d: shared.run(where(d)), [0.05, 0.01, 0.03, 0.02]))
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()

    async def broken() -> None:
        raise ValueError("from the call")

    with pytest.raises(ValueError, match="from the call"):
        shared.run(broken())


def test_a_call_past_its_time_limit_is_given_up_and_cancelled() -> None:
    """The threads pool enforces no Celery time limit: the waiting thread does, and the loop
    cancels the call, so the run can end (timeout) instead of staying `running`."""
    shared = SharedLoop()
    cancelled = threading.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(CallTimeLimit, match="still going after 0.2 s"):
        shared.run(hangs(), time_limit=0.2)
    assert cancelled.wait(2)

    async def quick() -> str:
        return "done"

    assert shared.run(quick(), time_limit=5) == "done"  # the loop goes on serving calls


def test_two_calls_at_once_on_the_shared_loop(demo_stack: Any, tts: Any) -> None:
    spec = spec_for(demo_stack, "?fault=leave_mid_call&leave_after=3")
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: execute_call(spec, tts=tts, shared_loop=True), range(2)))
    for outcome in outcomes:
        assert outcome.ended_reason == EndedReason.MAIN_AGENT_ENDED
        assert outcome.recording is not None and outcome.recording.duration_seconds > 2.5
        assert outcome.pacing["frames"] > 250
