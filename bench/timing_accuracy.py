"""Accuracy of the timing metrics against ground truth: calls with the demo agent in calibration
mode (it answers a fixed clip exactly D ms after the caller's last voiced frame reaches it).

Two real calls over the local channel: a clean one, and one with latency, jitter and loss on
both uplinks. The caller barges in on answers 400, 900 and 1500 ms after they start. Each
recording is then scored clean; with white noise at 30, 20 and 10 dB SNR; with office (pink),
cafe and street noise at 10 dB; with clicks in its silences; and with clicks under white noise
at 20 and 10 dB and street noise at 10 dB. Each noisy or clicked variant is scored over four
seeds. The error of each measurement is metric − truth (see agora_runner.demo.calibration):
the first (last) non-zero sample, and where the sound was first (last) audible over the
noise, broadband and in some critical band.

    .venv/bin/python bench/timing_accuracy.py [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agora_runner.audio import SAMPLE_RATE  # noqa: E402
from agora_runner.channel.network import NetworkConditions  # noqa: E402
from agora_runner.demo.calibration import (  # noqa: E402
    CALLER_LINES,
    TrimmedTTS,
    audible_start,
    audible_start_in_bands,
    audible_stop,
    audible_stop_in_bands,
    calibration_spec,
    ground_truth,
    noise_rms_at,
    with_clicks,
    with_noise,
)
from agora_runner.demo.stack import ThreadedDemoStack  # noqa: E402
from agora_runner.runner import execute_call  # noqa: E402
from agora_runner.speech import get_asr, get_tts  # noqa: E402
from agora_runner.types import CallRecording  # noqa: E402
from evaluators import CallData  # noqa: E402
from evaluators.conversation import stop_time_after_interruption, user_interrupting_ai  # noqa: E402
from evaluators.latency import turn_latencies  # noqa: E402

DELAYS_MS = (200, 350, 500, 750, 1000, 1500, 2000, 2500)
BARGE_IN_MS = (400, 900, 1500)
NETWORK = NetworkConditions(latency_ms=60, jitter_ms=15, loss=0.02, seed=11)
# (name, SNR in dB or None, noise kind, clicks in the silences)
VARIANTS: list[tuple[str, float | None, str, bool]] = [
    ("clean", None, "white", False),
    ("white 30 dB SNR", 30, "white", False),
    ("white 20 dB SNR", 20, "white", False),
    ("white 10 dB SNR", 10, "white", False),
    ("office 10 dB SNR", 10, "office", False),
    ("cafe 10 dB SNR", 10, "cafe", False),
    ("street 10 dB SNR", 10, "street", False),
    ("clicks in silence", None, "white", True),
    ("clicks, white 20 dB", 20, "white", True),
    ("clicks, white 10 dB", 10, "white", True),
    ("clicks, street 10 dB", 10, "street", True),
]
# Noise seeds each noisy variant is scored with (where an edge falls in the noise matters as
# much as the SNR: one seed can be lucky).
SEEDS = (0, 1, 2, 3)


def record(stack: Any, tts: Any, network: NetworkConditions | None, lines: int) -> tuple[Any, list[dict[str, float]]]:
    spec = calibration_spec(stack, delays_ms=DELAYS_MS, barge_in_ms=BARGE_IN_MS, lines=CALLER_LINES[:lines], network=network)
    before = len(stack.agents)
    outcome = execute_call(spec, tts=TrimmedTTS(tts))
    assert outcome.recording is not None, outcome.error
    agent = stack.agents[before]
    return outcome, agent.calibration


def measure(caller: np.ndarray, agent: np.ndarray, utterances: list[dict[str, Any]], truth: Any, clips: list[str], clean_agent: np.ndarray, noise_rms: float, noise: np.ndarray) -> dict[str, list[float]]:
    """Errors of the metrics on (caller, agent) against the truth; `noise` is the noise added to
    the agent's track, sample for sample, for the truth of what was audible in a band."""
    call = CallData(SAMPLE_RATE, caller, agent, [], utterances, [])
    errors: dict[str, list[float]] = {key: [] for key in (
        "latency", "latency_audible", "latency_heard", "latency_vowel", "latency_fricative", "barge_onset",
        "stop_time", "stop_audible", "stop_heard", "missed", "false_early", "extra")}
    measured = turn_latencies(call)
    for n, t in enumerate(truth.turns):
        true_ms = (t["agent_start"] - t["caller_end"]) * 1000 / SAMPLE_RATE
        near = [m for m in measured if abs(m["caller_end"] * SAMPLE_RATE - t["caller_end"]) < 0.5 * SAMPLE_RATE]
        if not near:
            errors["missed"].append(true_ms)
            continue
        err = near[0]["latency_ms"] - true_ms
        errors["latency"].append(err)
        audible = audible_start(clean_agent, t["agent_start"], noise_rms)
        errors["latency_audible"].append(near[0]["latency_ms"] - (audible - t["caller_end"]) * 1000 / SAMPLE_RATE)
        heard = audible_start_in_bands(clean_agent, noise, t["agent_start"])
        errors["latency_heard"].append(near[0]["latency_ms"] - (heard - t["caller_end"]) * 1000 / SAMPLE_RATE)
        if n < len(clips):
            errors["latency_fricative" if clips[n].startswith("So") else "latency_vowel"].append(err)
        if err < -20:
            errors["false_early"].append(err)
    onsets = user_interrupting_ai(call).extra["times"]
    stops = stop_time_after_interruption(call).extra.get("stop_ms", [])
    true_onsets = [b["onset"] / SAMPLE_RATE for b in truth.barge_ins]
    errors["extra"] = [t for t in onsets if all(abs(t - u) >= 0.3 for u in true_onsets)]
    for b in truth.barge_ins:
        t_on = b["onset"] / SAMPLE_RATE
        hits = [i for i, t in enumerate(onsets) if abs(t - t_on) < 0.3]
        if not hits:
            errors["missed"].append(-1)
            continue
        errors["barge_onset"].append((onsets[hits[0]] - t_on) * 1000)
        if hits[0] < len(stops):
            true_stop = (b["agent_stop"] - b["onset"]) * 1000 / SAMPLE_RATE
            errors["stop_time"].append(stops[hits[0]] - true_stop)
            audible = (audible_stop(clean_agent, b["agent_stop"], noise_rms) - b["onset"]) * 1000 / SAMPLE_RATE
            errors["stop_audible"].append(stops[hits[0]] - audible)
            heard = (audible_stop_in_bands(clean_agent, noise, b["agent_stop"]) - b["onset"]) * 1000 / SAMPLE_RATE
            errors["stop_heard"].append(stops[hits[0]] - heard)
    return errors


