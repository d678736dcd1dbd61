"""The demo agent's calibration mode and the timing metrics measured against it: one real call
over the local channel, scored clean, in noise and with clicks."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agora_runner.audio import (
    ENVELOPE,
    SAMPLE_RATE,
    SPECTRAL_BRIDGE_STRENGTH,
    SPECTRAL_SUSTAIN,
    VoiceDetector,
    _band_power,
    _band_threshold,
    _declick,
    _envelope,
    _frames_rms,
    _last_run,
    _swelling,
    first_voiced_sample,
    last_voiced_sample,
    speech_edges,
    speech_probabilities,
    trim_to_level,
)
from agora_runner.demo.calibration import (
    TrimmedTTS,
    _stretch_band_power,
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
from agora_runner.demo.stack import KnobError, knobs_from_query
from agora_runner.noise import make_noise
from agora_runner.runner import execute_call
from evaluators import CallData
from evaluators.conversation import stop_time_after_interruption, user_interrupting_ai
from evaluators.latency import turn_latencies

DELAYS = (300, 1200, 600)


@pytest.fixture(scope="module")
def calibrated(demo_stack: Any, tts: Any) -> dict[str, Any]:
    before = len(demo_stack.agents)
    spec = calibration_spec(demo_stack, delays_ms=DELAYS, barge_in_ms=(900,), lines=("Hello there", "What time do you open", "And when do you close", "Is that every day"))
    outcome = execute_call(spec, tts=TrimmedTTS(tts))
    assert outcome.recording is not None, outcome.error
    rec = outcome.recording
    return {
        "caller": rec.caller, "agent": rec.agent, "utterances": outcome.caller_utterances,
        "truth": ground_truth(rec.caller, rec.agent, outcome.caller_utterances),
        "scheduled": demo_stack.agents[before].calibration,
    }


def errors(c: dict[str, Any], caller: np.ndarray, agent: np.ndarray) -> list[float]:
    measured = turn_latencies(CallData(SAMPLE_RATE, caller, agent, [], c["utterances"], []))
    out = []
    for t in c["truth"].turns:
        near = [m for m in measured if abs(m["caller_end"] * SAMPLE_RATE - t["caller_end"]) < SAMPLE_RATE / 2]
        assert near, f"no latency measured for the turn ending at {t['caller_end'] / SAMPLE_RATE:.2f} s"
        out.append(near[0]["latency_ms"] - (t["agent_start"] - t["caller_end"]) * 1000 / SAMPLE_RATE)
    return out


def test_the_agent_keeps_the_requested_delay(calibrated: dict[str, Any]) -> None:
    truth, scheduled = calibrated["truth"], calibrated["scheduled"]
    assert len(truth.turns) >= 4 and len(truth.barge_ins) >= 1
    for t, s in zip(truth.turns, scheduled, strict=False):
        actual = (t["agent_start"] - t["caller_end"]) * 1000 / SAMPLE_RATE
        # Truth − D: the channel, and where the agent's VAD puts the last voiced 10 ms frame
        # against the last audible sample (a frame or so either way).
        assert abs(actual - s["requested_ms"]) <= 15, (actual, s)
        assert s["late_ms"] == 0


def test_latency_is_exact_on_clean_audio_and_close_in_noise(calibrated: dict[str, Any]) -> None:
    c = calibrated
    assert max(abs(e) for e in errors(c, c["caller"], c["agent"])) <= 1.0
    noisy = errors(c, with_noise(c["caller"], 20, c["caller"], 1), with_noise(c["agent"], 20, c["agent"], 2))
    assert max(abs(e) for e in noisy) <= 20, noisy
    clicked = errors(c, with_clicks(c["caller"], 3), with_clicks(c["agent"], 4))
    # A click is never taken for the agent's onset. Clicks fall anywhere in the silences, and
    # one that ends within the 5 ms envelope of the onset is part of the sound that starts
    # there (seen: −5.0 and −5.4 ms); any further out would show as −7 ms or more.
    assert min(clicked) > -6.5, clicked


@pytest.mark.parametrize("kind", ["white", "street", "office", "cafe"])
def test_latency_at_10_db(calibrated: dict[str, Any], kind: str) -> None:
    """At 10 dB SNR the first 40-60 ms of a soft onset lie under the broadband noise; each band
    held to its own background still finds them, and a café's swells are told from speech by
    the spectrum's shape. Pooled over four noise seeds, 90 % of onsets within 20 ms
    (docs/metrics.md gives the figures and what is left)."""
    c = calibrated
    errs = [
        e
        for seed in range(4)
        for e in errors(c, with_noise(c["caller"], 10, c["caller"], 10 + seed, kind=kind), with_noise(c["agent"], 10, c["agent"], 20 + seed, kind=kind))
    ]
    assert np.percentile(np.abs(errs), 90) <= 20, errs


def test_clicks_in_noise_are_not_taken_for_an_onset(calibrated: dict[str, Any]) -> None:
    c = calibrated
    for snr, kind in ((20, "white"), (10, "street")):
        agent = with_noise(with_clicks(c["agent"], 4, per_second=4.0), snr, c["agent"], 2, kind=kind)
        noisy = errors(c, with_noise(c["caller"], snr, c["caller"], 1, kind=kind), agent)
        assert min(noisy) > -20, (snr, kind, noisy)  # a click before an onset would pull it far earlier


def test_a_fragment_cut_off_by_packet_loss_still_starts_the_speech(tts: Any) -> None:
    """A lost packet can leave the first 10 ms of a word alone before a gap of silence; on
    digital silence that fragment is where the sound began (a click would be far shorter)."""
    clip = trim_to_level(tts.synthesize("So, the clinic is open")).copy()
    clip[160:1040] = 0  # 10 ms kept, then 55 ms lost
    agent = np.concatenate([np.zeros(8000, np.int16), clip, np.zeros(8000, np.int16)])
    assert first_voiced_sample(agent, 0, len(agent), probs=speech_probabilities(agent)) == 8000
    # Two clicks 3 ms apart, 40 ms before it: together their envelopes last as long as a
    # fragment, and they were once taken for the sound the fragment belongs to (−40 ms here;
    # −71 to −83 ms on the calibration call with clicks).
    clicked = agent.copy()
    for at in (8000 - 40 * 16, 8000 - 37 * 16):
        clicked[at : at + 16] = (30000 * np.exp(-np.arange(16) / 4)).astype(np.int16)
    assert first_voiced_sample(clicked, 0, len(clicked), probs=speech_probabilities(clicked)) == 8000
    # A gap of up to 100 ms is crossed whatever the length of the sound before it: 20 ms kept,
    # then 98 ms lost (before, only the part of it within 100 ms of the word counted: +118 ms).
    longer = trim_to_level(tts.synthesize("So, the clinic is open")).copy()
    longer[320 : 320 + 98 * 16] = 0
    gapped = np.concatenate([np.zeros(8000, np.int16), longer, np.zeros(8000, np.int16)])
    assert first_voiced_sample(gapped, 0, len(gapped), probs=speech_probabilities(gapped)) == 8000
    # Under noise it is found while it stands clear of it (at 20 dB, 20 ms from the word).
    for seed in range(3):
        noisy = with_noise(agent, 20, clip, seed)
        found = first_voiced_sample(noisy, 0, len(noisy), probs=speech_probabilities(noisy))
        assert found is not None and abs(found - 8000) <= 10 * SAMPLE_RATE // 1000, (seed, found)
    # 8 ms kept, 55 ms lost, as on a calibration call: the fragment's 1 ms blocks dip to 2x the
    # noise between louder ones, and in pink noise at 30 dB it was taken for a string of
    # clicks; in white noise at 20 dB it stands 1.5-2x the threshold for about 10 ms. Before,
    # 5 and 6 of 10 seeds were 63 ms late; now at most 2 (the fragment's last milliseconds
    # are still sometimes under a swing of the noise).
    short = trim_to_level(tts.synthesize("So, the clinic is open")).copy()
    short[128 : 128 + 55 * 16] = 0
    agent = np.concatenate([np.zeros(8000, np.int16), short, np.zeros(8000, np.int16)])
    for snr, kind in ((30, "office"), (20, "white")):
        late = []
        for seed in range(10):
            noisy = with_noise(agent, snr, clip, seed, kind=kind)
            found = first_voiced_sample(noisy, 0, len(noisy), probs=speech_probabilities(noisy))
            assert found is not None and found > 8000 - 10 * SAMPLE_RATE // 1000, (snr, kind, seed, found)
            if found > 8000 + 10 * SAMPLE_RATE // 1000:
                late.append(seed)
        assert len(late) <= 2, (snr, kind, late)


def test_steady_noise_is_not_taken_for_swelling() -> None:
    """The walk on the spectrum's shape is for noise that swells as a whole (a café); in steady
    noise it only loses soft onsets. Measured on the gain's 32 ms moving average, the wobble of
    steady noise's band powers no longer passes for a swell (before: 2, 8 and 10 of 40
    backgrounds of white, pink and street noise did)."""
    def swells(kind: str) -> int:
        # A background as long as the one learned before an onset (14 windows of 32 ms).
        return sum(_swelling(_band_power(make_noise(kind, 1.0, seed)[:7168] * 1000.0)) is not None for seed in range(40))

    assert [swells(kind) for kind in ("white", "office", "street")] == [0, 0, 0]
    assert swells("cafe") >= 24


def test_noise_below_300_hz_does_not_pass_its_own_threshold() -> None:
    """Band thresholds learned from 14 windows of noise, then held against the next 2 s of the
    same noise. Below 300 Hz an 8 ms frame has three bins; in pink (office) and brown (street)
    noise that band swung past its threshold in 5 % of rows (up to 21 % for one seed), for long
    enough to be crossed to over a gap in 4 of 40 seeds, and onsets were placed on those swings
    (20-160 ms early, 28 of 2,560 answers on eight short calibration calls; now 3)."""
    def passing(kind: str) -> tuple[float, int]:
        rates, bridgeable = [], 0
        for seed in range(20):
            noise = make_noise(kind, 3.0, seed) * 1500.0
            ratio = (_band_power(noise[SAMPLE_RATE:]) / _band_threshold(_band_power(noise[: 14 * 512]))).max(axis=1)
            rates.append(float((ratio > 1).mean()))
            bridgeable += _last_run(ratio > SPECTRAL_BRIDGE_STRENGTH, SPECTRAL_SUSTAIN) is not None
        return float(np.mean(rates)), bridgeable

    for kind in ("office", "street", "white"):
        rate, bridgeable = passing(kind)
        assert rate <= 0.02 and bridgeable == 0, (kind, rate, bridgeable)


def test_a_click_on_a_swell_of_street_noise_is_taken_out() -> None:
    """A click on one of street noise's loud, slow swells (10 dB under speech): the swell's
    1 ms blocks around it are loud too, and made it part of a sound too long to be a click, so
    it stayed and an onset was placed on it (80 ms early; the calibration test with clicks in
    street noise failed in CI). On the sample-to-sample difference the swell does not stand
    out; 4 of 100 such clicks were kept before."""
    click = 30000 * np.exp(-np.arange(16) / 4)
    kept = 0
    for seed in range(10):
        noise = make_noise("street", 2.0, seed).astype(np.float64) * 1580
        floor = float(np.median(_frames_rms(noise[:7040])))  # as _local_floor measures it
        env = _envelope(noise)
        peaks: list[int] = []
        for p in np.argsort(env[1000:-1000])[::-1] + 1000:  # the loudest swells, 50 ms apart
            if all(abs(p - q) > 800 for q in peaks):
                peaks.append(int(p))
            if len(peaks) == 10:
                break
        for at in peaks:
            x = noise.copy()
            x[at : at + 16] += click
            kept += np.abs(_declick(x, floor)[at : at + 16]).max() > 8000
    assert kept == 0


def test_two_clicks_in_white_noise_are_not_taken_for_the_start(tts: Any) -> None:
    """Two clicks 16 ms apart in one 32 ms window under white noise: the speech model calls
    the window speech (p 0.6-0.9, most seeds), and the onset was placed at the clicks in all
    120 tries. A flagged window where nothing rises once clicks are taken out is passed over;
    the line bridging a click runs between the noise's local means (between single samples it
    made a ramp as loud as speech: still 5 of 120, 340-590 ms early)."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five"))
    speech = np.concatenate([np.zeros(SAMPLE_RATE, np.int16), clip, np.zeros(SAMPLE_RATE // 2, np.int16)])
    click = (30000 * np.exp(-np.arange(16) / 4)).astype(np.int16)
    early = []
    for seed in range(40):
        for at in (6271, 8319, 10367):
            clicked = speech.copy()
            clicked[at : at + 16] = click
            clicked[at + 251 : at + 267] = -click
            noisy = with_noise(clicked, 10, clip, seed)
            found = first_voiced_sample(noisy, 0, len(noisy), probs=speech_probabilities(noisy))
            if found is None or found < SAMPLE_RATE - 10 * SAMPLE_RATE // 1000:
                early.append((seed, at, found))
    assert not early, early


def test_a_swell_of_cafe_noise_is_not_taken_for_the_start(tts: Any) -> None:
    """Café noise that swells by 10 dB in the 200 ms before a word lifts every band at once;
    the word's onset is still placed on the word, not at the swell."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five"))
    start = SAMPLE_RATE
    speech = np.concatenate([np.zeros(start, np.int16), clip, np.zeros(SAMPLE_RATE // 2, np.int16)])
    n = len(speech)
    for seed in range(3):
        bed = make_noise("office", n / SAMPLE_RATE, seed)  # pink: the café's bed, before its swells
        gain = np.interp(np.arange(n), [0, start - SAMPLE_RATE // 5, start, n], [0.3, 0.3, 1.0, 1.0])
        noisy = np.clip(speech + bed[:n] * gain * noise_rms_at(clip, 10), -32768, 32767).astype(np.int16)
        found = first_voiced_sample(noisy, 0, n, probs=speech_probabilities(noisy))
        assert found is not None and abs(found - start) <= 20 * SAMPLE_RATE // 1000, (seed, (found or 0) - start)


def test_a_swell_of_cafe_noise_after_a_stop_is_not_taken_for_more_speech(tts: Any) -> None:
    """Noise that swells by 10 dB in the 200 ms after the agent stops, while the speech model's
    probability still hangs on: the stop is looked for near the last window the model was sure
    of, held to the background's own swings. Over six noise seeds the median stop is within
    40 ms of the cut and none is 125 ms late (before: 153–217 ms late, every seed)."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five"))
    start = SAMPLE_RATE
    speech = np.concatenate([np.zeros(start, np.int16), clip, np.zeros(SAMPLE_RATE, np.int16)])
    n, cut = len(speech), start + len(clip)
    late = []
    for seed in range(6):
        bed = make_noise("office", n / SAMPLE_RATE, seed)
        gain = np.interp(np.arange(n), [0, cut, cut + SAMPLE_RATE // 5, n], [0.3, 0.3, 1.0, 1.0])
        noisy = np.clip(speech + bed[:n] * gain * noise_rms_at(clip, 10), -32768, 32767).astype(np.int16)
        found = last_voiced_sample(noisy, 0, n, probs=speech_probabilities(noisy))
        assert found is not None
        late.append((found - cut) * 1000 / SAMPLE_RATE)
    assert np.median(late) <= 40 and max(late) < 125, late


def test_a_click_after_a_stop_is_not_taken_for_more_speech(tts: Any) -> None:
    """A click 20–60 ms after the agent stops, in the window the model still calls speech, was
    where the search for a stop began, and the stop landed on it (20–61 ms late)."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five"))
    speech = np.concatenate([np.zeros(SAMPLE_RATE, np.int16), clip, np.zeros(SAMPLE_RATE, np.int16)])
    cut = SAMPLE_RATE + len(clip)
    for after_ms in (20, 40, 60):
        clicked = speech.copy()
        at = cut + after_ms * SAMPLE_RATE // 1000
        clicked[at : at + 16] = (30000 * np.exp(-np.arange(16) / 4)).astype(np.int16)
        assert last_voiced_sample(clicked, 0, len(clicked), probs=speech_probabilities(clicked)) == cut, after_ms
        for seed in range(3):
            noisy = with_noise(clicked, 20, clip, seed)
            found = last_voiced_sample(noisy, 0, len(noisy), probs=speech_probabilities(noisy))
            assert found is not None and -10 <= (found - cut) * 1000 / SAMPLE_RATE <= 5, (after_ms, seed, found - cut)


def test_barge_in_onset_and_stop_time_match_the_placed_overlap(calibrated: dict[str, Any]) -> None:
    c = calibrated
    for snr in (None, 20):
        caller, agent = with_noise(c["caller"], snr, c["caller"], 1), with_noise(c["agent"], snr, c["agent"], 2)
        call = CallData(SAMPLE_RATE, caller, agent, [], c["utterances"], [])
        onsets = user_interrupting_ai(call).extra["times"]
        stops = stop_time_after_interruption(call).extra["stop_ms"]
        assert len(onsets) == len(c["truth"].barge_ins)
        for b, t, stop in zip(c["truth"].barge_ins, onsets, stops, strict=True):
            assert abs(t * SAMPLE_RATE - b["onset"]) <= 1
            cut = (b["agent_stop"] - b["onset"]) * 1000 / SAMPLE_RATE
            # In noise a fading tail under the background is not audible: the stop is held to
            # the last audible sample, and is never placed after the cut.
            audible = (audible_stop(c["agent"], b["agent_stop"], noise_rms_at(c["agent"], snr)) - b["onset"]) * 1000 / SAMPLE_RATE
            assert stop <= cut + 5 and abs(stop - audible) <= 10, (snr, stop, cut, audible)
            if snr is None:
                assert abs(stop - cut) <= 5


def test_a_stop_is_not_placed_late_by_the_models_hangover(tts: Any) -> None:
    """The VAD's probability hangs on for a window or three after speech stops; searching in
    reverse, the stop must still land on the cut, not inside that hangover."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five on weekdays"))
    cut = len(clip) * 2 // 3  # mid-word, at full level: the cut is audible at any SNR here
    agent = np.concatenate([np.zeros(8000, np.int16), clip[:cut], np.zeros(16000, np.int16)])
    for snr in (None, 20, 10):
        noisy = with_noise(agent, snr, agent, 5)
        stop = last_voiced_sample(noisy, 8000, len(noisy), probs=speech_probabilities(noisy))
        assert stop is not None
        audible = audible_stop(agent, 8000 + cut, noise_rms_at(agent, snr))
        err_ms = (stop - audible) * 1000 / SAMPLE_RATE
        assert -10 <= err_ms <= 5 and stop <= 8000 + cut + 80, (snr, err_ms)


def stop_error_heard(agent: np.ndarray, reference: np.ndarray, cut: int, kind: str, seed: int) -> float:
    """ms from where the agent's speech, cut at `cut`, was last heard in a critical band to the
    stop measured on it under `kind` noise 10 dB below `reference`'s speech level."""
    noise = make_noise(kind, len(agent) / SAMPLE_RATE + 0.1, seed)[: len(agent)] * noise_rms_at(reference, 10)
    noisy = np.clip(agent + noise, -32768, 32767).astype(np.int16)
    stop = last_voiced_sample(noisy, 0, len(noisy), probs=speech_probabilities(noisy))
    assert stop is not None
    return (stop - audible_stop_in_bands(agent.astype(np.int16), noise, cut)) * 1000 / SAMPLE_RATE


def test_a_soft_syllable_before_a_cut_is_part_of_the_speech(tts: Any) -> None:
    """Barge-ins on calibration calls often cut the agent just after a pause, 60-70 ms into a
    soft syllable (~18 dB under the words before it). At 10 dB SNR that syllable lies under the
    noise broadband but stands over it in its formant's band, so a listener hears it, and the
    stop is held to where it was last heard in a critical band. The stop was placed at the
    end of the loud words before the pause, 110-120 ms early in white and street noise, every
    seed; band by band, on bands two bins wide, it is found."""
    clip = trim_to_level(tts.synthesize("Our hours are nine to five")).astype(np.float64)
    peak = int(np.argmax(_frames_rms(clip))) * 160
    vowel = clip[peak : peak + 70 * 16]
    soft = vowel * 10 ** (-18 / 20) * np.minimum(1.0, np.arange(len(vowel)) / ENVELOPE)
    speech = np.concatenate([clip[: peak + 100 * 16], np.zeros(40 * 16), soft])
    agent = np.concatenate([np.zeros(SAMPLE_RATE), speech, np.zeros(SAMPLE_RATE)])
    cut = SAMPLE_RATE + len(speech)
    for kind in ("white", "street"):
        errs = [stop_error_heard(agent, clip.astype(np.int16), cut, kind, seed) for seed in range(6)]
        assert all(-20 <= e <= 5 for e in errs), (kind, errs)


def test_a_stop_in_pink_noise_is_not_placed_in_the_models_hangover(tts: Any) -> None:
    """The model can be sure of a whole 32 ms window of pink (office) noise after a cut, and
    the stop search started from that window's loudest point, a swell of the noise: stops came
    20-74 ms late on 10 of 20 seeds. It now starts from the loudest point of that window or
    the one before it, inside the speech."""
    errs = []
    for text, frac in (("We can book you in on Monday morning", 0.5), ("Our hours are nine to five on weekdays", 0.66)):
        clip = trim_to_level(tts.synthesize(text))
        kept = int(len(clip) * frac)
        agent = np.concatenate([np.zeros(SAMPLE_RATE), clip[:kept], np.zeros(SAMPLE_RATE)]).astype(np.float64)
        cut = SAMPLE_RATE + kept
        errs += [stop_error_heard(agent, clip, cut, "office", seed) for seed in range(10)]
    assert all(abs(e) <= 15 for e in errs), errs


def test_a_sound_is_audible_when_it_passes_the_noise_in_one_critical_band() -> None:
    """The truth a metric in noise is held to: a 10 ms tone at 6 kHz, 6 dB under white noise
    broadband but 3 dB over it in its critical band (5.3-6.4 kHz), is heard; the same tone
    under the noise in every band is not."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(3 * SAMPLE_RATE) * 1000
    # Rectangular 5 ms stretches: the bands add up to the broadband level (one band).
    assert np.allclose(_stretch_band_power(noise[:4000]).sum(axis=1), _envelope(noise[:4000]) ** 2)
    tone = np.cos(2 * np.pi * 6000 * np.arange(160) / SAMPLE_RATE) * np.sqrt(2)
    word = np.cos(2 * np.pi * 1000 * np.arange(2000) / SAMPLE_RATE) * 3000 * np.sqrt(2)  # 10 dB over
    for rms, heard in ((500, True), (200, False)):
        clean = np.zeros(len(noise))
        clean[16000:16160], clean[17000:19000], clean[19500:19660] = tone * rms, word, tone * rms
        # Broadband, only the word is over the noise.
        assert audible_start(clean, 16000, 1000) >= 17000 - 80
        assert audible_stop(clean, 19660, 1000) <= 19000 + 80
        start, stop = audible_start_in_bands(clean, noise, 16000), audible_stop_in_bands(clean, noise, 19660)
        assert (start, stop) == ((16000, 19660) if heard else (17000, 19000)), (rms, start, stop)
    # On digital silence the first and last sounds are the truth.
    assert audible_start_in_bands(clean, np.zeros(len(clean)), 16000) == 16000
    assert audible_stop_in_bands(clean, np.zeros(len(clean)), 19660) == 19660


def test_calibrate_knob_is_checked() -> None:
    assert knobs_from_query({"calibrate": ["200,2500"]})[0].calibrate_ms == (200, 2500)
    for bad in ("100", "200,x", "3000"):
        with pytest.raises(KnobError):
            knobs_from_query({"calibrate": [bad]})


def test_speech_edges_of_a_clean_clip_are_exact(tts: Any) -> None:
    clip = trim_to_level(tts.synthesize("Do you take walk ins"))
    padded = np.concatenate([np.zeros(1234, np.int16), clip, np.zeros(999, np.int16)])
    assert speech_edges(padded) == (1234, 1234 + len(clip))


def test_a_click_frame_is_not_speech() -> None:
    frame = np.zeros(160, np.int16)
    frame[40:56] = (30000 * np.exp(-np.arange(16) / 4)).astype(np.int16)
    assert VoiceDetector().is_speech(frame.tobytes()) is False
