"""Turns for post-processing on a machine whose calls are live.

While calls pace their frames on a machine, only POST_PROCESSES_DURING_CALLS post-processing
tasks work there at once (in Linux's idle scheduling class, on CPU time the calls leave); the
others wait for a turn, or for the calls to end, when every post process works. A turn is an
exclusive lock (flock) on one of that many files in POST_SLOTS_DIR/<machine>: the kernel lets
go of it when its holder closes it or dies, so a killed worker never keeps a turn. Processes
in other containers on the same machine share the directory through a volume.
"""

from __future__ import annotations

import fcntl
import logging
import os
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
