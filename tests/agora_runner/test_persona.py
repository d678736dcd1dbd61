"""Personality behaviours, measured on the recorded audio (not on flags)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from agora_runner.audio import SAMPLE_RATE, speech_segments
from agora_runner.noise import make_noise, noise_track, speech_rms
from agora_runner.runner import execute_call
from agora_runner.types import Persona

from .test_call import spec_for

LINES = ["Hi, I would like to book an appointment.", "Tuesday would be great."]


def rms(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def test_noise_is_seeded_and_at_the_asked_level(tts: Any) -> None:
    for kind in ("white", "office", "street", "cafe"):
        a, b = make_noise(kind, 2, seed=5), make_noise(kind, 2, seed=5)
        assert np.array_equal(a, b) and abs(rms(a) - 1.0) < 1e-3
        assert not np.array_equal(a, make_noise(kind, 2, seed=6))
    speech = tts.synthesize("Hello there, how are you today?")
    noise = noise_track("white", 20.0, speech, seed=1)
    assert abs(20 * np.log10(speech_rms(speech) / rms(noise)) - 20.0) < 0.5
    with pytest.raises(ValueError, match="unknown background noise"):
        make_noise("jungle", 1, 0)


def test_speed_changes_the_speaking_rate(demo_stack: Any, tts: Any) -> None:
    out = execute_call(
        replace(spec_for(demo_stack, lines=LINES), persona=Persona(speed=1.4)), tts=tts
    )
    spoken = [u["end"] - u["start"] for u in out.caller_utterances if u["kind"] == "line"]
    normal = [len(tts.synthesize(t)) / SAMPLE_RATE for t in [*LINES, "Thank you, goodbye."]]
    assert len(spoken) == 3
    assert all(fast < 0.85 * slow for fast, slow in zip(spoken, normal, strict=True)), (
        spoken,
        normal,
    )


def test_background_noise_is_in_the_caller_audio_at_the_snr(demo_stack: Any, tts: Any) -> None:
    noisy = execute_call(
        replace(
            spec_for(demo_stack, lines=LINES[:1]),
            persona=Persona(background_noise="office", noise_snr_db=15),
            seed=3,
        ),
        tts=tts,
    )
    assert noisy.caller_utterances, [e.kind for e in noisy.timeline]
    first = int(noisy.caller_utterances[0]["start"] * SAMPLE_RATE)
    noise_level = rms(noisy.recording.caller[: first - 1600])  # before the caller first speaks
    line = tts.synthesize(LINES[0])
    measured_snr = 20 * np.log10(speech_rms(line) / noise_level)
    assert abs(measured_snr - 15) < 1.5, measured_snr


def test_backchannels_land_inside_the_agents_long_turns(demo_stack: Any, tts: Any) -> None:
    out = execute_call(
        replace(spec_for(demo_stack, lines=LINES), persona=Persona(backchannels=True), seed=2),
        tts=tts,
    )
    bcs = [u for u in out.caller_utterances if u["kind"] == "backchannel"]
    assert bcs, [e.kind for e in out.timeline]
    agent_speech = speech_segments(out.recording.agent, merge_gap_ms=300)
    for bc in bcs:
        mid = (bc["start"] + bc["end"]) / 2 * SAMPLE_RATE
        # The backchannel overlaps the agent's speech on the recording.
        assert any(seg.start <= mid <= seg.end for seg in agent_speech), bc
    lines = [u["text"] for u in out.caller_utterances if u["kind"] == "line"]
    assert lines[:2] == LINES  # the conversation itself went on as scripted


def test_barge_in_talks_over_the_agent_and_records_its_reaction(demo_stack: Any, tts: Any) -> None:
    out = execute_call(
        replace(
            spec_for(demo_stack, lines=LINES), persona=Persona(interruption_level="high"), seed=4
        ),
        tts=tts,
    )
    barges = [e for e in out.timeline if e.kind == "barge_in"]
    reactions = [e.data for e in out.timeline if e.kind == "barge_in_reaction"]
    assert barges and len(reactions) == len(barges)
    agent = out.recording.agent
    for e, reaction in zip(barges, reactions, strict=True):
        at = int(e.t * SAMPLE_RATE)
        # On the recording, the agent was mid-turn when the caller started: voiced within
        # the last 800 ms (a pause between its sentences is still its turn).
        assert np.abs(agent[at - 12800 : at].astype(np.int32)).max() > 2000
        # The demo agent yields 400 ms into an interruption (plus detection).
        assert reaction["stopped"] is True and 300 < reaction["stop_ms"] < 1500, reaction
