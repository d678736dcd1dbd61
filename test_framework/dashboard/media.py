"""What the run page draws: the two tracks' waveform as peaks."""

from __future__ import annotations

from typing import Any

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


def trend_lines(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The agent trend's SVG shapes, in a 100 × 100 box, oldest result on the left: the pass
    rate (0–100 % up) with its Wilson band, and latency p50 / p90 scaled to the highest p90
    (`latency_top`, ms). Each series is its polyline's points and its dots (a lone result is a
    dot); a result without a value is skipped."""
    step = 100 / max(len(points) - 1, 1)
    top = max((p["latency_p90_ms"] or 0 for p in points), default=0) or 1.0

    def series(key: str, scale: float) -> dict[str, Any]:
        dots = [
            (round(i * step, 1), round(100 - p[key] * scale, 1))
            for i, p in enumerate(points)
            if p[key] is not None
        ]
        return {"line": " ".join(f"{x},{y}" for x, y in dots), "dots": dots}

    rated = [(round(i * step, 1), p["interval"]) for i, p in enumerate(points) if p["interval"]]
    band = [f"{x},{100 - hi * 100:.1f}" for x, (_, hi) in rated]
    band += [f"{x},{100 - lo * 100:.1f}" for x, (lo, _) in reversed(rated)]
    return {
        "pass_rate": series("pass_rate", 100),
        "pass_band": " ".join(band),
        "p50": series("latency_p50_ms", 100 / top),
        "p90": series("latency_p90_ms", 100 / top),
        "latency_top": f"{top:.0f}",
    }