def summary(values: list[float]) -> str:
    if not values:
        return "—"
    a = np.asarray(values)
    return f"bias {a.mean():+6.1f}  p95|e| {np.percentile(np.abs(a), 95):5.1f}  max|e| {np.abs(a).max():5.1f}  (n={len(a)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="6 caller lines per call instead of 12")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--save", help="keep the two recordings in this folder (to re-score them with --load)")
    parser.add_argument("--load", help="re-score the recordings kept by --save instead of calling again")
    args = parser.parse_args()
    stack = None
    if not args.load:
        tts = get_tts()
        stack = ThreadedDemoStack(tts, get_asr()).start()
    report: dict[str, Any] = {}
    try:
        for n, (cond, network) in enumerate((("local channel", None), ("latency 60 ms, jitter 15 ms, loss 2 %", NETWORK))):
            started = time.monotonic()
            if args.load:
                kept = np.load(Path(args.load) / f"call{n}.npz", allow_pickle=False)
                rec = CallRecording(SAMPLE_RATE, kept["caller"], kept["agent"])
                utterances, scheduled = json.loads(str(kept["utterances"])), json.loads(str(kept["scheduled"]))
            else:
                assert stack is not None
                outcome, scheduled = record(stack.stack, tts, network, 6 if args.quick else 12)
                rec, utterances = outcome.recording, outcome.caller_utterances
                if args.save:
                    Path(args.save).mkdir(parents=True, exist_ok=True)
                    np.savez(Path(args.save) / f"call{n}.npz", caller=rec.caller, agent=rec.agent,
                             utterances=json.dumps(utterances), scheduled=json.dumps(scheduled))
            truth = ground_truth(rec.caller, rec.agent, utterances)
            # Each answer's truth against the delay the agent was asked to keep (in order).
            path = [(t["agent_start"] - t["caller_end"]) * 1000 / SAMPLE_RATE - s["requested_ms"] for t, s in zip(truth.turns, scheduled, strict=False)]
            print(f"\n== {cond}: {len(truth.turns)} answers, {len(truth.barge_ins)} barge-ins, call {rec.duration_seconds:.0f} s (took {time.monotonic() - started:.0f} s)")
            print(f"   truth − requested D (the path: channel + frame alignment): {summary(path)}")
            report[cond] = {"path_ms": path}
            clips = [str(s.get("clip", "")) for s in scheduled]  # which clip each answer opened with
            for name, snr, kind, clicks in VARIANTS:
                errs: dict[str, list[float]] = {}
                for seed in SEEDS if snr is not None or clicks else SEEDS[:1]:
                    caller, agent = rec.caller, rec.agent
                    if clicks:  # into the silences, then under the noise
                        caller, agent = with_clicks(caller, seed=3 + seed), with_clicks(agent, seed=4 + seed)
                    caller = with_noise(caller, snr, rec.caller, seed=1 + 10 * seed, kind=kind)
                    clicked, agent = agent, with_noise(agent, snr, rec.agent, seed=2 + 10 * seed, kind=kind)
                    added = agent.astype(np.float64) - clicked  # the noise (a click is not what masks speech)
                    for key, values in measure(caller, agent, utterances, truth, clips, rec.agent, noise_rms_at(rec.agent, snr), added).items():
                        errs.setdefault(key, []).extend(values)
                report[cond][name] = errs
                print(f"  {name:18s} latency     {summary(errs['latency'])}")
                print(f"  {'':18s}  vs audible onset {summary(errs['latency_audible'])}")
                print(f"  {'':18s}  vs audible in a band {summary(errs['latency_heard'])}")
                print(f"  {'':18s}  vowel onset {summary(errs['latency_vowel'])}")
                print(f"  {'':18s}  's' onset   {summary(errs['latency_fricative'])}")
                print(f"  {'':18s} barge onset {summary(errs['barge_onset'])}")
                print(f"  {'':18s} stop time   {summary(errs['stop_time'])}")
                print(f"  {'':18s}  vs audible end {summary(errs['stop_audible'])}")
                print(f"  {'':18s}  vs audible end in a band {summary(errs['stop_heard'])}")
                if errs["missed"] or errs["false_early"] or errs["extra"]:
                    print(f"  {'':18s} missed {len(errs['missed'])}, false early onsets {len(errs['false_early'])}, interruptions that were not {len(errs['extra'])}")
    finally:
        if stack is not None:
            stack.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
