"""The timing analysis through its public entry point, on stored recordings whose edges are
known to the sample (tests/evaluators/clips, made by bench/make_timing_clips.py): an espeak-ng
voice the analysis was not tuned on, three answers, two of them interrupted (call.wav), a
stretch of a call under a background of voices (voices.wav) and one in white noise
(noise.wav), and the like (the list is in make_timing_clips.py). The conditions are made from
them here, seeded. Accuracy targets live in bench/timing_bench.py and
bench/found_turns_bench.py; these check behaviour on these calls."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from common.wav import read_wav, stereo_wav
from evaluators import RecordingError, read_recording, score_recording
from evaluators.__main__ import main

CLIPS = Path(__file__).parent / "clips"
BENCH = Path(__file__).resolve().parents[2] / "bench"
SR = 16000


@pytest.fixture(scope="module")
def clip() -> dict[str, Any]:
    rate, stereo = read_wav((CLIPS / "call.wav").read_bytes())
    truth = json.loads((CLIPS / "call.json").read_text())
    assert rate == SR
    return {"caller": stereo[:, 0].copy(), "agent": stereo[:, 1].copy(), **truth}


def excerpt(name: str) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
    """A stored excerpt (clips/NAME.wav, with its truth in NAME.json), scored with its caller
    turns: (truth, its stereo samples, the result)."""
    truth = json.loads((CLIPS / f"{name}.json").read_text())
    wav = (CLIPS / f"{name}.wav").read_bytes()
    _, stereo = read_wav(wav)
    return truth, stereo, score_recording(read_recording(wav), truth["caller_turns"])


def score(clip: dict[str, Any], agent: np.ndarray, turns: Any = "given") -> dict[str, Any]:
    wav = stereo_wav(clip["caller"], agent)
    return score_recording(read_recording(wav), clip["caller_turns"] if turns == "given" else turns)


def latency_errors(clip: dict[str, Any], result: dict[str, Any]) -> list[float | None]:
    """Per answer, measured − true onset (ms); None when declared not measurable."""
    out = []
    for answer, turn in zip(clip["answers"], result["latency_turns"], strict=True):
        assert abs(turn["caller_end_s"] * SR - answer["caller_end"]) <= 1
        assert turn["agent_start_s"] is not None or not turn["measurable"], (
            f"an answer was missed: {turn}"
        )
        out.append(
            None
            if not turn["measurable"]
            else turn["agent_start_s"] * 1000 - answer["onset"] * 1000 / SR
        )
    return out


def under_music(
    clip: dict[str, Any], chords: Callable[[int, int], np.ndarray], seed: int, snr: float
) -> np.ndarray:
    """The agent's track with the bench's music (`seed`) snr dB under its speech."""
    music = chords(len(clip["agent"]), seed)
    scaled = (
        music * speech_rms(clip["agent"]) / float(np.sqrt(np.mean(music**2))) / 10 ** (snr / 20)
    )
    return np.clip(clip["agent"] + scaled, -32768, 32767).astype(np.int16)


def stop_errors(clip: dict[str, Any], result: dict[str, Any]) -> list[float | None]:
    """Per barge-in found, measured − true stop (ms); None when declared not measurable."""
    truth = {a["barge_in"]: a["stop"] for a in clip["answers"] if "stop" in a}
    return [
        (s["stop_s"] * SR - truth[round(s["barge_in_s"] * SR)]) * 1000 / SR
        if s["measurable"]
        else None
        for s in result["stops"]
    ]


def speech_rms(track: np.ndarray) -> float:
    x = track.astype(np.float64)
    n = len(x) // 160
    frames = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
    loud = frames[frames >= frames.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(loud**2)))


def test_onsets_and_stops_on_a_clean_call_are_exact(clip: dict[str, Any]) -> None:
    result = score(clip, clip["agent"])
    errors = latency_errors(clip, result)
    assert all(e is not None and abs(e) <= 2.0 for e in errors), errors
    truth_stops = [a for a in clip["answers"] if "stop" in a]
    assert [round(s["barge_in_s"] * SR) for s in result["stops"]] == [
        a["barge_in"] for a in truth_stops
    ]
    assert all(
        abs(s["stop_s"] * SR - a["stop"]) <= 5 * SR / 1000
        for s, a in zip(result["stops"], truth_stops, strict=True)
    ), result["stops"]
    metrics = {m["name"]: m for m in result["metrics"]}
    assert (
        metrics["AI Interrupting User"]["score"] == 0.0
        and metrics["User Interrupting AI"]["score"] == 2.0
    )
    assert metrics["Latency"]["extra"]["unmeasurable_turns"] == 0
    latencies = sorted(t["latency_ms"] for t in result["latency_turns"])
    assert metrics["Latency"]["score"] == pytest.approx(latencies[1], abs=0.1)


def test_dc_offset_and_mains_hum_change_nothing(clip: dict[str, Any]) -> None:
    t = np.arange(len(clip["agent"])) / SR
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 3, 5, 7))
    hum *= speech_rms(clip["agent"]) * 10 ** (-40 / 20) / np.sqrt(np.mean(hum**2))
    agent = np.clip(clip["agent"] + 700 + hum, -32768, 32767).astype(np.int16)
    errors = latency_errors(clip, score(clip, agent))
    assert all(e is not None and abs(e) <= 2.0 for e in errors), errors


def slow_answer_under(f0: float) -> float:
    """A caller's line, then an answer of noise rising 60 dB in 30 ms (as slowly as Piper's
    onsets), over mains hum at f0 (none if 0) 40 dB under the answer: the measured onset (s)."""
    rng = np.random.default_rng(5)
    n = 4 * SR
    caller = np.zeros(n, dtype=np.int16)
    caller[SR // 2 : SR * 3 // 2] = (rng.standard_normal(SR) * 3000).astype(np.int16)
    t = np.arange(SR // 2) / SR
    agent = np.zeros(n)
    agent[2 * SR : 2 * SR + len(t)] = (
        rng.standard_normal(len(t)) * np.minimum(10 ** ((t / 0.03 - 1) * 3), 1.0) * 6000
    )
    if f0:
        tt = np.arange(n) / SR
        hum = sum(np.sin(2 * np.pi * f0 * k * tt + k) / k for k in (1, 3, 5, 7))
        agent += hum * 6000 * 10 ** (-40 / 20) / np.sqrt(np.mean(hum**2))
    wav = stereo_wav(caller, np.clip(agent, -32768, 32767).astype(np.int16))
    (turn,) = score_recording(read_recording(wav), [{"start_s": 0.5, "end_s": 1.5}])[
        "latency_turns"
    ]
    assert turn["measurable"], turn
    return float(turn["agent_start_s"])


def test_a_mains_hums_lines_are_notched_so_a_slow_onset_is_placed_as_without_it() -> None:
    """The high-pass leaves a hum's harmonics from 150 Hz up; their lines, found in the
    background, are notched, so an onset rising slowly out of them is placed where it is on
    silence (it was 2-3 ms later)."""
    without = slow_answer_under(0)
    for f0 in (50.0, 60.0):
        assert abs(slow_answer_under(f0) - without) * 1000 <= 0.5, f0


def test_hum_lines_are_found_only_where_there_is_hum() -> None:
    from evaluators.timing import PARAMS
    from evaluators.timing.background import measure_background
    from evaluators.timing.signal import hum_lines

    rng = np.random.default_rng(2)
    t = np.arange(SR) / SR
    hum = sum(np.sin(2 * np.pi * 60 * k * t + k) / k for k in (1, 3, 5, 7)) * 30
    lines = hum_lines(hum + rng.standard_normal(SR), PARAMS)
    assert {180.0, 300.0, 420.0} <= set(lines) and not {120.0, 150.0, 250.0} & set(lines)
    assert hum_lines(rng.standard_normal(SR) * 300, PARAMS) == ()
    # A codec's ripple at its 50 Hz frame rate, close to digital silence, is no hum.
    ripple = np.tile(rng.standard_normal(320) * 0.3, 50)
    background = measure_background(np.round(ripple).astype(np.int16), 0, SR, PARAMS)
    assert background is not None and background.hum == ()


def test_a_background_shorter_than_10_ms_has_a_level() -> None:
    # The stretch before a line can be as short as one 8 ms frame of the bands, joined by the
    # previous answer's: its level is that of the stretch, not the median of no 10 ms frames
    # (NaN, and a warning).
    import warnings

    from evaluators.timing import PARAMS
    from evaluators.timing.background import measure_background

    x = np.round(np.random.default_rng(4).standard_normal(2 * SR) * 100).astype(np.int16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        background = measure_background(x, 1000, 1140, PARAMS, also=(SR, 2 * SR))
    assert background is not None and np.isfinite(background.level_dbfs), background
    assert abs(background.level_dbfs - 20 * np.log10(100 / 32768)) < 2


def test_through_opus_with_lost_packets_the_onsets_hold(clip: dict[str, Any]) -> None:
    from agora_runner.channel.codec import OpusLink

    link = OpusLink(bitrate=24000)
    rng = np.random.default_rng(3)
    x = np.concatenate([clip["agent"], np.zeros((-len(clip["agent"])) % 320, dtype=np.int16)])
    agent = np.concatenate(
        [link.carry(x[i : i + 320], lost=bool(rng.random() < 0.05)) for i in range(0, len(x), 320)]
    )[: len(clip["agent"])]
    errors = latency_errors(clip, score(clip, agent))
    # Opus delays everything by its look-ahead.
    assert all(e is not None and abs(e - link.delay * 1000 / SR) <= 10.0 for e in errors), errors


def test_in_white_noise_a_turn_is_measured_closely_or_said_to_be_unmeasurable(
    clip: dict[str, Any],
) -> None:
    rng = np.random.default_rng(7)
    for snr in (20, 10):
        noise = (
            rng.standard_normal(len(clip["agent"])) * speech_rms(clip["agent"]) / 10 ** (snr / 20)
        )
        agent = np.clip(clip["agent"] + noise, -32768, 32767).astype(np.int16)
        result = score(clip, agent)
        for error, turn in zip(latency_errors(clip, result), result["latency_turns"], strict=True):
            if error is None:
                assert turn["latency_ms"] is None and turn["reason"], turn
            else:
                assert abs(error) <= 25.0, (snr, error)
        metrics = {m["name"]: m for m in result["metrics"]}
        assert metrics["AI Interrupting User"]["score"] == 0.0


@pytest.fixture(scope="module")
def chords() -> Iterator[Callable[[int, int], np.ndarray]]:
    """The bench's music (bench/timing_material.py), so the test and the bench hear the same."""
    sys.path.insert(0, str(BENCH))
    try:
        from timing_material import chords

        yield chords
    finally:
        sys.path.remove(str(BENCH))


