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
import subprocess
import sys
import threading
from typing import Any

import numpy as np

from .cpu import set_cpu_policy
from .speech import FasterWhisperASR, Transcriber

log = logging.getLogger(__name__)
HEADER = struct.Struct("<I")
MAX_REQUEST_BYTES = 64 * 1024 * 1024  # ~35 minutes of audio


class HearingProcess:
    """A Transcriber whose work runs in a helper process (started on first use, restarted if it
    dies). Thread-safe: one request at a time."""

    def __init__(self, threads: int = 1, nice: int = 10, cpu_policy: str = "idle") -> None:
        self.threads, self.nice, self.cpu_policy = threads, nice, cpu_policy
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agora_runner",
                "hear-server",
                "--threads",
                str(self.threads),
                "--nice",
                str(self.nice),
                "--cpu-policy",
                self.cpu_policy,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def transcribe(self, audio: np.ndarray) -> str:
        data = np.asarray(audio, dtype=np.int16).tobytes()
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                proc = self._proc
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(HEADER.pack(len(data)) + data)
                    proc.stdin.flush()
                    line = proc.stdout.readline()
                    if not line:
                        raise OSError("the hearing process exited")
                    return str(json.loads(line)["text"])
                except (OSError, ValueError, KeyError) as exc:
                    log.warning(
                        "hearing process failed (%s); %s",
                        exc.__class__.__name__,
                        "restarting it" if attempt == 1 else "giving up on this turn",
                    )
                    self.close()
            return ""  # the turn goes unheard; post-processing still transcribes the call

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)


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
