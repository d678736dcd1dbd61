"""Who is speaking when, at 10 ms resolution: the agent's turns as the timing analysis found
them (evaluators.timing), the caller's from the clips it spoke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_MS = 10


def spans_activity(spans: list[tuple[float, float]], frames: int) -> np.ndarray:
    """Bool per 10 ms frame, true inside any (start, end) span (seconds)."""
    active = np.zeros(frames, dtype=bool)
    for start, end in spans:
        a = int(start * 1000 // FRAME_MS)
        b = int(-(-end * 1000 // FRAME_MS))
        active[max(a, 0) : min(b, frames)] = True
    return active


def caller_activity(utterances: list[dict[str, Any]], frames: int) -> np.ndarray:
    """The caller's activity: from the speech edges of the clips it spoke (exact, unaffected by
    noise), or, for runs recorded before those were kept, from when each line was sent."""
    spans = [
        (
            float(u["speech_start"] if u.get("speech_start") is not None else u["start"]),
            float(u["speech_end"] if u.get("speech_end") is not None else u["end"]),
        )
        for u in utterances
    ]
    return spans_activity(spans, frames)


@dataclass
class Region:
    start: float  # seconds
    end: float


def regions(active: np.ndarray) -> list[Region]:
    out: list[Region] = []
    start = None
    for i, v in enumerate(active):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append(Region(start * FRAME_MS / 1000, i * FRAME_MS / 1000))
            start = None
    if start is not None:
        out.append(Region(start * FRAME_MS / 1000, len(active) * FRAME_MS / 1000))
    return out


def seconds(active: np.ndarray) -> float:
    return float(active.sum()) * FRAME_MS / 1000
