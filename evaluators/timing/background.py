"""What the agent's track sounds like when the agent is not speaking, just before an answer:
its level per band, the loudest it gets, how it is judged unlike itself, and what kind it is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import PARAMS, TimingParams
from .signal import (
    SAMPLE_RATE,
    Track,
    bands_of,
    broadband_db,
    envelope,
    highpass,
    hum_lines,
    region_evidence,
)

SILENCE = "silence"  # digital silence or close to it
STEADY = "steady"  # noise whose level holds (a fan, a line, comfort noise, hum)
FLUCTUATING = "fluctuating"  # voices, music, swelling noise
SILENCE_DBFS = -75.0  # a background whose median 10 ms level is under this is silence


@dataclass(frozen=True)
class Background:
    start: int
    end: int
    median_db: np.ndarray  # per band
    ceiling_db: np.ndarray  # per band: the loudest the background got (a high quantile)
    excess_ceiling: float  # the loudest any band got over its ceiling (max-band statistic)
    sum_ceiling: float  # the largest sum of band excesses over the median (broadband statistic)
    level_dbfs: float  # broadband level, 10 ms RMS median
    envelope_peak: float  # loudest 1 ms RMS of the high-passed background (envelope_quantile)
    kind: str
    spread_db: np.ndarray  # per band, robust spread of its level (dB)
    evidence_mean: np.ndarray  # per band region, the evidence statistic over the background frames
    evidence_spread: np.ndarray
    power: np.ndarray  # per band, mean power (linear), the loudest 2 % of frames left out
    high_band_db: float  # its power in the bands of weak consonants (hidden_from_hz and up)
    level_ceiling_dbfs: float  # the loudest its frames got, broadband (the ceiling_quantile)
    # its broadband level averaged over presence_ms, the median of that (dB re full scale)
    presence_floor_dbfs: float = 0.0
    hum: tuple[float, ...] = ()  # the lines of a mains hum in it (Hz), notched before edges

    def unlike(self, bands: np.ndarray, p: TimingParams = PARAMS) -> np.ndarray:
        """Per frame: does it stand out from this background, in one band or across many?"""
        return (excess_max(bands, self) > self.excess_ceiling + p.unlike_margin_db) | (
            excess_sum(bands, self, p) > self.sum_ceiling + 2 * p.unlike_margin_db
        )

    def over_ceiling(self, bands: np.ndarray) -> np.ndarray:
        """Per frame: how far (dB) its most prominent band stands above the background's ceiling."""
        return excess_max(bands, self)


def excess_max(bands: np.ndarray, bg: Background) -> np.ndarray:
    return (bands - bg.ceiling_db[None, :]).max(axis=1) if len(bands) else np.zeros(0)


def excess_sum(bands: np.ndarray, bg: Background, p: TimingParams = PARAMS) -> np.ndarray:
    return (
        np.maximum(bands - (bg.median_db[None, :] + p.lenient_db / 2), 0.0).sum(axis=1)
        if len(bands)
        else np.zeros(0)
    )


