"""Turns for post-processing on a machine whose calls are live.

While calls pace their frames on a machine, only POST_PROCESSES_DURING_CALLS post-processing
tasks work there at once (in Linux's idle scheduling class, on CPU time the calls leave); the
others wait for a turn, or for the calls to end, when every post process works. A turn is an
exclusive lock (flock) on one of that many files in POST_SLOTS_DIR/<machine>: the kernel lets
go of it when its holder closes it or dies, so a killed worker never keeps a turn. Processes
in other containers on the same machine share the directory through a volume.

Beyond those, a task may also take a turn while the machine's CPUs are left idle: one turn
for every POST_SPARE_CORES cores that stayed idle over the last second (`SpareCores`,
from the kernel's /proc/stat). A busy machine (many calls at once) leaves none, so its post
tasks wait as before; a machine with a few calls gets its results while they go on. A task
that takes such a turn keeps it until it is done; its own work then shows as busy CPU, so the
next task needs more idle cores still.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections import deque
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)
_warned: set[str] = set()


class Turn:
    """A held turn; `release()` (or leaving the `with` block) gives it back."""

    def __init__(self, handle: IO[bytes], index: int) -> None:
        self.index = index
        self._handle: IO[bytes] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            try:
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            finally:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def take_turn(directory: Path, count: int) -> Turn | None:
    """One of `count` turns in `directory` if one is free, else None (never waits)."""
    if count <= 0:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # No turns to be had here (a read-only volume): the task waits for the calls to end,
        # as it would with no turns at all. Said once per directory, not at every poll.
        if str(directory) not in _warned:
            _warned.add(str(directory))
            log.warning("post-processing turns: cannot use %s (%s)", directory, exc)
        return None
    for index in range(count):
        handle = open(directory / f"{index}.lock", "ab")  # noqa: SIM115 (held past this call)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another process
            handle.close()
            continue
        os.set_inheritable(handle.fileno(), False)
        return Turn(handle, index)
    return None


class SpareCores:
    """How many of this process's CPUs the whole machine has left idle lately, from the
    kernel's per-CPU counters in /proc/stat (idle and waiting on I/O, over all time spent).
    `sample(now)` takes a reading; `spare(window)` is the idle cores averaged over the last
    `window` seconds or a little more (from the latest reading at least that much older than
    the newest, to the newest), or None until there is such a reading.
    Work in Linux's idle class (post-processing itself) counts as busy."""

    def __init__(self, stat_path: str | Path = "/proc/stat", cpus: set[int] | None = None):
        self.stat_path = Path(stat_path)
        self.cpus = cpus if cpus is not None else _usable_cpus()
        self._readings: deque[tuple[float, float, float]] = deque(maxlen=64)

    def read(self) -> tuple[float, float]:
        """(idle core-ticks summed, core-ticks per CPU summed / CPUs) now; (0, 0) if unreadable."""
        idle = total = 0.0
        try:
            text = self.stat_path.read_text()
        except OSError:
            return 0.0, 0.0
        counted = 0
        for line in text.splitlines():
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu":
                continue
            try:
                index = int(name[3:])
                fields = [int(x) for x in rest.split()[:8]]
            except ValueError:
                continue
            if index not in self.cpus or len(fields) < 5:
                continue
            idle += fields[3] + fields[4]  # idle, iowait
            total += sum(fields)
            counted += 1
        return idle, (total / counted if counted else 0.0)

    def sample(self, now: float) -> None:
        idle, ticks = self.read()
        if ticks:
            self._readings.append((now, idle, ticks))

    def spare(self, window: float) -> float | None:
        if len(self._readings) < 2:
            return None
        newest = self._readings[-1]
        old = [r for r in self._readings if newest[0] - r[0] >= window]
        if not old:
            return None
        oldest = old[-1]
        elapsed = newest[2] - oldest[2]  # ticks that passed, per CPU
        if elapsed <= 0:
            return None
        return max(0.0, (newest[1] - oldest[1]) / elapsed)

    def forget(self) -> None:
        self._readings.clear()


def spare_turns(spare: float | None, cores_per_turn: float) -> int:
    """Turns that `spare` idle cores allow, one per `cores_per_turn` (0: none ever)."""
    if spare is None or cores_per_turn <= 0:
        return 0
    return int(spare / cores_per_turn + 1e-9)


def _usable_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))
