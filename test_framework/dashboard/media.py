"""What the run page draws: the two tracks' waveform as peaks."""

from __future__ import annotations

import numpy as np


def peaks(track: np.ndarray, buckets: int = 600) -> list[float]:
    """The peak magnitude (0–1) of each of `buckets` equal slices of the track."""
    if not len(track):
        return []
    n = min(buckets, len(track))
    edges = np.linspace(0, len(track), n + 1).astype(int)
    mags = np.abs(track.astype(np.int32))
    return [
        round(float(mags[a:b].max()) / 32768, 3) if b > a else 0.0
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def histogram(values: list[float], bins: int = 12) -> list[dict[str, float]]:
    """Equal-width bins over the values, for the latency distribution plot."""
    if not values:
        return []
    lo, hi = min(values), max(values)
    if hi - lo < 1:
        hi = lo + 1
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    width = 100 / bins  # the plot is drawn in a 100 × 60 box
    out = []
    for i, (a, b, c) in enumerate(zip(edges[:-1], edges[1:], counts, strict=True)):
        h = round(58 * int(c) / top, 2)
        out.append(
            {
                "lo": round(float(a)),
                "hi": round(float(b)),
                "count": int(c),
                "x": round(i * width + 0.5, 2),
                "w": round(width - 1, 2),
                "y": round(60 - h, 2),
                "h": h,
            }
        )
    return out
