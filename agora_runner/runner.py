"""The runner's front door: CallSpec in, CallOutcome (or a RunnerError) out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import replace

import httpx

from common.llm import LLMConfig

from . import host, loop
from .call import SimulatedCall, lowered, run_call_async
from .cpu import pacing_first
from .errors import RunCancelled, RunnerError, ScenarioError, SessionEndpointError
from .policy import (
    CallerPolicy,
    Condition,
    ConditionalPolicy,
    LLMPolicy,
    conditions_from_instructions,
    lines_from_instructions,
)
from .session import fetch_join_details_async
from .speech import Synthesizer, Transcriber
from .transports import select_transport
from .types import MAX_LINE_CHARS, CallerScript, CallOutcome, CallSpec, JoinDetails

log = logging.getLogger(__name__)
SESSION_ATTEMPTS = 3


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle, tens of milliseconds
    with the GIL held, which on a process holding several calls stalls all their frames."""
    return httpx.create_ssl_context()


def fetch_with_retries(
    spec: CallSpec,
    *,
    attempts: int = SESSION_ATTEMPTS,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    stop: threading.Event | None = None,
) -> JoinDetails:
    """Transient endpoint failures (time-outs, 5xx, refused connections) are retried with
    backoff; a permanent one (4xx, bad answer) fails at once. Each attempt has its own
    deadline and all of them together `total_seconds`; setting `stop` ends the wait within a
    fraction of a second (RunCancelled)."""
    return asyncio.run(_fetch_with_retries(spec, attempts, sleep or asyncio.sleep, stop))


async def _fetch_with_retries(
    spec: CallSpec,
    attempts: int,
    sleep: Callable[[float], Awaitable[None]],
    stop: threading.Event | None,
) -> JoinDetails:
    config = spec.endpoint
    async with httpx.AsyncClient(follow_redirects=False, verify=tls_context()) as client:

        async def attempts_made() -> JoinDetails:
            for attempt in range(1, attempts + 1):
                try:
                    return await fetch_join_details_async(
                        config, join_uid=spec.join_uid, client=client
                    )
                except RunnerError as exc:
                    if exc.permanent or attempt == attempts:
                        if attempt > 1:
                            exc.message = f"{exc.message} (after {attempt} attempts)"
                            exc.args = (exc.message,)
                        raise
                    log.info(
                        "session endpoint attempt %d failed (%s); retrying", attempt, exc.message
                    )
                    await sleep(float(2 ** (attempt - 1)))
            raise AssertionError("unreachable")

        work = asyncio.ensure_future(asyncio.wait_for(attempts_made(), config.total_seconds))
        while not work.done():
            await asyncio.wait([work], timeout=0.2)
            if stop is not None and stop.is_set() and not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work  # the request is dropped, its connection closed
                raise RunCancelled("the run was cancelled while its session endpoint was called")
        try:
            return work.result()
        except TimeoutError:
            raise SessionEndpointError(
                f"session endpoint gave no usable answer within {config.total_seconds:g} s, "
                "retries included",
                permanent=False,
            ) from None


def build_policy(
    script: CallerScript, *, goodbye: str, llm: LLMConfig | None = None, seed: int = 0
) -> CallerPolicy:
    """Conditional actions → the matcher (an LLM, when set, words the non-fixed actions);
    instructions with an LLM → the LLM caller; instructions without one → the matcher over
    the quoted lines of the instructions."""
    if script.conditions:
        conditions = [
            Condition(
                int(c.get("id") or i),
                str(c.get("condition") or ""),
                str(c["action"]),
                bool(c.get("fixed_message")),
            )
            for i, c in enumerate(script.conditions, start=1)
            if str(c.get("action") or "").strip()
        ]
        return ConditionalPolicy(
            script.first_message, conditions, goodbye=goodbye, llm=llm, seed=seed
        )
    if llm is not None:
        return LLMPolicy(
            llm,
            instructions=script.instructions,
            first_message=script.first_message,
            personality=script.personality,
            seed=seed,
        )
    return ConditionalPolicy(
        script.first_message, conditions_from_instructions(script.instructions), goodbye=goodbye
    )


def known_lines(script: CallerScript, goodbye: str) -> list[str]:
    lines = [script.first_message, goodbye, *lines_from_instructions(script.instructions)]
    return lines + [str(c["action"]) for c in script.conditions if c.get("action")]


