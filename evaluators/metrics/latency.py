"""Latency: per caller turn, the caller's authored speech end → the agent's first sample of
speech (evaluators.timing). The greeting (call start → the agent's first audio) is reported
apart and is not part of the percentiles; a turn whose onset could not be placed within the
stated accuracy is listed with its reason and left out of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import CallData, MetricResult
from ..registry import predefined

NAME = "Latency"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


def turn_latencies(call: CallData) -> list[dict[str, float]]:
    """The measured turns: {caller_end, agent_start, latency_ms} (seconds, ms)."""
    return [
        {"caller_end": t.caller_end_s, "agent_start": t.agent_start_s, "latency_ms": t.latency_ms}
        for t in call.timing.turns
        if t.measurable and t.latency_ms is not None and t.agent_start_s is not None
    ]


@predefined(
    2,
    NAME,
    "numeric",
    "Per turn, the time from the caller's last voiced sample to the agent's first voiced "
    "sample, measured on the recording. Score is the median; P50/P90/P95/P99 in "
    "extra.percentiles; the greeting apart.",
    unit="ms",
)
def evaluate(call: CallData, metric_id: int | None = None) -> MetricResult:
    timing = call.timing
    answered = [t for t in timing.turns if t.agent_start_s is not None or not t.measurable]
    values = [t.latency_ms for t in timing.turns if t.measurable and t.latency_ms is not None]
    unmeasured = [t for t in timing.turns if not t.measurable]
    extra: dict[str, Any] = {
        "turns": [t.as_dict() for t in timing.turns],
        "unmeasurable_turns": len(unmeasured),
    }
    first_caller = min((u["start"] for u in call.caller_utterances), default=None)
    if timing.greeting_s is not None and (first_caller is None or timing.greeting_s < first_caller):
        extra["greeting_ms"] = round(timing.greeting_s * 1000, 1)
    if not values:
        why = (
            f"No turn's latency could be measured ({len(unmeasured)} not measurable: "
            f"{unmeasured[0].reason})."
            if unmeasured
            else "No agent response followed a caller turn, so no latency could be measured."
        )
        return MetricResult(metric_id, NAME, "numeric", None, explanation=[why], extra=extra)
    extra["percentiles"] = {f"p{q}": round(percentile(values, q), 1) for q in (50, 90, 95, 99)}
    p50 = extra["percentiles"]["p50"]
    lines = [
        f"Median response latency {p50:.0f} ms over {len(values)} turn(s); p90 "
        f"{extra['percentiles']['p90']:.0f} ms."
    ]
    if unmeasured:
        lines.append(
            f"{len(unmeasured)} of {len(answered)} answered turn(s) not measurable (left out): "
            f"{unmeasured[0].reason}."
        )
    return MetricResult(metric_id, NAME, "numeric", score=p50, explanation=lines, extra=extra)
