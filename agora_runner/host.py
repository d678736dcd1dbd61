"""Many calls on one event loop.

A process that holds several calls at once (a Celery calls worker on the threads pool) runs
them all on one loop in a thread of its own, as bench/frame_pacing.py does, instead of one loop
per call in a process per call: the machine then wakes one thread per frame tick for all its
calls, not one process per call. The thread that asked for a call waits for its outcome.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .loop import new_event_loop

T = TypeVar("T")
# Calls hand blocking work (speech synthesis, hearing, an LLM policy) to the loop's executor;
# every call may have one or two such jobs waiting at once.
EXECUTOR_THREADS = 64


class SharedLoop:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._thread.is_alive():
                loop = new_event_loop()
                loop.set_default_executor(ThreadPoolExecutor(EXECUTOR_THREADS, thread_name_prefix="call-helper"))
                ready = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=main, name="calls-loop", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run `main` on the shared loop and wait for it in this thread."""
        future = asyncio.run_coroutine_threadsafe(main, self._start())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


_shared = SharedLoop()


def shared_loop() -> SharedLoop:
    return _shared
