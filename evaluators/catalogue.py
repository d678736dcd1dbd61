"""The predefined metrics and the one entry point that scores a call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import conversation, custom, expected_outcome, latency, outcome_checks
from .base import CallData, MetricResult
from .custom import CustomMetric
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
        1,
        expected_outcome.NAME,
        "Whether the call reached the scenario's expected outcome: an LLM judge when configured; "
        "offline, every quoted phrase of the expected outcome must occur in the agent's speech. "
        "Score is the percentage of outcome parts met.",
        "numeric",
        "%",
    ),
    PredefinedMetric(
        2,
        latency.NAME,
        "Per turn, the time from the caller's last voiced sample to the agent's first voiced "
        "sample, measured on the recording. Score is the median; P50/P90/P95/P99 in "
        "extra.percentiles; the greeting apart.",
        "numeric",
        "ms",
    ),
    PredefinedMetric(
        3,
        "AI Interrupting User",
        "Times the agent started speaking while the caller was speaking (overlap of at least 200 "
        "ms on the two tracks).",
        "numeric",
        "count",
    ),
    PredefinedMetric(
        4,
        "User Interrupting AI",
        "Times the caller started speaking while the agent was speaking (overlap of at least 200 "
        "ms; backchannels not counted).",
        "numeric",
        "count",
    ),
    PredefinedMetric(
        5,
        "Stop Time After User Interruption",
        "Median time from the caller's interrupting onset to the agent's last voiced frame.",
        "numeric",
        "ms",
    ),
    PredefinedMetric(
        6,
        "Detect Silence in Conversation",
        "Fails when neither side speaks for silence_duration seconds (default 10) between the "
        "first and last speech.",
        "binary",
    ),
    PredefinedMetric(
        7,
        "Infrastructure Issues",
        "Fails on a join failure, no audio from the agent, or one-way audio.",
        "binary",
    ),
    PredefinedMetric(
        8,
        "Appropriate Termination by Main Agent",
        "When the agent ended the call: passes if it closed the conversation (a goodbye) before "
        "leaving.",
        "binary",
    ),
    PredefinedMetric(
        9,
        "Appropriate Termination by Testing Agent",
        "When the caller ended the call: passes if it said goodbye; fails if the call hit its "
        "maximum duration.",
        "binary",
    ),
    PredefinedMetric(
        10,
        "Talk Ratio",
        "The agent's share of all speaking time on the two tracks (0–1).",
        "numeric",
        "ratio",
    ),
    PredefinedMetric(
        11,
        "Words Per Minute",
        "Words in the agent's transcript over its speaking time (the caller's in extra).",
        "numeric",
        "wpm",
    ),
    PredefinedMetric(
        12,
        "Unnecessary Repetition Count",
        "Agent turns that repeat an earlier agent turn (token similarity of 90 % or more).",
        "numeric",
        "count",
    ),
    PredefinedMetric(
        13,
        "Transcription Accuracy",
        "Our ASR on the caller's own track against the text the caller was made to say: 100 × (1 − "
        "WER).",
        "numeric",
        "%",
    ),
    PredefinedMetric(
        14,
        "Sentiment",
        "The caller's sentiment from the VADER lexicon: positive, neutral or negative.",
        "enum",
    ),
    PredefinedMetric(
        15,
        "CSAT",
        "How satisfied the caller would be, 1–5, by an LLM judge (needs one configured).",
        "numeric",
    ),
    PredefinedMetric(
        16,
        "Hallucination",
        "Whether the agent made things up, by an LLM judge (needs one configured).",
        "binary",
    ),
]


def evaluate_call(
    call: CallData, *, llm: LLMConfig | None = None, custom_metrics: Sequence[CustomMetric] = ()
) -> tuple[MetricResult, list[MetricResult]]:
    """(expected outcome, [every other predefined metric, then the custom ones]) for one call."""
    outcome = expected_outcome.evaluate(call, llm, metric_id=1)
    metrics = [
        latency.evaluate(call, metric_id=2),
        conversation.ai_interrupting_user(call, 3),
        conversation.user_interrupting_ai(call, 4),
        conversation.stop_time_after_interruption(call, 5),
        conversation.detect_silence(call, 6),
        outcome_checks.infrastructure_issues(call, 7),
        outcome_checks.termination_by_main_agent(call, 8),
        outcome_checks.termination_by_testing_agent(call, 9),
        conversation.talk_ratio(call, 10),
        conversation.words_per_minute(call, 11),
        conversation.repetition(call, 12),
        outcome_checks.transcription_accuracy(call, 13),
        outcome_checks.sentiment(call, 14),
        outcome_checks.csat(call, llm, 15),
        outcome_checks.hallucination(call, llm, 16),
    ]
    metrics += [custom.evaluate(call, m, llm) for m in custom_metrics]
    return outcome, metrics


def call_success(outcome: MetricResult, metrics: list[MetricResult]) -> bool:
    """True only when the expected outcome and every binary metric pass (None: not judged)."""
    return outcome.passed is not False and all(
        m.passed is not False for m in metrics if m.eval_type == "binary"
    )


def score_call(
    call: CallData, *, llm: LLMConfig | None = None, custom_metrics: Sequence[CustomMetric] = ()
) -> tuple[MetricResult, list[MetricResult], bool]:
    """(expected outcome, metrics, success) — success: the agent answered, and the expected
    outcome and every binary metric (predefined or custom) passed wherever they were judged."""
    outcome, metrics = evaluate_call(call, llm=llm, custom_metrics=custom_metrics)
    agent_spoke = any(t["role"] == "Main Agent" for t in call.transcript)
    answered = agent_spoke and call.ended_reason != "Main agent-did-not-answer"
    return outcome, metrics, answered and call_success(outcome, metrics)
