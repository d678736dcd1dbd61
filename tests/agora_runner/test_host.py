"""Several calls on one shared event loop (agora_runner.host), as a threads-pool calls worker
holds them."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agora_runner.host import SharedLoop
from agora_runner.runner import execute_call
from agora_runner.types import MAIN_AGENT_ENDED
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


def test_two_calls_at_once_on_the_shared_loop(demo_stack: Any, tts: Any) -> None:
    spec = spec_for(demo_stack, "?fault=leave_mid_call&leave_after=3")
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: execute_call(spec, tts=tts, shared_loop=True), range(2)))
    for outcome in outcomes:
        assert outcome.ended_reason == MAIN_AGENT_ENDED
        assert outcome.recording is not None and outcome.recording.duration_seconds > 2.5
        assert outcome.pacing["frames"] > 250
