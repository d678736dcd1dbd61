"""The caller's voice through a helper process (agora_runner.synthesis): the same audio as
Piper in-process, each line made once, a helper that dies replaced, a line it cannot say an
error that says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from agora_runner.synthesis import SynthesisError, SynthesisProcess


@pytest.fixture(scope="module")
def helper() -> Iterator[SynthesisProcess]:
    process = SynthesisProcess()
    yield process
    process.close()


def test_a_line_is_the_same_audio_as_in_process_and_is_made_once(
    tts: Any, helper: SynthesisProcess
) -> None:
    line = "Could I book a table for two on Friday?"
    audio = helper.synthesize(line)
    assert np.array_equal(audio, tts.synthesize(line)), "Piper's output, sample for sample"
    made = helper.synthesized
    assert helper.synthesize(line) is audio and helper.synthesized == made, "kept, not made again"
    faster = helper.synthesize(line, 1.3)
    assert helper.synthesized == made + 1 and len(faster) < len(audio), "another speed: made"


def test_a_helper_that_died_is_replaced_and_a_line_it_cannot_say_is_an_error(
    helper: SynthesisProcess,
) -> None:
    helper.synthesize("Hello there.")
    assert helper._proc is not None
    helper._proc.kill()
    helper._proc.wait(5)
    assert len(helper.synthesize("Is anyone there?")) > 8000  # a new helper said it
    with pytest.raises(SynthesisError, match="could not say 'Goodbye.'"):
        helper.synthesize("Goodbye.", 0.0)  # no speed to speak at
    assert len(helper.synthesize("Goodbye.")) > 8000, "the helper goes on after a failed line"
