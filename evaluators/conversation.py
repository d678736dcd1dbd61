"""Metrics of the conversation's shape, from the two tracks: interruptions, stop time,
silences, talk ratio, speaking rate, repetition."""
from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz

from agora_runner.audio import FRAME_MS, last_voiced_sample

from .activity import regions, seconds
from .base import CallData, MetricResult

MIN_OVERLAP_MS = 200  # shorter overlaps are crosstalk, not an interruption
TURN_PAUSE_MS = 500  # a pause this short inside someone's speech does not end their turn


def _frames(t: float) -> int:
    return int(round(t * 1000 / FRAME_MS))


def _in_turn(active: np.ndarray) -> np.ndarray:
    """Activity with the pauses inside a turn (up to TURN_PAUSE_MS, the breath after "So,")
    filled: someone who pauses mid-sentence is still holding the floor."""
    held = active.copy()
    idx = np.flatnonzero(active)
    limit = TURN_PAUSE_MS // FRAME_MS
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= limit:
            held[a:b] = True
    return held


def _interruptions(by: np.ndarray, of: np.ndarray, skip: list[tuple[float, float]] = ()) -> list[float]:  # type: ignore[assignment]
    """Onsets of `by` that start while `of` holds the floor (mid-turn pauses included) and
    overlap that turn ≥ MIN_OVERLAP_MS."""
    out = []
    of = _in_turn(of)
    n = min(len(by), len(of))
    for r in regions(by[:n]):
        i = _frames(r.start)
        if i >= n or not of[max(i - 1, 0)]:
            continue  # `of` was not speaking just before
        if any(a - 0.05 <= r.start <= b for a, b in skip):
            continue
        overlap = int(np.logical_and(by[i : _frames(r.end)], of[i : _frames(r.end)]).sum()) * FRAME_MS
        if overlap >= MIN_OVERLAP_MS:
            out.append(round(r.start, 2))
    return out


def ai_interrupting_user(call: CallData, metric_id: int | None = None) -> MetricResult:
    times = _interruptions(call.agent_active, call.caller_active)
    return MetricResult(metric_id, "AI Interrupting User", "numeric", float(len(times)),
                        explanation=[f"The agent started talking over the caller {len(times)} time(s)" + (f", at {', '.join(f'{t:.1f} s' for t in times)}." if times else ".")],
                        extra={"times": times})


def _backchannels(call: CallData) -> list[tuple[float, float]]:
    return [(u["start"], u["end"]) for u in call.caller_utterances if u.get("kind") == "backchannel"]


def _caller_onsets(call: CallData) -> list[float]:
    """Times the caller's interrupting speech began: exact from the authored clips where the
    run kept them, else the frame where its activity began."""
    times = _interruptions(call.caller_active, call.agent_active, _backchannels(call))
    authored = [float(u["speech_start"]) for u in call.caller_utterances if u.get("speech_start") is not None]
    exact = []
    for t in times:
        near = [a for a in authored if abs(a - t) <= FRAME_MS / 1000]
        exact.append(round(near[0], 4) if near else t)
    return exact


def user_interrupting_ai(call: CallData, metric_id: int | None = None) -> MetricResult:
    times = _caller_onsets(call)
    return MetricResult(metric_id, "User Interrupting AI", "numeric", float(len(times)),
                        explanation=[f"The caller talked over the agent {len(times)} time(s) (backchannels not counted)."],
                        extra={"times": times})


def stop_time_after_interruption(call: CallData, metric_id: int | None = None) -> MetricResult:
    """For each caller interruption: ms from the caller's onset to the agent's last voiced
    sample of that stretch (the stretch from activity; the sample by the envelope)."""
    stops = []
    agent = _in_turn(call.agent_active)
    sr = call.sample_rate
    for t in _caller_onsets(call):
        i = _frames(t)
        j = i
        while j < len(agent) and agent[j]:
            j += 1
        onset = int(round(t * sr))
        window_end = min(len(call.agent), j * FRAME_MS * sr // 1000 + sr // 5)
        stop = last_voiced_sample(call.agent, onset, window_end, probs=call.agent_probs)
        stop_ms = (stop - onset) * 1000 / sr if stop is not None else (j - i) * FRAME_MS
        stops.append(round(max(stop_ms, 0.0), 1))
    if not stops:
        return MetricResult(metric_id, "Stop Time After User Interruption", "numeric", None, explanation=["The caller never interrupted the agent."])
    score = float(np.median(stops))
    return MetricResult(metric_id, "Stop Time After User Interruption", "numeric", score,
                        explanation=[f"After being interrupted the agent stopped in {score:.0f} ms (median of {len(stops)})."],
                        extra={"stop_ms": stops})


def detect_silence(call: CallData, metric_id: int | None = None, silence_duration: float = 10.0) -> MetricResult:
    both = np.zeros(max(len(call.agent_active), len(call.caller_active)), dtype=bool)
    both[: len(call.agent_active)] |= call.agent_active
    both[: len(call.caller_active)] |= call.caller_active
    spoken = np.flatnonzero(both)
    gaps: list[float] = []
    if len(spoken) > 1:
        steps = np.diff(spoken)
        gaps = [float(g - 1) * FRAME_MS / 1000 for g in steps if g > 1]
    longest = max(gaps, default=0.0)
    long_ones = [g for g in gaps if g >= silence_duration]
    return MetricResult(metric_id, "Detect Silence in Conversation", "binary", passed=not long_ones,
                        explanation=[f"Longest silence {longest:.1f} s; {len(long_ones)} silence(s) of {silence_duration:g} s or more."],
                        extra={"longest_silence_s": round(longest, 2), "silence_duration": silence_duration})


def talk_ratio(call: CallData, metric_id: int | None = None) -> MetricResult:
    agent_s, caller_s = seconds(call.agent_active), seconds(call.caller_active)
    total = agent_s + caller_s
    ratio = round(agent_s / total, 3) if total else None
    return MetricResult(metric_id, "Talk Ratio", "numeric", ratio,
                        explanation=[f"The agent spoke {agent_s:.1f} s, the caller {caller_s:.1f} s."],
                        extra={"agent_seconds": round(agent_s, 2), "caller_seconds": round(caller_s, 2)})


def words_per_minute(call: CallData, metric_id: int | None = None) -> MetricResult:
    rates = {}
    for role, key in (("Main Agent", "agent"), ("Testing Agent", "caller")):
        turns = [t for t in call.transcript if t["role"] == role]
        words = sum(len(t["content"].split()) for t in turns)
        minutes = sum(max(t["end_time"] - t["start_time"], 0.0) for t in turns) / 60
        rates[key] = round(words / minutes, 1) if minutes > 0 else None
    return MetricResult(metric_id, "Words Per Minute", "numeric", rates["agent"],
                        explanation=[f"Agent {rates['agent']} wpm, caller {rates['caller']} wpm (words over each speaker's speaking time)."],
                        extra=rates)


def repetition(call: CallData, metric_id: int | None = None, similarity: float = 90.0) -> MetricResult:
    said = [t["content"] for t in call.transcript if t["role"] == "Main Agent" and len(t["content"].split()) >= 3]
    repeats = [(i, s) for i, s in enumerate(said) if any(fuzz.token_sort_ratio(s, earlier) >= similarity for earlier in said[:i])]
    return MetricResult(metric_id, "Unnecessary Repetition Count", "numeric", float(len(repeats)),
                        explanation=[f"The agent repeated itself {len(repeats)} time(s)" + (f": {repeats[0][1]!r}" if repeats else ".")],
                        extra={"repeated": [s for _, s in repeats]})
