"""Who is speaking when: per-track speech activity at 10 ms resolution, found once per call."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agora_runner.audio import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES, VoiceDetector

HANGOVER_FRAMES = 20  # pauses up to 200 ms inside speech still count as speaking
MIN_SPEECH_FRAMES = 3  # a click lights one frame; speech lasts at least 30 ms


def activity(track: np.ndarray) -> np.ndarray:
    """Bool per 10 ms frame: speech, with short pauses filled."""
    n = len(track) // FRAME_SAMPLES
    raw = track[: n * FRAME_SAMPLES].astype(np.int16).tobytes()
    det = VoiceDetector()
    voiced = np.array([det.is_speech(raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) for i in range(n)], dtype=bool)
    for r in regions(voiced):
        a, b = round(r.start * 1000 / FRAME_MS), round(r.end * 1000 / FRAME_MS)
        if b - a < MIN_SPEECH_FRAMES:
            voiced[a:b] = False
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


def seconds(active: np.ndarray) -> float:
    return float(active.sum()) * FRAME_MS / 1000
