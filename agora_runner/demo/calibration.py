"""Ground truth for the timing metrics, from calls with the demo agent in calibration mode.

In such a call both sides speak clips cut to exact edges (`trim_to_level`) over digital
silence, so on the recording every edge of speech is a sample known exactly: the caller's
authored speech end, the agent's first audible sample, a barge-in's onset and the moment the
agent stopped. Metrics are then run on the same tracks, clean or with noise and clicks added,
and compared with these edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import ENVELOPE, SAMPLE_RATE, _envelope, trim_to_level
from ..channel.network import NetworkConditions
from ..noise import make_noise, speech_rms
from ..types import CallerScript, CallSpec, Persona, SessionEndpointConfig
from .defaults import DEMO_APP_ID, DEMO_CLIENT_ID, DEMO_SECRET

STOP_GAP = int(0.2 * SAMPLE_RATE)  # the agent has stopped once its track is silent this long
CALLER_LINES = (
    "Hello there",
    "What time do you open",
    "And when do you close",
    "Is that every day",
    "Do you open on Saturday",
    "Can I come in the morning",
    "Is there parking nearby",
    "Do I need to book first",
    "Can I bring my son",
    "Is the doctor in today",
    "How long is the wait",
    "Do you take walk ins",
)


class TrimmedTTS:
    """A synthesizer whose clips are cut to exact edges, so the caller's speech end is known."""

    def __init__(self, tts: Any) -> None:
        self.tts = tts

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        return trim_to_level(self.tts.synthesize(text, speed))


def calibration_spec(
    stack: Any,
    *,
    delays_ms: tuple[int, ...],
    barge_in_ms: tuple[int, ...] = (),
    lines: tuple[str, ...] = CALLER_LINES,
    network: NetworkConditions | None = None,
) -> CallSpec:
    query = "?calibrate=" + ",".join(str(d) for d in delays_ms)
    if network is not None:
        query += f"&latency_ms={network.latency_ms:g}&jitter_ms={network.jitter_ms:g}&loss={network.loss:g}&seed={network.seed + 1}"
    return CallSpec(
        endpoint=SessionEndpointConfig(url=stack.endpoint_url + query, client_id=DEMO_CLIENT_ID, secret=DEMO_SECRET),
        join_uid=1,
        caller=CallerScript.scripted(list(lines)),
        persona=Persona(barge_in_after_ms=barge_in_ms),
        local_channel_address=stack.channel_address,
        local_channel_app_ids=(DEMO_APP_ID,),
        local_network=network,
        agent_join_timeout_seconds=5,
        silence_limit_seconds=6,
        max_duration_seconds=600,
        goodbye_line="Thanks goodbye",
    )


@dataclass
class Truth:
    turns: list[dict[str, int]]  # {"caller_end", "agent_start"} in samples
    barge_ins: list[dict[str, int]]  # {"onset", "agent_stop"} in samples


def _first_nonzero(track: np.ndarray, start: int, end: int) -> int | None:
    idx = np.flatnonzero(track[start:end])
    return int(start + idx[0]) if len(idx) else None


def _stop_after(track: np.ndarray, start: int) -> int:
    """The first sample from `start` where the track falls silent for STOP_GAP samples."""
    nz = np.flatnonzero(track[start:])
    if not len(nz):
        return start
    gaps = np.flatnonzero(np.diff(nz) > STOP_GAP)
    last = nz[gaps[0]] if len(gaps) else nz[-1]
    return int(start + last + 1)


