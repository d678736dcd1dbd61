from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from common.vocabulary import Role


@dataclass
class CallData:
    """What every metric reads: both tracks (16 kHz int16), the transcript and the timeline."""

    sample_rate: int
    caller: np.ndarray
    agent: np.ndarray
    transcript: list[dict[str, Any]]  # transcript_object entries
    caller_utterances: list[dict[str, Any]]  # {"text", "start", "end"} in seconds
    timeline: list[dict[str, Any]]  # {"t", "kind", "data"}
    expected_outcome_prompt: str = ""
    ended_reason: str = ""
    # The agent's track with its band powers (evaluators.timing.signal.Track), when something
    # analysed it already (finding the caller's turns looks at it): analysed once per call.
    agent_track: Any = None

    @cached_property
    def timing(self) -> Any:
        """When each side spoke (evaluators.timing.Timing), analysed once per call."""
        from .timing import score_timing

        return score_timing(self)

    @cached_property
    def agent_active(self) -> np.ndarray:
        from .activity import spans_activity

        return spans_activity(self.timing.agent_spans, len(self.agent) // 160)

    @cached_property
    def caller_active(self) -> np.ndarray:
        """From the caller's authored speech edges (or, for older runs, when it sent its lines)."""
        from .activity import caller_activity

        return caller_activity(self.caller_utterances, len(self.caller) // 160)

    def agent_text(self) -> str:
        return " ".join(t["content"] for t in self.transcript if t["role"] == Role.MAIN_AGENT)


# A metric that needs an LLM judge, on a server that has none.
NO_JUDGE = (
    "Not judged: this metric needs an LLM judge, and this server has none configured (its "
    "operator sets CEKURA_LLM_BASE_URL and CEKURA_LLM_MODEL)."
)


@dataclass
class MetricResult:
    """One metric on one run, in the spec's shape (see `as_dict`)."""

    id: int | None
    name: str
    eval_type: str  # binary | numeric | enum | continuous_qualitative
    score: float | None = None
    passed: bool | None = None
    enum: str | None = None
    explanation: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "eval_type": self.eval_type}
        if self.eval_type == "binary":
            out["passed"] = self.passed
        elif self.eval_type == "enum":
            out["enum"] = self.enum
        else:
            out["score"] = self.score
        out["explanation"] = list(self.explanation)
        out["extra"] = dict(self.extra)
        return out
