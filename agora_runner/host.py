"""Many calls on one event loop.

A process that holds several calls at once (a Celery calls worker on the threads pool) runs
them all on one loop in a thread of its own, as bench/frame_pacing.py does, instead of one loop
per call in a process per call: the machine then wakes one thread per frame tick for all its
calls, not one process per call. The thread that asked for a call waits for its outcome.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .cpu import pace_first
from .loop import new_event_loop

log = logging.getLogger(__name__)
T = TypeVar("T")
# Calls hand blocking work (speech synthesis, hearing, an LLM policy) to the loop's executor;
# every call may have one or two such jobs waiting at once.
EXECUTOR_THREADS = 64


class CallTimeLimit(Exception):
    """A call on the shared loop outlived its time limit. The Celery threads pool enforces no
    task time limits, so the waiting thread does: it gives up on the call (asking the loop to
    cancel it) and the run ends with a reason instead of staying `running`."""


class SharedLoop:
    def __init__(self) -> None:
        self.pacing_priority = 0  # the loop thread's real-time priority (cpu.pace_first)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = new_event_loop()
                loop.set_default_executor(
                    ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="call-helper")
                )
                ready = threading.Event()

                def main() -> None:
                    got = pace_first(self.pacing_priority)
                    if self.pacing_priority and not got.startswith("realtime"):
                        log.warning(
                            "the calls loop runs %s, not real-time: grant CAP_SYS_NICE "
                            "(docker-compose: cap_add SYS_NICE) or frames may go out late "
                            "on a busy machine",
                            got,
                        )
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=main, name="calls-loop", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def run(self, main: Coroutine[Any, Any, T], time_limit: float | None = None) -> T:
        """Run `main` on the shared loop and wait for it in this thread, at most `time_limit`
        seconds (then CallTimeLimit)."""
        future = asyncio.run_coroutine_threadsafe(main, self._start())
        try:
            return future.result(timeout=time_limit)
        except TimeoutError as exc:
            future.cancel()
            if future.done() and not future.cancelled():
                return future.result()  # it finished just then
            raise CallTimeLimit(f"the call was still going after {time_limit:g} s") from exc
        except BaseException:
            future.cancel()
            raise


_shared = SharedLoop()


def shared_loop() -> SharedLoop:
    return _shared
