"""Dataclasses passed between the Django seam and the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.vocabulary import DEFAULT_SECRET_HEADER

# A line of speech the caller says (a first message, an action) is at most this long: about a
# minute of speech, three seconds of synthesis on one core.
MAX_LINE_CHARS = 1000


@dataclass(frozen=True)
class SessionEndpointConfig:
    url: str
    client_id: str
    secret: str = field(repr=False)
    header_name: str = DEFAULT_SECRET_HEADER
    method: str = "POST"
    timeout_seconds: float = 10.0  # per read
    deadline_seconds: float = 15.0  # per attempt, the whole exchange
    total_seconds: float = 40.0  # every attempt and the waits between them
    # When set (the server does), the URL's host must resolve to public addresses unless this
    # allow-list names it ("host", "host:port", or "*"); None: no check (the command line).
    allow_hosts: tuple[str, ...] | None = None
    # A spec case's test data for the agent (test_profile.agent_variables): sent with the
    # request only when present, as a JSON field of the body (POST) or a JSON-encoded query
    # parameter (GET).
    agent_variables: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class EncryptionConfig:
    mode_name: str
    mode: int
    key: str = field(repr=False)
    salt: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class JoinDetails:
    """Join details fetched for one run: kept in memory only, never stored or logged."""

    app_id: str
    channel: str
    token: str = field(repr=False)
    uid: int = 1
    encryption: EncryptionConfig | None = None


@dataclass(frozen=True)
class CallerScript:
    """The scenario as the caller needs it."""

    first_message: str = "Hello"
    scenario_type: str = "instruction"  # or "conditional_actions"
    instructions: str = ""
    # {"id", "condition", "action", "fixed_message"}, FIRST_MESSAGE already taken out
    conditions: tuple[dict[str, Any], ...] = ()
    personality: str = ""

    @classmethod
    def scripted(cls, lines: list[str]) -> CallerScript:
        """Say lines[0], then each next line after the agent answers (fixed messages)."""
        conditions = tuple(
            {"id": i, "condition": "", "action": line, "fixed_message": True}
            for i, line in enumerate(lines[1:], start=1)
        )
        return cls(
            first_message=lines[0], scenario_type="conditional_actions", conditions=conditions
        )


@dataclass(frozen=True)
class Persona:
    """How the caller sounds and behaves (from its personality)."""

    speed: float = 1.0
    interruption_level: str = "none"  # none | low | medium | high
    background_noise: str = "none"  # none | white | office | street | cafe
    noise_snr_db: float = 20.0
    backchannels: bool = False
    # Calibration: barge in on every agent answer, this many ms into it (cycling), in place of
    # the seeded chance of interruption_level.
    barge_in_after_ms: tuple[int, ...] = ()


@dataclass(frozen=True)
class CallSpec:
    """Everything the runner needs for one call (built by the Django seam from rows)."""

    endpoint: SessionEndpointConfig
    join_uid: int
    caller: CallerScript
    seed: int = 0
    llm: Any = None  # agora_runner.llm.LLMConfig when an LLM drives the caller
    persona: Persona = field(default_factory=Persona)
    max_duration_seconds: float = 300.0
    agent_join_timeout_seconds: float = 15.0
    silence_limit_seconds: float = 15.0
    end_of_turn_silence_ms: int = 800
    agent_gives_first_message: bool = True
    goodbye_line: str = "Thank you, goodbye."
    local_channel_address: str = "127.0.0.1:7788"
    local_channel_app_ids: tuple[str, ...] = ()
    # Seeded latency/jitter/loss on our uplink in the local channel: NetworkConditions or None
    local_network: Any = None


@dataclass
class TimelineEvent:
    """A moment of the call; `t` is seconds from call start (sample 0 of the recording)."""

    t: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallRecording:
    """Both sides of a call, sample-aligned at 16 kHz, s16 mono each."""

    sample_rate: int
    caller: Any  # numpy int16 array
    agent: Any  # numpy int16 array

    @property
    def duration_seconds(self) -> float:
        return max(len(self.caller), len(self.agent)) / self.sample_rate


@dataclass
class CallOutcome:
    ended_reason: str
    connected: bool
    recording: CallRecording | None
    timeline: list[TimelineEvent]
    caller_utterances: list[dict[str, Any]]
    transport: str
    agent_uid: int | None = None
    other_uids: list[int] = field(default_factory=list)
    error: str | None = None
    # How on time the caller's frames went out (PacedSpeaker.pacing): our own side's health.
    pacing: dict[str, Any] = field(default_factory=dict)
