"""One simulated call: join, converse with the agent turn by turn, record both sides.

Time: `t0` is the monotonic time right after joining; the caller's frame k is sent at
t0 + k·10 ms (PacedSpeaker) and is sample k·160 of the caller track. Remote frames are placed
on the agent track by arrival time, kept contiguous through jitter (see Recorder.add_remote).
Both tracks therefore share one clock: the call time of the recording.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from common.vocabulary import EndedReason, ReplyOutcome
from common.wav import speech_edges

from .audio import FRAME_SAMPLES, SAMPLE_RATE, TurnTracker
from .cpu import scheduling
from .errors import JoinError, RunnerError
from .noise import noise_track
from .policy import CallerPolicy, Decision
from .speaker import PacedSpeaker
from .speech import Synthesizer, Transcriber
from .transports.base import (
    ChannelTransport,
    Disconnected,
    EncryptionFailure,
    RemoteAudio,
    UserJoined,
    UserLeft,
)
from .types import CallOutcome, CallRecording, JoinDetails, Persona, TimelineEvent

log = logging.getLogger(__name__)
# A remote frame arriving more than this far from where the track expects it re-anchors
# the track to its arrival time (a real gap, or a clock running ahead).
RESYNC_SAMPLES = 960  # 60 ms
BACKCHANNEL = "Mm-hmm."
# Chance that the caller barges in on an agent turn, by interruption level.
BARGE_IN_CHANCE = {"none": 0.0, "low": 0.25, "medium": 0.5, "high": 0.9}
# How long after a barge-in the agent may take to stop before it counts as talking through.
REACTION_WINDOW = 4.0
GOODBYE_REPLY_TIMEOUT = 6.0
# Outcomes of waiting for an answer after which the call cannot go on.
ABNORMAL_REPLIES = frozenset({ReplyOutcome.UNDECRYPTABLE, ReplyOutcome.DROPPED, ReplyOutcome.LEFT})
HEAR_TIMEOUT = 15.0  # the longest a caller waits for an agent turn to be transcribed
STOP_POLL_SECONDS = 0.1
# Half a second of undecryptable frames from the agent, with none decrypted, is a mismatch of
# encryption mode, key or salt, not a glitch.
DECRYPT_FAILURES_LIMIT = 50
MSG_DECRYPT = "the agent's audio could not be decrypted: its encryption mode, key or salt differ from what the session endpoint returned"  # noqa: E501

T = TypeVar("T")
BACKGROUND_NICE = 10  # how much lower than the call's own thread the heavy helpers run


def lowered(fn: Callable[..., T], *args: Any) -> T:
    """Run fn in this (helper) thread at a lower CPU priority: on Linux a thread's niceness is
    its own, so the event loop that paces the call's frames keeps the CPU first."""
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    except (OSError, AttributeError):
        pass  # not Linux, or not allowed: run at the same priority
    return fn(*args)


async def in_background(fn: Callable[..., T], *args: Any) -> T:
    """CPU-heavy work of a live call (speech synthesis, hearing the agent) off the event loop,
    at a lower priority than the loop's frame pacing."""
    return await asyncio.to_thread(lowered, fn, *args)


# The longest `_await_reply` sleeps without news from the receive loop.
NEWS_BACKSTOP = 0.25


class Recorder:
    def __init__(self) -> None:
        self.caller = bytearray()
        self.remote: dict[int, bytearray] = {}
        self._next: dict[int, int] = {}

    def add_caller(self, frame: bytes) -> None:
        self.caller += frame

    def add_remote(self, uid: int, pcm: bytes, arrival_sample: int) -> int:
        """Place a frame; returns the sample index where it went.

        Frames are written back to back while their arrival stays within RESYNC_SAMPLES of
        that position, so network jitter does not tear the audio apart; beyond that the
        frame goes where it arrived (silence fills the gap).
        """
        expected = self._next.get(uid)
        pos = arrival_sample - FRAME_SAMPLES  # the frame's audio ended when it arrived
        if expected is not None and abs(pos - expected) <= RESYNC_SAMPLES:
            pos = expected
        pos = max(pos, 0)
        track = self.remote.setdefault(uid, bytearray())
        start, end = pos * 2, pos * 2 + len(pcm)
        if len(track) < end:
            track += bytes(end - len(track))
        track[start:end] = pcm
        self._next[uid] = pos + len(pcm) // 2
        return pos

    def track(self, uid: int | None) -> np.ndarray:
        if uid is None or uid not in self.remote:
            return np.zeros(0, dtype=np.int16)
        return np.frombuffer(bytes(self.remote[uid]), dtype=np.int16)


