"""When each side spoke, from a finished call's two tracks: the agent's answer onsets, its stops
after a barge-in, and the interruptions.

Every decision about an answer is made on a window around it, against the agent's own
background in the stretch before it (while the caller spoke); nothing carries across the
call. Where an edge cannot be placed within the stated accuracy, the turn says so
(`measurable` false, with a reason) and is left out of the figures: a wrong number is worse
than none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from common.wav import speech_edges

from .background import FLUCTUATING, SILENCE, Background, measure_background
from .edges import Edge, find_onset, find_stop
from .params import PARAMS, TimingParams
from .signal import SAMPLE_RATE, Track

if TYPE_CHECKING:  # the call's data computes its timing with this module, lazily
    from ..base import CallData

__all__ = ["PARAMS", "StopTiming", "Timing", "TimingParams", "TurnTiming", "score_timing"]

MIN_OVERLAP_S = 0.2  # shorter overlaps are crosstalk, not an interruption
TURN_PAUSE_S = 0.5  # a pause this short inside someone's speech does not end their turn


@dataclass
class TurnTiming:
    """One caller line and the agent's answer to it."""

    caller_end_s: float
    agent_start_s: float | None
    latency_ms: float | None
    measurable: bool = True
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "caller_end_s": round(self.caller_end_s, 4),
            "agent_start_s": None if self.agent_start_s is None else round(self.agent_start_s, 4),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "measurable": self.measurable,
            "reason": self.reason,
        }


@dataclass
class StopTiming:
    """The caller broke in on the agent at `barge_in_s`; the agent stopped at `stop_s`."""

    barge_in_s: float
    stop_s: float | None
    stop_ms: float | None
    measurable: bool = True
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "barge_in_s": round(self.barge_in_s, 4),
            "stop_s": None if self.stop_s is None else round(self.stop_s, 4),
            "stop_ms": None if self.stop_ms is None else round(self.stop_ms, 1),
            "measurable": self.measurable,
            "reason": self.reason,
        }


class FoundLine(NamedTuple):
    """A line found on a speaker's own track; `unsure`: why its end could not be placed
    within the stated accuracy ("" when it could)."""

    start_s: float
    end_s: float
    unsure: str = ""


@dataclass
class Timing:
    turns: list[TurnTiming] = field(default_factory=list)
    stops: list[StopTiming] = field(default_factory=list)
    ai_interruptions: list[float] = field(default_factory=list)  # seconds the agent broke in
    user_interruptions: list[float] = field(default_factory=list)  # seconds the caller broke in
    greeting_s: float | None = None
    agent_spans: list[tuple[float, float]] = field(
        default_factory=list
    )  # (start, end) s of the agent's turns


def _lines_of(call: CallData) -> list[dict[str, Any]]:
    """The caller's lines (not its backchannels: the agent is not expected to answer them),
    in order."""
    return sorted(
        (u for u in call.caller_utterances if u.get("kind") != "backchannel"),
        key=lambda u: u["start"],
    )


