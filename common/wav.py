"""WAV files and the edges of speech in a clean clip."""

from __future__ import annotations

import io
import wave

import numpy as np

SAMPLE_RATE = 16000  # every track the product handles: 16 kHz mono s16

# A clean clip's speech starts (ends) at its first (last) sample within this of its peak.
EDGE_DB = -60.0


def speech_edges(clip: np.ndarray) -> tuple[int, int] | None:
    """(first sample, one past the last) of a clean clip's speech: the samples within 60 dB of
    its peak (what lies lower, a synthesiser's hiss or a resampler's ringing, is not speech).
    None if it holds no sound."""
    mag = np.abs(clip.astype(np.float64))
    if not len(mag) or not mag.max():
        return None
    idx = np.flatnonzero(mag >= mag.max() * 10 ** (EDGE_DB / 20))
    return int(idx[0]), int(idx[-1]) + 1


def stereo_wav(left: np.ndarray, right: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A 2-channel s16 WAV; the shorter track is padded with silence."""
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: len(left), 0] = left
    stereo[: len(right), 1] = right
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(stereo.tobytes())
    return buf.getvalue()


def read_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, int16 array shaped (n, channels))."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit WAV is supported")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return w.getframerate(), frames.reshape(-1, w.getnchannels())
