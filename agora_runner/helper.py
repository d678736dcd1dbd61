"""A helper process of a calls worker: `python -m agora_runner <command>`, speaking a pipe
protocol on its stdin and stdout, so its work never holds the GIL the calls' pacing needs
(agora_runner.hearing, agora_runner.synthesis)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class HelperProcess:
    """Started on first use, restarted once if it dies mid-request. Thread-safe: one request at
    a time. `what` names it in the log; `unit` is what a request is about ("turn", "line")."""

    what = "helper"
    unit = "request"

    def __init__(self, *argv: str) -> None:
        self._argv = argv
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "agora_runner", *self._argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )

    def exchange(self, request: bytes, read: Callable[[IO[bytes]], T]) -> T | None:
        """Send `request`, and `read` the answer from the helper's stdout. A helper that is
        gone, or answers what cannot be read (OSError, ValueError, KeyError), is replaced
        and asked once more; None when that fails too."""
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                proc = self._proc
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(request)
                    proc.stdin.flush()
                    return read(proc.stdout)
                except (OSError, ValueError, KeyError) as exc:
                    log.warning(
                        "%s process failed (%s); %s",
                        self.what,
                        exc.__class__.__name__,
                        "restarting it" if attempt == 1 else f"giving up on this {self.unit}",
                    )
                    self.close()
            return None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