def assert_nothing_invented_under(
    clip: dict[str, Any], background: np.ndarray, level: float, snrs: tuple[int, ...]
) -> None:
    """With `background` (whose speech-like level is `level`) under the agent's track, snr dB
    under its speech for each of `snrs`: no interruption is invented, and every turn is
    measured within 50 ms or declared not measurable."""
    for snr in snrs:
        scaled = background * speech_rms(clip["agent"]) / level / 10 ** (snr / 20)
        agent = np.clip(clip["agent"] + scaled, -32768, 32767).astype(np.int16)
        result = score(clip, agent)
        metrics = {m["name"]: m for m in result["metrics"]}
        assert metrics["AI Interrupting User"]["score"] == 0.0, snr
        for error in latency_errors(clip, result):
            assert error is None or abs(error) <= 50.0, (snr, error)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_background_of_music_invents_no_interruption_and_no_wrong_latency(
    clip: dict[str, Any], chords: Callable[[int, int], np.ndarray], seed: int
) -> None:
    """Music 30 dB under the speech was judged a steady background (its level holds from
    chord to chord), and a new chord, standing over the ceilings of the bands its notes moved
    into, passed for the agent breaking in on the caller. What stands barely over the
    background's level in all bands together is more of the background."""
    music = chords(len(clip["agent"]), seed)
    assert_nothing_invented_under(clip, music, float(np.sqrt(np.mean(music**2))), (30, 20))


