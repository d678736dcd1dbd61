"""Background noise generated offline from a seed, mixed at a chosen signal-to-noise ratio."""

from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE

KINDS = ("white", "office", "street", "cafe")


def _pink(white: np.ndarray) -> np.ndarray:
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(len(white), 1 / SAMPLE_RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return np.fft.irfft(spectrum, len(white))


def make_noise(kind: str, seconds: float, seed: int) -> np.ndarray:
    """Unit-RMS float noise of a kind: white; office (pink); street (brown rumble); cafe
    (pink noise under a slow random envelope, like distant chatter)."""
    if kind not in KINDS:
        raise ValueError(f"unknown background noise {kind!r}; one of {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    elif kind == "office":
        x = _pink(white)
    elif kind == "street":
        brown = np.cumsum(white)
        x = brown - np.convolve(brown, np.ones(801) / 801, mode="same")  # keep it centred
    else:
        envelope = np.interp(
            np.arange(n),
            np.linspace(0, n, max(2, int(seconds * 4))),
            rng.uniform(0.3, 1.0, max(2, int(seconds * 4))),
        )
        x = _pink(white) * envelope
    x = x - x.mean()
    unit: np.ndarray = (x / (np.sqrt(np.mean(x * x)) or 1.0)).astype(np.float32)
    return unit


def speech_rms(audio: np.ndarray) -> float:
    """RMS of the voiced part of speech (samples above 2 % of full scale)."""
    a = audio.astype(np.float64)
    voiced = a[np.abs(a) > 0.02 * 32768]
    return float(np.sqrt(np.mean(voiced * voiced))) if len(voiced) else 3000.0


def noise_track(
    kind: str, snr_db: float, reference: np.ndarray, seed: int, seconds: float = 20.0
) -> np.ndarray:
    """int16 noise to add under speech whose level is `reference`'s, at `snr_db`."""
    level = speech_rms(reference) / (10 ** (snr_db / 20))
    return np.clip(np.round(make_noise(kind, seconds, seed) * level), -32768, 32767).astype(
        np.int16
    )
