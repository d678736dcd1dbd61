"""16 kHz mono s16le audio: frames, voice activity, resampling, WAV, onset times."""
from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass

import numpy as np
import webrtcvad

SAMPLE_RATE = 16000
FRAME_MS = 10
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 320
SILENCE_FRAME = bytes(FRAME_BYTES)
# Below this RMS (in s16 units, about -60 dBFS) a frame is silence whatever the VAD says.
ENERGY_FLOOR = 30.0


def frames_of(pcm: bytes) -> list[bytes]:
    """Split PCM into whole 10 ms frames, zero-padding the last one."""
    if len(pcm) % FRAME_BYTES:
        pcm = pcm + bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def to_int16(audio: np.ndarray) -> np.ndarray:
    if audio.dtype == np.int16:
        return audio
    return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)


def to_float32(audio: np.ndarray) -> np.ndarray:
    return audio.astype(np.float32) / 32768.0


def resample(audio: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample int16 audio with soxr (high quality), returning int16."""
    if rate_in == rate_out:
        return audio.astype(np.int16)
    import soxr

    return to_int16(soxr.resample(to_float32(audio), rate_in, rate_out, quality="HQ"))


def _rms(samples: np.ndarray) -> float:
    # A dot product, not np.mean: this runs on every frame of every live call, and on 160
    # samples numpy's reduction machinery costs more than the arithmetic.
    return math.sqrt(float(samples.dot(samples)) / len(samples)) if len(samples) else 0.0


# Speech must stand this far above the background level the detector has learned.
NOISE_MARGIN = 3.0  # ≈ +10 dB
KNOWN_FLOOR_MARGIN = 2.0  # ≈ +6 dB, when the background level was measured beforehand
SUSTAINED_BLOCKS = 4  # of a frame's ten 1 ms blocks, the ones with sound for it to be speech


class VoiceDetector:
    """Per-frame speech decision: WebRTC VAD, gated by an energy floor and by an adaptive
    estimate of the background level, so steady noise (a fan, a café) is not taken for speech."""

    def __init__(self, aggressiveness: int = 2, floor: float | None = None, margin: float = NOISE_MARGIN) -> None:
        """`floor`: the background level, when already known (offline, from the whole track);
        then a smaller `margin` can be afforded, as the level is not guessed as it goes."""
        self._vad = webrtcvad.Vad(aggressiveness)
        self._floor: float | None = floor if floor else None
        self._margin = margin
        self.last_voiced = False  # the decision on the latest frame

    def _learn(self, level: float) -> None:
        if self._floor is None:
            self._floor = level
        # Falls fast (the background got quieter), rises slowly (so speech barely moves it).
        rate = 0.2 if level < self._floor else 0.01
        self._floor += rate * (level - self._floor)

    def is_speech(self, frame: bytes) -> bool:
        self.last_voiced = self._decide(frame)
        return self.last_voiced

    def _sustained(self, samples: np.ndarray) -> bool:
        """Sound in at least SUSTAINED_BLOCKS of the frame's ten 1 ms blocks."""
        blocks = samples.reshape(10, -1)
        level = max(ENERGY_FLOOR, (self._floor or 0.0) * 1.5)
        energy = np.einsum("ij,ij->i", blocks, blocks)  # per block: sum of squares
        return int(np.count_nonzero(energy > level * level * blocks.shape[1])) >= SUSTAINED_BLOCKS

    def _decide(self, frame: bytes) -> bool:
        if len(frame) != FRAME_BYTES:
            return False
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
        level = _rms(samples)
        if level < ENERGY_FLOOR:
            self._learn(level)
            return False
        if self._floor is not None and level < self._floor * self._margin:
            self._learn(level)
            return False
        if not self._sustained(samples):
            return False  # a click: loud for a millisecond or two, silent around it
        voiced = bool(self._vad.is_speech(frame, SAMPLE_RATE))
        if not voiced:
            self._learn(level)
        return voiced


class TurnTracker:
    """Follows one speaker's turns from 10 ms frames: start on speech, end after a silence.

    Times are in frames from the tracker's start; the owner converts to call time.
    """

    def __init__(self, end_of_turn_ms: int, min_speech_ms: int = 60) -> None:
        self.detector = VoiceDetector()
        self.end_frames = max(1, end_of_turn_ms // FRAME_MS)
        self.min_speech_frames = max(1, min_speech_ms // FRAME_MS)
        self.speaking = False
        self._voiced_run = 0
        self._silent_run = 0

    def push(self, frame: bytes) -> str | None:
        """Feed a frame; returns "start", "end" or None."""
        if self.detector.is_speech(frame):
            self._voiced_run += 1
            self._silent_run = 0
            if not self.speaking and self._voiced_run >= self.min_speech_frames:
                self.speaking = True
                return "start"
        else:
            self._voiced_run = 0
            self._silent_run += 1
            if self.speaking and self._silent_run >= self.end_frames:
                self.speaking = False
                return "end"
        return None


@dataclass
class Segment:
    start: int  # sample index
    end: int  # sample index (exclusive)


def speech_segments(
    audio: np.ndarray, *, merge_gap_ms: int = 700, min_ms: int = 200, pad_ms: int = 100
) -> list[Segment]:
    """Speech regions of a track, merged across short pauses, padded for ASR."""
    detector = VoiceDetector()
    n_frames = len(audio) // FRAME_SAMPLES
    voiced = np.zeros(n_frames, dtype=bool)
    raw = audio[: n_frames * FRAME_SAMPLES].astype(np.int16).tobytes()
    for i in range(n_frames):
        voiced[i] = detector.is_speech(raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
    segs: list[list[int]] = []
    gap = merge_gap_ms // FRAME_MS
    for i in np.flatnonzero(voiced):
        if segs and i - segs[-1][1] <= gap:
            segs[-1][1] = i + 1
        else:
            segs.append([int(i), int(i) + 1])
    pad = pad_ms // FRAME_MS
    out = []
    for s, e in segs:
        if (e - s) * FRAME_MS < min_ms:
            continue
        out.append(Segment(max(0, s - pad) * FRAME_SAMPLES, min(n_frames, e + pad) * FRAME_SAMPLES))
    return out


MIN_ONSET_FRAMES = 3
CONTEXT_SAMPLES = SAMPLE_RATE  # 1 s either side of a search window, to learn the background
ENVELOPE = 80  # 5 ms: the window of the energy envelope used to place an edge
EDGE_FLOOR = 8.0  # envelope RMS that counts as sound on digital silence (about −72 dBFS)
EDGE_ABOVE_NOISE = 1.6  # the envelope must stand this far above the background (≈ +4 dB)
SAMPLE_ABOVE_NOISE = 4.0  # a sample that starts speech stands this far above the background RMS
MAX_BACKTRACK = SAMPLE_RATE * 3 // 10  # an onset is never placed more than 300 ms before the VAD found speech
BRIDGE = SAMPLE_RATE // 10  # 100 ms
SUSTAIN = SAMPLE_RATE // 50  # 20 ms
# On digital silence anything non-zero for this long is sound (a click lasts a millisecond or
# two): a fragment of speech that packet loss cut off from the rest still counts.
SUSTAIN_ON_SILENCE = SAMPLE_RATE // 125  # 8 ms

# The spectral onset search (noise at or above SPECTRAL_MIN_FLOOR): band powers of 8 ms frames
# every 1 ms, averaged over 16 frames, each band against its own background.
SPECTRAL_MIN_FLOOR = 4 * EDGE_FLOOR
SPECTRAL_FRAME = 128
SPECTRAL_HOP = 16
SPECTRAL_SMOOTH = 16
SPECTRAL_BANDS_HZ = (0, 300, 600, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8001)
# For a stop in steady noise, narrower bands (two bins of an 8 ms frame up to 2 kHz): the last
# syllable before a cut is often soft, and its energy lies in one formant a few hundred Hz
# wide, which the wider bands above dilute with noise (on calibration calls such a syllable
# stood ~1.2x its 1000-1500 Hz band's threshold, and stops were placed 100-130 ms early, before
# it). Narrower still (one bin) and noise passed for sound in one band or another.
STOP_BANDS_HZ = (0, 300, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8001)
SPECTRAL_Z = 5.0  # a band is sound when its power is this many robust deviations above its background
SPECTRAL_LOG_Z = 3.5  # …and, below 300 Hz, this many robust deviations of its log power
SPECTRAL_BRIDGE = 100  # frames (ms): a gap crossed when sustained, clear sound lies before it
SPECTRAL_SUSTAIN = 20  # frames (ms)
SPECTRAL_BRIDGE_STRENGTH = 1.5  # the sound before a gap stands this far above the threshold
SPECTRAL_SHORT_SUSTAIN = 10  # frames (ms): …or this long, standing
SPECTRAL_SHORT_STRENGTH = 1.5  # …this far above the threshold
# The smoothed stretch crosses the threshold once its end is a few ms into the sound: the
# onset is placed this far after the stretch's centre (found on calibration calls; with it
# the mean error of vowel onsets at 10 dB is within ±2 ms).
SPECTRAL_SHIFT = 128
BACKGROUND_WINDOWS = 16  # the background is learned from up to this many VAD windows before speech
BACKGROUND_GAP = 2  # …leaving out the last ones, where a soft onset may already lie
# Swelling noise: a frame's common gain is this quantile of its bands' ratios to the background;
# the background swells when that gain's robust spread (in log) is at least SWELL_MIN.
SWELL_QUANTILE = 0.2
SWELL_MIN = 0.15
# …measured on that gain's 32 ms moving average: a swell takes hundreds of milliseconds, and
# unaveraged, the wobble of steady noise's band powers alone passed the mark in 5-20 % of
# searches (seen in white, pink and street noise; the walk on the shape then missed fragments).
SWELL_SMOOTH = 32
CLICK_RATIO = 4.0  # a 1 ms block this much louder than the median of the 21 around it is a click
CLICK_EDGE = 9  # the line bridging a click runs between means of this many good samples around its ends
CLICK_BLOCKS = 5  # …in a run of sound of at most this many blocks (two clicks 1-2 ms apart make 4-5)
CLICK_RUN_SHARP = 1.5  # a block in that run also stands this far out on the sample-to-sample difference


VAD_WINDOW = 512  # samples per speech probability (32 ms)
SPEECH_PROB = 0.5  # a window at or above this is speech
QUIET_PROB = 0.2  # a window below this is background only
# The sound is looked for this many windows on from the one the model flagged: its probability
# lags an onset and, searched in reverse for a stop, hangs on for up to ~100 ms after it.
RISE_WINDOWS = 4
SURE_PROB = 0.9  # a window at or above this is surely speech
SURE_WITHIN = 12  # windows (384 ms) from the flagged one in which a sure one is looked for
STOP_REACH = 3  # in noise, a stop lies at most this many windows after the last sure one
SURE_LOOK = 2  # a stop's search starts at the loudest point of the last sure window and the one before it


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """Per 32 ms window of `audio`, the probability that it holds speech, from the Silero VAD
    model packaged with faster-whisper (offline; steady, coloured and babble-like noise are
    not speech to it, where an energy rule is fooled)."""
    from faster_whisper.vad import get_vad_model

    x = audio.astype(np.float32) / 32768.0
    x = np.pad(x, (0, (-len(x)) % VAD_WINDOW))
    if not len(x):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(get_vad_model()(x), dtype=np.float32).reshape(-1)


def _quiet_audio(audio: np.ndarray, probs: np.ndarray, window: int, lo_limit: int) -> np.ndarray:
    """The audio of the windows the model calls background in up to half a second before
    window `window` (none before `lo_limit`)."""
    first = max(0, window - BACKGROUND_WINDOWS, lo_limit // VAD_WINDOW)
    quiet = [w for w in range(first, window) if probs[w] < QUIET_PROB]
    return np.concatenate([audio[w * VAD_WINDOW : (w + 1) * VAD_WINDOW] for w in quiet]).astype(np.float64) if quiet else np.zeros(0)


def _local_floor(audio: np.ndarray, quiet: np.ndarray, window: int, lo_limit: int) -> float:
    """The background level just before window `window`: the median 10 ms frame RMS of `quiet`
    (its background windows, from _quiet_audio); without any, the quiet end of the audio
    around."""
    if len(quiet) < FRAME_SAMPLES:
        return noise_floor(audio, lo_limit - CONTEXT_SAMPLES, window * VAD_WINDOW)
    return float(np.median(_frames_rms(quiet)))


def noise_floor(audio: np.ndarray, lo: int, hi: int) -> float:
    """The background level of audio[lo:hi]: the 10th percentile of its 10 ms frame RMS."""
    levels = _frames_rms(audio[max(lo, 0) : min(hi, len(audio))])
    return float(np.percentile(levels, 10)) if len(levels) else 0.0


def _frames_rms(x: np.ndarray) -> np.ndarray:
    """The RMS of each whole 10 ms frame of x."""
    n = len(x) // FRAME_SAMPLES
    frames = x[: n * FRAME_SAMPLES].astype(np.float64).reshape(n, FRAME_SAMPLES)
    return np.sqrt((frames * frames).mean(axis=1))


def _envelope(x: np.ndarray) -> np.ndarray:
    """env[i]: RMS of x[i : i + ENVELOPE]."""
    power = np.concatenate([[0.0], np.cumsum(x * x)])
    return np.sqrt(np.maximum(power[ENVELOPE:] - power[:-ENVELOPE], 0.0) / ENVELOPE)


def _last_run(above: np.ndarray, need: int) -> int | None:
    """Where the latest run of `need` True values in `above` starts, or None."""
    if above.sum() < need:
        return None
    runs = np.convolve(above.astype(np.int32), np.ones(need, dtype=np.int32), mode="valid")
    full = np.flatnonzero(runs == need)
    return int(full[-1]) if len(full) else None


def _walk_back(
    env: np.ndarray,
    i: int,
    level: float,
    sustain: int = SUSTAIN,
    bridge: int = BRIDGE,
    bridge_level: float | None = None,
    short: tuple[np.ndarray, int, float] | None = None,
    bridge_env: np.ndarray | None = None,
) -> int:
    """From env[i] (above `level`) back to the start of the sound it belongs to. A gap of up to
    `bridge` (a stop consonant's closure: the silence inside "o-kay") is crossed when a sustained
    stretch of sound (`sustain`; a click is far shorter) above `bridge_level` (by default
    `level`) lies before it; with `short` = (envelope, sustain, level), also when a shorter
    stretch stands that far clear on that envelope (a word's first milliseconds, cut off from
    the rest by packet loss). `bridge_env`: the envelope the sound before a gap is looked for
    on, if not `env` (one with clicks taken out)."""
    ways = [(env if bridge_env is None else bridge_env, sustain, level if bridge_level is None else bridge_level)] + ([short] if short else [])
    while True:
        while i > 0 and env[i - 1] > level:
            i -= 1
        # A run that ends within `bridge` of i counts whole, however long before that it began.
        before = [lo + b for e, need, at in ways
                  if (b := _last_run(e[(lo := max(0, i - bridge - need)) : i] > at, need)) is not None]
        if not before:
            return i
        i = max(before)


def _edge(audio: np.ndarray, found: int, limit: int, floor: float, level: float | None = None) -> int:
    """Walk back from `found` (inside speech) to the sample where the sound left the background.

    The 5 ms energy envelope is followed back while it stays above the background (`level`;
    by default EDGE_ABOVE_NOISE × `floor`). Inside the first window above it, the edge is the
    first sample that stands clear of the noise (on digital silence: the first non-silent
    sample).
    """
    lo = max(limit, found - MAX_BACKTRACK)
    seg = audio[lo : found + ENVELOPE].astype(np.float64)
    if len(seg) < ENVELOPE:
        return found
    env = _envelope(seg)
    i = min(found - lo, len(env) - 1)
    on_silence = floor < SPECTRAL_MIN_FLOOR
    # On digital silence a gap is crossed for 8 ms of sound before it, and the envelopes of two
    # clicks a few milliseconds apart join into that much: sound before a gap is looked for
    # with the clicks taken out.
    best = _walk_back(env, i, max(EDGE_FLOOR, floor * EDGE_ABOVE_NOISE) if level is None else level,
                      SUSTAIN_ON_SILENCE if on_silence else SUSTAIN,
                      bridge_env=_envelope(_declick(seg, floor)) if on_silence else None)
    window = np.abs(seg[best : best + ENVELOPE])
    loud = np.flatnonzero(window >= max(EDGE_FLOOR, floor * SAMPLE_ABOVE_NOISE))
    return lo + best + int(loud[0]) if len(loud) else lo + best + ENVELOPE // 2


def _declick(x: np.ndarray, floor: float) -> np.ndarray:
    """x with clicks taken out: 1 ms blocks far louder than the blocks around them, in a run
    of sound of at most CLICK_BLOCKS (speech rises and falls over tens of milliseconds; a
    click is over in one or two, and the first milliseconds of a word cut off by packet loss
    last longer)."""
    n = len(x) // 16
    if n < 21:
        return x

    def above_around(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each 1 ms block's RMS, and how many times the median of the 21 around it that is."""
        whole = y[: n * 16].reshape(n, 16)
        blocks = np.sqrt(np.einsum("ij,ij->i", whole, whole) / 16)
        around = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(blocks, 10, mode="edge"), 21), axis=-1)
        return blocks, blocks / (around + 1e-9)

    level, ratio = above_around(x)
    _, sharp = above_around(np.diff(x, prepend=x[:1]))
    # Far louder than around it; or half as far, with a far sharper edge: on the sample-to-
    # sample difference the loud, slow swings of rumble (street noise) all but vanish, and a
    # click's jump does not.
    loud = (ratio > CLICK_RATIO / 2) & (level > 3 * floor)
    bad = loud & ((ratio > CLICK_RATIO) | (sharp > 2 * CLICK_RATIO))
    if not bad.any():
        return x
    # How long the sound lasts decides: blocks at least half as loud, across one-block dips
    # (a fragment of an 's' dips to 2x the noise between louder blocks, and cut into short
    # runs at the click mark it would pass for a string of clicks). Only blocks that stand out
    # on the difference too: the slow swells of rumble do not, and a click on one of street
    # noise's swells was kept as part of a long sound (an onset placed on it, 80 ms early).
    loud &= sharp > CLICK_RUN_SHARP
    loud[1:-1] |= loud[:-2] & loud[2:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start > CLICK_BLOCKS:
            bad[start:stop] = False
    bad = np.repeat(np.convolve(bad, np.ones(3), mode="same") > 0, 16)
    good = np.flatnonzero(~bad)
    if not len(good) or len(good) == len(bad):
        return x
    # Bridged by a straight line, not zeroed: a hole cut in loud low-frequency noise (street
    # rumble) is itself a step, and splashes across every band. The line runs between the
    # means of the few good samples either side (between two single samples of white noise
    # it can be a ramp as loud as speech).
    level_good = np.convolve(np.pad(x[good], CLICK_EDGE // 2, mode="edge"), np.ones(CLICK_EDGE) / CLICK_EDGE, mode="valid")
    out = x.copy()
    out[np.flatnonzero(bad)] = np.interp(np.flatnonzero(bad), good, level_good)
    return out


def _bins_of(edges_hz: tuple[int, ...]) -> list[np.ndarray]:
    """The FFT bins of an 8 ms frame in each band between consecutive `edges_hz`."""
    f = np.fft.rfftfreq(SPECTRAL_FRAME, 1 / SAMPLE_RATE)
    return [np.flatnonzero((f >= lo) & (f < hi)) for lo, hi in zip(edges_hz[:-1], edges_hz[1:], strict=True)]


_BAND_BINS = _bins_of(SPECTRAL_BANDS_HZ)
_STOP_BINS = _bins_of(STOP_BANDS_HZ)


def _band_power(x: np.ndarray, bins: list[np.ndarray] = _BAND_BINS) -> np.ndarray:
    """Row j: the power per band of frames j … j + SPECTRAL_SMOOTH − 1 (8 ms Hann, 1 ms apart),
    averaged. Row j is centred on sample j·HOP + (SMOOTH − 1)·HOP/2 + FRAME/2."""
    n = (len(x) - SPECTRAL_FRAME) // SPECTRAL_HOP + 1
    if n <= SPECTRAL_SMOOTH:
        return np.zeros((0, len(bins)))
    idx = np.arange(SPECTRAL_FRAME)[None, :] + SPECTRAL_HOP * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * np.hanning(SPECTRAL_FRAME), axis=1)) ** 2
    bands = np.stack([power[:, b].sum(axis=1) for b in bins], axis=1)
    total = np.concatenate([np.zeros((1, bands.shape[1])), np.cumsum(bands, axis=0)])
    return (total[SPECTRAL_SMOOTH:] - total[:-SPECTRAL_SMOOTH]) / SPECTRAL_SMOOTH


def _spectral_edge(
    audio: np.ndarray, start: int, found: int, w: int, probs: np.ndarray, floor: float, stop: bool = False
) -> int | None:
    """Where the sound before `found` (inside speech, in window w) left the background, band by
    band. Each band is held to its own background, so a soft 's' in white noise (its energy in
    the top bands) or a vowel in rumbling street noise (its energy above the rumble) is seen
    where the broadband level still lies under the noise. None if there is no background to
    learn from.

    `stop` (the audio reversed, `found` inside the last speech): the narrower STOP_BANDS_HZ,
    and None in swelling noise (there a swell after the stop passed for more speech)."""
    bins = _STOP_BINS if stop else _BAND_BINS
    lo_w = max(0, w - BACKGROUND_WINDOWS)
    quiet = [q for q in range(lo_w, w - BACKGROUND_GAP) if probs[q] < QUIET_PROB]
    if len(quiet) < 4:
        quiet = [q for q in range(lo_w, w) if probs[q] < QUIET_PROB]
    stretches: list[list[int]] = []
    for q in quiet:  # contiguous quiet windows are analysed together
        if stretches and q == stretches[-1][-1] + 1:
            stretches[-1].append(q)
        else:
            stretches.append([q])
    rows = [_band_power(_declick(audio[q[0] * VAD_WINDOW : (q[-1] + 1) * VAD_WINDOW].astype(np.float64), floor), bins) for q in stretches]
    background = np.concatenate([np.zeros((0, len(bins))), *rows])
    if len(background) < 10:
        return None
    lo = max(start, found - MAX_BACKTRACK)
    seg = _declick(audio[lo : found + SPECTRAL_FRAME + SPECTRAL_SMOOTH * SPECTRAL_HOP].astype(np.float64), floor)
    rows_s = _band_power(seg, bins)
    if not len(rows_s):
        return None
    i = min((found - lo) // SPECTRAL_HOP, len(rows_s) - 1)
    # Noise whose level moves as a whole (a café's chatter swelling and fading) lifts every
    # band at once, and a swell just before the speech would pass for its start. Speech
    # changes the spectrum's shape: held to the frame's common gain (a low quantile of its
    # bands' ratios to the background), a swell stays flat and speech still stands out.
    common = _swelling(background)
    if stop and common is not None:
        return None
    # The swell itself widens every band's log spread, so there the level is held to the
    # power's deviation only; the shape, with the swell taken out, is held to both.
    edge = _banded_walk(rows_s / _band_threshold(background, tails=common is None), i, inward=stop)
    if edge is None:
        return None
    if common is not None:
        ref = np.median(background, axis=0) + 1e-9
        ratio = rows_s / ref
        shape = ratio / (np.quantile(ratio, SWELL_QUANTILE, axis=1) + 1e-12)[:, None]
        shaped = _banded_walk(shape / _band_threshold(background / ref / common[:, None]), i)
        if shaped is not None:
            edge = max(edge, shaped)
    return lo + edge * SPECTRAL_HOP + (SPECTRAL_SMOOTH - 1) * SPECTRAL_HOP // 2 + SPECTRAL_FRAME // 2 + SPECTRAL_SHIFT


def _swelling(background: np.ndarray) -> np.ndarray | None:
    """For band powers (rows × bands) of a background that swells as a whole, each row's
    common gain against the median (SWELL_QUANTILE of its bands' ratios); None if it holds
    steady."""
    common = np.quantile(background / (np.median(background, axis=0) + 1e-9), SWELL_QUANTILE, axis=1) + 1e-12
    return common if _robust_spread(_moving_average(np.log(common), SWELL_SMOOTH)) >= SWELL_MIN else None


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """The means of x's runs of n (x itself if shorter)."""
    return np.convolve(x, np.ones(n) / n, mode="valid") if len(x) > n else x


def _robust_spread(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The median absolute deviation, scaled to a normal distribution's standard deviation."""
    return 1.4826 * np.median(np.abs(x - np.median(x, axis=axis, keepdims=True)), axis=axis)


def _band_threshold(background: np.ndarray, tails: bool = True) -> np.ndarray:
    """Per band, the level sound must pass: SPECTRAL_Z robust deviations above the background's
    median (robust: some speech may be in the background). With `tails`, the lowest band
    (below 300 Hz: three bins of an 8 ms frame) must also pass SPECTRAL_LOG_Z robust deviations
    of its log power: with so few bins its power swings far further above its median than its
    deviation says, and in pink noise those swings passed for speech, or for the sound before a
    gap (onsets 20-160 ms early in office and café noise). Applied to every band, the same test
    made soft vowel onsets late."""
    ref = np.median(background, axis=0) + 1e-9
    threshold = ref * (1 + SPECTRAL_Z * _robust_spread(background / ref, axis=0))
    if tails:
        low = ref[0] * np.exp(SPECTRAL_LOG_Z * _robust_spread(np.log(background[:, 0] / ref[0] + 1e-12)))
        threshold[0] = max(threshold[0], low)
    return threshold


def _banded_walk(ratio: np.ndarray, i: int, inward: bool = False) -> int | None:
    """From row i back to where the sound started, on `ratio` (rows × bands: power against each
    band's threshold; a row is sound when some band passes 1). None if no row up to i does.

    `inward` (a stop, searched in reverse): if row i is not sound, the walk starts from the
    first row after it that is (inside the speech, not in the noise beyond its end: the point
    it starts from may lie a few ms past a cut); and a gap is crossed only for sound above
    300 Hz (below it pink noise's swings after a stop passed for more speech)."""
    stat = ratio.max(axis=1)
    above_low = ratio[:, 1:].max(axis=1)
    if inward and stat[i] <= 1.0:
        inside = np.flatnonzero(stat[i:] > 1.0)
        if not len(inside):
            return None
        i += int(inside[0])
    if stat[i] <= 1.0:
        above = np.flatnonzero(stat[: i + 1] > 1.0)
        if not len(above):
            return None
        i = int(above[-1])
    # Across gaps with clear, sustained sound before them, or a shorter stretch far clearer
    # above 300 Hz (below it an 8 ms frame has three bins and rumble lives there, so the band
    # swings too much to be trusted for a few milliseconds).
    return _walk_back(stat, i, 1.0, SPECTRAL_SUSTAIN, SPECTRAL_BRIDGE, SPECTRAL_BRIDGE_STRENGTH,
                      short=(above_low, SPECTRAL_SHORT_SUSTAIN, SPECTRAL_SHORT_STRENGTH),
                      bridge_env=above_low if inward else None)


def _rise(audio: np.ndarray, w: int, start: int, end: int, floor: float, level: float) -> int | None:
    """Where the envelope (clicks taken out) first rises above `level` within window w or the
    few after it, or None."""
    base = max(w * VAD_WINDOW, start)
    env = _envelope(_declick(audio[base : min(end, (w + RISE_WINDOWS) * VAD_WINDOW) + ENVELOPE].astype(np.float64), floor))
    above = np.flatnonzero(env > level)
    return base + int(above[0]) + ENVELOPE - 1 if len(above) else None


def _first_by_model(audio: np.ndarray, start: int, end: int, probs: np.ndarray, stop: bool = False) -> int | None:
    """The first window the model calls speech in [start, end), its edge placed on the samples.

    For an onset in noise, the edge is also looked for band by band. When the two differ by
    more than 5 ms the band-by-band one is kept: the broadband envelope both misses soft
    onsets under the noise and, in coloured noise, walks back into the noise's own swells.

    `stop`: the audio is reversed, and the edge found is where speech stopped (see
    last_voiced_sample)."""
    w0 = start // VAD_WINDOW
    span = probs[w0 : -(-end // VAD_WINDOW)]
    hits = np.flatnonzero(span >= SPEECH_PROB)
    if not len(hits):
        return None
    # The first flagged window followed by sound: the model calls a lone click in white noise
    # speech now and then (p = 0.5), and with the click taken out nothing rises there.
    def looked_at(h: int) -> tuple[int, int, np.ndarray, float, float, int | None]:
        w = w0 + int(h)
        quiet = _quiet_audio(audio, probs, w, start)
        floor = _local_floor(audio, quiet, w, start)
        level = max(EDGE_FLOOR, floor * EDGE_ABOVE_NOISE)
        return h, w, quiet, floor, level, _rise(audio, w, start, end, floor, level)

    looks = (looked_at(h) for h in hits)
    first = next(looks)
    h, w, quiet, floor, level, rise = first if first[-1] is not None else next((a for a in looks if a[-1] is not None), first)
    limit, inside, sure_point = start, None, None
    if stop and floor >= SPECTRAL_MIN_FLOOR:
        # In noise the model's probability hangs on after speech stops, for up to ~250 ms in
        # a café, and what follows is noise: a swell of it would pass for more speech. So the
        # stop is looked for no further than STOP_REACH windows on from the last window the
        # model was sure of, and the envelope is held to the loud end of the background's own
        # swings. Where those swings pass the usual margin (coloured, swelling noise), the
        # walk starts from the loudest point of that sure window or the one before it, inside
        # the speech.
        sure = np.flatnonzero(span[h : h + SURE_WITHIN] >= SURE_PROB)
        swings = float(np.percentile(_envelope(_declick(quiet, floor)), 95)) if len(quiet) > ENVELOPE else 0.0
        w_rise, level_rise = w, level
        if len(sure):
            ws = w + int(sure[0])
            limit = max(start, (ws - STOP_REACH) * VAD_WINDOW)
            w = max(w, ws - STOP_REACH)
            lo_s = max(ws * VAD_WINDOW, start)
            # Its loudest point, or the window's before it: the model can be sure of a whole
            # window of noise after a cut, and that window's loudest point is a swell of noise.
            sure_env = _envelope(audio[lo_s : min(end, (ws + SURE_LOOK) * VAD_WINDOW) + ENVELOPE].astype(np.float64))
            if len(sure_env):
                sure_point = min(lo_s + int(np.argmax(sure_env[: SURE_LOOK * VAD_WINDOW])) + ENVELOPE // 2, end - 1)
                if swings > level:
                    inside = sure_point
        level = max(level, swings)
        if inside is None and (w, level) != (w_rise, level_rise):
            rise = _rise(audio, w, start, end, floor, level)
    # A point inside the sound: where the envelope (clicks taken out) first rises above the
    # background within the flagged window or the few after it (the window may begin in
    # silence); for a stop in noise, the loudest point of the last window the model was sure of
    # or the one before it.
    if inside is not None:
        found = inside
    else:
        found = w * VAD_WINDOW + VAD_WINDOW // 2 if rise is None else rise
    found = min(max(found, start), end - 1)
    edge = _edge(audio, found, limit, floor, level)
    if floor >= SPECTRAL_MIN_FLOOR:
        # A stop is looked for from inside the speech (the loudest point of the last sure
        # window or the one before it): the envelope's rise may lie in the noise after it.
        banded = _spectral_edge(audio, start, found if sure_point is None else sure_point, w, probs, floor, stop=stop)
        if banded is not None and abs(banded - edge) > ENVELOPE:
            edge = banded
    return max(start, min(edge, end - 1))


def first_voiced_sample(
    audio: np.ndarray, start: int = 0, end: int | None = None, floor: float | None = None, probs: np.ndarray | None = None
) -> int | None:
    """Index of the first sample of speech in audio[start:end], at sample resolution.

    With `probs` (from `speech_probabilities(audio)`), speech is the first window the neural
    VAD calls speech, and the background level is measured just before it. Without, speech is
    MIN_ONSET_FRAMES voiced 10 ms frames in a row (a click lights up one), the detector told
    the background level of the window and a second either side. Either way the edge is then
    placed by walking back along the energy envelope to where it left the background.
    """
    end = len(audio) if end is None else min(end, len(audio))
    if probs is not None:
        return _first_by_model(audio, start, end, probs)
    if floor is None:
        floor = noise_floor(audio, start - CONTEXT_SAMPLES, end + CONTEXT_SAMPLES)
    detector = VoiceDetector(floor=floor, margin=KNOWN_FLOOR_MARGIN)
    base = start - (start % FRAME_SAMPLES)
    run = 0
    for pos in range(base, end - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        frame = audio[pos : pos + FRAME_SAMPLES]
        run = run + 1 if detector.is_speech(frame.astype(np.int16).tobytes()) else 0
        if run == MIN_ONSET_FRAMES:
            first = pos - (MIN_ONSET_FRAMES - 1) * FRAME_SAMPLES
            return max(start, _edge(audio, max(first, start), start, floor))
    return None


def trim_to_level(audio: np.ndarray, fraction: float = 0.03) -> np.ndarray:
    """The clip from its first to its last sample whose magnitude reaches `fraction` of the
    clip's peak (3 % ≈ −30 dB): authored speech with exact edges, for calibration."""
    mag = np.abs(audio.astype(np.int32))
    if not len(mag) or not mag.max():
        return audio[:0]
    idx = np.flatnonzero(mag >= fraction * mag.max())
    return audio[idx[0] : idx[-1] + 1]


def last_voiced_sample(
    audio: np.ndarray, start: int, end: int, floor: float | None = None, probs: np.ndarray | None = None
) -> int | None:
    """Index just past the last sample of speech in audio[start:end]."""
    seg = audio[start:end]
    if not len(seg):
        return None
    if probs is not None:
        # The same search on the audio (and windows) reversed.
        w_hi = -(-end // VAD_WINDOW)
        rev_audio = audio[: w_hi * VAD_WINDOW][::-1].copy()
        if len(rev_audio) < w_hi * VAD_WINDOW:
            rev_audio = np.concatenate([np.zeros(w_hi * VAD_WINDOW - len(rev_audio), rev_audio.dtype), rev_audio])
        rev_probs = probs[:w_hi][::-1].copy()
        pad = w_hi * VAD_WINDOW - end
        # Band by band, a stop is looked for in steady noise only (in a café, a swell after
        # the stop was taken for more speech more often than not), on narrower bands, and
        # across gaps only for sound above 300 Hz (see _spectral_edge, _banded_walk).
        onset = _first_by_model(rev_audio, pad, pad + (end - start), rev_probs, stop=True)
        return None if onset is None else w_hi * VAD_WINDOW - onset
    if floor is None:
        floor = noise_floor(audio, start - CONTEXT_SAMPLES, end + CONTEXT_SAMPLES)
    onset = first_voiced_sample(seg[::-1].copy(), floor=floor)
    return None if onset is None else end - onset


def speech_edges(clip: np.ndarray) -> tuple[int, int] | None:
    """(first voiced sample, one past the last) of a clean clip, or None if it holds no speech."""
    first = first_voiced_sample(clip, floor=0.0)
    if first is None:
        return None
    last = last_voiced_sample(clip, first, len(clip), floor=0.0)
    return first, last if last is not None else len(clip)


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
