"""A paced speaker: one 10 ms frame per tick of the monotonic clock, speech or silence."""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from .audio import FRAME_BYTES, FRAME_SAMPLES, SILENCE_FRAME


@dataclass
class _Utterance:
    text: str
    pcm: bytes
    done: asyncio.Future[tuple[int, int]]
    tag: str = ""
    offset: int = 0
    start_sample: int | None = None


LATE_AT_KEPT = 20


class PacedSpeaker:
    """Frame k goes out at t0 + k·10 ms and is sample k·160 of this speaker's own track.

    Deadlines come from the monotonic clock, never from the previous send, so lateness does
    not accumulate: after a stall the backlog goes out at once and the next frames are on time.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        on_frame: Callable[[bytes], None] | None = None,
        on_start: Callable[[str, int, str], None] | None = None,
        on_end: Callable[[str, int, int, str], None] | None = None,
        background: np.ndarray | None = None,
    ) -> None:
        """`background` (int16) is looped under every frame sent, speech and silence alike."""
        self._send = send
        self._on_frame = on_frame
        self._on_start = on_start
        self._on_end = on_end
        self.queue: list[_Utterance] = []
        self.frames_sent = 0
        self.t0 = 0.0
        self.late_frames = 0
        self.lateness = array("f")  # ms past its deadline at which each frame went out
        self.late_at: list[float] = []  # call time (s) of the first frames more than 20 ms late
        self._stopping = False
        self._background = background if background is not None and len(background) else None

    @property
    def speaking(self) -> bool:
        return bool(self.queue)

    def say(self, text: str, audio: np.ndarray, tag: str = "") -> asyncio.Future[tuple[int, int]]:
        """Queue speech; the future gives (start_sample, end_sample) once it has all been sent."""
        fut: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()
        self.queue.append(_Utterance(text, audio.astype(np.int16).tobytes(), fut, tag))
        return fut

    def _mix(self, frame: bytes) -> bytes:
        if self._background is None:
            return frame
        n = len(self._background)
        start = (self.frames_sent * FRAME_SAMPLES) % n
        idx = (np.arange(FRAME_SAMPLES) + start) % n
        mixed = np.frombuffer(frame, dtype=np.int16).astype(np.int32) + self._background[idx]
        return bytes(np.clip(mixed, -32768, 32767).astype(np.int16).tobytes())

    def clear(self) -> None:
        for utt in self.queue:
            if not utt.done.done():
                utt.done.cancel()
        self.queue.clear()

    def _next_frame(self) -> bytes:
        return self._mix(self._next_speech())

    def _next_speech(self) -> bytes:
        if not self.queue:
            return SILENCE_FRAME
        utt = self.queue[0]
        if utt.start_sample is None:
            utt.start_sample = self.frames_sent * FRAME_SAMPLES
            if self._on_start:
                self._on_start(utt.text, utt.start_sample, utt.tag)
        frame = utt.pcm[utt.offset : utt.offset + FRAME_BYTES]
        utt.offset += FRAME_BYTES
        if len(frame) < FRAME_BYTES:
            frame += bytes(FRAME_BYTES - len(frame))
        if utt.offset >= len(utt.pcm):
            self.queue.pop(0)
            end_sample = (self.frames_sent + 1) * FRAME_SAMPLES
            if self._on_end:
                self._on_end(utt.text, utt.start_sample, end_sample, utt.tag)
            if not utt.done.done():
                utt.done.set_result((utt.start_sample, end_sample))
        return frame

    async def run(self, t0: float) -> None:
        self.t0 = t0
        while not self._stopping:
            deadline = self.t0 + self.frames_sent * 0.01
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.02:
                self.late_frames += 1
                if len(self.late_at) < LATE_AT_KEPT:
                    self.late_at.append(round(self.frames_sent * 0.01, 2))
            self.lateness.append(max(0.0, (time.monotonic() - deadline) * 1000))
            frame = self._next_frame()
            await self._send(frame)
            if self._on_frame:
                self._on_frame(frame)
            self.frames_sent += 1

    def stop(self) -> None:
        self._stopping = True

    def pacing(self) -> dict[str, float | int | list[float]]:
        """How on time this speaker's frames went out (send-time jitter): p50, p99 and max ms
        late, frames more than 20 ms late and when the first of them were due (call seconds). A busy
        machine shows here first."""
        if not self.lateness:
            return {"frames": 0}
        ms = np.frombuffer(self.lateness, dtype=np.float32)
        return {
            "frames": len(ms),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2),
            "late_frames": self.late_frames,
            "late_at_s": list(self.late_at),
        }
