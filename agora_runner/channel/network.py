"""Seeded network conditions for one member's uplink: latency, jitter and loss.

The same seed gives the same sequence of delays and drops, frame by frame, so a run under
bad conditions can be replayed exactly.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

CODECS = ("", "opus")
FIELDS = ("latency_ms", "jitter_ms", "loss", "seed", "codec", "bitrate", "dtx")


@dataclass(frozen=True)
class NetworkConditions:
    """One member's uplink. With `codec="opus"`, its audio goes through Opus as a real call's
    does (agora_runner.channel.codec): a lost packet is concealed by the decoder instead of
    missing, and with `dtx` silence travels as comfort noise."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # probability a frame is dropped, 0..1
    seed: int = 0
    codec: str = ""
    bitrate: int = 24000  # Opus bits per second
    dtx: bool = False

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0 or not 0 <= self.loss < 1:
            raise ValueError("latency and jitter must be ≥ 0 and loss in [0, 1)")
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of: none, opus (not {self.codec!r})")
        if not 6000 <= self.bitrate <= 128000:
            raise ValueError("bitrate must be 6000–128000 bits per second")

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.jitter_ms or self.loss or self.codec)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> NetworkConditions | None:
        if not data:
            return None
        dtx = data.get("dtx", False)
        return cls(
            float(data.get("latency_ms", 0)),
            float(data.get("jitter_ms", 0)),
            float(data.get("loss", 0)),
            int(data.get("seed", 0)),
            str(data.get("codec") or "").lower().replace("none", ""),
            int(data.get("bitrate", 24000)),
            dtx if isinstance(dtx, bool) else str(dtx).lower() in ("1", "true", "yes", "on"),
        )

    @classmethod
    def parse(cls, text: str) -> NetworkConditions | None:
        """'latency_ms=80,jitter_ms=20,loss=0.02,seed=7,codec=opus,dtx=1' (the form settings
        use)."""
        if not text.strip():
            return None
        fields: dict[str, Any] = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            if name.strip() not in FIELDS:
                raise ValueError(f"unknown network condition {name.strip()!r}")
            fields[name.strip()] = value.strip()
        return cls.from_dict(fields)


class Impairment:
    """Per-frame decisions for one member: None (dropped) or a delay in seconds."""

    def __init__(self, conditions: NetworkConditions) -> None:
        self.c = conditions
        self._rng = random.Random(conditions.seed)

    def next_delay(self) -> float | None:
        drop = self._rng.random() < self.c.loss
        jitter = abs(self._rng.gauss(0.0, self.c.jitter_ms)) if self.c.jitter_ms else 0.0
        return None if drop else (self.c.latency_ms + jitter) / 1000.0
