"""The predefined metrics and the one entry point that scores a call."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import expected_outcome, latency
from .base import CallData, MetricResult
from .expected_outcome import LLMConfig


@dataclass(frozen=True)
class PredefinedMetric:
    id: int
    name: str
    description: str
    eval_type: str
    unit: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "eval_type": self.eval_type,
            "enum_values": [],
            "type": "custom_code",
            "prompt": "",
            "configuration": {"unit": self.unit} if self.unit else {},
            "agents": [],
        }


PREDEFINED = [
    PredefinedMetric(
        1, expected_outcome.NAME,
        "Whether the call reached the scenario's expected outcome: an LLM judge when configured; "
        "offline, every quoted phrase of the expected outcome must occur in the agent's speech. "
        "Score is the percentage of outcome parts met.",
        "numeric", "%",
    ),
    PredefinedMetric(
        2, latency.NAME,
        "Per turn, the time from the caller's last voiced sample to the agent's first voiced sample, "
        "measured on the recording. Score is the median; P50/P90/P95/P99 in extra.percentiles.",
        "numeric", "ms",
    ),
]


def evaluate_call(call: CallData, *, llm: LLMConfig | None = None) -> tuple[MetricResult, list[MetricResult]]:
    """(expected outcome, [metrics]) for one finished call."""
    outcome = expected_outcome.evaluate(call, llm, metric_id=1)
    metrics = [latency.evaluate(call, metric_id=2)]
    return outcome, metrics
