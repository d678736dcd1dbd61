"""The one entry point that scores a call: the predefined catalogue (evaluators.registry),
then the organization's custom metrics."""

from __future__ import annotations

from collections.abc import Sequence

from common.llm import LLMConfig
from common.vocabulary import EndedReason, Role

from . import custom
from .base import CallData, MetricResult
from .custom import CustomMetric
from .registry import catalogue

EXPECTED_OUTCOME_ID = 1  # judged apart: a run's `expected_outcome` field


def evaluate_call(
    call: CallData, *, llm: LLMConfig | None = None, custom_metrics: Sequence[CustomMetric] = ()
) -> tuple[MetricResult, list[MetricResult]]:
    """(expected outcome, [every other predefined metric, then the custom ones]) for one call."""
    results = {m.id: m.evaluate(call, llm) for m in catalogue()}
    outcome = results.pop(EXPECTED_OUTCOME_ID)
    metrics = list(results.values())
    metrics += [custom.evaluate(call, m, llm) for m in custom_metrics]
    return outcome, metrics


def call_success(outcome: MetricResult, metrics: list[MetricResult]) -> bool:
    """True only when the expected outcome and every binary metric pass (None: not judged)."""
    return outcome.passed is not False and all(
        m.passed is not False for m in metrics if m.eval_type == "binary"
    )


def checks_something(call: CallData, custom_metrics: Sequence[CustomMetric]) -> bool:
    """Whether the scenario says what a good call is: an expected outcome or a metric of its
    own. Without either, only the predefined catalogue judges the call, and a call it finds no
    fault with is reported as not judged rather than as a success."""
    return bool(call.expected_outcome_prompt.strip()) or bool(custom_metrics)


def score_call(
    call: CallData, *, llm: LLMConfig | None = None, custom_metrics: Sequence[CustomMetric] = ()
) -> tuple[MetricResult, list[MetricResult], bool | None]:
    """(expected outcome, metrics, success) — success: the agent answered, and the expected
    outcome and every binary metric (predefined or custom) passed wherever they were judged.
    A failure is a failure either way; a call with no fault found is None (not judged) when
    the scenario checks nothing of its own."""
    outcome, metrics = evaluate_call(call, llm=llm, custom_metrics=custom_metrics)
    agent_spoke = any(t["role"] == Role.MAIN_AGENT for t in call.transcript)
    answered = agent_spoke and call.ended_reason != EndedReason.MAIN_AGENT_DID_NOT_ANSWER
    if not answered or not call_success(outcome, metrics):
        return outcome, metrics, False
    return outcome, metrics, True if checks_something(call, custom_metrics) else None