@dataclass
class SimulatedCall:
    """The caller's side of one call over a connected-or-not transport."""

    transport: ChannelTransport
    join: JoinDetails
    policy: CallerPolicy
    tts: Synthesizer
    asr: Transcriber | None = None  # hears the agent's turns live; None: the policy hears ""
    max_duration: float = 300.0
    agent_join_timeout: float = 15.0
    silence_limit: float = 15.0
    end_of_turn_ms: int = 800
    agent_gives_first_message: bool = True
    persona: Persona = field(default_factory=Persona)
    seed: int = 0
    stop: threading.Event | None = None  # set from another thread to hang up now (a cancellation)
    timeline: list[TimelineEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Every random choice of the caller comes from the run's seed, in a fixed order.
        self.rng = random.Random(self.seed)
        self.recorder = Recorder()
        self.tracker = TurnTracker(self.end_of_turn_ms)
        self.t0 = 0.0
        self.error: str | None = None
        self.agent_uid: int | None = None
        self.present: list[int] = []
        self.other_uids: set[int] = set()
        self.turn_ends = 0
        self.turn_spans: list[list[int]] = []  # [start, end) samples of each agent turn
        self._reply_from = 0
        self.agent_present = asyncio.Event()
        self.agent_left = asyncio.Event()
        self.undecryptable = asyncio.Event()
        self.decrypt_failures = 0
        self.frames_decrypted = 0
        self.disconnected = asyncio.Event()
        # Set by the receive loop whenever what `_await_reply` waits on may have changed, so
        # the wait wakes on news instead of polling every 10 ms (20 calls on one loop made
        # 2,000 wake-ups a second that way).
        self._news = asyncio.Event()
        self._barge_pending = False
        self.dropped_reason = ""
        self.utterances: list[dict[str, object]] = []
        self._edges: dict[
            str, tuple[int, int]
        ] = {}  # text → (first, last + 1) voiced sample of its clean clip
        background = None
        if self.persona.background_noise != "none":
            reference = self.tts.synthesize(self.policy.opening(), self.persona.speed)
            background = noise_track(
                self.persona.background_noise, self.persona.noise_snr_db, reference, self.seed
            )
        self.speaker = PacedSpeaker(
            self.transport.send,
            on_frame=self.recorder.add_caller,
            on_start=self._on_speech_start,
            on_end=self._on_speech_end,
            background=background,
        )
        self.barge_chance = BARGE_IN_CHANCE.get(self.persona.interruption_level, 0.0)
        self._barges = 0

    @property
    def turn_starts(self) -> int:
        return len(self.turn_spans)

    def _spoken_in_turn(self, turn: int) -> float:
        """Seconds since agent turn `turn` began, on the caller's clock."""
        return (self.speaker.frames_sent * FRAME_SAMPLES - self.turn_spans[turn][0]) / SAMPLE_RATE

    # --- timeline -----------------------------------------------------------------------
    def _event(self, kind: str, t: float | None = None, **data: object) -> None:
        when = (time.monotonic() - self.t0) if t is None else t
        self.timeline.append(TimelineEvent(round(when, 4), kind, dict(data)))

    # --- outgoing -----------------------------------------------------------------------
    def _on_speech_start(self, text: str, sample: int, tag: str) -> None:
        self._event("caller_speech_start", sample / SAMPLE_RATE, text=text, utterance=tag)

    def _on_speech_end(self, text: str, start: int, end: int, tag: str) -> None:
        self._event("caller_speech_end", end / SAMPLE_RATE, text=text, utterance=tag)
        utt: dict[str, object] = {
            "text": text,
            "start": start / SAMPLE_RATE,
            "end": end / SAMPLE_RATE,
            "kind": tag,
        }
        edges = self._edges.get(text)
        if edges is not None:
            # Where the speech itself starts and ends in the recording, from the clean clip
            # we authored: exact to the sample whatever noise is mixed in afterwards.
            utt["speech_start"] = (start + edges[0]) / SAMPLE_RATE
            utt["speech_end"] = (start + edges[1]) / SAMPLE_RATE
        self.utterances.append(utt)

    def _synthesize(self, text: str) -> np.ndarray:
        audio = self.tts.synthesize(text, self.persona.speed)
        if text not in self._edges:
            edges = speech_edges(audio)
            if edges is not None:
                self._edges[text] = edges
        return audio

    async def _speak(self, text: str, tag: str = "line") -> None:
        # Lines are synthesised ahead where they are known (a cache hit here); a line an LLM
        # just wrote is synthesised in a thread so frame pacing never waits for it.
        audio = await in_background(self._synthesize, text)
        await self.speaker.say(text, audio, tag)

    async def _backchannel_loop(self) -> None:
        """Now and then, deep in a long agent turn, a short "mm-hmm" (seeded moments)."""
        audio = await in_background(self._synthesize, BACKCHANNEL)
        done_for, planned_for, after = -1, -1, 0.0
        while True:
            await asyncio.sleep(0.02)
            turn = len(self.turn_spans) - 1
            if turn < 0 or turn == done_for or not self.tracker.speaking or self.speaker.speaking:
                continue
            if turn != planned_for:
                planned_for, after = turn, self.rng.uniform(1.5, 3.0)
            if self._spoken_in_turn(turn) >= after:
                done_for = turn
                self._event("caller_backchannel")
                self.speaker.say(BACKCHANNEL, audio, "backchannel")

    async def _hear(self) -> str:
        """What the agent said in its last reply, transcribed now (empty without ASR)."""
        spans = self.turn_spans[self._reply_from :]
        if self.asr is None or not spans:
            return ""
        track = self.recorder.track(self.agent_uid)
        start = max(0, spans[0][0] - SAMPLE_RATE // 10)
        end = spans[-1][1] if spans[-1][1] else len(track)
        try:
            text = await asyncio.wait_for(
                in_background(self.asr.transcribe, track[start : end + SAMPLE_RATE // 10]),
                HEAR_TIMEOUT,
            )
        except TimeoutError:
            # Hearing runs on the CPU time calls leave; on a machine that has none the caller
            # answers what it could not hear rather than stall the call.
            self._event("agent_turn_heard", text="", timed_out=True)
            return ""
        # Where in the agent's track it was heard: post-processing reuses the text for that
        # stretch instead of transcribing it again (agora_runner.transcribe).
        self._event(
            "agent_turn_heard",
            text=text,
            start=round(start / SAMPLE_RATE, 3),
            end=round(min(end + SAMPLE_RATE // 10, len(track)) / SAMPLE_RATE, 3),
        )
        return text

    # --- incoming -----------------------------------------------------------------------
    def _note_present(self, uid: int) -> None:
        if uid not in self.present:
            self.present.append(uid)
        self.agent_present.set()

    async def _receive_loop(self) -> None:
        while True:
            ev = await self.transport.events.get()
            self._handle(ev)
            if isinstance(ev, Disconnected):
                return

    def _handle(self, ev: object) -> None:
        if isinstance(ev, RemoteAudio):
            change = self._on_audio(ev)
            if change is not None or (self._barge_pending and self.tracker.speaking):
                self._news.set()
        else:
            self._on_channel_event(ev)
            self._news.set()

    def _on_audio(self, ev: RemoteAudio) -> str | None:
        """One frame from the channel: recorded, and followed for the agent's turns. Returns
        the turn change it made ("start", "end") or None."""
        if self.agent_uid is None:
            # The agent is the first remote member that publishes audio.
            self.agent_uid = ev.uid
            self._note_present(ev.uid)
        if ev.uid != self.agent_uid:
            self.other_uids.add(ev.uid)
            return None
        self.frames_decrypted += 1
        arrival = int(round((ev.t - self.t0) * SAMPLE_RATE))
        pos = self.recorder.add_remote(ev.uid, ev.pcm, arrival)
        change = self.tracker.push(ev.pcm)
        if change == "start":
            onset = max(pos - (self.tracker.min_speech_frames - 1) * FRAME_SAMPLES, 0)
            self.turn_spans.append([onset, 0])
            self._event("agent_speech_start", onset / SAMPLE_RATE)
        elif change == "end":
            self.turn_ends += 1
            end = max(pos + FRAME_SAMPLES - self.tracker.end_frames * FRAME_SAMPLES, 0)
            if self.turn_spans:
                self.turn_spans[-1][1] = end
            self._event("agent_speech_end", end / SAMPLE_RATE)
        return change

    def _on_channel_event(self, ev: object) -> None:
        if isinstance(ev, EncryptionFailure):
            self.decrypt_failures += 1
            if ev.uid >= 0:  # the Agora SDK's encryption error names no uid
                self._note_present(ev.uid)
            if self.decrypt_failures == 1:
                self._event("encryption_error", uid=ev.uid)
            if self.decrypt_failures >= DECRYPT_FAILURES_LIMIT and not self.frames_decrypted:
                self.undecryptable.set()
        elif isinstance(ev, UserJoined):
            self._event("user_joined", uid=ev.uid)
            self._note_present(ev.uid)
        elif isinstance(ev, UserLeft):
            self._event("user_left", uid=ev.uid, reason=ev.reason)
            if ev.uid in self.present:
                self.present.remove(ev.uid)
            if ev.uid == self.agent_uid or (self.agent_uid is None and not self.present):
                self.agent_left.set()
        elif isinstance(ev, Disconnected):
            # The channel dropped us (token expired, connection lost): not the agent's choice.
            self._event("disconnected", reason=ev.reason)
            self.dropped_reason = ev.reason
            self.disconnected.set()

    # --- the conversation ---------------------------------------------------------------
    async def _await_reply(self, start_timeout: float, barge_after: float | None = None) -> str:
        """Wait for the agent's next turn to end: "answered", "left", "no_answer", or
        "barge_in" once the agent has spoken `barge_after` seconds of it."""
        starts0, ends0 = self.turn_starts, self.turn_ends
        was_speaking = self.tracker.speaking
        self._reply_from = starts0 - 1 if was_speaking else starts0
        deadline = time.monotonic() + start_timeout
        self._barge_pending = barge_after is not None
        try:
            return await self._reply_outcome(starts0, ends0, was_speaking, deadline, barge_after)
        finally:
            self._barge_pending = False

    async def _reply_outcome(
        self,
        starts0: int,
        ends0: int,
        was_speaking: bool,
        deadline: float,
        barge_after: float | None,
    ) -> str:
        while True:
            self._news.clear()  # before looking, so news that comes while we look wakes the wait
            if self.disconnected.is_set():
                return ReplyOutcome.DROPPED
            if self.undecryptable.is_set():
                return ReplyOutcome.UNDECRYPTABLE
            if self.agent_left.is_set():
                return ReplyOutcome.LEFT
            started = was_speaking or self.turn_starts > starts0
            if started and self.turn_ends > ends0 and not self.tracker.speaking:
                return ReplyOutcome.ANSWERED
            if not started and time.monotonic() > deadline:
                return ReplyOutcome.NO_ANSWER
            if barge_after is not None and started and self.tracker.speaking and self.turn_spans:
                if self._spoken_in_turn(-1) >= barge_after:
                    return ReplyOutcome.BARGE_IN
            # Woken by the receive loop; the timeout only bounds the wait for a first word
            # (and is a backstop: nothing that decides the outcome changes without news).
            wait = NEWS_BACKSTOP if started else min(NEWS_BACKSTOP, deadline - time.monotonic())
            try:
                await asyncio.wait_for(self._news.wait(), max(wait, 0.001))
            except TimeoutError:
                pass

    def _abnormal_end(self, why: str) -> str:
        if why == ReplyOutcome.UNDECRYPTABLE:
            self.error = MSG_DECRYPT
            return EndedReason.CALL_NOT_CONNECTED
        if why == ReplyOutcome.DROPPED:
            self.error = f"the channel disconnected the caller: {self.dropped_reason}"
            return EndedReason.CALL_NOT_CONNECTED
        return EndedReason.MAIN_AGENT_ENDED

    async def _conduct(self) -> str:
        """The conversation, line by line, until it ends; returns the ended reason."""
        ended = await self._agent_arrives()
        if ended:
            return ended
        text, hang_up, reason, tag = self.policy.opening(), False, "", "line"
        while True:
            if self.disconnected.is_set():
                return self._abnormal_end(ReplyOutcome.DROPPED)
            if self.agent_left.is_set():
                return EndedReason.MAIN_AGENT_ENDED
            await self._say(text, tag)
            reply = await self._await_reply(
                GOODBYE_REPLY_TIMEOUT if hang_up else self.silence_limit,
                self._barge_after(hang_up, tag),
            )
            if reply in ABNORMAL_REPLIES:
                return self._abnormal_end(reply)
            if hang_up:
                self._event("caller_hangup", reason=reason)
                return EndedReason.TESTING_AGENT_ENDED
            if reply == ReplyOutcome.NO_ANSWER:
                self.error = f"the agent did not answer within {self.silence_limit:g} s"
                return EndedReason.MAIN_AGENT_DID_NOT_ANSWER
            decision = await self._decide()
            if decision.text is None:
                self._event("caller_hangup", reason=decision.reason)
                return EndedReason.TESTING_AGENT_ENDED
            text, hang_up, reason = decision.text, decision.hang_up, decision.reason
            tag = "barge_in" if reply == ReplyOutcome.BARGE_IN else "line"

    async def _agent_arrives(self) -> str | None:
        """Wait for the agent to join and, if it speaks first, for its greeting. Returns the
        ended reason if the call is over before the caller says anything."""
        if not self.agent_present.is_set():
            try:
                await asyncio.wait_for(self.agent_present.wait(), self.agent_join_timeout)
            except TimeoutError:
                self.error = (
                    f"the agent did not join the channel within {self.agent_join_timeout:g} s"
                )
                return EndedReason.CALL_NOT_CONNECTED
        self._event("agent_present", uid=self.present[0] if self.present else None)
        if self.agent_gives_first_message:
            # A greeting is waited for, but its absence is not yet a failure: the caller
            # opens, and the agent must answer that.
            greeting = await self._await_reply(self.silence_limit)
            if greeting in ABNORMAL_REPLIES:
                return self._abnormal_end(greeting)
            if greeting == ReplyOutcome.ANSWERED:
                await self._hear()  # the greeting goes into the timeline
        return None

    async def _say(self, text: str, tag: str) -> None:
        """Say a line; a barge-in is marked in the timeline and the agent's reaction watched."""
        if tag != "barge_in":
            await self._speak(text, tag)
            return
        self._event("barge_in", self.speaker.frames_sent * FRAME_SAMPLES / SAMPLE_RATE)
        barged = asyncio.create_task(self._watch_reaction(self.speaker.frames_sent * FRAME_SAMPLES))
        await self._speak(text, tag)
        await barged

    def _barge_after(self, hang_up: bool, tag: str) -> float | None:
        """Seconds into the agent's answer at which the caller cuts in, or None: the persona's
        schedule first (never twice in a row), else by chance."""
        if hang_up:
            return None
        schedule = self.persona.barge_in_after_ms
        if schedule and tag != "barge_in":
            after = schedule[self._barges % len(schedule)] / 1000
            self._barges += 1
            return after
        if self.barge_chance and self.rng.random() < self.barge_chance:
            return self.rng.uniform(0.4, 1.5)
        return None

    async def _decide(self) -> Decision:
        """What the caller says next, from what the agent just said."""
        agent_said = await self._hear()
        # A policy may call an LLM: off the event loop, so frames keep their pace.
        decision = await asyncio.to_thread(self.policy.next_line, agent_said)
        self._event(
            "caller_decision",
            text=decision.text,
            hang_up=decision.hang_up,
            reason=decision.reason,
            **decision.meta,
        )
        return decision

    async def _watch_reaction(self, barge_sample: int) -> None:
        """After the caller barges in: did the agent stop talking, and how fast?"""
        turn = len(self.turn_spans) - 1
        deadline = time.monotonic() + REACTION_WINDOW
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if turn >= 0 and self.turn_spans[turn][1]:
                stop_ms = (self.turn_spans[turn][1] - barge_sample) * 1000 / SAMPLE_RATE
                self._event("barge_in_reaction", stopped=True, stop_ms=round(max(stop_ms, 0.0), 1))
                return
        self._event("barge_in_reaction", stopped=False)

    async def _stop_requested(self) -> None:
        """Returns once `stop` (set from another thread: a cancellation) is set."""
        if self.stop is None:
            await asyncio.Event().wait()
            return
        while not self.stop.is_set():
            await asyncio.sleep(STOP_POLL_SECONDS)

    async def run(self) -> CallOutcome:
        self.error = None
        members = await self.transport.connect(self.join)
        self.t0 = time.monotonic()
        self._event("joined", 0.0, uid=self.join.uid, transport=self.transport.name)
        for uid in members:
            self._note_present(uid)
        sender = asyncio.create_task(self.speaker.run(self.t0))
        receiver = asyncio.create_task(self._receive_loop())
        helpers = (
            [asyncio.create_task(self._backchannel_loop())] if self.persona.backchannels else []
        )
        conduct = asyncio.create_task(self._conduct())
        stopper = asyncio.create_task(self._stop_requested())
        helpers.append(stopper)
        try:
            # The sender and receiver run for the whole call; if either dies, the call cannot
            # go on, and waiting for max_duration would only hide the fault.
            done, _ = await asyncio.wait(
                {conduct, sender, receiver, stopper},
                timeout=self.max_duration,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if conduct in done:
                ended = conduct.result()
            elif stopper in done:
                ended = EndedReason.RUN_CANCELLED
                self.error = "the run was cancelled during the call"
            elif not done:
                ended = EndedReason.EXCEEDED_MAX_DURATION
            else:
                broken = next(iter(done))
                if broken.exception() is not None:
                    log.error("caller task failed", exc_info=broken.exception())
                    raise RunnerError(
                        "the testing agent's audio loop failed "
                        f"({broken.exception().__class__.__name__})"
                    )
                # the receiver returns when the channel disconnects us; let the conduct see it
                ended = await asyncio.wait_for(
                    conduct, max(0.1, self.max_duration - (time.monotonic() - self.t0))
                )
        except TimeoutError:
            ended = EndedReason.EXCEEDED_MAX_DURATION
        finally:
            conduct.cancel()
            self.speaker.stop()
            self._event("hangup")
            for task in (sender, receiver, *helpers):
                task.cancel()
            await asyncio.gather(conduct, sender, receiver, *helpers, return_exceptions=True)
            await self.transport.disconnect()
        self._event("left", reason=ended)
        recording = CallRecording(
            SAMPLE_RATE,
            np.frombuffer(bytes(self.recorder.caller), dtype=np.int16),
            self.recorder.track(self.agent_uid),
        )
        return CallOutcome(
            ended_reason=ended,
            connected=True,
            recording=recording,
            timeline=self.timeline,
            caller_utterances=self.utterances,
            transport=self.transport.name,
            agent_uid=self.agent_uid,
            other_uids=sorted(self.other_uids),
            error=self.error,
            pacing={**self.speaker.pacing(), "scheduled": scheduling()},
        )


async def run_call_async(call: SimulatedCall) -> CallOutcome:
    """Run a call; a refused join becomes an outcome that says so, other errors propagate."""
    try:
        return await call.run()
    except JoinError as exc:
        return CallOutcome(
            ended_reason=exc.ended_reason,
            connected=False,
            recording=None,
            timeline=call.timeline,
            caller_utterances=[],
            transport=call.transport.name,
            error=exc.message,
        )
    except RunnerError:
        await call.transport.disconnect()
        raise
