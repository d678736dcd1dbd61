"""How a stretch of track is looked at: band powers of short frames, and a causal high-pass."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .params import PARAMS, TimingParams

SAMPLE_RATE = 16000


@lru_cache(maxsize=4)
def _window(frame: int) -> np.ndarray:
    return np.hanning(frame + 2)[1:-1]


@lru_cache(maxsize=4)
def _band_bins(frame: int, bands_hz: tuple[int, ...]) -> list[np.ndarray]:
    freqs = np.fft.rfftfreq(frame, 1 / SAMPLE_RATE)
    return [
        np.flatnonzero((freqs >= lo) & (freqs < hi))
        for lo, hi in zip(bands_hz[:-1], bands_hz[1:], strict=True)
    ]


@lru_cache(maxsize=4)
def _band_starts(frame: int, bands_hz: tuple[int, ...]) -> tuple[int, int, np.ndarray]:
    """The bands' bins as one contiguous run (first bin, one past the last) and where each band
    starts in it: summing bins into bands is then one reduceat."""
    bins = _band_bins(frame, bands_hz)
    first, last = int(bins[0][0]), int(bins[-1][-1]) + 1
    assert all(len(b) and b[-1] - b[0] + 1 == len(b) for b in bins), "bands must be contiguous"
    return first, last, np.array([int(b[0]) - first for b in bins])


def band_db(x: np.ndarray, p: TimingParams = PARAMS) -> np.ndarray:
    """Frames × bands, in dB re full scale (mean square; a full-scale sine reads −3). Frame t covers
    samples [t·hop, t·hop + frame) of `x`."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = np.asarray(x, dtype=np.float64) / 32768.0
    if len(x) < p.frame:
        return np.full((0, len(p.bands_hz) - 1), p.floor_db)
    frames = sliding_window_view(x, p.frame)[:: p.hop]  # a view: no copy of the track per frame
    w = _window(p.frame)
    # Each frame's own mean is taken out first: a constant offset would otherwise leak
    # through the window into the lowest bands.
    spectrum = np.fft.rfft((frames - frames.mean(axis=1, keepdims=True)) * w, axis=1)
    # One-sided power per bin, normalised so that the bins sum to the frame's mean square
    # (re full scale): a band's level reads in dBFS.
    power = (spectrum.real**2 + spectrum.imag**2) * (2.0 / (p.frame * np.sum(w * w)))
    first, last, starts = _band_starts(p.frame, p.bands_hz)
    bands = np.add.reduceat(power[:, first:last], starts, axis=1)
    db: np.ndarray = np.maximum(10 * np.log10(np.maximum(bands, 1e-30)), p.floor_db)
    return db


@lru_cache(maxsize=4)
def _highpass(cutoff: float) -> np.ndarray:
    from scipy.signal import butter

    sos: np.ndarray = butter(4, cutoff, btype="highpass", fs=SAMPLE_RATE, output="sos")
    return sos


@lru_cache(maxsize=8)
def _notches(lines: tuple[float, ...], q: float) -> np.ndarray:
    from scipy.signal import iirnotch, tf2sos

    return np.concatenate([tf2sos(*iirnotch(f, q, fs=SAMPLE_RATE)) for f in lines])


def highpass(x: np.ndarray, p: TimingParams = PARAMS, hum: tuple[float, ...] = ()) -> np.ndarray:
    """Causal 4th-order Butterworth high-pass (float64), and narrow notches at the lines of a
    mains hum when given: causal, it never moves an edge earlier."""
    from scipy.signal import sosfilt

    x = np.asarray(x, dtype=np.float64)
    if not len(x):
        return x
    # Start from the first sample's level, so a constant offset does not ring at the start.
    filtered: np.ndarray = sosfilt(_highpass(p.highpass_hz), x - x[0])
    if hum:
        filtered = sosfilt(_notches(hum, p.hum_notch_q), filtered)
    return filtered


def hum_lines(x: np.ndarray, p: TimingParams = PARAMS) -> tuple[float, ...]:
    """The lines of a mains hum in a stretch of background (Hz; none when there is no hum):
    the harmonics of 50 or 60 Hz, from hum_from_hz to hum_to_hz, that stand hum_line_db over
    the spectrum around them. The fundamental or its third harmonic must stand so too."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < SAMPLE_RATE // 4:
        return ()
    spectrum = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(len(x)))) ** 2
    if not spectrum.any():
        return ()
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)

    def stands(f: float) -> bool:
        line = spectrum[np.abs(freqs - f) <= 2 * SAMPLE_RATE / len(x)].max()
        around = spectrum[(np.abs(freqs - f) > 8) & (np.abs(freqs - f) < 25)]
        return bool(line > 0 and line >= np.median(around) * 10 ** (p.hum_line_db / 10))

    for base in (50.0, 60.0):
        if stands(base) or stands(3 * base):
            top = int(p.hum_to_hz // base)
            return tuple(
                base * k
                for k in range(1, top + 1)
                if base * k >= p.hum_from_hz and stands(base * k)
            )
    return ()


def frame_end(t: int, p: TimingParams = PARAMS) -> int:
    """The sample one past frame t's last one."""
    return t * p.hop + p.frame


