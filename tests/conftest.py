from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A test that talks to the demo agent holds a real-time call (seconds of audio paced at real
# speed): marked `realtime`, it runs in `make test` and not in `make test-fast`.
REALTIME_FIXTURES = {"demo_stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REALTIME_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realtime)
        if item.get_closest_marker("e2e"):
            # Under pytest-xdist (make test: -n 2 --dist loadgroup) the end-to-end tests, each
            # a whole stack of processes, run one after another on one worker, while the
            # others run on the rest.
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(scope="session")
def tts() -> Any:
    from agora_runner.speech import get_tts

    return get_tts()


@pytest.fixture(scope="session")
def asr() -> Any:
    from agora_runner.speech import get_asr

    return get_asr()


@pytest.fixture(scope="session")
def demo_stack(tts: Any, asr: Any) -> Iterator[Any]:
    from agora_runner.demo.stack import ThreadedDemoStack

    stack = ThreadedDemoStack(tts, asr).start()
    yield stack.stack
    stack.stop()


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path_factory: Any) -> None:
    """Recordings written by a test go to a temporary folder, never into the checkout."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