def _caller_lines(call: CallData, utterances: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(speech start, speech end) of each caller line (`utterances`, _lines_of), in samples:
    as authored when the run kept them, else the edges of the sound on the caller's track
    while the line was sent."""
    sr = call.sample_rate
    out = []
    for u in utterances:
        if u.get("speech_start") is not None and u.get("speech_end") is not None:
            out.append((round(float(u["speech_start"]) * sr), round(float(u["speech_end"]) * sr)))
            continue
        lo, hi = round(float(u["start"]) * sr), round(float(u["end"]) * sr)
        found = speech_edges(call.caller[lo:hi])
        out.append((lo + found[0], lo + found[1]) if found else (lo, hi))
    return out


def score_timing(call: CallData, p: TimingParams = PARAMS) -> Timing:
    """Answer onsets, stops and interruptions of one call (see the module's docstring)."""
    agent = Track.of(call.agent if call.agent_track is None else call.agent_track, p)
    utterances = _lines_of(call)
    lines = _caller_lines(call, utterances)
    timing = Timing()
    if not lines:
        _alone(agent, timing, p)
        return timing
    walk = _Walk(agent, timing, p, call.sample_rate)
    walk.greeting(lines[0])
    for i, line in enumerate(lines):
        walk.line(line, lines[i + 1] if i + 1 < len(lines) else None)
    # A line found on the caller's track whose end could not be placed: its latency cannot be
    # either (one turn per line, in order).
    for i, u in enumerate(utterances):
        t = timing.turns[i]
        if u.get("end_unsure") and t.measurable:
            timing.turns[i] = TurnTiming(
                t.caller_end_s,
                t.agent_start_s,
                None,
                False,
                f"the caller's end, found on its track, could not be placed: {u['end_unsure']}",
            )
    return timing


class _Walk:
    """The call walked line by line: where the agent's speech last ended (our own finding),
    and the stretch the previous answer's background came from."""

    def __init__(self, agent: Track, timing: Timing, p: TimingParams, sr: int) -> None:
        self.agent, self.timing, self.p, self.sr = agent, timing, p, sr
        self.guard = int(p.background_guard_s * sr)
        self.answer_end = 0
        self.previous: tuple[int, int] | None = None

    def greeting(self, first: tuple[int, int]) -> None:
        """The agent's speech before the caller's first line ends: its greeting."""
        agent, p, sr = self.agent, self.p, self.sr
        bg = measure_background(agent, first[0], first[1], p)
        if bg is None:
            return
        greeting = find_onset(agent, bg, 0, first[0], p)
        if greeting.sample is None:
            return
        self.timing.greeting_s = greeting.sample / sr
        end_of = find_stop(
            agent,
            bg,
            greeting.sample + int(0.03 * sr),
            min(len(agent), first[1] + sr),
            TURN_PAUSE_S,
            first[1],
            p,
        )
        self.timing.agent_spans.append(
            (greeting.sample / sr, (end_of.sample or greeting.sample) / sr)
        )
        self.answer_end = int(self.timing.agent_spans[-1][1] * sr)

    def line(self, line: tuple[int, int], nxt: tuple[int, int] | None) -> None:
        """One caller line: the agent breaking in on it, then the agent's answer to it."""
        start, end = line
        broke_in = self._broke_in(start, end)
        bg = self._background(end, broke_in)
        if bg is None:
            self.timing.turns.append(
                TurnTiming(
                    end / self.sr,
                    None,
                    None,
                    False,
                    "no stretch of the agent's background before the answer to judge it against",
                )
            )
            return
        self._answer(end, nxt, bg)

    def _broke_in(self, start: int, end: int) -> int | None:
        """The agent breaking in on this line: its speech starting while the caller speaks,
        judged against the background before the line (or the previous answer's)."""
        agent, p, sr = self.agent, self.p, self.sr
        # Speech within a short pause of the agent's last is more of that, not a break-in;
        # speech after it is new, even while the caller has begun.
        lo = max(start, self.answer_end + int(TURN_PAUSE_S * sr))
        if lo >= end:
            return None
        bg_start = max(self.answer_end + self.guard, start - int(p.background_s * sr), 0)
        before = (
            measure_background(agent, bg_start, start, p, also=self.previous)
            if start - bg_start >= p.frame
            else None
        )
        if before is None and self.previous is not None:
            before = measure_background(agent, *self.previous, p)
        if before is None:
            return None
        over = find_onset(agent, before, lo, end, p)
        if over.sample is None or not over.measurable:
            return None
        stretch = find_stop(
            agent,
            before,
            over.sample + int(0.03 * sr),
            min(len(agent), end + sr),
            TURN_PAUSE_S,
            end,
            p,
        )
        if stretch.sample is None:
            return None
        self.timing.agent_spans.append((over.sample / sr, stretch.sample / sr))
        self.answer_end = max(self.answer_end, stretch.sample)
        if min(stretch.sample, end) - over.sample >= MIN_OVERLAP_S * sr:
            self.timing.ai_interruptions.append(round(over.sample / sr, 3))
        return over.sample

    def _background(self, end: int, broke_in: int | None) -> Background | None:
        """The agent's background before its answer to the line ending at `end`: the stretch
        while the caller spoke (up to the agent breaking in), with the previous answer's when
        short, or that one alone when there is none."""
        agent, p, sr = self.agent, self.p, self.sr
        bg_start = max(self.answer_end + self.guard, end - int(p.background_s * sr), 0)
        bg_end = (
            end
            if broke_in is None or self.answer_end < end - int(p.background_min_s * sr)
            else broke_in
        )
        short = bg_end - bg_start < p.background_s * sr * 2 / 3
        bg = (
            measure_background(agent, bg_start, bg_end, p, also=self.previous if short else None)
            if bg_end > bg_start
            else None
        )
        if bg is None and self.previous is not None:
            bg = measure_background(agent, *self.previous, p)
        elif bg is not None and (not short or self.previous is None):
            # A short stretch (joined by the previous one to be judged) does not replace
            # that one: the next short stretch is joined by a long one too.
            self.previous = (bg_start, bg_end)
        return bg

    def _answer(self, end: int, nxt: tuple[int, int] | None, bg: Background) -> None:
        """The answer's onset, its end, more of the agent's speech before the next line, and
        the caller's barge-in on it."""
        agent, p, sr, timing = self.agent, self.p, self.sr, self.timing
        horizon = nxt[0] if nxt else len(agent)
        onset = find_onset(agent, bg, end, horizon, p)
        if onset.sample is None:
            timing.turns.append(TurnTiming(end / sr, None, None, onset.measurable, onset.reason))
            return
        latency = (onset.sample - end) * 1000 / sr
        timing.turns.append(
            TurnTiming(
                end / sr,
                onset.sample / sr,
                latency if onset.measurable else None,
                onset.measurable,
                onset.reason,
            )
        )
        # Where the answer ends; if the caller's next line starts before that, a barge-in.
        limit = min(len(agent), (nxt[1] + sr) if nxt else len(agent))
        caller_end = nxt[1] if nxt else None
        finish = find_stop(
            agent, bg, onset.sample + int(0.03 * sr), limit, TURN_PAUSE_S, caller_end, p
        )
        self.answer_end = finish.sample if finish.sample is not None else onset.sample
        timing.agent_spans.append((onset.sample / sr, self.answer_end / sr))
        finish = self._more_speech(bg, horizon, limit, caller_end, finish)
        if nxt and finish.sample is not None and finish.sample - nxt[0] >= MIN_OVERLAP_S * sr:
            self._barge_in(bg, nxt, limit, onset)

    def _more_speech(
        self, bg: Background, horizon: int, limit: int, caller_end: int | None, finish: Edge
    ) -> Edge:
        """More of the agent's speech before the caller's next line (a second sentence after a
        long pause, a monologue): each stretch a span of its own. Returns the last one's end."""
        agent, p, sr = self.agent, self.p, self.sr
        while self.answer_end + int(TURN_PAUSE_S * sr) < horizon:
            more = find_onset(agent, bg, self.answer_end + int(TURN_PAUSE_S * sr), horizon, p)
            if more.sample is None:
                break
            more_end = find_stop(
                agent, bg, more.sample + int(0.03 * sr), limit, TURN_PAUSE_S, caller_end, p
            )
            if more_end.sample is None or more_end.sample <= more.sample:
                break
            self.timing.agent_spans.append((more.sample / sr, more_end.sample / sr))
            finish, self.answer_end = more_end, more_end.sample
        return finish

    def _barge_in(self, bg: Background, nxt: tuple[int, int], limit: int, onset: Edge) -> None:
        """The caller broke in on the answer at `nxt`'s start: where the agent stopped."""
        agent, p, sr, timing = self.agent, self.p, self.sr, self.timing
        timing.user_interruptions.append(round(nxt[0] / sr, 4))
        stop = find_stop(agent, bg, nxt[0], limit, TURN_PAUSE_S, nxt[1], p)
        if stop.sample is not None:
            timing.stops.append(
                StopTiming(
                    nxt[0] / sr,
                    stop.sample / sr,
                    (stop.sample - nxt[0]) * 1000 / sr,
                    onset.measurable and stop.measurable,
                    onset.reason or stop.reason,
                )
            )
        else:
            timing.stops.append(StopTiming(nxt[0] / sr, None, None, False, stop.reason))
        self.answer_end = stop.sample or self.answer_end


def _quietest_background(
    track: Any, n: int, p: TimingParams, window: int = 50
) -> Background | None:
    """The background of the track's quietest stretch of `window` 10 ms frames (half a second
    by default), found by the RMS of its first `n` 10 ms frames, each less its mean: with a
    DC offset, a faint sound against the offset would otherwise lower a frame's plain RMS and
    pass for the quietest."""
    frames = track[: n * 160].astype(np.float64).reshape(n, 160)
    frames -= frames.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    quiet = int(np.argmin(np.convolve(rms, np.ones(window), mode="valid"))) * 160
    return measure_background(track, quiet, quiet + window * 160, p)


def _alone(agent: Any, timing: Timing, p: TimingParams) -> None:
    """A call in which the caller never spoke: the agent's first stretch of speech, against
    the quietest half second of the track."""
    sr = SAMPLE_RATE
    n = len(agent) // 160
    if n < 60:
        return
    bg = _quietest_background(agent, n, p)
    if bg is None:
        return
    onset = find_onset(agent, bg, 0, len(agent), p)
    if onset.sample is not None:
        end = find_stop(agent, bg, onset.sample + int(0.03 * sr), len(agent), TURN_PAUSE_S, None, p)
        timing.agent_spans.append((onset.sample / sr, (end.sample or onset.sample) / sr))


def _stretches(
    whole: Track, p: TimingParams, merge_gap_s: float
) -> tuple[Background | None, list[list[int]]]:
    """A speaker's stretches of speech on a track of their own, [start, end] samples, pauses
    shorter than `merge_gap_s` joined, against the track's quietest half second (its quietest
    background_s when that is voices or music); what barely stands over the loudest that
    background got is passed over as the background's own (a burst of voices or music behind
    the speaker), as at an answer."""
    from .edges import _agent_regions, analyse

    sr = SAMPLE_RATE
    n = len(whole) // 160
    if n < 60:
        return None, []
    bg = _quietest_background(whole, n, p)
    if bg is None:
        return None, []
    longer = round(p.background_s * 100)
    if bg.kind == FLUCTUATING and n >= longer:
        # Voices or music: their quietest half second (a lull) shows too little of how loud
        # they get, and what they do after it would pass for speech; as at an answer (whose
        # short background is joined by the previous one's), a stretch of background_s, when
        # it moves like them too.
        wider = _quietest_background(whole, n, p, longer)
        if wider is not None and wider.kind == FLUCTUATING:
            bg = wider
    groups: list[list[int]] = []
    chunk = 60 * sr  # looked at a minute at a time, to bound memory
    for lo in range(0, len(whole), chunk):
        a = analyse(whole, bg, lo, min(len(whole), lo + chunk + sr), p)
        for first, last in _agent_regions(a, bg, 0, p):
            start, end = a.sample_of(first, p), a.sample_of(last, p) + p.frame
            if groups and start - groups[-1][1] <= merge_gap_s * sr:
                groups[-1][1] = max(groups[-1][1], end)
            elif not groups or start > groups[-1][1]:
                groups.append([start, end])
    return bg, groups


def find_turns(
    track: np.ndarray,
    p: TimingParams = PARAMS,
    merge_gap_s: float = 0.7,
    other: np.ndarray | Track | None = None,
) -> list[FoundLine]:
    """A speaker's lines on a track of their own (the caller's, when the run did not keep its
    authored edges): (start, end) seconds of its stretches of speech, pauses shorter than
    `merge_gap_s` joined unless the other party (`other`, its own track) began to speak in
    the pause (a turn ends when the other takes it; a Track of theirs shares the band powers
    with the timing that follows), each edge placed as an answer's is, against the track's
    quietest stretch (_stretches). A line whose end cannot be placed within the stated
    accuracy (over a background that is not quiet, or in a room's echo) says why."""
    sr = SAMPLE_RATE
    whole = Track(track, p)
    bg, stretches = _stretches(whole, p, 0.0)
    if bg is None:
        return []
    # The other party takes the turn where a stretch of its speech (its own pauses joined)
    # begins; speech it carries on with is no new turn.
    _, theirs = _stretches(Track.of(other, p), p, merge_gap_s) if other is not None else (None, [])
    taken = [s for s, e in theirs if e - s >= MIN_OVERLAP_S * sr]
    groups: list[list[int]] = []
    for start, end in stretches:
        answered = bool(groups) and any(groups[-1][1] <= t < start for t in taken)
        if groups and start - groups[-1][1] <= merge_gap_s * sr and not answered:
            groups[-1][1] = max(groups[-1][1], end)
        else:
            groups.append([start, end])
    turns = []
    for start, end in groups:
        onset = find_onset(whole, bg, max(0, start - int(0.3 * sr)), end, p)
        # The authored end's rule: within answer_range_db of the line's loudest sample (of its
        # samples as recorded, less any offset; a high-pass overshoots them).
        line = whole[start:end].astype(np.float64)
        line -= np.median(line) if len(line) else 0.0
        stop = find_stop(
            whole,
            bg,
            max(start, end - int(0.1 * sr)),
            min(len(whole), end + int(0.5 * sr)),
            merge_gap_s,
            None,
            p,
            line_peak=float(np.abs(line).max()) if len(line) else None,
            who="caller",
        )
        first = onset.sample if onset.sample is not None else start
        last = stop.sample if stop.sample is not None else end
        if last > first:
            unsure = (
                stop.reason
                if not stop.measurable
                else _end_under_background(whole, bg, start, end, p)
            )
            turns.append(FoundLine(first / sr, last / sr, unsure))
    return turns


def _end_under_background(
    track: Track, bg: Background, start: int, end: int, p: TimingParams
) -> str:
    """Why a found line's end cannot be placed ("" if it can). The authored end is where the
    line sinks 60 dB under its loudest; over a background that is not quiet (steady and
    quiet_margin_db under the line's loudest moment and its last words, as an edge on single
    samples needs), the last of that fall lies under the background, and the end found where
    the line sinks into it comes early by as much as the fall takes: tens of ms for a vowel's
    decay, over 100 for a weak last consonant after its closure (docs/metrics.md); or late,
    where the change point runs on into a tone."""
    from .edges import _quiet

    if bg.kind == SILENCE or end <= start:
        return ""
    loudest = start + int(np.argmax(np.abs(track[start:end].astype(np.float64))))
    # At the line's loudest moment, and in its last words (where the stop was looked for: a
    # line's end followed in noise, off single samples, may run on into a tone or a hum).
    last_words = max(start, end - int(p.answer_reference_ms * SAMPLE_RATE / 1000))
    if all(
        _quiet(track, bg, at, p)
        for at in (max(start, loudest - int(0.1 * SAMPLE_RATE)), last_words)
    ):
        return ""
    return (
        f"the background stands within {p.quiet_margin_db:.0f} dB of the line's loudest "
        "moment or of its last words: the last of the line's fall lies under it, and where it "
        "ends cannot be told"
    )
