"""Writes the short recordings the timing tests score (tests/evaluators/clips/), each with its
truth:
- call.wav: one composed call (bench/timing_material.py) with three answers, one of them
  interrupted;
- voices.wav: a stretch of a tuning call under a background of five voices 30 dB down, in
  which a burst of the voices, before the answer, passed for the answer's start;
- noise.wav: a stretch of a held-out call in white noise 10 dB under the speech, whose answer
  was once reported as never given;
- voices_weak.wav: an answer (Piper, "Fine, we can do Tuesday at ten.") whose start stands
  barely over a background of five voices 30 dB under the speech, once declared not
  measurable for that though the walk back to it crosses no dip;
- voices_burst.wav: an answer ("So sorry about the delay.", espeak-ng `en-us+Annie`, the
  fifth set of bench/timing_sets/) under five voices 30 dB down, one of whose syllables,
  standing over their usual loudest, lies across a dip before the answer's faint "S": it
  was taken for the answer's start, 69 ms early;
- faint.wav: an answer whose first word ("Thanks,", in a breathy espeak-ng voice that is in
  neither of the bench's parts) is 10-15 dB weaker than the rest, in pink noise 10 dB under
  the speech: that word is lost in the noise, and the answer was once placed at the next one,
  487 ms late;
- brown_tail.wav: an answer in brown noise 10 dB under the speech, after the agent's previous
  answer, interrupted, ran on into the caller's end with a last sound that stands barely over
  the noise: taken for a burst of the noise, that sound was once left to the answer, placed
  271 ms early;
- music.wav: an answer under music 30 dB under the speech, a chord of which sounds on into
  it: the edge was found back across the chord, 217 ms early;
- music_steady.wav: an answer under music 30 dB under the speech, whose level held from chord
  to chord so that it was judged steady noise: the answer was placed 297 ms early, at a chord.
- caller_hum.wav: a caller's line (Piper, "And after that?") under mains hum, scored without
  its turns (bench/found_turns_bench.py): the hum's notch filters, started in the middle of
  the hum, rang on past the line's end, which was found 147 ms late.

    .venv/bin/python bench/make_timing_clips.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing_material import CONDITIONS, VOICES, Voice, compose_call, load_part  # noqa: E402

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
    voices_excerpt()
    noise_excerpt()
    faint_excerpt()
    voices_weak_excerpt()
    voices_burst_excerpt()
    brown_tail_excerpt()
    music_excerpt()
    music_steady_excerpt()
    caller_hum_excerpt()


def voices_excerpt() -> None:
    """espeak-us, seed 2, its tenth answer ("Happy to help…"), from 2 s before the caller's
    line ends to the answer's end, under the bench's "voices 30 dB"."""
    voice = next(v for v in VOICES["tuning"] if v.name == "espeak-us")
    call = compose_call(voice, "tuning", 2)
    answer = call.answers[9]
    line = _line_before(call, answer)
    lo = round(line["speech_start"] * SAMPLE_RATE) - SAMPLE_RATE // 2
    _write_excerpt("voices", call, "voices 30 dB", answer, lo, answer["end"] + SAMPLE_RATE // 4)


def noise_excerpt() -> None:
    """piper-joe-slow, seed 1004, under the bench's "white 10 dB": the caller's line ending at
    42.47 s, with what comes before it from 40.6 s, and the first 1.5 s of the answer."""
    voice = next(v for v in VOICES["heldout"] if v.name == "piper-joe-slow")
    call = compose_call(voice, "heldout", 1004)
    answer = next(a for a in call.answers if abs(a["caller_end"] / SAMPLE_RATE - 42.4737) < 1e-3)
    lo = round(40.6 * SAMPLE_RATE)
    _write_excerpt("noise", call, "white 10 dB", answer, lo, answer["onset"] + 3 * SAMPLE_RATE // 2)


def voices_weak_excerpt() -> None:
    """piper-joe, seed 1000, under the bench's "voices 30 dB": the call's first line and
    answer, from the call's start to the answer's end (what comes before an answer shapes
    its background, so the excerpt keeps all of it)."""
    voice = next(v for v in VOICES["tuning"] if v.name == "piper-joe")
    call = compose_call(voice, "tuning", 1000)
    answer = call.answers[0]
    _write_excerpt("voices_weak", call, "voices 30 dB", answer, 0, answer["end"] + SAMPLE_RATE // 4)


def voices_burst_excerpt() -> None:
    """The fifth set's espeak-us-annie, seed 2000, the answer starting at 12.752 s, under
    "voices 30 dB": from half a second before the caller's line to the answer's end."""
    part = load_part(ROOT / "bench" / "timing_sets" / "fifth.json")
    voice = next(v for v in VOICES[part] if v.name == "espeak-us-annie")
    call = compose_call(voice, part, 2000)
    answer = _answer_at(call, 12.752)
    line = _line_before(call, answer)
    lo = round(line["speech_start"] * SAMPLE_RATE) - SAMPLE_RATE // 2
    _write_excerpt(
        "voices_burst", call, "voices 30 dB", answer, lo, answer["end"] + SAMPLE_RATE // 4
    )


def faint_excerpt() -> None:
    """espeak-ng `en-gb-x-rp+kaukovalta` at 150 wpm, seed 3, its first answer, under the
    bench's "pink 10 dB": from half a second before the caller's line to the answer's end."""
    voice = Voice("espeak-rp-kaukovalta", "espeak", "en-gb-x-rp+kaukovalta", 150)
    call = compose_call(voice, "clip", 3, turns=2, texts=["Thanks, I have your address now."])
    answer = call.answers[0]
    line = _line_before(call, answer)
    lo = round(line["speech_start"] * SAMPLE_RATE) - SAMPLE_RATE // 2
    _write_excerpt("faint", call, "pink 10 dB", answer, lo, answer["end"] + SAMPLE_RATE // 4)


def brown_tail_excerpt() -> None:
    """piper-joe-slow, seed 5004, under the bench's "brown 10 dB": the answer starting at
    28.138 s ("No problem at all."), from 4 s before it (the agent's previous answer, the
    caller breaking in on it, and the caller's line), with every caller line in it, to the
    answer's end."""
    voice = next(v for v in VOICES["heldout"] if v.name == "piper-joe-slow")
    call = compose_call(voice, "heldout", 5004)
    answer = _answer_at(call, 28.138)
    lo = answer["onset"] - 4 * SAMPLE_RATE
    _write_excerpt(
        "brown_tail", call, "brown 10 dB", answer, lo, answer["end"] + SAMPLE_RATE // 4, True
    )


def music_excerpt() -> None:
    """piper-joe-fast, seed 1, under the bench's "music 30 dB": the answer starting at
    13.118 s ("Absolutely, that works."), from 4 s before it, with every caller line in it,
    to the answer's end."""
    voice = next(v for v in VOICES["tuning"] if v.name == "piper-joe-fast")
    call = compose_call(voice, "tuning", 1)
    answer = _answer_at(call, 13.118)
    lo = answer["onset"] - 4 * SAMPLE_RATE
    _write_excerpt("music", call, "music 30 dB", answer, lo, answer["end"] + SAMPLE_RATE // 4, True)


def music_steady_excerpt() -> None:
    """espeak-us, seed 2002, under the bench's "music 30 dB": the answer starting at 33.908 s
    ("We are open from nine to five…"), from 4 s before it, with every caller line in it, to
    1.5 s into the answer."""
    voice = next(v for v in VOICES["tuning"] if v.name == "espeak-us")
    call = compose_call(voice, "tuning", 2002)
    answer = _answer_at(call, 33.908)
    lo = answer["onset"] - 4 * SAMPLE_RATE
    _write_excerpt(
        "music_steady",
        call,
        "music 30 dB",
        answer,
        lo,
        answer["onset"] + 3 * SAMPLE_RATE // 2,
        True,
    )


def caller_hum_excerpt() -> None:
    from found_turns_bench import caller_through

    voice = next(v for v in VOICES["tuning"] if v.name == "espeak-gb-f3")
    call = compose_call(voice, "tuning", seed=1003)
    line = next(u for u in call.utterances if abs(u["speech_start"] - 13.28) < 0.05)
    lo = round((line["speech_start"] - 1.0) * SAMPLE_RATE)
    hi = round((line["speech_end"] + 1.0) * SAMPLE_RATE)
    caller = caller_through(call, "hum")
    (OUT / "caller_hum.wav").write_bytes(stereo_wav(caller[lo:hi], call.agent[lo:hi]))
    truth = {
        "voice": "piper-joe (the caller)",
        "seed": call.seed,
        "condition": "hum, on the caller's track",
        "sample_rate": SAMPLE_RATE,
        "caller_turns": [
            {
                "start_s": line["speech_start"] - lo / SAMPLE_RATE,
                "end_s": line["speech_end"] - lo / SAMPLE_RATE,
            }
        ],
    }
    (OUT / "caller_hum.json").write_text(json.dumps(truth, indent=1) + "\n")


def _answer_at(call: Any, onset_s: float) -> dict[str, Any]:
    """The answer of `call` that starts at `onset_s` (to the millisecond)."""
    return next(a for a in call.answers if abs(a["onset"] / SAMPLE_RATE - onset_s) < 1e-3)


def _line_before(call: Any, answer: dict[str, Any]) -> dict[str, Any]:
    """The caller's line `answer` answers."""
    return next(
        u
        for u in call.utterances
        if abs(round(u["speech_end"] * SAMPLE_RATE) - answer["caller_end"]) <= 1
    )


def _write_excerpt(
    name: str,
    call: Any,
    condition: str,
    answer: dict[str, Any],
    lo: int,
    hi: int,
    earlier_lines: bool = False,
) -> None:
    """Samples [lo, hi) of `call` under `condition` as OUT/<name>.wav, and the truth of its one
    answer and the caller line it answers (with `earlier_lines`, every caller line in the
    excerpt), in the excerpt's own time, as OUT/<name>.json."""
    agent = CONDITIONS[condition](call, call.seed)
    line = _line_before(call, answer)
    lines = [
        u
        for u in call.utterances
        if u is line
        or (
            earlier_lines
            and lo <= u["speech_start"] * SAMPLE_RATE
            and u["speech_end"] <= line["speech_end"]
        )
    ]
    (OUT / f"{name}.wav").write_bytes(stereo_wav(call.caller[lo:hi], agent[lo:hi]))
    truth = {
        "voice": call.voice.name,
        "seed": call.seed,
        "condition": condition,
        "sample_rate": SAMPLE_RATE,
        "caller_turns": [
            {
                "start_s": u["speech_start"] - lo / SAMPLE_RATE,
                "end_s": u["speech_end"] - lo / SAMPLE_RATE,
            }
            for u in lines
        ],
        "answers": [
            {
                "caller_end": answer["caller_end"] - lo,
                "onset": answer["onset"] - lo,
                "text": answer["text"],
            }
        ],
    }
    (OUT / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {OUT / (name + '.wav')} ({(hi - lo) / SAMPLE_RATE:.1f} s)")


if __name__ == "__main__":
    main()
