from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A test that talks to the demo agent holds a real-time call (seconds of audio paced at real
# speed): marked `realtime`, it runs in `make test` and not in `make test-fast`.
REALTIME_FIXTURES = {"demo_stack"}

# Tests that load the speech models: seconds each, where most tests take milliseconds.
MODEL_FIXTURES = {"tts", "asr"}


def _cost(item: pytest.Item) -> int:
    """A rough rank of a test's wall time: end-to-end, then real-time calls, then tests that
    load speech models or are marked slow, then the rest."""
    if item.get_closest_marker("e2e"):
        return 0
    if item.get_closest_marker("realtime"):
        return 1
    if item.get_closest_marker("slow") or MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
        return 2
    return 3


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REALTIME_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realtime)
        e2e = item.get_closest_marker("e2e")
        if e2e is not None and e2e.kwargs.get("stack", True):
            # Under pytest-xdist (make test: -n 2 --dist loadgroup) the end-to-end tests that
            # start a whole stack of processes run one after another on one worker, while the
            # others run on the rest.
            item.add_marker(pytest.mark.xdist_group("e2e"))

    # Modules holding the longest tests first (xdist hands out work in this order): the worker
    # that finishes the end-to-end chain then picks up short tests, not a 40 s call that the
    # other worker would have to wait out alone at the end. A module is ranked as a whole (by
    # its costliest test), so this sort does not split it; pytest-django's own reordering of
    # transactional tests still may.
    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::")[0]

    module_cost: dict[str, int] = {}
    for item in items:
        module_cost[module(item)] = min(module_cost.get(module(item), 3), _cost(item))
    items.sort(key=lambda item: module_cost[module(item)])


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
