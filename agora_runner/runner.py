"""The runner's front door: CallSpec in, CallOutcome (or a RunnerError) out."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from .call import SimulatedCall, run_call_async
from .errors import RunnerError
from .session import fetch_join_details
from .speech import Synthesizer
from .transports import select_transport
from .types import CallOutcome, CallSpec, JoinDetails

log = logging.getLogger(__name__)
SESSION_ATTEMPTS = 3


def fetch_with_retries(
    spec: CallSpec, *, attempts: int = SESSION_ATTEMPTS, sleep: Callable[[float], None] = time.sleep
) -> JoinDetails:
    """Transient endpoint failures (time-outs, 5xx, refused connections) are retried with
    backoff; a permanent one (4xx, bad answer) fails at once."""
    with httpx.Client(follow_redirects=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                return fetch_join_details(spec.endpoint, join_uid=spec.join_uid, client=client)
            except RunnerError as exc:
                if exc.permanent or attempt == attempts:
                    if attempt > 1:
                        exc.message = f"{exc.message} (after {attempt} attempts)"
                        exc.args = (exc.message,)
                    raise
                log.info("session endpoint attempt %d failed (%s); retrying", attempt, exc.message)
                sleep(float(2 ** (attempt - 1)))
    raise AssertionError("unreachable")


def execute_call(spec: CallSpec, *, tts: Synthesizer) -> CallOutcome:
    """Fetch join details, synthesise the caller's lines, hold the call."""
    # Speech is synthesised before joining, so no CPU-heavy work competes with frame pacing.
    lines = [(text, tts.synthesize(text)) for text in spec.lines]
    goodbye = (spec.goodbye_line, tts.synthesize(spec.goodbye_line)) if spec.goodbye_line else None
    join = fetch_with_retries(spec)
    transport = select_transport(
        join,
        local_app_ids=spec.local_channel_app_ids,
        local_address=spec.local_channel_address,
        local_network=spec.local_network,
    )
    call = SimulatedCall(
        transport=transport,
        join=join,
        lines=lines,
        goodbye=goodbye,
        max_duration=spec.max_duration_seconds,
        agent_join_timeout=spec.agent_join_timeout_seconds,
        silence_limit=spec.silence_limit_seconds,
        end_of_turn_ms=spec.end_of_turn_silence_ms,
        agent_gives_first_message=spec.agent_gives_first_message,
    )
    return asyncio.run(run_call_async(call))
