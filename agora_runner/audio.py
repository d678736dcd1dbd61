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


VAD_WINDOW = 512  # samples per speech probability (32 ms)
SPEECH_PROB = 0.5  # a window at or above this is speech
QUIET_PROB = 0.2  # a window below this is background only
# The sound is looked for this many windows on from the one the model flagged: its probability
# lags an onset and, searched in reverse for a stop, hangs on for up to ~100 ms after it.
RISE_WINDOWS = 4


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


def _local_floor(audio: np.ndarray, probs: np.ndarray, window: int, lo_limit: int) -> float:
    """The background level just before window `window`: the median 10 ms frame RMS over up to
    half a second of windows before it that the model calls background."""
    first = max(0, window - 16, lo_limit // VAD_WINDOW)
    quiet = [w for w in range(first, window) if probs[w] < QUIET_PROB]
    if not quiet:
        return noise_floor(audio, lo_limit - CONTEXT_SAMPLES, window * VAD_WINDOW)
    chunk = np.concatenate([audio[w * VAD_WINDOW : (w + 1) * VAD_WINDOW] for w in quiet])
    return float(np.median(_frames_rms(chunk)))


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


def _walk_back(env: np.ndarray, i: int, level: float) -> int:
    """From env[i] (above `level`) back to the start of the sound it belongs to. A gap of up to
    BRIDGE (a stop consonant's closure: the silence inside "o-kay") is crossed when a sustained
    stretch of sound (SUSTAIN; a click is far shorter) lies before it."""
    while True:
        while i > 0 and env[i - 1] > level:
            i -= 1
        lo = max(0, i - BRIDGE)
        above = env[lo:i] > level
        if above.sum() < SUSTAIN:
            return i
        # The latest run of SUSTAIN samples above the level before the gap.
        runs = np.convolve(above.astype(np.int32), np.ones(SUSTAIN, dtype=np.int32), mode="valid")
        full = np.flatnonzero(runs == SUSTAIN)
        if not len(full):
            return i
        i = lo + int(full[-1])


def _edge(audio: np.ndarray, found: int, limit: int, floor: float) -> int:
    """Walk back from `found` (inside speech) to the sample where the sound left the background.

    The 5 ms energy envelope is followed back while it stays above the background. Inside the
    first window above it, the edge is the first sample that stands clear of the noise (on
    digital silence: the first non-silent sample).
    """
    lo = max(limit, found - MAX_BACKTRACK)
    seg = audio[lo : found + ENVELOPE].astype(np.float64)
    if len(seg) < ENVELOPE:
        return found
    env = _envelope(seg)
    i = min(found - lo, len(env) - 1)
    best = _walk_back(env, i, max(EDGE_FLOOR, floor * EDGE_ABOVE_NOISE))
    window = np.abs(seg[best : best + ENVELOPE])
    loud = np.flatnonzero(window >= max(EDGE_FLOOR, floor * SAMPLE_ABOVE_NOISE))
    return lo + best + int(loud[0]) if len(loud) else lo + best + ENVELOPE // 2


def _first_by_model(audio: np.ndarray, start: int, end: int, probs: np.ndarray) -> int | None:
    """The first window the model calls speech in [start, end), its edge placed on the samples."""
    w0 = start // VAD_WINDOW
    hits = np.flatnonzero(probs[w0 : -(-end // VAD_WINDOW)] >= SPEECH_PROB)
    if not len(hits):
        return None
    w = w0 + int(hits[0])
    floor = _local_floor(audio, probs, w, start)
    # A point inside the sound: where the envelope first rises above the background within the
    # flagged window or the few after it (the window may begin in silence).
    base = max(w * VAD_WINDOW, start)
    env = _envelope(audio[base : min(end, (w + RISE_WINDOWS) * VAD_WINDOW) + ENVELOPE].astype(np.float64))
    above = np.flatnonzero(env > max(EDGE_FLOOR, floor * EDGE_ABOVE_NOISE))
    found = base + int(above[0]) + ENVELOPE - 1 if len(above) else w * VAD_WINDOW + VAD_WINDOW // 2
    edge = _edge(audio, min(max(found, start), end - 1), start, floor)
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
        onset = _first_by_model(rev_audio, pad, pad + (end - start), rev_probs)
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
