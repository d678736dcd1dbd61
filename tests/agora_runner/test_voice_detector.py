"""The offline voice detector (speech_segments' cut of the agent's track): deciding a whole
track at once gives, frame for frame, the decisions the live detector gives one frame at a
time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agora_runner.audio import FRAME_BYTES, VoiceDetector
from common.wav import read_wav
from tests.test_framework.recorded import recorded_outcome

CLIPS = Path(__file__).resolve().parents[1] / "evaluators" / "clips"


def one_by_one(audio: np.ndarray) -> np.ndarray:
    detector = VoiceDetector()
    raw = audio.astype(np.int16).tobytes()
    whole = len(raw) // FRAME_BYTES
    return np.array(
        [detector.is_speech(raw[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]) for i in range(whole)],
        dtype=bool,
    )


def tracks() -> list[tuple[str, np.ndarray]]:
    rec = recorded_outcome().recording
    assert rec is not None
    out = [("recorded call, agent", rec.agent), ("recorded call, caller", rec.caller)]
    for name in ("call", "voices", "noise"):  # clean speech, voices under it, white noise
        _, stereo = read_wav((CLIPS / f"{name}.wav").read_bytes())
        out.append((f"{name}.wav, agent", stereo[:, 1]))
    rng = np.random.default_rng(5)
    speech = out[0][1][: 16000 * 6].astype(np.float64)
    noise = rng.normal(0.0, np.sqrt(np.mean(speech**2)) / 10, len(speech))  # 20 dB
    out.append(("speech in white noise", np.clip(speech + noise, -32768, 32767).astype(np.int16)))
    return out


@pytest.mark.parametrize("name,audio", tracks(), ids=[name for name, _ in tracks()])
def test_a_track_decided_at_once_is_decided_as_frame_by_frame(name: str, audio: np.ndarray) -> None:
    ragged = audio[: len(audio) - 37]  # a last frame cut short is not decided, either way
    expected = one_by_one(ragged)
    assert expected.any() and not expected.all(), name  # speech and pauses both
    detector = VoiceDetector()
    got = detector.decide_track(ragged)
    assert np.array_equal(got, expected), (name, np.flatnonzero(got != expected)[:10])
    assert detector.last_voiced == bool(expected[-1])
