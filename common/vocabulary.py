"""The words the product's data uses, once: who speaks, how a call ended, what a caller's turn
came to. Each is a StrEnum, so a member is the string the API and the stored data carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A transcript turn's speaker (spec/cekura-api.md)."""

    MAIN_AGENT = "Main Agent"  # the agent under test
    TESTING_AGENT = "Testing Agent"  # our simulated caller


class EndedReason(StrEnum):
    """How a call ended: a run's `ended_reason` (spec/cekura-api.md)."""

    MAIN_AGENT_ENDED = "Main agent-ended-call"
    TESTING_AGENT_ENDED = "Testing agent-ended-call"
    MAIN_AGENT_DID_NOT_ANSWER = "Main agent-did-not-answer"
    EXCEEDED_MAX_DURATION = "exceeded-max-duration"
    RUN_CANCELLED = "run-cancelled-by-user"
    CALL_NOT_CONNECTED = "Main agent-call-not-connected"
    PIPELINE_ERROR = "Testing agent-pipeline-error"


class ReplyOutcome(StrEnum):
    """What came of waiting for the agent's answer to one caller line."""

    ANSWERED = "answered"  # it spoke and fell silent
    NO_ANSWER = "no_answer"  # nothing before the deadline
    BARGE_IN = "barge_in"  # it spoke on long enough for the caller to cut in
    LEFT = "left"  # it left the channel
    DROPPED = "dropped"  # our connection to the channel went
    UNDECRYPTABLE = "undecryptable"  # its audio could not be decrypted


# The header that carries the agent's secret to its session endpoint, unless the agent names
# another (spec/agora-simulations.md).
DEFAULT_SECRET_HEADER = "X-Cekura-Secret"