def ground_truth(caller: np.ndarray, agent: np.ndarray, utterances: list[dict[str, Any]]) -> Truth:
    """Edges on the clean tracks. Each caller utterance ends on its last non-zero sample; the
    agent's answer starts on its first non-zero sample after that and before the next line."""
    sr = SAMPLE_RATE
    utts = sorted(utterances, key=lambda u: u["start"])
    turns, barges = [], []
    for i, u in enumerate(utts):
        start, end = int(round(u["start"] * sr)), int(round(u["end"] * sr))
        nz = np.flatnonzero(caller[start:end])
        if not len(nz):
            continue
        onset, caller_end = start + int(nz[0]), start + int(nz[-1]) + 1
        horizon = int(round(utts[i + 1]["start"] * sr)) if i + 1 < len(utts) else len(agent)
        answer = _first_nonzero(agent, caller_end, horizon)
        if answer is not None and u.get("kind") != "backchannel":
            turns.append({"caller_end": caller_end, "agent_start": answer})
        if u.get("kind") == "barge_in" and onset < len(agent) and agent[max(onset - STOP_GAP, 0) : onset].any():
            barges.append({"onset": onset, "agent_stop": _stop_after(agent, onset)})
    return Truth(turns, barges)


def audible_stop(clean: np.ndarray, cut: int, noise_rms: float) -> int:
    """Where `clean`'s sound, ending at `cut`, was last audible over a background of
    `noise_rms`: one past the last 5 ms stretch at least as loud as the background. A fading
    tail under the noise is not audible, so in noise this is the truth a stop can be held to."""
    lo = max(cut - SAMPLE_RATE, 0)
    seg = clean[lo:cut].astype(np.float64)
    if len(seg) < ENVELOPE:
        return cut
    loud = np.flatnonzero(_envelope(seg) >= noise_rms)
    return lo + int(loud[-1]) + ENVELOPE if len(loud) else cut


def audible_start(clean: np.ndarray, onset: int, noise_rms: float) -> int:
    """Where `clean`'s sound, starting at `onset`, first became audible over a background of
    `noise_rms`: the start of the first 5 ms stretch at least as loud as the background (the
    anchor benchmark's "first audible agent sample", for a given noise)."""
    seg = clean[onset : onset + SAMPLE_RATE].astype(np.float64)
    if len(seg) < ENVELOPE:
        return onset
    loud = np.flatnonzero(_envelope(seg) >= noise_rms)
    return onset + int(loud[0]) if len(loud) else onset


# Critical-band (Bark) edges in Hz, up to the 8 kHz Nyquist limit. A sound is audible over a
# noise when, in some critical band, it carries at least the noise's power there (0 dB band
# SNR); the broadband test above is the one-band case of the same rule.
BARK_EDGES_HZ = (0, 100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 8001)
NOISE_SPAN = SAMPLE_RATE * 32 // 1000  # the noise's level in a band: its mean power over 32 ms around a stretch


def _band_bins(edges_hz: tuple[int, ...]) -> list[np.ndarray]:
    """The bins of an ENVELOPE-sample DFT (200 Hz apart) in each band; a band narrower than a
    bin shares the bin whose centre lies in it, and a band with no bin centre is dropped."""
    freqs = np.fft.rfftfreq(ENVELOPE, 1 / SAMPLE_RATE)
    bands = [np.flatnonzero((freqs >= lo) & (freqs < hi)) for lo, hi in zip(edges_hz[:-1], edges_hz[1:], strict=True)]
    return [b for b in bands if len(b)]


_BARK_BINS = _band_bins(BARK_EDGES_HZ)


