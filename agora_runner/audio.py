"""16 kHz mono s16le audio: frames, live voice activity, resampling, WAV, clip edges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import webrtcvad

from common.wav import SAMPLE_RATE as SAMPLE_RATE  # the rate of every track, re-exported

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

    def __init__(
        self, aggressiveness: int = 2, floor: float | None = None, margin: float = NOISE_MARGIN
    ) -> None:
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

    def decide_track(self, audio: np.ndarray) -> np.ndarray:
        """The decision on each whole 10 ms frame of a track, the same as is_speech gives fed
        the frames one by one, with the per-frame arithmetic done for all frames at once:
        only the background's learning and the WebRTC VAD, which depend on what came before,
        go frame by frame."""
        n = len(audio) // FRAME_SAMPLES
        pcm = np.ascontiguousarray(audio[: n * FRAME_SAMPLES], dtype=np.int16)
        frames = pcm.reshape(n, FRAME_SAMPLES).astype(np.float32)
        levels = np.sqrt(np.einsum("ij,ij->i", frames, frames).astype(np.float64) / FRAME_SAMPLES)
        blocks = frames.reshape(n, 10, -1)
        energy = np.einsum("ijk,ijk->ij", blocks, blocks)
        # At least SUSTAINED_BLOCKS blocks over a threshold ⇔ the SUSTAINED_BLOCKS-th loudest is.
        nth_loudest = np.partition(energy, 10 - SUSTAINED_BLOCKS, axis=1)[:, 10 - SUSTAINED_BLOCKS]
        per_block = blocks.shape[2]
        raw = pcm.tobytes()
        out = np.zeros(n, dtype=bool)
        for i, level in enumerate(levels.tolist()):
            floor = self._floor
            if level < ENERGY_FLOOR or (floor is not None and level < floor * self._margin):
                self._learn(level)
                continue
            least = max(ENERGY_FLOOR, (floor or 0.0) * 1.5)
            if not nth_loudest[i] > least * least * per_block:
                continue  # a click
            voiced = self._vad.is_speech(raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES], SAMPLE_RATE)
            if voiced:
                out[i] = True
            else:
                self._learn(level)
        self.last_voiced = bool(out[-1]) if n else self.last_voiced
        return out

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
    n_frames = len(audio) // FRAME_SAMPLES
    voiced = VoiceDetector().decide_track(audio)
    segs: list[list[int]] = []
    gap = merge_gap_ms // FRAME_MS
    for v in np.flatnonzero(voiced):
        j = int(v)
        if segs and j - segs[-1][1] <= gap:
            segs[-1][1] = j + 1
        else:
            segs.append([j, j + 1])
    pad = pad_ms // FRAME_MS
    out = []
    for s, e in segs:
        if (e - s) * FRAME_MS < min_ms:
            continue
        out.append(Segment(max(0, s - pad) * FRAME_SAMPLES, min(n_frames, e + pad) * FRAME_SAMPLES))
    return out


def trim_to_level(audio: np.ndarray, fraction: float = 0.03) -> np.ndarray:
    """The clip from its first to its last sample whose magnitude reaches `fraction` of the
    clip's peak (3 % ≈ −30 dB): authored speech with exact edges, for calibration."""
    mag = np.abs(audio.astype(np.int32))
    if not len(mag) or not mag.max():
        return audio[:0]
    idx = np.flatnonzero(mag >= fraction * mag.max())
    return audio[idx[0] : idx[-1] + 1]