def broadband_db(bands: np.ndarray) -> np.ndarray:
    """Per frame, the power of all bands together (dB re full scale)."""
    return (
        10 * np.log10(np.maximum((10 ** (bands / 10)).sum(axis=1), 1e-30))
        if len(bands)
        else np.zeros(0)
    )


class Track:
    """A whole track whose band powers are computed once, on one grid of frames (every hop
    samples from sample 0), in blocks as they are first asked for: the analysis looks at the
    same stretches many times (an answer, its end, the next background). Slicing gives
    samples."""

    BLOCK = 4096  # frames (about 4 s)

    def __init__(self, samples: np.ndarray, p: TimingParams = PARAMS) -> None:
        self.samples = np.asarray(samples)
        self.p = p
        self._blocks: dict[int, np.ndarray] = {}

    @classmethod
    def of(cls, x: np.ndarray | Track, p: TimingParams = PARAMS) -> Track:
        """`x` itself when it is a Track analysed with `p` (its band powers already worked out
        are shared), else a Track of its samples."""
        if isinstance(x, Track):
            return x if x.p == p else cls(x.samples, p)
        return cls(x, p)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: Any) -> np.ndarray:
        part: np.ndarray = self.samples[index]
        return part

    def _block(self, b: int) -> np.ndarray:
        if b not in self._blocks:
            p = self.p
            start = b * self.BLOCK * p.hop
            self._blocks[b] = band_db(
                self.samples[start : start + self.BLOCK * p.hop + p.frame - p.hop], p
            )
        return self._blocks[b]

    def bands(self, start: int, end: int) -> np.ndarray:
        """Band powers of the frames that start at or after `start` (a multiple of hop) and end by
        `end`: what band_db(self[start:end]) gives."""
        p = self.p
        first = -(-max(start, 0) // p.hop)
        last = (min(end, len(self.samples)) - p.frame) // p.hop  # inclusive
        if last < first:
            return np.full((0, len(p.bands_hz) - 1), p.floor_db)
        parts = []
        for b in range(first // self.BLOCK, last // self.BLOCK + 1):
            block = self._block(b)
            lo = max(first - b * self.BLOCK, 0)
            hi = min(last - b * self.BLOCK + 1, len(block))
            parts.append(block[lo:hi])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


def bands_of(
    track: np.ndarray | Track, start: int, end: int, p: TimingParams = PARAMS
) -> tuple[int, np.ndarray]:
    """(the first frame's first sample, band powers) of the stretch [start, end): from a Track's
    grid (start moved up to it), else computed afresh."""
    if isinstance(track, Track):
        origin = -(-max(start, 0) // p.hop) * p.hop
        return origin, track.bands(origin, end)
    start = max(start, 0)
    return start, band_db(track[start:end], p)


def region_evidence(bands: np.ndarray, power: np.ndarray, p: TimingParams = PARAMS) -> np.ndarray:
    """Per frame and band region, the log-likelihood ratio (up to a scale) of "power raised
    by evidence_snr" against the background's power: each band's power ratio less the
    break-even ratio, weighted by its bins."""
    ratio = np.minimum(10 ** (bands / 10) / power[None, :], p.evidence_cap)
    s = p.evidence_snr
    breakeven = np.log1p(s) * (1 + s) / s
    weights = np.array([len(b) for b in bins_of(p)], dtype=np.float64)
    per_band = (ratio - breakeven) * weights[None, :]
    return np.stack([per_band[:, r].sum(axis=1) for r in regions_of(p)], axis=1)


def bins_of(p: TimingParams) -> list[np.ndarray]:
    return _band_bins(p.frame, p.bands_hz)


def regions_of(p: TimingParams) -> list[np.ndarray]:
    """Band indices of each region: low (vowels, nasals), middle, high (fricatives), all."""
    lows = np.asarray(p.bands_hz[:-1])
    return [np.flatnonzero((lows >= lo) & (lows < hi)) for lo, hi in p.evidence_regions_hz] + [
        np.arange(len(lows))
    ]


def peak_envelope(x: np.ndarray) -> np.ndarray:
    """1 ms peak envelope, centred (float64): the loudest |sample| within half a millisecond,
    what an edge defined on single samples (within 60 dB of a clip's peak) is followed by."""
    from scipy.ndimage import maximum_filter1d

    out: np.ndarray = maximum_filter1d(
        np.abs(np.asarray(x, dtype=np.float64)), SAMPLE_RATE // 1000 + 1
    )
    return out


def envelope(x: np.ndarray) -> np.ndarray:
    """1 ms RMS envelope, centred (float64)."""
    n = SAMPLE_RATE // 1000
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    i = np.arange(len(x))
    lo = np.maximum(i - n // 2, 0)
    hi = np.minimum(i + n // 2 + 1, len(x))
    rms: np.ndarray = np.sqrt((c[hi] - c[lo]) / (hi - lo))
    return rms
