"""Who is speaking when: per-track speech activity at 10 ms resolution, found once per call."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agora_runner.audio import (
    FRAME_MS,
    FRAME_SAMPLES,
    SPEECH_PROB,
    VAD_WINDOW,
    first_voiced_sample,
    last_voiced_sample,
    speech_probabilities,
)

HANGOVER_FRAMES = 20  # pauses up to 200 ms inside speech still count as speaking
MIN_SPEECH_FRAMES = 3  # speech lasts at least 30 ms
EDGE_SEARCH_MS = 200  # how far from a stretch's first or last window its true edge is looked for


def activity(track: np.ndarray, probs: np.ndarray | None = None) -> np.ndarray:
    """Bool per 10 ms frame: speech, with short pauses filled. Speech is what the neural VAD
    calls speech (`speech_probabilities`, computed here when not given)."""
    n = len(track) // FRAME_SAMPLES
    if probs is None:
        probs = speech_probabilities(track)
    centres = (np.arange(n) * FRAME_SAMPLES + FRAME_SAMPLES // 2) // VAD_WINDOW
    voiced = probs[np.minimum(centres, len(probs) - 1)] >= SPEECH_PROB if len(probs) else np.zeros(n, dtype=bool)
    for r in regions(voiced):
        a, b = round(r.start * 1000 / FRAME_MS), round(r.end * 1000 / FRAME_MS)
        if b - a < MIN_SPEECH_FRAMES:
            voiced[a:b] = False
    # The model's 32 ms windows lag a soft onset; each stretch is widened to the edges of its
    # sound, found on the samples as the latency metric finds them.
    edge = EDGE_SEARCH_MS * FRAME_SAMPLES // FRAME_MS
    for r in regions(voiced):
        a, b = round(r.start * 1000 / FRAME_MS), round(r.end * 1000 / FRAME_MS)
        first = first_voiced_sample(track, max(0, a * FRAME_SAMPLES - edge), min(len(track), a * FRAME_SAMPLES + edge), probs=probs)
        if first is not None and first // FRAME_SAMPLES < a:
            voiced[first // FRAME_SAMPLES : a] = True
        last = last_voiced_sample(track, max(0, b * FRAME_SAMPLES - edge), min(len(track), b * FRAME_SAMPLES + edge), probs=probs)
        if last is not None and -(-last // FRAME_SAMPLES) > b:
            voiced[b : min(n, -(-last // FRAME_SAMPLES))] = True
    idx = np.flatnonzero(voiced)
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if 1 < b - a <= HANGOVER_FRAMES:
            voiced[a:b] = True
    return voiced


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


def authored_activity(utterances: list[dict], frames: int) -> np.ndarray | None:
    """The caller's activity from the speech edges of the clips it spoke (exact, unaffected by
    noise), or None when an utterance lacks them (runs recorded before they were kept)."""
    if not utterances or any(u.get("speech_start") is None or u.get("speech_end") is None for u in utterances):
        return None
    active = np.zeros(frames, dtype=bool)
    for u in utterances:
        a = int(float(u["speech_start"]) * 1000 // FRAME_MS)
        b = int(-(-float(u["speech_end"]) * 1000 // FRAME_MS))
        active[max(a, 0) : min(b, frames)] = True
    return active


def seconds(active: np.ndarray) -> float:
    return float(active.sum()) * FRAME_MS / 1000
