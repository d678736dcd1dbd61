"""The demo agent: joins a local channel, greets, listens with VAD, transcribes each caller
turn, answers from a few intents with Piper, and leaves after a goodbye.

Knobs for tests: a response delay, never joining, leaving mid-call, staying silent.

Calibration mode (`calibrate_ms`): every answer is one fixed clip whose first sample is sent
exactly D ms after the caller's last voiced frame reached the agent, D taken in turn from the
list. The benchmark of the timing metrics measures them against that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio import FRAME_SAMPLES, SAMPLE_RATE, TurnTracker, trim_to_level
from ..channel.network import NetworkConditions
from ..speaker import PacedSpeaker
from ..speech import Synthesizer, Transcriber
from ..transports.base import Disconnected, RemoteAudio, UserJoined, UserLeft
from ..transports.local import LocalChannelTransport
from ..types import JoinDetails
from .intents import CALIBRATION_CLIPS, TALK_OVER, greeting_for, reply_to

log = logging.getLogger(__name__)
PRE_ROLL_FRAMES = 30  # keep 300 ms before the detected start of a caller turn
MAX_LIFETIME = 900.0
YIELD_AFTER = 0.4
CALIBRATION_END_OF_TURN_MS = 150  # the shortest D must come after the end of turn is known


@dataclass(frozen=True)
class AgentKnobs:
    response_delay_ms: int = 0
    never_join: bool = False
    leave_after_seconds: float | None = None
    silent: bool = False
    talk_over: bool = False  # starts talking while the caller is still speaking
    end_of_turn_ms: int = 700
    calibrate_ms: tuple[
        int, ...
    ] = ()  # calibration: answer the fixed clip after these delays, in turn


@dataclass
class _Ear:
    """What the agent keeps of the caller's audio while it listens."""

    tracker: TurnTracker
    history: list[bytes] = field(default_factory=list)  # the last frames, for the pre-roll
    turn: list[bytes] | None = None  # the caller's turn so far, while one is under way
    answers: int = 0  # calibration answers given
    responding: asyncio.Task[None] | None = None


