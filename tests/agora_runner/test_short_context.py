"""Live hearing's short-context Whisper: as accurate as the full window on a call's turns, and
it stops where the audio stops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agora_runner import speech
from agora_runner.speech import FasterWhisperASR
from evaluators.text import word_error_rate

pytestmark = pytest.mark.slow  # tens of seconds of CPU: make test, not make test-fast

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


@pytest.fixture(scope="module")
def post() -> FasterWhisperASR:
    return FasterWhisperASR(
        threads=1, short_context=True, min_window_seconds=speech.POST_MIN_WINDOW_SECONDS
    )


def test_a_calls_lines_in_one_pass_come_back_each_with_its_own_words(
    tts: Any, post: FasterWhisperASR, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transcribe_many: the caller's lines of a call through the model once, each line's words
    its own (none run into the next, none lost), as well heard as one by one."""
    lines = [LINES[1], LINES[4], LINES[0], LINES[5]]
    clips = [tts.synthesize(line) for line in lines]
    passes: list[int] = []
    real = post._transcribe_short
    monkeypatch.setattr(post, "_transcribe_short", lambda audio: passes.append(1) or real(audio))
    texts = post.transcribe_many(clips + [np.zeros(800, dtype=np.int16)], lines + ["Hi."])
    assert texts[-1] == ""  # too short to hold a word, as transcribe() says of it
    assert len(passes) == 1, "every line from one pass"
    for line, text in zip(lines, texts, strict=False):
        assert word_error_rate(line, text) <= 0.2, (line, text)
    one_by_one = [post.transcribe(c) for c in clips]
    assert (
        word_error_rate(" ".join(lines), " ".join(texts[:-1]))
        <= word_error_rate(" ".join(lines), " ".join(one_by_one)) + 0.05
    )


def test_a_call_heard_again_sample_for_sample_is_remembered_and_any_change_is_not(
    tts: Any, post: FasterWhisperASR
) -> None:
    """`remember`: a rerun's caller lines, the same audio to the sample, are not put through
    the model again; the text is what the model made of that audio. One sample changed is new
    audio. The oldest transcript goes first when more are kept than asked."""
    remembering = FasterWhisperASR(
        threads=1,
        short_context=True,
        min_window_seconds=speech.POST_MIN_WINDOW_SECONDS,
        remember=2,
    )
    lines = [LINES[1], LINES[4]]
    clips = [tts.synthesize(line) for line in lines]
    first = remembering.transcribe_many(clips, lines)
    assert remembering.recognised == 1
    assert remembering.transcribe_many([c.copy() for c in clips], lines) == first
    assert remembering.recognised == 1, "the same audio again: remembered"
    assert first == post.transcribe_many(clips, lines), "what the model makes of it"

    changed = [clips[0], clips[1].copy()]
    changed[1][len(changed[1]) // 2] += 1
    assert remembering.transcribe_many(changed, lines) == post.transcribe_many(changed, lines)
    assert remembering.recognised == 2, "one sample changed: heard anew"

    alone = remembering.transcribe(clips[0])  # a third transcript: the first call's goes
    assert remembering.recognised == 3
    assert remembering.transcribe(clips[0]) == alone and remembering.recognised == 3
    remembering.transcribe_many(clips, lines)
    assert remembering.recognised == 4, "only two are kept"


def test_words_heard_over_several_lines_go_to_the_line_that_said_them() -> None:
    """share_words: by alignment with what each line said, a misheard word stays with its
    line, a word heard where nothing was said goes with the line before it, and a line that
    was not heard at all gets nothing."""
    said = ["Can I bring my son?", "How long is the wait", "Is that every day"]
    heard = "um can I bring son how long is it the weight yes is that every day".split()
    assert speech.share_words(heard, said) == [
        ["um", "can", "I", "bring", "son"],
        ["how", "long", "is", "it", "the", "weight", "yes"],
        ["is", "that", "every", "day"],
    ]
    assert speech.share_words("Can I bring my son? Is that every day?".split(), said) == [
        ["Can", "I", "bring", "my", "son?"],
        [],
        ["Is", "that", "every", "day?"],
    ]
    assert speech.share_words([], said) == [[], [], []]


def test_lines_that_do_not_fit_one_window_go_in_several_passes() -> None:
    """_batches: clips in order, as many to a pass as fit one shortened window with the gaps
    between them; a clip longer than the window goes alone (transcribe() gives it the full
    window)."""
    sr = 16000
    limit = speech.SHORT_CONTEXT_MAX_SECONDS * sr - 2 * speech.ASR_PAD_SAMPLES
    second = np.zeros(sr, dtype=np.int16)
    fits = int((limit + speech.BATCH_GAP_SAMPLES) // (sr + speech.BATCH_GAP_SAMPLES))
    batches = speech._batches([second] * (fits + 1))
    assert [len(b) for b in batches] == [fits, 1]
    assert [k for b in batches for k in b] == list(range(fits + 1))
    long = np.zeros(int(limit) + sr, dtype=np.int16)
    assert speech._batches([second, long, second]) == [[0], [1], [2]]
