"""Errors of the runner. Messages are for users: they never carry a secret, token or key."""

from __future__ import annotations

from common.vocabulary import EndedReason


class RunnerError(Exception):
    """A run cannot go on. `permanent` tells a retry would not help."""

    ended_reason = EndedReason.PIPELINE_ERROR

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    @property
    def infrastructure(self) -> bool:
        """The failure is ours (the testing agent's), not the user's agent's or scenario's."""
        return self.ended_reason == EndedReason.PIPELINE_ERROR


class SessionEndpointError(RunnerError):
    """The user's session endpoint could not be called or answered outside the contract."""

    ended_reason = EndedReason.CALL_NOT_CONNECTED


class JoinError(RunnerError):
    """The channel refused us (bad token, wrong channel, …) or could not be reached."""

    ended_reason = EndedReason.CALL_NOT_CONNECTED


class TransportUnavailable(RunnerError):
    """The transport a run needs is not installed or cannot load."""

    ended_reason = EndedReason.PIPELINE_ERROR


class RunCancelled(RunnerError):
    """Someone cancelled the run before its call began (while the endpoint was called or the
    caller's lines were synthesised)."""

    ended_reason = EndedReason.RUN_CANCELLED


class ScenarioError(RunnerError):
    """The scenario cannot be played as stored (e.g. a line longer than the limit)."""

    @property
    def infrastructure(self) -> bool:
        return False
