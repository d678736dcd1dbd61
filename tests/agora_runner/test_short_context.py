"""Live hearing's short-context Whisper: as accurate as the full window on a call's turns, and
it stops where the audio stops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agora_runner import speech
from agora_runner.speech import FasterWhisperASR
from evaluators.text import word_error_rate

# Short lines were where a shortened window made the model say the line again into the
# padding ("Can I bring my son? Can I bring my son? Can I bring").
LINES = [
    "Is that every day",
    "Can I bring my son",
    "Can I bring my son?",
    "How long is the wait",
    "Thank you for calling Sunny Clinic, how can I help you today?",
    "We are closed on Sundays, but on Saturdays we open at nine and close at one in the afternoon.",
    "Doctor Patel has a free slot on Thursday at ten. Could I have your name and date of birth "
    "please? "
    "Please bring your insurance card and a list of your medicines.",
]


@pytest.fixture(scope="module")
def short() -> FasterWhisperASR:
    return FasterWhisperASR(threads=1, short_context=True)


def test_short_context_hears_as_well_as_the_full_window_and_never_repeats(
    tts: Any, asr: Any, short: FasterWhisperASR
) -> None:
    clips = [tts.synthesize(line) for line in LINES]
    heard = [short.transcribe(clip) for clip in clips]
    for line, text in zip(LINES, heard, strict=True):
        assert len(text.split()) <= len(line.split()) + 1, f"{line!r} heard as {text!r}"
    full = [asr.transcribe(clip) for clip in clips]
    short_wer = word_error_rate(" ".join(LINES), " ".join(heard))
    full_wer = word_error_rate(" ".join(LINES), " ".join(full))
    assert short_wer <= full_wer + 0.05, (short_wer, full_wer, heard)
    assert short.transcribe(np.zeros(8000, dtype=np.int16)).strip() in (
        "",
        "you",
        "You",
        "you.",
        "You.",
    )


def test_long_audio_is_heard_with_the_full_window(
    tts: Any, short: FasterWhisperASR, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(speech, "SHORT_CONTEXT_MAX_SECONDS", 3.0)
    used: list[int] = []
    real = short._transcribe_short
    monkeypatch.setattr(
        short, "_transcribe_short", lambda audio: used.append(len(audio)) or real(audio)
    )
    said = LINES[4]
    assert word_error_rate(said, short.transcribe(tts.synthesize(said))) <= 0.15
    assert used == []  # longer than the limit: the full window
    assert short.transcribe(tts.synthesize(LINES[0]))
    assert len(used) == 1
