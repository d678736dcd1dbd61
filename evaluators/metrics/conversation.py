"""Metrics of the conversation's shape, from the two tracks: interruptions, stop time,
silences, talk ratio, speaking rate, repetition."""

from __future__ import annotations

from typing import Any

import numpy as np
from rapidfuzz import fuzz

from common.vocabulary import Role

from ..activity import FRAME_MS, seconds
from ..base import CallData, MetricResult
from ..registry import predefined


@predefined(
    3,
    "AI Interrupting User",
    "numeric",
    "Times the agent started speaking while the caller was speaking (overlap of at least 200 "
    "ms on the two tracks).",
    unit="count",
)
def ai_interrupting_user(call: CallData, metric_id: int | None = None) -> MetricResult:
    """The agent starting to talk while the caller holds the floor (at least 200 ms of
    overlap; a resumption after the agent's own short pause is not a start)."""
    times = list(call.timing.ai_interruptions)
    return MetricResult(
        metric_id,
        "AI Interrupting User",
        "numeric",
        float(len(times)),
        explanation=[
            f"The agent started talking over the caller {len(times)} time(s)"
            + (f", at {', '.join(f'{t:.1f} s' for t in times)}." if times else ".")
        ],
        extra={"times": times},
    )


@predefined(
    4,
    "User Interrupting AI",
    "numeric",
    "Times the caller started speaking while the agent was speaking (overlap of at least 200 "
    "ms; backchannels not counted).",
    unit="count",
)
def user_interrupting_ai(call: CallData, metric_id: int | None = None) -> MetricResult:
    """The caller's next line starting while the agent's answer is under way (at least 200 ms
    of overlap); backchannels are not lines."""
    times = list(call.timing.user_interruptions)
    return MetricResult(
        metric_id,
        "User Interrupting AI",
        "numeric",
        float(len(times)),
        explanation=[
            f"The caller talked over the agent {len(times)} time(s) (backchannels not counted)."
        ],
        extra={"times": times},
    )


@predefined(
    5,
    "Stop Time After User Interruption",
    "numeric",
    "Median time from the caller's interrupting onset to the agent's last voiced frame.",
    unit="ms",
)
def stop_time_after_interruption(call: CallData, metric_id: int | None = None) -> MetricResult:
    """For each caller interruption: ms from the caller's onset (as authored) to the agent's
    last sample of speech of that turn."""
    stops = call.timing.stops
    measured = [
        round(max(s.stop_ms, 0.0), 1) for s in stops if s.measurable and s.stop_ms is not None
    ]
    extra: dict[str, Any] = {"stop_ms": measured, "stops": [s.as_dict() for s in stops]}
    if not stops:
        return MetricResult(
            metric_id,
            "Stop Time After User Interruption",
            "numeric",
            None,
            explanation=["The caller never interrupted the agent."],
            extra=extra,
        )
    if not measured:
        return MetricResult(
            metric_id,
            "Stop Time After User Interruption",
            "numeric",
            None,
            explanation=[f"The agent's stops could not be measured: {stops[0].reason}."],
            extra=extra,
        )
    score = float(np.median(measured))
    lines = [
        f"After being interrupted the agent stopped in {score:.0f} ms (median of {len(measured)})."
    ]
    if len(measured) < len(stops):
        lines.append(f"{len(stops) - len(measured)} stop(s) not measurable (left out).")
    return MetricResult(
        metric_id,
        "Stop Time After User Interruption",
        "numeric",
        score,
        explanation=lines,
        extra=extra,
    )


@predefined(
    6,
    "Detect Silence in Conversation",
    "binary",
    "Fails when neither side speaks for silence_duration seconds (default 10) between the "
    "first and last speech.",
)
def detect_silence(
    call: CallData, metric_id: int | None = None, silence_duration: float = 10.0
) -> MetricResult:
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
    return MetricResult(
        metric_id,
        "Detect Silence in Conversation",
        "binary",
        passed=not long_ones,
        explanation=[
            f"Longest silence {longest:.1f} s; {len(long_ones)} silence(s) of {silence_duration:g} "
            "s or more."
        ],
        extra={"longest_silence_s": round(longest, 2), "silence_duration": silence_duration},
    )


@predefined(
    10,
    "Talk Ratio",
    "numeric",
    "The agent's share of all speaking time on the two tracks (0–1).",
    unit="ratio",
)
def talk_ratio(call: CallData, metric_id: int | None = None) -> MetricResult:
    agent_s, caller_s = seconds(call.agent_active), seconds(call.caller_active)
    total = agent_s + caller_s
    ratio = round(agent_s / total, 3) if total else None
    return MetricResult(
        metric_id,
        "Talk Ratio",
        "numeric",
        ratio,
        explanation=[f"The agent spoke {agent_s:.1f} s, the caller {caller_s:.1f} s."],
        extra={"agent_seconds": round(agent_s, 2), "caller_seconds": round(caller_s, 2)},
    )


@predefined(
    11,
    "Words Per Minute",
    "numeric",
    "Words in the agent's transcript over its speaking time (the caller's in extra).",
    unit="wpm",
)
def words_per_minute(call: CallData, metric_id: int | None = None) -> MetricResult:
    rates = {}
    for role, key in ((Role.MAIN_AGENT, "agent"), (Role.TESTING_AGENT, "caller")):
        turns = [t for t in call.transcript if t["role"] == role]
        words = sum(len(t["content"].split()) for t in turns)
        minutes = sum(max(t["end_time"] - t["start_time"], 0.0) for t in turns) / 60
        rates[key] = round(words / minutes, 1) if minutes > 0 else None
    return MetricResult(
        metric_id,
        "Words Per Minute",
        "numeric",
        rates["agent"],
        explanation=[
            f"Agent {rates['agent']} wpm, caller {rates['caller']} wpm (words over each speaker's "
            "speaking time)."
        ],
        extra=rates,
    )


@predefined(
    12,
    "Unnecessary Repetition Count",
    "numeric",
    "Agent turns that repeat an earlier agent turn (token similarity of 90 % or more).",
    unit="count",
)
def repetition(
    call: CallData, metric_id: int | None = None, similarity: float = 90.0
) -> MetricResult:
    said = [
        t["content"]
        for t in call.transcript
        if t["role"] == Role.MAIN_AGENT and len(t["content"].split()) >= 3
    ]
    repeats = [
        (i, s)
        for i, s in enumerate(said)
        if any(fuzz.token_sort_ratio(s, earlier) >= similarity for earlier in said[:i])
    ]
    return MetricResult(
        metric_id,
        "Unnecessary Repetition Count",
        "numeric",
        float(len(repeats)),
        explanation=[
            f"The agent repeated itself {len(repeats)} time(s)"
            + (f": {repeats[0][1]!r}" if repeats else ".")
        ],
        extra={"repeated": [s for _, s in repeats]},
    )