def _stretch_band_power(x: np.ndarray) -> np.ndarray:
    """Row i: the power per critical band of the 5 ms stretch x[i : i + ENVELOPE] (rectangular
    window, so the bands sum to the stretch's mean square: one band is the broadband level)."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), ENVELOPE)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    power[:, 1 : (ENVELOPE + 1) // 2] *= 2  # the negative frequencies' share
    power /= ENVELOPE**2
    return np.stack([power[:, b].sum(axis=1) for b in _BARK_BINS], axis=1)


def _audible_in_bands(clean: np.ndarray, noise: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """For each 5 ms stretch starting in [lo, hi − ENVELOPE]: is `clean` at least as loud as
    `noise` (its mean over NOISE_SPAN around the stretch) in some critical band?"""
    pad = NOISE_SPAN // 2
    n_lo, n_hi = max(lo - pad, 0), min(hi + pad, len(noise))
    clean_bands = _stretch_band_power(clean[lo:hi])
    noise_bands = _stretch_band_power(noise[n_lo:n_hi])
    total = np.concatenate([np.zeros((1, noise_bands.shape[1])), np.cumsum(noise_bands, axis=0)])
    rows = np.arange(len(clean_bands)) + lo - n_lo  # each stretch's row in noise_bands
    a = np.clip(rows - pad, 0, len(noise_bands))
    b = np.clip(rows + pad + 1, 0, len(noise_bands))
    level = (total[b] - total[a]) / np.maximum(b - a, 1)[:, None]
    return ((clean_bands >= level) & (clean_bands > 0)).any(axis=1)


def audible_start_in_bands(clean: np.ndarray, noise: np.ndarray, onset: int) -> int:
    """Where `clean`'s sound, starting at `onset`, first became audible over `noise` (the noise
    track added to it, sample for sample): the first sound in the first 5 ms stretch that
    passes the noise in some critical band. A fragment of an 's' under white noise broadband
    can stand clear of it above 4 kHz; a vowel under street rumble, above the rumble."""
    hi = min(onset + SAMPLE_RATE, len(clean), len(noise))
    if hi - onset < ENVELOPE:
        return onset
    loud = np.flatnonzero(_audible_in_bands(clean, noise, onset, hi))
    if not len(loud):
        return onset
    at = onset + int(loud[0])  # the stretch's first sound (it may open on the silence before)
    return at + int(np.flatnonzero(clean[at : at + ENVELOPE])[0])


def audible_stop_in_bands(clean: np.ndarray, noise: np.ndarray, cut: int) -> int:
    """Where `clean`'s sound, ending at `cut`, was last audible over `noise`: one past the last
    sound in the last 5 ms stretch that passes the noise in some critical band."""
    lo = max(cut - SAMPLE_RATE, 0)
    if cut - lo < ENVELOPE or cut > len(noise):
        return cut
    loud = np.flatnonzero(_audible_in_bands(clean, noise, lo, cut))
    if not len(loud):
        return cut
    at = lo + int(loud[-1])  # one past the stretch's last sound (it may close on silence)
    return at + int(np.flatnonzero(clean[at : at + ENVELOPE])[-1]) + 1


def noise_rms_at(reference: np.ndarray, snr_db: float | None) -> float:
    """The RMS of the noise `with_noise` adds at `snr_db` (0 for none)."""
    return 0.0 if snr_db is None else speech_rms(reference) / (10 ** (snr_db / 20))


def with_noise(track: np.ndarray, snr_db: float | None, reference: np.ndarray, seed: int, kind: str = "white") -> np.ndarray:
    """`track` with steady noise under it at `snr_db` below `reference`'s speech level."""
    if snr_db is None:
        return track
    noise = make_noise(kind, len(track) / SAMPLE_RATE + 0.1, seed)[: len(track)]
    level = noise_rms_at(reference, snr_db)
    return np.clip(track.astype(np.float64) + noise * level, -32768, 32767).astype(np.int16)


def with_clicks(track: np.ndarray, seed: int, per_second: float = 2.0) -> np.ndarray:
    """`track` with full-scale clicks (1 ms) dropped into its silences."""
    rng = np.random.default_rng(seed)
    out = track.copy()
    silent = np.flatnonzero(track == 0)
    count = int(len(track) / SAMPLE_RATE * per_second)
    for pos in rng.choice(silent, size=min(count, len(silent)), replace=False) if len(silent) else []:
        span = out[pos : pos + 16]
        if not span.any():
            out[pos : pos + 16] = (rng.choice([-1, 1]) * 30000 * np.exp(-np.arange(len(span)) / 4)).astype(np.int16)
    return out
