"""The caller's voice during live calls, in a helper process.

Piper holds the GIL for parts of every sentence it synthesises (phonemes, the model's inputs
and outputs). In the process that paces the calls' frames, a synthesis thread holding the GIL
while the machine runs other work stalls the pacing thread however high its priority:
bench/load.py with a line of its own for every call (nothing synthesised before) had every
call's jitter p99 at 13-68 ms. So a calls worker synthesises in a helper process
(`python -m agora_runner synth-server`, niced: it gives way to the calls, but a line must be
ready in time) and keeps the results: the same line is the same audio in every call
(PiperTTS), so it is synthesised once per worker.

Protocol on stdin/stdout: one line of JSON, `{"text": …, "speed": …}`; the answer is a 4-byte
little-endian signed length, then that many bytes of s16le 16 kHz mono (length -1: it failed).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import threading
from typing import IO, Any

import numpy as np

from .helper import HelperProcess
from .speech import Kept

log = logging.getLogger(__name__)
HEADER = struct.Struct("<i")
FAILED = -1


class SynthesisError(RuntimeError):
    pass


class SynthesisProcess(HelperProcess):
    """A Synthesizer whose work runs in a helper process (started on first use, restarted if
    it dies), its results kept here by (text, speed). Thread-safe: one sentence at a time, as
    Piper is in-process too."""

    what, unit = "synthesis", "line"

    def __init__(self, nice: int = 10, cache_size: int = 512) -> None:
        super().__init__("synth-server", "--nice", str(nice))
        self._kept: Kept[tuple[str, float], np.ndarray] = Kept(cache_size)
        self.synthesized = 0  # lines the helper made (not kept from before)

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        key = (text, round(speed, 3))
        audio = self._kept.get(key)
        if audio is None:
            audio = self._ask(text, speed)
            self._kept.put(key, audio)
            self.synthesized += 1
        return audio

    def _ask(self, text: str, speed: float) -> np.ndarray:
        request = json.dumps({"text": text, "speed": speed}).encode() + b"\n"
        audio = self.exchange(request, lambda out: _read_audio(out, text))
        if audio is None:
            raise SynthesisError("the caller's voice (speech synthesis) is not available")
        audio.setflags(write=False)  # shared by every caller of the cache, as PiperTTS's is
        return audio


def _read_audio(out: IO[bytes], text: str) -> np.ndarray:
    head = out.read(HEADER.size)
    if len(head) < HEADER.size:
        raise OSError("the synthesis process exited")
    (size,) = HEADER.unpack(head)
    if size == FAILED:  # the helper is well: the line is what it could not say
        raise SynthesisError(f"the caller's voice could not say {text[:60]!r}")
    data = out.read(size)
    if len(data) < size:
        raise OSError("the synthesis process exited mid-answer")
    return np.frombuffer(data, dtype=np.int16).copy()


def serve(nice: int, tts: Any = None) -> None:
    """The helper's loop (python -m agora_runner synth-server)."""
    if nice:
        os.nice(nice)
    if tts is None:
        from .speech import PiperTTS

        tts = PiperTTS(cache_size=0)
    # The answers go to what stdout was; anything a library prints goes to stderr instead.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    stdin = sys.stdin.buffer
    for line in stdin:
        try:
            request = json.loads(line)
            audio = tts.synthesize(str(request["text"]), float(request.get("speed", 1.0)))
            data = np.asarray(audio, dtype=np.int16).tobytes()
            stdout.write(HEADER.pack(len(data)) + data)
        except Exception:  # the worker is told, and the helper goes on
            log.exception("synthesis failed")
            stdout.write(HEADER.pack(FAILED))
        stdout.flush()


_synthesis: SynthesisProcess | None = None
_synthesis_lock = threading.Lock()


def get_synthesis() -> SynthesisProcess:
    """This process's helper-backed caller voice (one per process)."""
    global _synthesis
    with _synthesis_lock:
        if _synthesis is None:
            _synthesis = SynthesisProcess()
        return _synthesis
