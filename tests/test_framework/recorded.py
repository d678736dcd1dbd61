"""A call recorded once with the real demo agent (bench/record_call.py), replayed through the
pipeline: service and task tests run the whole path after the call (claim, store, transcribe,
score, settle) on a real outcome without holding a real-time call of their own."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agora_runner.types import CallOutcome, CallRecording, CallSpec, TimelineEvent
from common.wav import read_wav

HERE = Path(__file__).parent / "recorded"


def recorded_outcome() -> CallOutcome:
    """The recorded call: the demo agent answers "Hello, when are you open?", the caller says
    goodbye, the agent says goodbye and leaves (Main agent-ended-call, about 18 s)."""
    rate, stereo = read_wav((HERE / "call.wav").read_bytes())
    kept = json.loads((HERE / "call.json").read_text())
    kept["timeline"] = [TimelineEvent(**e) for e in kept["timeline"]]
    recording = CallRecording(rate, stereo[:, 0].copy(), stereo[:, 1].copy())
    return CallOutcome(recording=recording, **kept)


Runner = Callable[..., CallOutcome]


def recorded_runner(
    outcome: CallOutcome | None = None,
    *,
    during: Callable[[CallSpec, threading.Event | None], None] | None = None,
    **changes: Any,
) -> Runner:
    """A runner (test_framework.pipeline.Runner) that joins at once (`on_joining`), calls
    `during(spec, stop)` as if the call were under way, and returns the recorded outcome (with
    `changes`, e.g. ended_reason=...). It keeps the specs it was handed in `.specs`."""
    base = outcome or recorded_outcome()
    specs: list[CallSpec] = []

    def run(
        spec: CallSpec,
        *,
        stop: threading.Event | None,
        on_joining: Callable[[], None],
        time_limit: float,
    ) -> CallOutcome:
        specs.append(spec)
        on_joining()
        if during is not None:
            during(spec, stop)
        return replace(base, **changes)

    run.specs = specs  # type: ignore[attr-defined]
    return run
