"""The caller's self-check after a call: its lines transcribed one by one (each in a window of
at least 10 s) against all of a call's lines in one pass (agora_runner.speech
FasterWhisperASR.transcribe_many).

Calls of 2 to 6 caller lines, drawn from sentences the project's material already has
(bench/timing_material.py's answers and caller lines, bench/hearing.py's sentences), spoken by
Piper (the caller's voice in every run) and by espeak-ng voices (voices the batching was never
looked at with). For each voice: the word error rate of each way against what was said (per
line, averaged: a word given to the wrong line counts twice), and CPU-seconds per call, on one
thread.

    .venv/bin/python bench/caller_batch.py [--calls 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from hearing import SENTENCES  # noqa: E402
from timing_material import ANSWERS, CALLER_LINES, VOICES, espeak_available, synthesize  # noqa: E402

from agora_runner.speech import POST_MIN_WINDOW_SECONDS, FasterWhisperASR  # noqa: E402
from evaluators.text import word_error_rate  # noqa: E402

LINES = sorted(set(CALLER_LINES + SENTENCES + ANSWERS["tuning"] + ANSWERS["heldout"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=12, help="calls per voice")
    args = parser.parse_args()
    if not espeak_available():
        raise SystemExit("espeak-ng is missing: apt-get install espeak-ng")
    asr = FasterWhisperASR(
        threads=1, short_context=True, min_window_seconds=POST_MIN_WINDOW_SECONDS
    )
    voices = [VOICES["tuning"][0]] + [v for v in VOICES["heldout"] if v.engine == "espeak"][:3]
    print(
        f"{'voice':<22} {'lines':>5} {'WER one by one':>14} {'WER one pass':>12} "
        f"{'CPU-s/call one by one':>21} {'one pass':>8}"
    )
    for voice in voices:
        rng = np.random.default_rng(7)
        said, alone_text, batch_text = [], [], []
        cpu_alone = cpu_batch = 0.0
        lines = 0
        for _ in range(args.calls):
            texts = list(rng.choice(LINES, size=int(rng.integers(2, 7)), replace=False))
            clips = [synthesize(voice, t) for t in texts]
            started = time.process_time()
            one = [asr.transcribe(c) for c in clips]
            cpu_alone += time.process_time() - started
            started = time.process_time()
            many = asr.transcribe_many(clips, texts)
            cpu_batch += time.process_time() - started
            lines += len(clips)
            said += texts
            alone_text += one
            batch_text += many
        wer_one = np.mean([word_error_rate(s, h) for s, h in zip(said, alone_text, strict=True)])
        wer_many = np.mean([word_error_rate(s, h) for s, h in zip(said, batch_text, strict=True)])
        print(
            f"{voice.name:<22} {lines:>5} {wer_one:>14.3f} {wer_many:>12.3f} "
            f"{cpu_alone / args.calls:>21.2f} {cpu_batch / args.calls:>8.2f}"
        )


if __name__ == "__main__":
    main()
