from __future__ import annotations

import numpy as np

from agora_runner.audio import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    first_voiced_sample,
    last_voiced_sample,
    read_wav,
    stereo_wav,
)
from agora_runner.call import Recorder


def tone(seconds: float, freq: float = 220.0, amp: float = 8000.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    # A voiced-like signal (harmonics), so the WebRTC VAD takes it for speech.
    sig = sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, 8))
    return (amp * sig / 2).astype(np.int16)


def test_jittered_frames_stay_contiguous_and_a_real_gap_is_kept() -> None:
    rec = Recorder()
    frames = [bytes([i]) * FRAME_BYTES for i in range(1, 6)]
    jitter = [0, 25, -20, 30, 5]  # samples of arrival jitter, under the 60 ms bound
    for k, (f, j) in enumerate(zip(frames, jitter, strict=True)):
        rec.add_remote(7, f, (k + 1) * FRAME_SAMPLES + j + 1600)
    track = bytes(rec.remote[7])
    assert track[1600 * 2 :] == b"".join(frames)
    # A frame 500 ms late lands where it arrived, with silence before it.
    pos = rec.add_remote(7, b"\x09" * FRAME_BYTES, 1600 + 5 * FRAME_SAMPLES + 8000 + FRAME_SAMPLES)
    assert pos == 1600 + 5 * FRAME_SAMPLES + 8000


def test_onsets_are_found_to_the_sample() -> None:
    sr = 16000
    audio = np.zeros(sr * 2, dtype=np.int16)
    start, stop = 12_345, 20_000
    audio[start:stop] = tone((stop - start) / sr)
    onset = first_voiced_sample(audio)
    end = last_voiced_sample(audio, 0, len(audio))
    assert onset is not None and abs(onset - start) <= 16  # within 1 ms
    assert end is not None and abs(end - stop) <= 16
    assert first_voiced_sample(np.zeros(sr, dtype=np.int16)) is None
    clicks = np.zeros(sr * 2, dtype=np.int16)
    clicks[::4000] = 30000  # a click every 250 ms: no onset
    assert first_voiced_sample(clicks) is None
    clicks[start:stop] = audio[start:stop]
    assert abs(first_voiced_sample(clicks) - start) <= 16


def test_stereo_wav_keeps_caller_left_and_agent_right() -> None:
    left, right = tone(0.1), tone(0.2, freq=330)
    rate, data = read_wav(stereo_wav(left, right))
    assert rate == 16000 and data.shape == (len(right), 2)
    assert np.array_equal(data[: len(left), 0], left) and np.array_equal(data[:, 1], right)
    assert not data[len(left) :, 0].any()
