"""How soon an answer's start shows over steady noise at all: what even a detector that knew
the clean answer could do (docs/metrics.md, "what the recording allows").

For each answer of the bench's calls (bench/timing_material.py) under each steady noise, the
first 8 ms window (in 1 ms steps) in which the clean answer's power, in some third-octave band
from 250 Hz up, reaches the noise's mean power in that band plus MARGIN dB; the answer is
placed at that window's centre and compared with its true start. Such a detector knows what
no analysis of the recording does (the answer without the noise, and where to look), so its
errors are a floor: at a margin of 0 dB it hears the answer as soon as it is as loud as the
noise in one band of one window, where an analysis must also not take the noise's own swings
for speech; at −6 dB, before that.

    .venv/bin/python bench/timing_bound.py [--part tuning|heldout|both] [--margins 0,-6]
        [--conditions "white 20 dB,..."]

It prints, per condition and part, p95 |error| and the worst (ms), and the share of answers
off by more than 10 and 25 ms (the targets at 20 and 10 dB).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing_bench import calls_of  # noqa: E402
from timing_material import CONDITIONS, SAMPLE_RATE, Call  # noqa: E402

WINDOW, STEP = 128, 16  # 8 ms windows, 1 ms apart
STEADY = ("white 20 dB", "pink 20 dB", "brown 20 dB", "white 10 dB", "pink 10 dB", "brown 10 dB")


def _bands() -> list[np.ndarray]:
    """FFT bins of the third-octave bands from 250 Hz to 7 kHz (those holding a bin)."""
    f = np.fft.rfftfreq(WINDOW, 1 / SAMPLE_RATE)
    centres = 250 * 2 ** (np.arange(15) / 3)
    out = [np.flatnonzero((f >= c * 2 ** (-1 / 6)) & (f < c * 2 ** (1 / 6))) for c in centres]
    return [b for b in out if len(b) and f[b[0]] < 7000]


BANDS = _bands()


def band_power(x: np.ndarray) -> np.ndarray:
    """Per 8 ms Hann window (1 ms apart) and band, the power."""
    if len(x) < WINDOW:
        return np.zeros((0, len(BANDS)))
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::STEP] * np.hanning(WINDOW)
    spectrum = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.stack([spectrum[:, b].sum(axis=1) for b in BANDS], axis=1)


def errors(calls: list[Call], condition: str, margin_db: float) -> np.ndarray:
    """Per answer of `calls`, the detector's placement less the true start (ms)."""
    out = []
    for call in calls:
        clean = call.agent.astype(np.float64)
        noise = CONDITIONS[condition](call, call.seed).astype(np.float64) - clean
        floor = band_power(noise).mean(axis=0) * 10 ** (margin_db / 10)
        for a in call.answers:
            lo = max(0, a["onset"] - SAMPLE_RATE // 5)
            heard = np.flatnonzero(
                (band_power(clean[lo : a["onset"] + SAMPLE_RATE // 2]) >= floor).any(axis=1)
            )
            at = lo + int(heard[0]) * STEP + WINDOW // 2 if len(heard) else None
            out.append(np.inf if at is None else (at - a["onset"]) * 1000 / SAMPLE_RATE)
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", choices=("tuning", "heldout", "both"), default="both")
    ap.add_argument("--margins", default="0,-6", help="dB over the noise's mean band power")
    ap.add_argument("--conditions", default=",".join(STEADY))
    args = ap.parse_args()
    parts = ("tuning", "heldout") if args.part == "both" else (args.part,)
    calls = {part: calls_of(part, 6) for part in parts}  # as timing_bench.py's default run
    print(f"{'part':8} {'condition':12} {'margin':>6} {'p95 ms':>7} {'worst':>6} >10 ms >25 ms")
    for margin in (float(m) for m in args.margins.split(",")):
        for part in parts:
            for condition in args.conditions.split(","):
                e = np.abs(errors(calls[part], condition, margin))
                seen = e[np.isfinite(e)]
                print(
                    f"{part:8} {condition:12} {margin:+6.0f} {np.percentile(seen, 95):7.1f} "
                    f"{seen.max():6.1f} {np.mean(e > 10):6.0%} {np.mean(e > 25):6.0%}"
                    + (f"  (never heard: {len(e) - len(seen)})" if len(seen) < len(e) else "")
                )


if __name__ == "__main__":
    main()
