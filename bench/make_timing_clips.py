"""Writes the short recording the timing tests score (tests/evaluators/clips/): one composed
call (bench/timing_material.py) with three answers, one of them interrupted, and its truth.

    .venv/bin/python bench/make_timing_clips.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing_material import VOICES, compose_call  # noqa: E402

from common.wav import SAMPLE_RATE, stereo_wav  # noqa: E402

OUT = ROOT / "tests" / "evaluators" / "clips"


def main() -> None:
    voice = next(v for v in VOICES["heldout"] if v.name == "espeak-scotland-f4")
    for seed in range(200):
        call = compose_call(voice, "heldout", seed, turns=3)
        if any("stop" in a for a in call.answers[:2]) and call.seconds < 11:
            break
    else:
        raise SystemExit("no short call with a barge-in among 200 seeds")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "call.wav").write_bytes(stereo_wav(call.caller, call.agent))
    truth = {
        "voice": voice.name,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "caller_turns": [
            {"start_s": u["speech_start"], "end_s": u["speech_end"]} for u in call.utterances
        ],
        "answers": [
            {k: a[k] for k in ("caller_end", "onset", "end", "barge_in", "stop", "text") if k in a}
            for a in call.answers
        ],
    }
    (OUT / "call.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {OUT / 'call.wav'} ({call.seconds:.1f} s, seed {seed})")


if __name__ == "__main__":
    main()
