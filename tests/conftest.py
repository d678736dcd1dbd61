from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tts() -> Any:
    from agora_runner.speech import get_tts

    return get_tts()


@pytest.fixture(scope="session")
def asr() -> Any:
    from agora_runner.speech import get_asr

    return get_asr()


class ThreadedDemoStack:
    """The real demo stack (channel server, endpoint, agents) on its own loop in a thread."""

    def __init__(self, tts: Any, asr: Any) -> None:
        from agora_runner.demo.stack import DemoStack

        self.stack = DemoStack(tts=tts, asr=asr)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.stack.start())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ThreadedDemoStack:
        self._thread.start()
        assert self._ready.wait(60), "demo stack did not start"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def demo_stack(tts: Any, asr: Any) -> Iterator[Any]:
    stack = ThreadedDemoStack(tts, asr).start()
    yield stack.stack
    stack.stop()


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: Any) -> None:
    """Recordings written by a test go to a temporary folder, never into the checkout."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
