"""Latency as a recording without the caller's turns scores it: the caller's lines found on
its own track (`python -m evaluators score --recording CALL.wav` without `--caller-turns`,
`recordings/score/` without `caller_turns`), the way a team's production calls are scored.

The calls are timing_bench.py's (bench/timing_material.py), and both tracks go through the
condition, each with noise of its own: a caller on a noisy line, an agent behind Opus. Against
the authored truth it prints, per condition and part:
- the caller's lines: how many were missed, split in two or more, joined to the next one,
  and how many found turns were no line at all; how far the found end of a line is from its
  authored end (p95 |error| and the worst);
- latency (agent's first sample − the caller's end) as the recording reports it, against the
  true latency: turns not measurable, p95 |error| and the worst;
- interruptions by the agent that it never made ("invented").

    .venv/bin/python bench/found_turns_bench.py [--part tuning|heldout|both] [--calls 2]
        [--conditions clean,opus,...] [--detail] [--json out.json] [--caller-voices]

The caller speaks in Piper's voice, as in timing_bench.py, in both parts (only the agent's
voices and the noise differ between them); `--caller-voices` gives the caller each call's
agent voice instead, so the held-out part's callers are voices nothing was chosen on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing_bench import ALL_CONDITIONS, _conditions, calls_of, fmt, p95  # noqa: E402
from timing_material import VOICES, Call, compose_call, espeak_available, load_part  # noqa: E402

from agora_runner.audio import SAMPLE_RATE  # noqa: E402

OPUS_DELAY = 104  # samples: Opus's look-ahead delays both tracks alike


def caller_through(call: Call, name: str) -> np.ndarray:
    """The caller's track through condition `name`, with a seed of its own (conditions that
    act around speech act around the caller's lines)."""
    if name == "clean":
        return call.caller.copy()
    lines = [
        {
            "onset": round(u["speech_start"] * SAMPLE_RATE),
            "end": round(u["speech_end"] * SAMPLE_RATE),
            "text": u["text"],
            "caller_end": 0,
        }
        for u in call.utterances
    ]
    as_agent = dataclasses.replace(call, agent=call.caller, answers=lines, answer_spans=[])
    return ALL_CONDITIONS[name](as_agent, call.seed + 7919)


