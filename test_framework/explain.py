"""Why a run did not succeed, in words a person acts on: what happened, whose side it was on,
and what to check. The result page groups its runs by these (2 runs: the agent never joined
the channel — check …), so a failed result explains itself without opening every run.

Plain functions over a run's lifecycle facts (status, ended_reason, infrastructure, …) and its
error message: the message names the step that failed (the session endpoint, the channel join,
the pre-trigger webhook), the facts say whose side it was on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common.vocabulary import EndedReason

from .choices import Status


@dataclass(frozen=True)
class Why:
    key: str
    headline: str  # what happened, completing "N runs: …"
    advice: str  # what to check or do
    check_endpoint: bool = False  # the agent's Test endpoint is the next step


ENDPOINT = Why(
    "session_endpoint",
    "the agent's session endpoint did not give usable join details",
    "Check the endpoint's URL and secret, and what it answers, with Test endpoint on the "
    "agent's page.",
    check_endpoint=True,
)
NEVER_JOINED = Why(
    "agent_never_joined",
    "the agent never joined the channel",
    "The session endpoint answered, but no agent came into the channel: check that it starts "
    "your agent in the channel and with the token it returns (Test endpoint on the agent's page "
    "tries it).",
    check_endpoint=True,
)
JOIN_REFUSED = Why(
    "join_refused",
    "the channel refused the simulated caller",
    "Check the App ID, channel and token the session endpoint returns (and the encryption "
    "settings, if any) with Test endpoint on the agent's page.",
    check_endpoint=True,
)
NO_ANSWER = Why(
    "no_answer",
    "the agent joined but did not answer",
    "The agent was in the channel but said nothing in time: check that it hears the caller "
    "(it subscribes to the caller's audio) and that its speech reaches the channel.",
)
PRE_TRIGGER = Why(
    "pre_trigger",
    "the pre-trigger webhook did not accept the launch, so no call was placed",
    "Check the webhook's receiver (Webhooks page: its deliveries show the answer). Credits "
    "were refunded.",
)
SCENARIO = Why(
    "scenario",
    "the scenario cannot be played as written",
    "Open the scenario and fix what the error names. Credits were refunded.",
)
SCORING = Why(
    "scoring",
    "the call happened, but scoring it failed on our side",
    "The recording and transcript are kept. Re-score the result; if it fails again, the "
    "post-processing worker's log says why.",
)
REAPED = Why(
    "worker_stopped",
    "the worker running the call stopped",
    "A problem on our side, not your agent's: the run's credit was refunded. Run it again.",
)
TIME_LIMIT = Why(
    "time_limit",
    "the call went past its time limit",
    "Raise the scenario's maximum duration if the conversation needs longer, or check why the "
    "agent did not end the call.",
)
OUR_SIDE = Why(
    "our_side",
    "the simulated caller failed on our side",
    "Not your agent's fault: the run's credit was refunded. Run it again; if it keeps "
    "failing, the worker's log says why.",
)
CANCELLED = Why("cancelled", "were cancelled", "")
NOT_PASSED = Why(
    "not_passed",
    "completed, but did not pass",
    "The call happened: the metrics that failed are listed below and on each run's page.",
)


NOT_JUDGED = Why(
    "not_judged",
    "completed, but were not judged: the scenario checks nothing of its own",
    "Add an expected outcome to the scenario, or attach a metric to it or to its agent, then "
    "re-score the result.",
)


def why(run: Any) -> Why | None:
    """Why `run` did not succeed; None when it succeeded or is still going."""
    status = run.status
    message = (run.error_message or "").lower()
    if status == Status.COMPLETED:
        if run.success is None:
            return NOT_JUDGED
        if run.success:
            return None
        return (
            NO_ANSWER if run.ended_reason == EndedReason.MAIN_AGENT_DID_NOT_ANSWER else NOT_PASSED
        )
    if status == Status.CANCELLED:
        return CANCELLED
    if status == Status.TIMEOUT:
        return TIME_LIMIT
    return _why_failed(run, message) if status == Status.FAILED else None


def _why_failed(run: Any, message: str) -> Why:
    if run.post_processing_failed:
        return SCORING
    if run.reaped:
        return REAPED
    if "pre-trigger" in message:
        return PRE_TRIGGER
    if run.ended_reason == EndedReason.CALL_NOT_CONNECTED:
        if "did not join" in message:
            return NEVER_JOINED
        if "session endpoint" in message or " url " in f" {message} " or "resolve" in message:
            return ENDPOINT
        return JOIN_REFUSED
    if "time limit" in message:
        return TIME_LIMIT
    if not run.infrastructure:
        return SCENARIO
    return OUR_SIDE


@dataclass
class Group:
    why: Why
    runs: list[Any] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # the distinct error messages, in order

    @property
    def count(self) -> int:
        return len(self.runs)


def group(runs: Iterable[Any]) -> list[Group]:
    """The runs that did not succeed, grouped by why, the largest group first."""
    groups: dict[str, Group] = {}
    for run in runs:
        reason = why(run)
        if reason is None:
            continue
        g = groups.setdefault(reason.key, Group(reason))
        g.runs.append(run)
        text = (run.error_message or "").strip()
        if text and text not in g.messages and len(g.messages) < 3:
            g.messages.append(text)
    return sorted(groups.values(), key=lambda g: -g.count)
