"""Documented limits on what the API, the dashboard and spec files accept (docs/limits.md).
Each bounds the work one request can make for the workers: a line the caller says is
synthesised, a scenario's text is read by the caller's model and the judge."""

from __future__ import annotations

from agora_runner.types import MAX_LINE_CHARS

LINE = MAX_LINE_CHARS  # a line of speech: first_message, a condition's action
TEXT = 20_000  # a scenario's instructions, an expected outcome, a personality's or metric's prompt
CONDITION = 2_000  # what a condition waits for
ROLE = 2_000  # a conditional-actions scenario's role
CONDITIONS = 100  # conditions in one scenario
DESCRIPTION = 5_000  # an agent's description, a metric's description

# Launches
FREQUENCY = 100  # runs of each scenario in one launch (the dashboard's cap too)
RUNS_PER_LAUNCH = 1000  # scenarios × personalities × frequency
CONCURRENCY = RUNS_PER_LAUNCH  # a concurrency_limit above the runs of a launch means nothing


def too_many_runs(count: int) -> str:
    return f"A launch may start at most {RUNS_PER_LAUNCH} runs; this one would start {count}."
