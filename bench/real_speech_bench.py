"""Recorded human speech, which no synthesiser made, as the agent's answers and as the caller's
lines: a check of the timing analysis on material it was never built on. Not an accuracy
bench: a recording has no sample-exact truth (its speech rises out of its own room tone), so
it counts what cannot be blamed on that ambiguity.

Each WAV under `--recordings` (any rate; the first channel) is cut at its pauses (250 ms or
more under its room tone + 15 dB) into utterances, each with 60 ms of its room tone before
and 100 ms after; the WAVs of one directory are one speaker. Calls are composed as in
timing_bench.py (bench/timing_material.py), with the quiet between utterances filled by
the recording's own room tone (its longest quiet stretch, looped with 20 ms cross-fades, and
faded over 30 ms into each clip's own), so that it runs on through the call as a
microphone's does.

- `agent` (the default): a speaker's utterances answer a Piper caller whose turns are given.
  Printed per condition: answers, declared not measurable, missed, invented interruptions.
  No error is printed: a speaker's room tone differs from one stretch to the next (a breath,
  the tail of a word, the room), so where an answer "starts" is not defined to the
  millisecond, and what the analysis places at a step of room tone is not wrong either.
- `caller`: a speaker's utterances are the caller's lines, scored as a recording without
  turns (the lines found on the track, as a production call is); Piper answers. Printed: the
  lines, the turns found, and how many latencies were measured or declared, with the reasons.

    .venv/bin/python bench/real_speech_bench.py --recordings DIR [--side agent|caller]
        [--conditions clean,opus,...] [--calls 3]

Public recordings of human speech (used in docs/metrics.md), fetched once by hand from PyPI:
the sdists pocketsphinx 5.1.1 (test/data: LibriVox readings, spoken digits and commands, a
VAD test) and pysptk 1.0.1 (a CMU ARCTIC sentence), and the wheel pyannote.audio 4.0.7 (a
two-speaker sample), unpacked into DIR. The bench reads only DIR; it connects nowhere.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import timing_material as tm  # noqa: E402
from timing_bench import ALL_CONDITIONS, score_current  # noqa: E402

from agora_runner.audio import SAMPLE_RATE, resample  # noqa: E402

SR = SAMPLE_RATE
FRAME = SR // 100  # 10 ms
OPUS_DELAY = 104  # samples: Opus's look-ahead
PRE = int(0.06 * SR)  # room tone kept before an utterance's first loud frame
FADE = int(0.03 * SR)  # over which the room tone around the call fades into the clip's own


def _load(path: Path) -> np.ndarray | None:
    import soundfile as sf

    try:
        x, rate = sf.read(str(path), dtype="int16")
    except (RuntimeError, sf.LibsndfileError):
        return None
    if x.ndim > 1:
        x = x[:, 0]
    if len(x) < rate:  # under a second: nothing to cut
        return None
    return (resample(x, rate, SR) if rate != SR else x).astype(np.float64)


def _frames_db(x: np.ndarray) -> np.ndarray:
    f = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME)
    return np.asarray(10 * np.log10((f**2).mean(axis=1) + 1e-3))


class Speaker:
    """One directory's utterances (samples, keyed by file and place) and its room tone."""

    def __init__(self, name: str, paths: list[Path]) -> None:
        self.name = name
        self.clips: dict[str, np.ndarray] = {}
        tones: list[np.ndarray] = []
        for path in paths:
            x = _load(path)
            if x is None:
                continue
            db = _frames_db(x)
            floor = float(np.percentile(db, 10))
            tones.append(_longest_quiet(x, db <= floor + 3))
            for a, b in _utterances(db > floor + 15):
                lo, hi = a * FRAME - PRE, b * FRAME + int(0.1 * SR)
                if lo < 0 or hi > len(x):
                    continue
                self.clips[f"{name}:{path.name}:{lo}"] = x[lo:hi]
        self.tone = max(tones, key=len) if tones else np.zeros(0)

    def bed(self, n: int, seed: int) -> np.ndarray:
        """n samples of room tone: the longest quiet stretch, looped with 20 ms cross-fades."""
        tone, fade = self.tone, int(0.02 * SR)
        if len(tone) < 4 * fade:
            return np.zeros(n)
        ramp = np.linspace(0.0, 1.0, fade)
        out = np.zeros(n + len(tone))
        at = -int(np.random.default_rng(seed).integers(0, len(tone) // 2))
        while at < n:
            piece = tone.copy()
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
            s = max(at, 0)
            out[s : at + len(piece)] += piece[s - at :]
            at += len(tone) - fade
        return out[:n]


def _utterances(on: np.ndarray) -> list[tuple[int, int]]:
    """Runs of frames (10 ms) with pauses under 250 ms joined; those of 300 ms or more."""
    idx = np.flatnonzero(on)
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) > 25)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(firsts, lasts, strict=True) if b - a >= 30]


