"""The demo agent: joins a local channel, greets, listens with VAD, transcribes each caller
turn, answers from a few intents with Piper, and leaves after a goodbye.

Knobs for tests: a response delay, never joining, leaving mid-call, staying silent.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import TurnTracker
from ..channel.network import NetworkConditions
from ..speaker import PacedSpeaker
from ..speech import Synthesizer, Transcriber
from ..transports.base import Disconnected, RemoteAudio, UserJoined, UserLeft
from ..transports.local import LocalChannelTransport
from ..types import JoinDetails
from .intents import GREETING, TALK_OVER, reply_to

log = logging.getLogger(__name__)
PRE_ROLL_FRAMES = 30  # keep 300 ms before the detected start of a caller turn
MAX_LIFETIME = 900.0
YIELD_AFTER = 0.4


@dataclass(frozen=True)
class AgentKnobs:
    response_delay_ms: int = 0
    never_join: bool = False
    leave_after_seconds: float | None = None
    silent: bool = False
    talk_over: bool = False  # starts talking while the caller is still speaking
    end_of_turn_ms: int = 700


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
    ) -> None:
        self.address = address
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

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _say(self, text: str) -> None:
        if self.knobs.silent:
            return
        audio = await asyncio.to_thread(self.tts.synthesize, text)
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

    async def _yield_if_interrupted(self, tracker: TurnTracker) -> None:
        """A caller still talking 400 ms into our speech is an interruption, not a backchannel:
        stop talking and let them finish."""
        await asyncio.sleep(YIELD_AFTER)
        if tracker.speaking and self.speaker.speaking:
            log.info("demo agent: interrupted, stopping")
            self.speaker.clear()

    async def _listen(self, caller_present: asyncio.Event) -> None:
        tracker = TurnTracker(self.knobs.end_of_turn_ms)
        history: list[bytes] = []
        turn: list[bytes] | None = None
        responding: asyncio.Task[None] | None = None
        while True:
            ev = await self.transport.events.get()
            if isinstance(ev, UserJoined):
                caller_present.set()
            elif isinstance(ev, (UserLeft, Disconnected)):
                self._done.set()
                return
            elif isinstance(ev, RemoteAudio):
                caller_present.set()
                history = (history + [ev.pcm])[-PRE_ROLL_FRAMES:]
                change = tracker.push(ev.pcm)
                if change == "start":
                    turn = list(history)
                    if self.speaker.speaking and not self.knobs.talk_over:
                        self._spawn(self._yield_if_interrupted(tracker))
                    if self.knobs.talk_over and not self.speaker.speaking:
                        self._spawn(self._say(TALK_OVER))
                elif turn is not None:
                    turn.append(ev.pcm)
                if change == "end" and turn is not None:
                    audio = np.frombuffer(b"".join(turn), dtype=np.int16)
                    turn = None
                    if responding is None or responding.done():
                        responding = self._spawn(self._respond(audio))

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
        await self._say(GREETING)
        if self.knobs.leave_after_seconds is not None:
            try:
                await asyncio.wait_for(self._done.wait(), self.knobs.leave_after_seconds)
            except TimeoutError:
                log.info("demo agent: leaving mid-call (fault knob)")
            return
        await self._done.wait()


