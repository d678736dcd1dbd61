"""Live hearing: short-context Whisper against the full 30 s window, on synthesised turns.

A live call transcribes each agent turn as it ends, so the caller can answer it. Whisper's
encoder costs the same for any input padded to its 30 s window; the short context encodes the
audio plus 5 s (agora_runner.speech.FasterWhisperASR). For turns of one to eight sentences,
clean and with white noise at 10 dB SNR, prints the word error rate and CPU-seconds per turn
of each, on one thread.

    .venv/bin/python bench/hearing.py [--turns 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agora_runner.noise import speech_rms  # noqa: E402
from agora_runner.speech import POST_MIN_WINDOW_SECONDS, FasterWhisperASR, get_tts  # noqa: E402
from evaluators.text import word_error_rate  # noqa: E402

SENTENCES = [
    "Thank you for calling Sunny Clinic, how can I help you today?",
    "We are open from nine in the morning until five in the afternoon.",
    "Doctor Patel has a free slot on Thursday at ten.",
    "Could I have your name and date of birth please?",
    "Parking is available behind the building.",
    "Please bring your insurance card and a list of your medicines.",
    "We are closed on Sundays and on public holidays.",
    "Walk ins are welcome but you may have to wait.",
    "Your appointment is confirmed, we will send you a text message.",
    "Is there anything else I can help you with today?",
    "Is that every day?",
    "Can I bring my son?",
    "How long is the wait?",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=8, help="turns per length and condition")
    parser.add_argument("--short", action="store_true", help="one-sentence turns only")
    args = parser.parse_args()
    tts = get_tts()
    models = {
        "full window": FasterWhisperASR(threads=1),
        "short context": FasterWhisperASR(threads=1, short_context=True),
        # Post-call transcripts: the short context, never under 10 s (agora_runner.speech).
        "post (min 10 s)": FasterWhisperASR(
            threads=1, short_context=True, min_window_seconds=POST_MIN_WINDOW_SECONDS
        ),
    }
    rng = np.random.default_rng(0)
    print(
        f"{'sentences':>9} {'seconds':>7} {'noise':>6} | "
        + " | ".join(f"{name:>13} WER  CPU-s" for name in models)
    )
    totals = {name: [0.0, 0] for name in models}
    for sentences in (1, 2, 4, 8) if not args.short else (1,):
        for noisy in (False, True):
            refs, heard, cpu, seconds = [], {n: [] for n in models}, dict.fromkeys(models, 0.0), 0.0
            for _ in range(args.turns):
                text = " ".join(rng.choice(SENTENCES, sentences, replace=False))
                clip = tts.synthesize(text)
                if noisy:
                    level = speech_rms(clip) / (10 ** (10 / 20))
                    clip = np.clip(clip + rng.normal(0, level, len(clip)), -32768, 32767).astype(
                        np.int16
                    )
                refs.append(text)
                seconds += len(clip) / 16000
                for name, model in models.items():
                    started = time.process_time()
                    heard[name].append(model.transcribe(clip))
                    cpu[name] += time.process_time() - started
            cells = []
            for name in models:
                cells.append(
                    f"{word_error_rate(' '.join(refs), ' '.join(heard[name])):17.3f} "
                    f"{cpu[name] / args.turns:6.3f}"
                )
                totals[name][0] += cpu[name]
                totals[name][1] += args.turns
            print(
                f"{sentences:9d} {seconds / args.turns:7.1f} {'10 dB' if noisy else 'clean':>6} | "
                + " | ".join(cells)
            )
    mean = {n: totals[n][0] / totals[n][1] for n in models}
    print(
        "mean CPU-seconds per turn: "
        + ", ".join(f"{n} {c:.3f} ({mean['full window'] / c:.1f}x less)" for n, c in mean.items())
    )


if __name__ == "__main__":
    main()