def test_chords_after_the_agent_stopped_are_not_taken_for_more_of_its_speech(
    clip: dict[str, Any], chords: Callable[[int, int], np.ndarray]
) -> None:
    """Music 30 dB under the speech: chords struck after the agent stopped, standing over the
    background's ceilings in the bands their notes moved into, were joined to its speech while
    the caller still spoke, and its stop was placed 1.5 s late. What barely stands over the
    background's level in all bands together is the background's, at a stop as at an onset;
    such a sound within a pause after the agent's last word leaves the stop in doubt."""
    result = score(clip, under_music(clip, chords, seed=3, snr=30))
    errors = stop_errors(clip, result)
    assert len(errors) == 2 and all(e is None or abs(e) <= 50.0 for e in errors), result["stops"]
    assert all(s["measurable"] or "within a pause" in s["reason"] for s in result["stops"])


def test_a_stop_joined_to_the_next_answer_only_across_music_is_not_measured(
    clip: dict[str, Any], chords: Callable[[int, int], np.ndarray]
) -> None:
    """Music 30 dB under the speech: the agent stopped just after the caller's short line
    ended and answered again 184 ms later. The chords between, standing over the
    background's ceilings, bridged that pause, the answer was taken for more of the
    interrupted turn, and the stop was placed at the answer's end, 975 ms late. Sure speech
    silent for longer than a closure as the caller stopped, joined again only by faint sound,
    leaves the stop in doubt."""
    result = score(clip, under_music(clip, chords, seed=2, snr=30))
    errors = stop_errors(clip, result)
    assert len(errors) == 2 and all(e is None or abs(e) <= 50.0 for e in errors), result["stops"]
    assert "fell silent as the caller stopped" in result["stops"][1]["reason"], result["stops"]


def test_music_judged_steady_is_not_taken_for_the_answer() -> None:
    """clips/music_steady.wav: music 30 dB under the speech whose overall level holds from
    chord to chord, so that it was judged steady noise, and the answer was placed at a chord,
    297 ms early. A background whose level swings in some band at the pace of syllables (a
    chord's notes moving between bands) moves like voices or music, however steady its
    overall level."""
    truth, _, result = excerpt("music_steady")
    turn = result["latency_turns"][-1]
    onset = truth["answers"][0]["onset"]
    assert not turn["measurable"] or abs(turn["agent_start_s"] * SR - onset) <= 0.05 * SR, turn


def test_a_background_of_voices_invents_no_interruption_and_no_wrong_latency(
    clip: dict[str, Any],
) -> None:
    # The caller's own voice, shifted, talking under the agent: a background of speech.
    voices = np.roll(clip["caller"].astype(np.float64), SR // 3) + np.roll(
        clip["caller"].astype(np.float64)[::-1], SR
    )
    assert_nothing_invented_under(clip, voices, speech_rms(voices.astype(np.int16)), (30, 10))