def score(call: Call, name: str) -> dict[str, Any]:
    """One call through `name`, scored as a recording without turns, against its truth."""
    from evaluators.score import Recording, score_recording

    agent = ALL_CONDITIONS[name](call, call.seed)
    caller = caller_through(call, name)
    shift = OPUS_DELAY if name.startswith("opus") else 0
    started = time.process_time()
    result = score_recording(Recording(caller, agent))
    cpu = time.process_time() - started
    found = [(t["start_s"], t["end_s"]) for t in result["caller_turns"]["turns"]]
    turns = result["latency_turns"]
    out: dict[str, Any] = {
        "lines": 0,
        "missed": 0,
        "split": 0,
        "joined": 0,
        "extra": 0,
        "end_errors": [],
        "answers": 0,
        "unmeasurable": 0,
        "errors": [],
        "worst": [],
        "invented": 0,
        "cpu_s": cpu,
        "seconds": len(agent) / SAMPLE_RATE,
    }
    truth = call.utterances
    hit: set[int] = set()
    owner = {}  # found turn index → the truth lines it overlaps
    for i, (a, b) in enumerate(found):
        owner[i] = [
            j
            for j, u in enumerate(truth)
            if a < u["speech_end"] + shift / SAMPLE_RATE and b > u["speech_start"]
        ]
    out["extra"] = sum(1 for lines in owner.values() if not lines)
    answers = {round(a["caller_end"]): a for a in call.answers}
    for j, u in enumerate(truth):
        out["lines"] += 1
        mine = [i for i, lines in owner.items() if j in lines]
        label = f"{call.voice.name}#{call.seed} line at {u['speech_start']:.2f}s {u['text']!r}"
        if not mine:
            out["missed"] += 1
            out["worst"].append((float("inf"), f"{label}: missed"))
            continue
        if len(mine) > 1:
            out["split"] += 1
            out["worst"].append((float("inf"), f"{label}: split in {len(mine)}"))
        last = mine[-1]
        if len(owner[last]) > 1 and owner[last][-1] != j:
            out["joined"] += 1
            out["worst"].append((float("inf"), f"{label}: joined to the next line"))
            continue
        hit.add(last)
        end_error = (found[last][1] - u["speech_end"]) * 1000 - shift / 16
        out["end_errors"].append(end_error)
        answer = answers.get(round(u["speech_end"] * SAMPLE_RATE))
        if answer is None:
            continue
        out["answers"] += 1
        turn = turns[last] if last < len(turns) else None
        if turn is None or turn["agent_start_s"] is None or not turn["measurable"]:
            out["unmeasurable"] += 1
            continue
        true_latency = (answer["onset"] - answer["caller_end"]) * 1000 / SAMPLE_RATE
        error = turn["latency_ms"] - true_latency
        out["errors"].append(error)
        out["worst"].append(
            (abs(error), f"{label}: latency {error:+.1f} ms (its end {end_error:+.1f} ms)")
        )
    metrics = {m["name"]: m for m in result["metrics"]}
    ai = metrics.get("AI Interrupting User", {})
    out["invented"] = int(ai.get("score") or 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--part", choices=["tuning", "heldout", "both"], default="both")
    ap.add_argument("--material", type=Path, help="a set of bench/timing_sets/*.json instead")
    ap.add_argument("--calls", type=int, default=2, help="calls per voice (12 lines each)")
    ap.add_argument("--conditions", default="", help="comma-separated; default all")
    ap.add_argument("--extra", action="store_true", help="timing_bench.py's extra conditions")
    ap.add_argument("--detail", action="store_true", help="print the worst lines per condition")
    ap.add_argument(
        "--caller-voices",
        action="store_true",
        help="the caller speaks in each call's agent voice (the part's espeak-ng and Piper "
        "voices), not in Piper's own: callers the rules were not chosen on",
    )
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if not espeak_available():
        raise SystemExit("espeak-ng is missing: apt-get install espeak-ng")
    names = _conditions(args.conditions, args.extra)
    parts = ["tuning", "heldout"] if args.part == "both" else [args.part]
    if args.material:
        parts = [load_part(args.material)]
    print(
        f"{'part':<8} {'condition':<20} {'lines':>5} {'missed':>6} {'split':>5} {'joined':>6} "
        f"{'extra':>5} {'end p95':>7} {'worst':>7} {'answers':>7} {'not meas.':>9} "
        f"{'p95 ms':>7} {'worst':>7} {'invented':>8}"
    )
    report: dict[str, Any] = {}
    for part in parts:
        calls = (
            [
                compose_call(v, part, seed=1000 * k + i, piper_caller=v)
                for i, v in enumerate(VOICES[part])
                for k in range(args.calls)
            ]
            if args.caller_voices
            else calls_of(part, args.calls)
        )
        cpu = seconds = 0.0
        for name in names:
            total: dict[str, Any] = {}
            for call in calls:
                one = score(call, name)
                for k, v in one.items():
                    total[k] = total.get(k, [] if isinstance(v, list) else 0) + v
            cpu += total["cpu_s"]
            seconds += total["seconds"]
            ends, errs = total["end_errors"], total["errors"]

            def worst(values: list[float]) -> str:
                return f"{max(abs(v) for v in values):.1f}" if values else "-"

            print(
                f"{part:<8} {name:<20} {total['lines']:>5} {total['missed']:>6} "
                f"{total['split']:>5} {total['joined']:>6} {total['extra']:>5} "
                f"{fmt(p95(ends)):>7} {worst(ends):>7} {total['answers']:>7} "
                f"{total['unmeasurable']:>9} {fmt(p95(errs)):>7} {worst(errs):>7} "
                f"{total['invented']:>8}"
            )
            if args.detail:
                for _e, what in sorted(total["worst"], reverse=True)[:6]:
                    print(f"         {what}")
            report.setdefault(part, {})[name] = {
                k: v for k, v in total.items() if k not in ("worst", "cpu_s", "seconds")
            }
        print(f"{part:<8} CPU per minute of recording: {cpu / (seconds / 60):.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
