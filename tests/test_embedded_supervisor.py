"""The embedded stack's supervisor, with real child processes: a child that dies is started
again (with a pause that grows), one that keeps dying makes the stack give up loudly, and logs
are appended to and rotated, never overwritten."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cekura import embedded
from cekura.embedded import EmbeddedStack

pytestmark = pytest.mark.slow  # seconds of waiting: make test, not make test-fast

SERVE = [sys.executable, "-c", "import time\nprint('up', flush=True)\nwhile True: time.sleep(1)"]
DIE = [sys.executable, "-c", "print('dying', flush=True); raise SystemExit(3)"]


def until(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[EmbeddedStack]:
    said: list[str] = []
    s = EmbeddedStack(
        log_dir=tmp_path / "logs",
        log=said.append,
        backoff=(0.1, 0.2, 0.4),
        stable_seconds=30,
        give_up_after=3,
    )
    s.said = said  # type: ignore[attr-defined]
    yield s
    s.stop()


def test_a_killed_child_is_started_again_each_time(stack: EmbeddedStack) -> None:
    stack._spawn("worker", SERVE, {})
    stack.supervise()
    log = stack.log_dir / "worker.log"  # type: ignore[operator]
    for n in range(1, 4):
        first = stack.children["worker"].proc.pid
        assert until(
            lambda n=n: log.read_text().count("up\n") == n
        )  # this start's output is in the log
        stack.crash("worker")
        assert stack.alive()  # a child being started again counts as up: no race with the main loop
        assert until(
            lambda first=first: (
                stack.running("worker") and stack.children["worker"].proc.pid != first
            )
        )
        assert stack.restarts["worker"] == n
    assert stack.alive() and stack.gave_up is None
    assert until(lambda: log.read_text().count("up\n") == 4)
    assert log.read_text().count("--- embedded: worker starting") == 4  # every start's output kept


def test_the_pause_grows_and_a_child_that_keeps_crashing_stops_the_stack_loudly(
    stack: EmbeddedStack,
) -> None:
    stack._spawn("worker-post", DIE, {})
    stack.supervise()
    assert until(lambda: stack.gave_up is not None)
    assert not stack.alive() and stack.gave_up == "worker-post"
    said = stack.said  # type: ignore[attr-defined]
    pauses = [line.split("again in ")[1].split(" s")[0] for line in said if "again in" in line]
    assert pauses == ["0.1", "0.2", "0.4"]
    assert "worker-post crashed 4 times in a row (last exit code 3); giving up" in said[-1]
    assert stack.restarts["worker-post"] == 3
    assert (stack.log_dir / "worker-post.log").read_text().count("dying") == 4  # type: ignore[operator]


def test_a_child_that_stays_up_has_recovered(stack: EmbeddedStack) -> None:
    stack.stable_seconds = 0.3
    stack._spawn("web", SERVE, {})
    stack.supervise()
    for _ in range(5):  # more crashes than give_up_after, but each after it had stayed up
        first = stack.children["web"].proc.pid
        assert until(lambda: time.monotonic() - stack.children["web"].started > 0.5)
        assert until(lambda: stack.children["web"].crashes == 0)
        stack.crash("web")
        assert until(
            lambda first=first: stack.running("web") and stack.children["web"].proc.pid != first
        )
    assert stack.alive()


def test_logs_are_appended_to_across_stacks_and_rotated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "worker.log").write_text("the crash before\n")
    monkeypatch.setattr(embedded, "LOG_MAX_BYTES", 2000)
    s = EmbeddedStack(log_dir=logs, log=lambda m: None)
    try:
        s._spawn(
            "worker",
            [sys.executable, "-c", "for i in range(400): print('line', i, flush=True)"],
            {},
        )
        s.children["worker"].proc.wait(30)
    finally:
        s.stop()
    assert (logs / "worker.log.1").exists()  # rotated, not overwritten
    kept = "".join(p.read_text() for p in sorted(logs.glob("worker.log*")))
    assert "line 399" in kept and "the crash before" in kept
    assert len(list(logs.glob("worker.log.*"))) <= embedded.LOG_BACKUPS
