from __future__ import annotations

import numpy as np

from agora_runner.audio import FRAME_BYTES, FRAME_SAMPLES
from agora_runner.call import Recorder
from common.wav import read_wav, speech_edges, stereo_wav


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


def test_a_clean_clips_speech_edges_leave_out_what_lies_60_db_under_its_peak() -> None:
    clip = np.zeros(4000, dtype=np.int16)
    clip[:500] = 4  # a synthesiser's hiss, 62 dB under the peak
    clip[1000:3000:2], clip[1001:3000:2] = 5000, -5000
    clip[3000:3200] = 4  # a faint tail
    assert speech_edges(clip) == (1000, 3000)
    assert speech_edges(np.zeros(100, dtype=np.int16)) is None


def test_stereo_wav_keeps_caller_left_and_agent_right() -> None:
    left, right = tone(0.1), tone(0.2, freq=330)
    rate, data = read_wav(stereo_wav(left, right))
    assert rate == 16000 and data.shape == (len(right), 2)
    assert np.array_equal(data[: len(left), 0], left) and np.array_equal(data[:, 1], right)
    assert not data[len(left) :, 0].any()
