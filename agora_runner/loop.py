"""The event loop calls run on: uvloop when it is installed (libuv, in C), else asyncio's own.

A live call wakes its loop for every 10 ms frame it sends and every one it receives; on uvloop
that costs about a third less CPU (measured on one demo call: the caller's loop thread went
from 1.8 to 1.2 CPU-seconds), which is what lets more calls share a machine. Set
AGORA_RUNNER_LOOP=asyncio to use asyncio's loop anyway.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _uvloop() -> Any:
    if os.environ.get("AGORA_RUNNER_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop


def new_event_loop() -> asyncio.AbstractEventLoop:
    uv = _uvloop()
    return uv.new_event_loop() if uv is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on the loop above."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