def presynthesize(
    tts: Synthesizer,
    lines: list[str],
    speed: float,
    *,
    budget: float,
    stop: threading.Event | None = None,
) -> int:
    """Synthesise the caller's known lines into the TTS cache before joining, so no CPU-heavy
    work competes with frame pacing during the call, in a helper thread at a lower priority
    (other calls on this machine are pacing frames). Within `budget` seconds: lines left over
    are synthesised when they are said. Setting `stop` ends it at once (RunCancelled). Returns
    how many lines were synthesised."""
    started = time.monotonic()
    pool = ThreadPoolExecutor(1, thread_name_prefix="synthesis")
    done = 0
    try:
        for text in dict.fromkeys(lines):  # each line once, in order
            if time.monotonic() - started > budget:
                log.info(
                    "%d caller lines left to synthesise during the call (budget %g s)",
                    len(set(lines)) - done,
                    budget,
                )
                break
            line = pool.submit(lowered, tts.synthesize, text, speed)
            while True:
                if stop is not None and stop.is_set():
                    raise RunCancelled(
                        "the run was cancelled while the caller's lines were synthesised"
                    )
                try:
                    line.result(timeout=0.2)
                    break
                except FuturesTimeout:
                    continue
            done += 1
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a line under way ends on its own
    return done


def check_lines(lines: list[str]) -> None:
    for text in lines:
        if len(text) > MAX_LINE_CHARS:
            raise ScenarioError(
                f"a caller line is {len(text):,} characters long; the limit is {MAX_LINE_CHARS:,} "
                f"({text[:40]!r}…)"
            )


def execute_call(
    spec: CallSpec,
    *,
    tts: Synthesizer,
    asr: Transcriber | None = None,
    stop: threading.Event | None = None,
    shared_loop: bool = False,
    time_limit: float | None = None,
    synthesis_budget: float = 30.0,
    on_joining: Callable[[], None] | None = None,
    pacing_priority: int = 0,
) -> CallOutcome:
    """Synthesise the caller's known lines, fetch join details, hold the call. Setting `stop`
    (from another thread) ends any of these within a second, keeping what was recorded.
    `shared_loop`: hold the call on this process's one loop for all its calls
    (agora_runner.host), not a loop of its own. `time_limit` bounds the whole: what the
    synthesis and the endpoint take comes out of what the call may take (host.CallTimeLimit).
    `on_joining` is called once the join details are in, as the call begins.
    `pacing_priority`: the real-time priority of the thread that paces the call's frames
    (cpu.pace_first; 0: a normal thread)."""
    started = time.monotonic()
    lines = known_lines(spec.caller, spec.goodbye_line)
    check_lines(lines)
    presynthesize(tts, lines, spec.persona.speed, budget=synthesis_budget, stop=stop)
    if time_limit is not None:
        left = max(1.0, time_limit - (time.monotonic() - started))
        if left < spec.endpoint.total_seconds:
            spec = replace(spec, endpoint=replace(spec.endpoint, total_seconds=left))
    policy = build_policy(spec.caller, goodbye=spec.goodbye_line, llm=spec.llm, seed=spec.seed)
    join = fetch_with_retries(spec, stop=stop)
    if on_joining is not None:
        on_joining()
    transport = select_transport(
        join,
        local_app_ids=spec.local_channel_app_ids,
        local_address=spec.local_channel_address,
        local_network=spec.local_network,
    )
    call = SimulatedCall(
        transport=transport,
        join=join,
        policy=policy,
        tts=tts,
        asr=asr,
        max_duration=spec.max_duration_seconds,
        agent_join_timeout=spec.agent_join_timeout_seconds,
        silence_limit=spec.silence_limit_seconds,
        end_of_turn_ms=spec.end_of_turn_silence_ms,
        agent_gives_first_message=spec.agent_gives_first_message,
        persona=spec.persona,
        seed=spec.seed,
        stop=stop,
    )
    # From now on in this process, another thread (the worker's heartbeat, a helper talking to
    # the hearing process) hands the GIL back to the frame-pacing loop within 1 ms when the
    # loop asks for it; Python's default, 5 ms, is a frame's whole jitter budget.
    if sys.getswitchinterval() > CALL_SWITCH_INTERVAL:
        sys.setswitchinterval(CALL_SWITCH_INTERVAL)
    if shared_loop:
        if time_limit is not None:
            time_limit = max(1.0, time_limit - (time.monotonic() - started))
        shared = host.shared_loop()
        shared.pacing_priority = pacing_priority  # taken when its thread starts
        return shared.run(run_call_async(call), time_limit=time_limit)
    with pacing_first(pacing_priority):
        return loop.run(run_call_async(call))


CALL_SWITCH_INTERVAL = 0.001