def _longest_quiet(x: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    best, run_start = (0, 0), None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            if i - run_start > best[1] - best[0]:
                best = (run_start, i)
            run_start = None
    return x[best[0] * FRAME : best[1] * FRAME]


def speakers(root: Path) -> list[Speaker]:
    by_dir: dict[Path, list[Path]] = {}
    for path in sorted(root.rglob("*.wav")):
        by_dir.setdefault(path.parent, []).append(path)
    out = [Speaker(d.name, paths) for d, paths in by_dir.items()]
    return [s for s in out if len(s.clips) >= 2 and len(s.tone) >= int(0.1 * SR)]


def _with_bed(track: np.ndarray, spans: list[tuple[int, int]], bed: np.ndarray) -> np.ndarray:
    """`track` inside `spans` (the placed clips, which carry their own room tone), `bed`
    outside them."""
    gain = np.zeros(len(track))  # of the clip; the bed has 1 - gain
    ramp = np.linspace(0.0, 1.0, FADE)
    for s, e in spans:
        s, e = max(0, s), min(len(track), e)
        gain[s:e] = 1.0
        n = min(FADE, e - s)
        gain[s : s + n] = ramp[:n]
        gain[e - n : e] = np.minimum(gain[e - n : e], ramp[::-1][-n:])
    out = gain * track.astype(np.float64) + (1.0 - gain) * bed
    return np.asarray(np.clip(np.round(out), -32768, 32767).astype(np.int16))


def _install(sp: list[Speaker]) -> None:
    """The utterances as an engine of timing_material's (engine "recorded", text = its key)."""
    clips = {k: v for s in sp for k, v in s.clips.items()}
    synthesize = tm.synthesize

    def recorded(voice: tm.Voice, text: str) -> np.ndarray:
        if voice.engine == "recorded":
            return np.asarray(np.clip(np.round(clips[text]), -32768, 32767).astype(np.int16))
        return synthesize(voice, text)

    tm.synthesize = recorded


def agent_side(sp: list[Speaker], conditions: list[str], calls: int) -> None:
    print(f"{'condition':<16} {'answers':>7} {'not meas.':>9} {'missed':>6} {'invented':>8}")
    # Babble behind the agent: the held-out part's voices.
    tm.BABBLE_VOICES.setdefault("recorded", tm.BABBLE_VOICES["heldout"])
    for name in conditions:
        answers = unmeasurable = missed = invented = 0
        for s in sp:
            for k in range(calls):
                call = tm.compose_call(
                    tm.Voice(s.name, "recorded"), "recorded", 500 + k, texts=list(s.clips)
                )
                spans = [
                    (
                        a["onset"] - tm.edges(np.round(s.clips[a["text"]]).astype(np.int16))[0],
                        a["end"],
                    )
                    for a in call.answers
                ]
                call.agent = _with_bed(call.agent, spans, s.bed(len(call.agent), call.seed))
                agent = call.agent if name == "clean" else ALL_CONDITIONS[name](call, call.seed)
                scored = score_current(call.caller, agent, call)
                invented += scored.ai_interruptions
                for a in call.answers:
                    answers += 1
                    found = scored.onsets.get(a["caller_end"])
                    if found is not None and not found[1]:
                        unmeasurable += 1  # declared, with or without a start
                    elif found is None or found[0] is None:
                        missed += 1
        print(f"{name:<16} {answers:>7} {unmeasurable:>9} {missed:>6} {invented:>8}")


def caller_side(sp: list[Speaker], conditions: list[str], calls: int) -> None:
    from evaluators.score import Recording, score_recording

    agent_voice = tm.Voice("piper-joe", "piper")
    for name in conditions:
        lines = found = measured = 0
        reasons: dict[str, int] = {}
        for s in sp:
            tm.CALLER_LINES[:] = list(s.clips)
            for k in range(calls):
                call = tm.compose_call(
                    agent_voice, "tuning", 700 + k, piper_caller=tm.Voice(s.name, "recorded")
                )
                spans = [(round(u["start"] * SR), round(u["end"] * SR)) for u in call.utterances]
                caller = _with_bed(call.caller, spans, s.bed(len(call.caller), call.seed + 1))
                agent = call.agent if name == "clean" else ALL_CONDITIONS[name](call, call.seed)
                result = score_recording(Recording(caller, agent))
                lines += len(call.utterances)
                turns = result["latency_turns"]
                found += len(turns)
                for t in turns:
                    if t["measurable"]:
                        measured += 1
                    else:
                        why = re.sub(r"\d+", "N", t["reason"])[:100]
                        reasons[why] = reasons.get(why, 0) + 1
        print(f"{name}: {lines} lines, {found} turns found, {measured} latencies measured")
        for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"    {n:>4} {why}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--recordings", type=Path, required=True, help="a directory of WAV files")
    ap.add_argument("--side", choices=["agent", "caller"], default="agent")
    ap.add_argument("--conditions", default="clean,opus,mulaw,white 20 dB")
    ap.add_argument("--calls", type=int, default=3, help="calls per speaker (12 turns each)")
    args = ap.parse_args()
    if not args.recordings.is_dir():
        raise SystemExit(f"{args.recordings}: not a directory")
    names = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [n for n in names if n != "clean" and n not in ALL_CONDITIONS]
    if unknown:
        raise SystemExit(f"unknown condition(s): {', '.join(unknown)}")
    sp = speakers(args.recordings)
    if not sp:
        raise SystemExit(f"{args.recordings}: no speaker with two utterances and room tone")
    for s in sp:
        print(f"{s.name}: {len(s.clips)} utterances, {len(s.tone) / SR:.2f} s of room tone")
    _install(sp)
    (agent_side if args.side == "agent" else caller_side)(sp, names, args.calls)


if __name__ == "__main__":
    main()