def still_speaking(clip: dict[str, Any], tail_ms: int, dip_ms: int) -> tuple[np.ndarray, Any]:
    """The second answer (interrupted) made to run tail_ms past the caller's next line, after
    a dip of dip_ms to silence (a consonant's closure): the agent and the caller's turns."""
    stop = clip["answers"][1]["stop"]
    agent = clip["agent"].copy()
    agent[stop - (tail_ms + dip_ms) * SR // 1000 : stop - tail_ms * SR // 1000] = 0
    turns = [dict(t) for t in clip["caller_turns"]]
    turns[2]["end_s"] = (stop - (tail_ms - 10) * SR // 1000) / SR
    return agent, turns


@pytest.mark.parametrize(("tail_ms", "dip_ms"), [(40, 45), (30, 100)])
def test_the_agent_still_speaking_as_the_caller_stops_is_not_its_answer(
    clip: dict[str, Any], tail_ms: int, dip_ms: int
) -> None:
    """The agent's interrupted answer goes on a few tens of ms past the caller's short line,
    after a closure: that is not the answer to the line (once placed there, 200 ms early).
    The answer is what follows the agent's falling silent, and the stop is the tail's end."""
    agent, turns = still_speaking(clip, tail_ms, dip_ms)
    result = score_recording(read_recording(stereo_wav(clip["caller"], agent)), turns)
    answer = clip["answers"][2]
    turn = result["latency_turns"][2]
    assert turn["measurable"] and abs(turn["agent_start_s"] * SR - answer["onset"]) <= 2, turn
    stop = result["stops"][-1]
    assert abs(stop["stop_s"] * SR - clip["answers"][1]["stop"]) <= 5 * SR / 1000, stop


def test_in_noise_sound_running_back_into_the_callers_line_is_not_an_answers_start(
    clip: dict[str, Any],
) -> None:
    """The same in pink noise 10 dB under the speech, where the tail is too faint to be sure
    of: the answer is placed at its own start or declared not measurable, never at the
    caller's end."""
    agent, turns = still_speaking(clip, 40, 45)
    rng = np.random.default_rng(11)
    spectrum = np.fft.rfft(rng.standard_normal(len(agent)))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, len(agent))
    pink *= speech_rms(clip["agent"]) / 10 ** (10 / 20) / np.sqrt(np.mean(pink**2))
    noisy = np.clip(agent + pink, -32768, 32767).astype(np.int16)
    result = score_recording(read_recording(stereo_wav(clip["caller"], noisy)), turns)
    turn = result["latency_turns"][2]
    assert turn["agent_start_s"] is not None, turn
    if turn["measurable"]:
        assert abs(turn["agent_start_s"] * SR - clip["answers"][2]["onset"]) <= 0.05 * SR, turn


def test_a_pause_is_measured_from_the_sound_not_from_the_sure_speech(
    clip: dict[str, Any],
) -> None:
    """The first answer pauses 400 ms, its sound before the pause fading 40 dB for 150 ms
    (not sure speech), and goes on 60 ms before the caller breaks in. Counted between sure
    speech, the pause was over 0.5 s: the answer was taken to end before it, the barge-in was
    missed and the rest of the answer passed for background (the next answers 0.5-1.1 s late).
    Counted from the sound, it is one answer, interrupted."""
    first = clip["answers"][0]
    agent = clip["agent"].astype(np.float64)
    resume = first["barge_in"] - 60 * SR // 1000
    agent[resume - 400 * SR // 1000 : resume] = 0
    agent[resume - 550 * SR // 1000 : resume - 400 * SR // 1000] *= 10 ** (-40 / 20)
    result = score(clip, agent.astype(np.int16))
    assert abs(result["stops"][0]["stop_s"] * SR - first["stop"]) <= 5 * SR / 1000, result["stops"]
    errors = latency_errors(clip, result)
    assert all(e is not None and abs(e) <= 2.0 for e in errors), errors


@pytest.mark.parametrize("fragment_ms", [12, 20])
def test_a_word_cut_just_after_a_pause_ends_the_turn(
    clip: dict[str, Any], fragment_ms: int
) -> None:
    """The first answer is cut fragment_ms into a word that follows a 200 ms pause, the word
    rising from 40 to 15 dB under the answer's loudest (a glide, as in "works"): too short and
    too weak to be sure speech. It was passed over (the stop placed before the pause, 225 ms
    early, and the word left in the next answer's background, that answer 60 ms late); it is
    the agent's last sound."""
    first = clip["answers"][0]
    agent = clip["agent"].astype(np.float64)
    n = fragment_ms * SR // 1000
    agent[first["stop"] - 200 * SR // 1000 - n : first["stop"] - n] = 0
    word = agent[first["stop"] - n + 1 : first["stop"] + 1]
    word *= 10 ** (np.linspace(-40, -15, n) / 20) * np.abs(agent).max() / np.abs(word).max()
    result = score(clip, agent.astype(np.int16))
    assert abs(result["stops"][0]["stop_s"] * SR - first["stop"]) <= 5 * SR / 1000, result["stops"]
    errors = latency_errors(clip, result)
    assert all(e is not None and abs(e) <= 2.0 for e in errors), errors


def test_over_voices_a_burst_of_them_before_the_answer_is_not_its_start() -> None:
    """clips/voices.wav: five voices 30 dB under the agent, and between the caller's line and
    the answer a burst of them that passes for sure speech (the analysis once placed the answer
    there, 435 ms early). It stands only a few dB over the loudest the voices got before, so it
    is passed over: the answer is measured at its own start."""
    truth, _, result = excerpt("voices")
    (turn,) = result["latency_turns"]
    assert turn["measurable"], turn
    assert abs(turn["agent_start_s"] * SR - truth["answers"][0]["onset"]) <= 0.01 * SR, turn
    metrics = {m["name"]: m for m in result["metrics"]}
    assert metrics["AI Interrupting User"]["score"] == 0.0


def test_an_answer_too_faint_to_place_in_noise_is_not_said_to_be_missing() -> None:
    """clips/noise.wav: white noise 10 dB under the speech, the agent's previous answer still
    running into the caller's line, then an answer no band makes sure of. Sound stood over the
    noise where the answer was: the turn is not measurable, never "the agent did not answer"
    (once reported so), and the same stretch without the answer is a turn left unanswered."""
    truth, stereo, result = excerpt("noise")
    (turn,) = result["latency_turns"]
    assert turn["measurable"] is False and "did not answer" not in turn["reason"], turn
    # Without the answer (the noise goes on as it was between the caller's end and the
    # answer), nothing stands out: the agent did not answer.
    agent = stereo[:, 1].copy()
    answer = truth["answers"][0]
    gap = agent[answer["caller_end"] + SR // 20 : answer["onset"]]
    agent[answer["onset"] :] = np.resize(gap, len(agent) - answer["onset"])
    result = score_recording(read_recording(stereo_wav(stereo[:, 0], agent)), truth["caller_turns"])
    (turn,) = result["latency_turns"]
    assert turn["measurable"] is True and turn["reason"] == "the agent did not answer", turn


def test_without_turns_the_callers_lines_are_found_on_its_track(clip: dict[str, Any]) -> None:
    result = score(clip, clip["agent"], turns=None)
    found = result["caller_turns"]["turns"]
    assert result["caller_turns"]["source"] == "found on the caller's track" and len(found) == len(
        clip["caller_turns"]
    )
    for got, want in zip(found, clip["caller_turns"], strict=True):
        assert (
            abs(got["start_s"] - want["start_s"]) <= 0.03
            and abs(got["end_s"] - want["end_s"]) <= 0.03
        ), (got, want)


def test_without_turns_a_lines_end_is_placed_as_its_authored_one(clip: dict[str, Any]) -> None:
    # The authored end is the last sample within 60 dB of the line's peak; a found line's end
    # follows that rule on the samples, so latencies read alike with turns and without.
    result = score(clip, clip["agent"], turns=None)
    found = result["caller_turns"]["turns"]
    for got, want in zip(found, clip["caller_turns"], strict=True):
        assert abs(got["end_s"] - want["end_s"]) <= 0.002, (got, want)
    errors = [
        turn["latency_ms"] - (answer["onset"] - answer["caller_end"]) * 1000 / SR
        for turn, answer in zip(result["latency_turns"], clip["answers"], strict=True)
    ]
    assert all(abs(e) <= 5.0 for e in errors), errors


def test_without_turns_a_dc_offset_does_not_pick_the_background(clip: dict[str, Any]) -> None:
    # A caller's track with a DC offset, and in one pause a hiss 72 dBFS down that pulls it
    # back a little: its plain RMS is under the offset's own, but it is no quieter than the
    # offset. Taken for the background, the hiss would raise the floor the lines' ends are
    # followed to (the caller at half the stored level, so that it reaches over the authored
    # rule's, 60 dB under the line's loudest). Judged less each frame's mean, the quietest
    # half second is the offset alone, and the ends are where they are without the hiss.
    caller = clip["caller"].astype(np.float64) * 0.5 + 800
    rng = np.random.default_rng(7)
    lo, hi = round(2.2 * SR), round(3.0 * SR)
    with_hiss = caller.copy()
    with_hiss[lo:hi] += -40 + 8 * rng.standard_normal(hi - lo)
    ends = []
    for track in (caller, with_hiss):
        wav = stereo_wav(np.round(track).astype(np.int16), clip["agent"])
        found = score_recording(read_recording(wav))["caller_turns"]["turns"]
        assert len(found) == len(clip["caller_turns"]), found
        ends.append([t["end_s"] for t in found])
    assert np.allclose(ends[0], ends[1], atol=0.001), ends


def test_without_turns_a_line_ends_where_it_does_under_hum() -> None:
    # clips/caller_hum.wav: a caller's line under mains hum. The hum's narrow notches, started
    # in the middle of the hum, rang on past the line's end, found 147 ms late; started
    # further out, they have died down by then.
    truth = json.loads((CLIPS / "caller_hum.json").read_text())
    result = score_recording(read_recording((CLIPS / "caller_hum.wav").read_bytes()))
    (found,) = result["caller_turns"]["turns"]
    (want,) = truth["caller_turns"]
    assert abs(found["end_s"] - want["end_s"]) <= 0.005, (found, want)


def _line(clip: dict[str, Any], i: int) -> np.ndarray:
    turn = clip["caller_turns"][i]
    return clip["caller"][round(turn["start_s"] * SR) : round(turn["end_s"] * SR)]


def test_without_turns_a_barge_in_soon_after_the_answer_is_a_line_of_its_own(
    clip: dict[str, Any],
) -> None:
    # The caller stops, the agent answers 250 ms later, and the caller breaks in 350 ms into
    # the answer: a pause of 0.6 s on the caller's track, shorter than a pause within a line,
    # but the agent took the turn in it.
    first, second = _line(clip, 0), _line(clip, 1)
    answer = clip["agent"][clip["answers"][0]["onset"] : clip["answers"][0]["end"]]
    n = SR // 2 + len(first) + int(0.6 * SR) + len(second) + SR
    caller, agent = np.zeros(n, np.int16), np.zeros(n, np.int16)
    end = SR // 2 + len(first)
    caller[SR // 2 : end] = first
    caller[end + int(0.6 * SR) : end + int(0.6 * SR) + len(second)] = second
    take = min(len(answer), n - end - SR // 4)
    agent[end + SR // 4 : end + SR // 4 + take] = answer[:take]
    result = score_recording(read_recording(stereo_wav(caller, agent)))
    found = result["caller_turns"]["turns"]
    assert len(found) == 2, found
    assert abs(found[0]["end_s"] - end / SR) <= 0.002, found
    first_turn = result["latency_turns"][0]
    assert first_turn["measurable"] and abs(first_turn["latency_ms"] - 250) <= 5, first_turn


def test_without_turns_voices_behind_the_caller_make_no_lines(clip: dict[str, Any]) -> None:
    # The stored stretch of voices (voices.wav, before its answer), 30 dB under the caller.
    truth, stereo, _ = excerpt("voices")
    voices = stereo[: truth["answers"][0]["onset"] - SR // 10, 1].astype(np.float64)
    voices = np.resize(voices, len(clip["caller"]))
    voices *= speech_rms(clip["caller"]) / speech_rms(voices) / 10 ** (30 / 20)
    caller = np.clip(clip["caller"] + voices, -32768, 32767).astype(np.int16)
    result = score_recording(read_recording(stereo_wav(caller, clip["agent"])))
    assert len(result["caller_turns"]["turns"]) == len(clip["caller_turns"]), result["caller_turns"]
    for turn, answer in zip(result["latency_turns"], clip["answers"], strict=True):
        if turn["measurable"]:
            true_ms = (answer["onset"] - answer["caller_end"]) * 1000 / SR
            assert abs(turn["latency_ms"] - true_ms) <= 50, (turn, true_ms)
        else:
            # said of the caller, whose end it is
            assert turn["reason"].startswith("the caller's end"), turn
            assert "agent" not in turn["reason"], turn
    ai = next(m for m in result["metrics"] if m["name"] == "AI Interrupting User")
    assert not ai["score"], ai


def test_without_turns_a_line_ending_in_noise_is_not_measured(clip: dict[str, Any]) -> None:
    # White noise 20 dB under the caller: the last of a line's fall (its end lies where it
    # sinks 60 dB under its loudest) is under the noise, and the end found where the line
    # sinks into it is early, by 20-50 ms here; the latency is not measurable and says why,
    # while the agent's start is still given.
    rng = np.random.default_rng(19)
    noise = rng.standard_normal(len(clip["caller"])) * speech_rms(clip["caller"]) / 10
    caller = np.clip(clip["caller"] + noise, -32768, 32767).astype(np.int16)
    result = score_recording(read_recording(stereo_wav(caller, clip["agent"])))
    turns = result["latency_turns"]
    assert len(turns) == len(clip["answers"])
    for turn in turns:
        assert turn["agent_start_s"] is not None and not turn["measurable"], turn
        assert turn["latency_ms"] is None and "where it ends cannot be told" in turn["reason"]


def test_the_command_line_prints_the_apis_shape(
    clip: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    turns = tmp_path / "turns.json"
    turns.write_text(json.dumps(clip["caller_turns"]))
    assert (
        main(
            [
                "score",
                "--recording",
                str(CLIPS / "call.wav"),
                "--caller-turns",
                str(turns),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert len(out["metrics"]) == 16 and {"id", "name", "eval_type", "explanation", "extra"} <= set(
        out["metrics"][1]
    )
    assert set(out["latency_turns"][0]) == {
        "caller_end_s",
        "agent_start_s",
        "latency_ms",
        "measurable",
        "reason",
    }
    assert main(["score", "--recording", str(CLIPS / "call.wav")]) == 0
    assert "Latency" in capsys.readouterr().out


def test_what_cannot_be_scored_says_why(clip: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    import io
    import wave

    mono = io.BytesIO()
    with wave.open(mono, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SR), w.writeframes(b"\0\0" * SR)
    with pytest.raises(RecordingError, match="must be stereo"):
        read_recording(mono.getvalue())
    with pytest.raises(RecordingError, match="not an audio file that can be read"):
        read_recording(b"RIFF nonsense")
    low = io.BytesIO()
    with wave.open(low, "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(4000), w.writeframes(b"\0" * 400)
    with pytest.raises(RecordingError, match="sampled at 4000 Hz; from 8000 to 192000 Hz"):
        read_recording(low.getvalue())
    with pytest.raises(RecordingError, match="caller turn 0 .* must lie within the recording"):
        score(clip, clip["agent"], turns=[{"start_s": 5, "end_s": 99}])
    with pytest.raises(RecordingError, match="caller turn 1 must be an object"):
        score(clip, clip["agent"], turns=[{"start_s": 0.5, "end_s": 1.0}, {"start_s": "x"}])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")
    assert main(["score", "--recording", str(bad)]) == 2
    assert "not an audio file that can be read" in capsys.readouterr().err


def test_a_recording_at_another_rate_or_in_another_format_scores_the_same(
    clip: dict[str, Any],
) -> None:
    """Production recordings come at 8, 44.1 or 48 kHz, in WAV of any depth or FLAC: each is
    resampled to 16 kHz, both tracks alike, and its edges stay where they were."""
    import io

    import soundfile
    import soxr

    def edges(result: dict[str, Any]) -> list[float | None]:
        return [t["agent_start_s"] for t in result["latency_turns"]] + [
            s["stop_s"] for s in result["stops"]
        ]

    stereo = np.stack([clip["caller"], clip["agent"]], axis=1).astype(np.float32) / 32768
    at_16k = edges(score(clip, clip["agent"]))
    assert len(at_16k) == 5 and None not in at_16k
    for rate, kind, depth, within_ms in (
        (48000, "WAV", "PCM_24", 0.0),
        (44100, "FLAC", "PCM_16", 0.0),
        (8000, "WAV", "PCM_16", 5.0),  # a telephone's band: the edges' highest sounds are gone
    ):
        data = io.BytesIO()
        soundfile.write(data, soxr.resample(stereo, SR, rate), rate, format=kind, subtype=depth)
        result = score_recording(read_recording(data.getvalue()), clip["caller_turns"])
        assert result["duration_s"] == pytest.approx(len(clip["agent"]) / SR, abs=0.001)
        found = edges(result)
        assert None not in found, (rate, found)
        assert np.abs(np.subtract(found, at_16k)).max() * 1000 <= within_ms + 0.1, (rate, found)


def test_an_answer_whose_first_word_is_lost_in_noise_is_not_placed_at_its_next() -> None:
    """clips/faint.wav: pink noise 10 dB under the speech, and an answer ("Thanks, I have your
    address now.", in a breathy voice) whose first word stands over the noise but never as
    sure speech. It was placed at "I have", 487 ms late; it is declared not measurable. Without
    that word (the noise goes on in its place), the answer starts where "I have" does, and is
    measured there."""
    truth, stereo, result = excerpt("faint")
    (turn,) = result["latency_turns"]
    onset = truth["answers"][0]["onset"]
    assert turn["agent_start_s"] is not None, turn
    assert not turn["measurable"] or abs(turn["agent_start_s"] * SR - onset) <= SR // 20, turn
    assert "too faint" in turn["reason"], turn
    # The word gone: the noise from before the caller's line (the clip's first half second) in
    # its place.
    agent = stereo[:, 1].copy()
    word = int(0.47 * SR)
    agent[onset : onset + word] = agent[:word]
    result = score_recording(read_recording(stereo_wav(stereo[:, 0], agent)), truth["caller_turns"])
    (turn,) = result["latency_turns"]
    assert turn["measurable"] is True, turn
    assert onset + word <= turn["agent_start_s"] * SR <= onset + word + SR // 10, turn


def test_over_voices_far_under_a_weak_start_found_without_a_dip_is_measured() -> None:
    """clips/voices_weak.wav: five voices 30 dB under the agent, and an answer ("Fine, we can
    do Tuesday at ten.") whose "F" stands barely over them. Walking back from its sure speech
    finds the same start whether dips are crossed or not: it is placed within the 25 ms the
    two walks may differ by (it was declared not measurable, being weak), the 50 ms asked of
    a background of voices 30 dB down."""
    truth, _, result = excerpt("voices_weak")
    (turn,) = result["latency_turns"]
    onset = truth["answers"][0]["onset"]
    assert turn["measurable"], turn
    assert abs(turn["agent_start_s"] * SR - onset) <= 25 * SR / 1000, turn


def test_over_voices_a_start_in_doubt_across_a_dip_is_not_measured() -> None:
    """clips/voices_burst.wav: five voices 30 dB under the agent; a syllable of theirs, over
    their usual loudest, lies across a short dip before the answer's faint "S" ("So sorry
    about the delay."). Walking back across the dip took it for the answer's start, 69 ms
    early; crossing no dip ends at the answer. The two disagree: the turn is not measurable,
    and says by how much its start is in doubt."""
    truth, _, result = excerpt("voices_burst")
    (turn,) = result["latency_turns"]
    onset = truth["answers"][0]["onset"]
    assert turn["agent_start_s"] is not None, turn
    assert not turn["measurable"] or abs(turn["agent_start_s"] * SR - onset) <= SR // 20, turn
    assert "in doubt by" in turn["reason"], turn


def test_a_faint_last_sound_of_the_agents_own_speech_is_not_taken_for_the_noise() -> None:
    """clips/brown_tail.wav: brown noise 10 dB under the speech; the agent's previous answer,
    broken in on, ends just after the caller's line with a last sound that stands over the
    noise in a band but barely over its level in all of them together. Passed over as a burst
    of the noise, it was left to the answer's edge search, and the answer was placed at it,
    264 ms early. Following the agent's own speech within a closure, it is the agent's: the
    answer is what follows the agent falling silent, and is measured at its start."""
    truth, _, result = excerpt("brown_tail")
    turn = result["latency_turns"][-1]
    onset = truth["answers"][0]["onset"]
    assert turn["measurable"] and abs(turn["agent_start_s"] * SR - onset) <= 0.025 * SR, turn


def test_under_music_an_edge_found_back_across_a_chord_is_not_measured() -> None:
    """clips/music.wav: music 30 dB under the speech (judged to move like voices or music), a
    chord of which sounds on into the answer. Its notes stand over the background's ceilings
    in their bands, and the edge was found back across the chord, 217 ms before the answer.
    Over voices or music, an edge found more than 100 ms before the answer's first sure
    speech, across sound mostly no louder than the background got, is declared not
    measurable."""
    truth, _, result = excerpt("music")
    turn = result["latency_turns"][-1]
    onset = truth["answers"][0]["onset"]
    assert not turn["measurable"] or abs(turn["agent_start_s"] * SR - onset) <= 0.05 * SR, turn
    assert "runs back" in turn["reason"], turn


def test_a_stop_in_a_rooms_echo_is_not_measured(clip: dict[str, Any]) -> None:
    """The agent's track in the bench's room (a tail of decaying noise, reverberation time
    0.3 s, 6 dB under the direct sound). After the cut the echo dies away evenly for a quarter
    of a second; the stop was placed at its end, 270 ms late. Now it is declared, with the
    reason; the answers' onsets stay where they were. (The second stop, 184 ms before the next
    answer, is still joined to it by the echo: docs/metrics.md.)"""
    sys.path.insert(0, str(BENCH))
    try:
        from timing_material import in_a_room
    finally:
        sys.path.remove(str(BENCH))
    result = score(clip, in_a_room(clip["agent"], 0))
    first = result["stops"][0]
    assert not first["measurable"] and "as a room's echo does" in first["reason"], first
    assert [e is not None and abs(e) <= 2.0 for e in latency_errors(clip, result)][:2] == [
        True,
        True,
    ]


def test_without_turns_the_agents_track_is_analysed_once(
    clip: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding the caller's lines looks at the agent's track (where it took the turn), and the
    # timing looks at it again: its band powers are worked out once, for both. Counted on the
    # real band_db, which still runs: no stretch of samples is analysed twice.
    import hashlib

    from evaluators.timing import signal

    real, seen = signal.band_db, []

    def counted(x: np.ndarray, p: Any = signal.PARAMS) -> np.ndarray:
        seen.append(hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest())
        return real(x, p)

    monkeypatch.setattr(signal, "band_db", counted)
    result = score(clip, clip["agent"], turns=None)
    assert len(result["latency_turns"]) == len(clip["caller_turns"])
    assert seen and len(seen) == len(set(seen)), f"{len(seen) - len(set(seen))} analysed twice"


def test_without_turns_music_behind_the_caller_invents_no_interruption(
    clip: dict[str, Any], chords: Callable[[int, int], np.ndarray]
) -> None:
    # The bench's music 20 dB under the caller, eight pieces of it. Measured against the
    # music's quietest half second (a lull), the chords after it passed for the caller's
    # speech and bridged a pause: two lines joined, and the agent's answer between them
    # taken for an interruption (piece 5: at 2.02 s).
    for seed in range(1, 9):
        music = chords(len(clip["caller"]), seed)
        music *= speech_rms(clip["caller"]) / float(np.sqrt(np.mean(music**2))) / 10
        caller = np.clip(clip["caller"] + music, -32768, 32767).astype(np.int16)
        result = score_recording(read_recording(stereo_wav(caller, clip["agent"])))
        assert len(result["caller_turns"]["turns"]) == len(clip["caller_turns"]), seed
        ai = next(m for m in result["metrics"] if m["name"] == "AI Interrupting User")
        assert not ai["score"], (seed, ai)


def test_keystrokes_after_a_stop_are_not_taken_for_more_of_the_agents_speech(
    clip: dict[str, Any],
) -> None:
    # Typing near the agent's microphone once it stopped: clicks of a few ms, a press and a
    # release 80 ms apart, every 150 ms, 20 dB under its speech. Each lay within a closure's
    # length of the last, and the stop was carried on from click to click (and the clicks
    # were added up into a "word" too short to be sure of): 264 ms late.
    rng = np.random.default_rng(7)
    stop = clip["answers"][0]["stop"]
    agent = clip["agent"].astype(np.float64)
    n = int(0.004 * SR)
    shape = np.exp(-np.arange(n) / (0.0015 * SR))
    level = speech_rms(clip["agent"]) / 10
    for press in range(stop + int(0.03 * SR), stop + int(0.6 * SR), int(0.15 * SR)):
        for at in (press, press + int(0.08 * SR)):
            click = np.diff(rng.standard_normal(n + 1)) * shape  # a bright click
            agent[at : at + n] += click * level / float(np.sqrt(np.mean(click[:48] ** 2)))
    typed = np.clip(agent, -32768, 32767).astype(np.int16)
    first = stop_errors(clip, score(clip, typed))[0]
    assert first is None or abs(first) <= 5.0, first


def test_without_turns_a_line_run_on_into_a_tone_is_not_measured(clip: dict[str, Any]) -> None:
    # A steady 1 kHz whine 30 dB under the caller. The first line's loudest moment stands 40
    # dB over it, but its last words do not: its end, looked for by the change point in
    # noise, ran on into the tone, and its latency was given 102 ms short.
    t = np.arange(len(clip["caller"])) / SR
    tone = np.sin(2 * np.pi * 1000 * t) * np.sqrt(2) * speech_rms(clip["caller"]) / 10**1.5
    caller = np.clip(clip["caller"] + tone, -32768, 32767).astype(np.int16)
    result = score_recording(read_recording(stereo_wav(caller, clip["agent"])))
    for turn, answer in zip(result["latency_turns"], clip["answers"], strict=True):
        if turn["measurable"]:
            true_ms = (answer["onset"] - answer["caller_end"]) * 1000 / SR
            assert abs(turn["latency_ms"] - true_ms) <= 50, (turn, true_ms)
    assert not result["latency_turns"][0]["measurable"]
    assert "its last words" in result["latency_turns"][0]["reason"]
