"""Seeded network conditions for one member's uplink: latency, jitter and loss.

The same seed gives the same sequence of delays and drops, frame by frame, so a run under
bad conditions can be replayed exactly.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class NetworkConditions:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # probability a frame is dropped, 0..1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0 or self.jitter_ms < 0 or not 0 <= self.loss < 1:
            raise ValueError("latency and jitter must be ≥ 0 and loss in [0, 1)")

    @property
    def active(self) -> bool:
        return bool(self.latency_ms or self.jitter_ms or self.loss)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> NetworkConditions | None:
        if not data:
            return None
        return cls(float(data.get("latency_ms", 0)), float(data.get("jitter_ms", 0)), float(data.get("loss", 0)), int(data.get("seed", 0)))

    @classmethod
    def parse(cls, text: str) -> NetworkConditions | None:
        """'latency_ms=80,jitter_ms=20,loss=0.02,seed=7' (the form settings use)."""
        if not text.strip():
            return None
        fields: dict[str, Any] = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            if name.strip() not in ("latency_ms", "jitter_ms", "loss", "seed"):
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