def measure_background(
    track: np.ndarray | Track,
    start: int,
    end: int,
    p: TimingParams = PARAMS,
    also: tuple[int, int] | None = None,
) -> Background | None:
    """The background of track[start:end] (None when shorter than background_min_s), and of
    the stretch `also` too when given (the previous answer's background, when this gap is
    short: one stretch of voices or music shows too little of how loud they get)."""
    extra = also[1] - also[0] if also is not None else 0
    if end - start < p.frame or (end - start) + extra < p.background_min_s * SAMPLE_RATE:
        return None
    x = track[start:end]
    _, bands = bands_of(track, start, end, p)
    if also is not None and extra >= p.frame:
        bands = np.concatenate([bands_of(track, also[0], also[1], p)[1], bands])
    median = np.median(bands, axis=0)
    ceiling = np.quantile(bands, p.ceiling_quantile, axis=0)
    spread = np.maximum(
        1.4826 * np.median(np.abs(bands - median[None, :]), axis=0), p.spread_floor_db
    )
    linear = 10 ** (bands / 10)
    keep = linear <= np.quantile(linear, 0.98, axis=0)[None, :]
    power = np.maximum((linear * keep).sum(axis=0) / np.maximum(keep.sum(axis=0), 1), 1e-30)
    partial = Background(
        start,
        end,
        median,
        ceiling,
        0.0,
        0.0,
        0.0,
        0.0,
        STEADY,
        spread,
        np.zeros(1),
        np.ones(1),
        power,
        0.0,
        0.0,
    )
    excess_ceiling = float(np.quantile(excess_max(bands, partial), p.ceiling_quantile))
    sum_ceiling = float(np.quantile(excess_sum(bands, partial, p), p.ceiling_quantile))
    evidence = region_evidence(bands, power, p)
    xf = x.astype(np.float64)
    n = len(xf) // 160
    # 10 ms frames; a stretch shorter than one (a frame of the bands is 8 ms) is one frame.
    frames = (xf[: n * 160] - np.median(xf)).reshape(n, 160) if n else (xf - np.median(xf))[None]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    level = float(20 * np.log10(max(float(np.median(rms)), 1e-3) / 32768))
    # (Close to digital silence a hum cannot hide anything; a codec's frame-rate ripple there
    # would pass for one.)
    hum = hum_lines(x, p) if level >= SILENCE_DBFS else ()
    hp = highpass(x, p, hum)
    settle = min(len(hp) // 4, int(0.02 * SAMPLE_RATE))  # the filter's start-up is not background
    envelope_peak = (
        float(np.quantile(envelope(hp[settle:]), p.envelope_quantile)) if len(hp) > settle else 0.0
    )
    broadband = broadband_db(bands)
    return Background(
        start,
        end,
        median,
        ceiling,
        excess_ceiling,
        sum_ceiling,
        level,
        envelope_peak,
        _kind(level, bands, broadband, p),
        spread,
        np.mean(evidence, axis=0),
        np.maximum(np.std(evidence, axis=0), 1e-6),
        power,
        float(
            10 * np.log10(max(power[np.asarray(p.bands_hz[:-1]) >= p.hidden_from_hz].sum(), 1e-30))
        ),
        float(np.quantile(broadband, p.ceiling_quantile)),
        float(np.median(averaged_db(broadband, p.presence_ms, p))),
        hum,
    )


def _kind(level_dbfs: float, bands: np.ndarray, broadband: np.ndarray, p: TimingParams) -> str:
    """Silence, steady noise, or a background that moves like voices (its median band swings)
    or music (notes come and go band by band over a level that holds)."""
    if level_dbfs < SILENCE_DBFS:
        return SILENCE
    spreads = modulation_db(bands, p)
    if float(np.median(spreads)) >= p.fluctuating_db or (
        float(spreads.max()) >= p.fluctuating_band_db
        and float(modulation_db(broadband, p)) < p.fluctuating_db
    ):
        return FLUCTUATING
    return STEADY


def frames_of(ms: int, p: TimingParams = PARAMS) -> int:
    """Milliseconds in frames (at least one)."""
    return max(1, int(ms * SAMPLE_RATE / 1000 / p.hop))


def averaged_db(level: np.ndarray, ms: int, p: TimingParams = PARAMS) -> np.ndarray:
    """Per frame (the first axis), the level (dB) averaged as power over the `ms` that start
    there; one average of all where fewer frames are left than that."""
    n = frames_of(ms, p)
    linear = 10 ** (level / 10)
    if len(level) <= n:
        whole: np.ndarray = 10 * np.log10(np.mean(linear, axis=0, keepdims=True))
        return whole if len(level) else level
    c = np.concatenate([np.zeros((1, *linear.shape[1:])), np.cumsum(linear, axis=0)])
    averaged: np.ndarray = 10 * np.log10(np.maximum((c[n:] - c[:-n]) / n, 1e-30))
    return averaged


def modulation_db(level: np.ndarray, p: TimingParams = PARAMS) -> np.ndarray:
    """How much a level (dB per frame: one column per band, or one level) moves at the pace
    of syllables: per column, the spread (dB) of its power averaged over modulation_ms (none
    in a stretch too short to tell). Averaging takes out a steady noise's own frame-to-frame
    scatter and keeps the swings of voices or music."""
    if len(level) <= frames_of(p.modulation_ms, p):
        return np.zeros(level.shape[1:])
    spreads: np.ndarray = np.std(averaged_db(level, p.modulation_ms, p), axis=0)
    return spreads