class DemoAgent:
    def __init__(
        self,
        *,
        address: str,
        join: JoinDetails,
        knobs: AgentKnobs,
        tts: Synthesizer,
        asr: Transcriber,
        network: NetworkConditions | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.variables = dict(variables or {})  # agent variables from the session request
        self.join = join
        self.knobs = knobs
        self.tts = tts
        self.asr = asr
        self.transport = LocalChannelTransport(address, network=network)
        self.speaker = PacedSpeaker(self.transport.send)
        self.heard: list[str] = []
        self.said: list[str] = []
        self._done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_voiced_at = 0.0  # monotonic time the caller's last voiced frame arrived
        self.calibration: list[
            dict[str, Any]
        ] = []  # per answer: the delay asked for, how late, which clip
        self._clips: dict[str, np.ndarray] = {}

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _say(self, text: str) -> None:
        if self.knobs.silent:
            return
        audio = await asyncio.to_thread(self.tts.synthesize, text)
        await self._utter(text, audio)

    async def _utter(self, text: str, audio: np.ndarray) -> None:
        """Queue the audio at once (before any await) and wait until it has been sent."""
        self.said.append(text)
        try:
            await self.speaker.say(text, audio)
        except asyncio.CancelledError:
            # Our utterance was cut short (we were interrupted); only a cancellation of this
            # task itself goes on up.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    async def _respond(self, turn: np.ndarray) -> None:
        heard = await asyncio.to_thread(self.asr.transcribe, turn)
        self.heard.append(heard)
        reply = reply_to(heard)
        if self.knobs.response_delay_ms:
            await asyncio.sleep(self.knobs.response_delay_ms / 1000)
        await self._say(reply.text)
        if reply.hang_up:
            await asyncio.sleep(0.3)
            self._done.set()

    def _calibration_clip(self, text: str) -> np.ndarray:
        """A fixed answer, cut to exact edges (see `trim_to_level`)."""
        if text not in self._clips:
            self._clips[text] = trim_to_level(self.tts.synthesize(text))
        return self._clips[text]

    async def _answer_after(self, delay_ms: int, heard_at: float, text: str) -> None:
        """Send the clip so its first sample plays `delay_ms` after `heard_at`.

        Frame k of the speaker leaves at t0 + k·10 ms and holds the 10 ms of audio that ends
        then, so sample s plays at t0 − 10 ms + s / 16 kHz. Leading zeros put the clip's
        first sample on the exact sample the delay asks for.
        """
        clip = await asyncio.to_thread(self._calibration_clip, text)
        target = heard_at + delay_ms / 1000
        wait = target - time.monotonic() - 0.05
        if wait > 0:
            await asyncio.sleep(wait)
        if self.speaker.speaking:
            log.info("demo agent: calibration answer skipped, still speaking")
            return
        sample = round((target - self.speaker.t0 + FRAME_SAMPLES / SAMPLE_RATE) * SAMPLE_RATE)
        # No suspension between here and the queueing in _utter(): the next frame the speaker
        # builds is frames_sent.
        pad = sample - self.speaker.frames_sent * FRAME_SAMPLES
        self.calibration.append(
            {
                "requested_ms": delay_ms,
                "late_ms": round(max(-pad, 0) * 1000 / SAMPLE_RATE, 2),
                "clip": text,
            }
        )
        if pad < 0:
            log.info("demo agent: calibration delay %d ms came too late to keep", delay_ms)
            pad = 0
        await self._utter(text, np.concatenate([np.zeros(pad, np.int16), clip]))

    async def _yield_if_interrupted(self, tracker: TurnTracker) -> None:
        """A caller still talking 400 ms into our speech is an interruption, not a backchannel:
        stop talking and let them finish."""
        await asyncio.sleep(YIELD_AFTER)
        if tracker.speaking and self.speaker.speaking:
            log.info("demo agent: interrupted, stopping")
            self.speaker.clear()

    async def _listen(self, caller_present: asyncio.Event) -> None:
        end_of_turn = CALIBRATION_END_OF_TURN_MS if self.knobs.calibrate_ms else None
        ear = _Ear(TurnTracker(end_of_turn or self.knobs.end_of_turn_ms))
        while True:
            ev = await self.transport.events.get()
            if isinstance(ev, UserJoined):
                caller_present.set()
            elif isinstance(ev, (UserLeft, Disconnected)):
                self._done.set()
                return
            elif isinstance(ev, RemoteAudio):
                caller_present.set()
                self._heard(ear, ev.pcm)

    def _heard(self, ear: _Ear, pcm: bytes) -> None:
        """A frame of the caller's audio: follow its turns, and act when one starts or ends."""
        arrived = time.monotonic()
        ear.history = (ear.history + [pcm])[-PRE_ROLL_FRAMES:]
        change = ear.tracker.push(pcm)
        if ear.tracker.detector.last_voiced:
            self._last_voiced_at = arrived
        if change == "start":
            ear.turn = list(ear.history)
            if self.speaker.speaking and not self.knobs.talk_over:
                self._spawn(self._yield_if_interrupted(ear.tracker))
            if self.knobs.talk_over and not self.speaker.speaking:
                self._spawn(self._say(TALK_OVER))
        elif ear.turn is not None:
            ear.turn.append(pcm)
        if change == "end":
            self._turn_ended(ear)

    def _turn_ended(self, ear: _Ear) -> None:
        """The caller's turn ended: answer it (in calibration mode, with the next fixed clip
        at the next fixed delay)."""
        if self.knobs.calibrate_ms:
            ear.turn = None
            delay = self.knobs.calibrate_ms[ear.answers % len(self.knobs.calibrate_ms)]
            ear.answers += 1
            clip = CALIBRATION_CLIPS[ear.answers % len(CALIBRATION_CLIPS)]
            self._spawn(self._answer_after(delay, self._last_voiced_at, clip))
        elif ear.turn is not None:
            audio = np.frombuffer(b"".join(ear.turn), dtype=np.int16)
            ear.turn = None
            if ear.responding is None or ear.responding.done():
                ear.responding = self._spawn(self._respond(audio))

    async def run(self) -> None:
        if self.knobs.never_join:
            log.info("demo agent: never joining (fault knob)")
            return
        members = await self.transport.connect(self.join)
        caller_present = asyncio.Event()
        if members:
            caller_present.set()
        sender = asyncio.create_task(self.speaker.run(time.monotonic()))
        listener = asyncio.create_task(self._listen(caller_present))
        try:
            await asyncio.wait_for(self._converse(caller_present), MAX_LIFETIME)
        except TimeoutError:
            log.info("demo agent: lifetime over")
        finally:
            self.speaker.stop()
            pending = [sender, listener, *self._tasks]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self.transport.disconnect()

    async def _converse(self, caller_present: asyncio.Event) -> None:
        await asyncio.wait_for(caller_present.wait(), 60)
        await asyncio.sleep(0.3)
        if self.knobs.calibrate_ms:
            for text in CALIBRATION_CLIPS:  # ready before any answer is timed
                await asyncio.to_thread(self._calibration_clip, text)
            greeting = CALIBRATION_CLIPS[0]
            clip = self._calibration_clip(greeting)
            self.said.append(greeting)
            await self.speaker.say(greeting, clip)
        else:
            await self._say(greeting_for(self.variables))
        if self.knobs.leave_after_seconds is not None:
            try:
                await asyncio.wait_for(self._done.wait(), self.knobs.leave_after_seconds)
            except TimeoutError:
                log.info("demo agent: leaving mid-call (fault knob)")
            return
        await self._done.wait()
