"""Latency: per caller turn, the caller's authored speech end → the agent's first voiced sample.

The caller's speech end is known from the clean clip it spoke; the agent's onset is found on the
recording at sample resolution, never from callback times. The greeting
(call start → agent's first audio) is reported apart and is not part of the percentiles.
"""
from __future__ import annotations

import numpy as np

from agora_runner.audio import first_voiced_sample, last_voiced_sample

from .base import CallData, MetricResult

NAME = "Latency"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


def turn_latencies(call: CallData) -> list[dict[str, float]]:
    sr = call.sample_rate
    # Backchannels ("mm-hmm") are not turns: the agent is not expected to answer them.
    utts = sorted((u for u in call.caller_utterances if u.get("kind") != "backchannel"), key=lambda u: u["start"])
    out = []
    for i, utt in enumerate(utts):
        start, end = int(utt["start"] * sr), int(utt["end"] * sr)
        if utt.get("speech_end") is not None:
            # The caller's speech end as authored (from its clean clip): exact whatever noise
            # is in the recording. Older runs without it fall back to detection on the track.
            caller_end: int | None = round(float(utt["speech_end"]) * sr)
        else:
            caller_end = last_voiced_sample(call.caller, start, end)
        if caller_end is None:
            continue
        # The agent's answer must come before the caller's next line starts.
        horizon = int(utts[i + 1]["start"] * sr) if i + 1 < len(utts) else len(call.agent)
        onset = first_voiced_sample(call.agent, caller_end, horizon, probs=call.agent_probs)
        if onset is None:
            continue
        out.append({"caller_end": caller_end / sr, "agent_start": onset / sr, "latency_ms": (onset - caller_end) * 1000 / sr})
    return out


def evaluate(call: CallData, metric_id: int | None = None) -> MetricResult:
    turns = turn_latencies(call)
    greeting = first_voiced_sample(call.agent, probs=call.agent_probs)
    first_caller = min((u["start"] for u in call.caller_utterances), default=None)
    extra: dict = {"turns": [{k: round(v, 3) for k, v in t.items()} for t in turns]}
    if greeting is not None and (first_caller is None or greeting / call.sample_rate < first_caller):
        extra["greeting_ms"] = round(greeting * 1000 / call.sample_rate, 1)
    if not turns:
        return MetricResult(metric_id, NAME, "numeric", None, explanation=["No agent response followed a caller turn, so no latency could be measured."], extra=extra)
    values = [t["latency_ms"] for t in turns]
    extra["percentiles"] = {f"p{q}": round(percentile(values, q), 1) for q in (50, 90, 95, 99)}
    p50 = extra["percentiles"]["p50"]
    return MetricResult(
        metric_id,
        NAME,
        "numeric",
        score=p50,
        explanation=[f"Median response latency {p50:.0f} ms over {len(values)} turn(s); p90 {extra['percentiles']['p90']:.0f} ms."],
        extra=extra,
    )
