"""Hearing the agent during a live call, in a helper process.

A call's process paces a frame every 10 ms on its event loop. Transcribing the agent's turn in
a thread of that same process shares the GIL with the loop, and a niced thread holding the GIL
stalls the loop however the OS schedules it (priority inversion: bench/load.py saw frames sent
20–80 ms late at five simultaneous calls). So each call process hands its audio to one helper
process of its own (`python -m agora_runner hear-server`, in the idle CPU class: it never takes
the CPU from a call's pacing, see agora_runner.cpu), which loads the model once
and answers one line of JSON per request. Protocol on stdin/stdout: a 4-byte little-endian
length, then that many bytes of s16le 16 kHz mono; the answer is `{"text": …}` on one line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import struct
import sys
import threading
from typing import IO, Any

import numpy as np

from .cpu import set_cpu_policy
from .helper import HelperProcess
from .speech import FasterWhisperASR, Transcriber

log = logging.getLogger(__name__)
HEADER = struct.Struct("<I")
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # ~35 minutes of audio


class HearingProcess(HelperProcess):
    """A Transcriber whose work runs in a helper process (started on first use, restarted if it
    dies). Thread-safe: one request at a time."""

    what, unit = "hearing", "turn"

    def __init__(self, threads: int = 1, nice: int = 10, cpu_policy: str = "idle") -> None:
        super().__init__(
            "hear-server",
            "--threads",
            str(threads),
            "--nice",
            str(nice),
            "--cpu-policy",
            cpu_policy,
        )

    def transcribe(self, audio: np.ndarray) -> str:
        data = np.asarray(audio, dtype=np.int16).tobytes()
        text = self.exchange(HEADER.pack(len(data)) + data, _read_text)
        return "" if text is None else text  # unheard; post-processing still transcribes it


def _read_text(out: IO[bytes]) -> str:
    line = out.readline()
    if not line:
        raise OSError("the hearing process exited")
    return str(json.loads(line)["text"])


class HearingPool:
    """Several hearing helpers for a process that holds several calls (agora_runner.host): a
    turn goes to whichever helper is free, so one call's turn does not wait behind another's
    while a core is idle."""

    def __init__(self, helpers: int, threads: int = 1) -> None:
        self._free: queue.Queue[HearingProcess] = queue.Queue()
        self._all = [HearingProcess(threads=threads) for _ in range(max(1, helpers))]
        for helper in self._all:
            self._free.put(helper)

    def transcribe(self, audio: np.ndarray) -> str:
        helper = self._free.get()
        try:
            return helper.transcribe(audio)
        finally:
            self._free.put(helper)

    def warm(self, audio: np.ndarray) -> None:
        """Start every helper and load its model now (a worker that is starting)."""
        for helper in self._all:
            helper.transcribe(audio)

    def close(self) -> None:
        for helper in self._all:
            helper.close()


def serve(threads: int, nice: int, model: Any = None, cpu_policy: str = "normal") -> None:
    """The helper's loop (python -m agora_runner hear-server)."""
    if nice:
        os.nice(nice)
    set_cpu_policy(cpu_policy)
    if model is None:
        model = FasterWhisperASR(threads=threads, short_context=True)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(HEADER.size)
        if len(head) < HEADER.size:
            return  # the call process went away
        (size,) = HEADER.unpack(head)
        if size > MAX_REQUEST_BYTES:
            return
        data = stdin.read(size)
        text = model.transcribe(np.frombuffer(data, dtype=np.int16)) if len(data) == size else ""
        stdout.write(json.dumps({"text": text}).encode() + b"\n")
        stdout.flush()


_hearing: Transcriber | None = None
_hearing_lock = threading.Lock()


def get_hearing(threads: int = 1, in_process: bool = False, helpers: int = 1) -> Transcriber:
    """The transcriber a live call hears the agent with (short-context Whisper), one per
    process: by default a helper process of this process's own, so transcription never holds
    the GIL the call's pacing needs (`helpers` of them when the process holds several calls);
    `in_process` loads it here instead."""
    global _hearing
    with _hearing_lock:
        if _hearing is None:
            if in_process:
                _hearing = FasterWhisperASR(threads=threads, short_context=True)
            elif helpers > 1:
                _hearing = HearingPool(helpers, threads=threads)
            else:
                _hearing = HearingProcess(threads=threads)
        return _hearing
