"""Real speech for evaluator tests: the metrics find speech with a neural VAD, which (rightly)
does not take a tone for a voice."""

from __future__ import annotations

import functools

import numpy as np

from agora_runner.audio import trim_to_level

SR = 16000
# Voiced sounds without stops or commas, so the speech runs on without pauses.
TEXT = "Many mellow lemons lie along the lovely lane while mild rain rolls over the meadow"


@functools.cache
def _voice() -> np.ndarray:
    from agora_runner.speech import get_tts

    return trim_to_level(get_tts().synthesize(TEXT))


def speech(seconds: float) -> np.ndarray:
    """About `seconds` of speech, ending exactly on a loud sample (an edge known to the sample);
    it starts on the clip's first sample."""
    n = int(seconds * SR)
    x = np.resize(_voice(), n)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) >= 0.15 * 32768)
    return x[: int(loud[-1]) + 1] if len(loud) else x
