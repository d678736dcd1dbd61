"""Calibration material for the timing metrics: calls composed offline from speech clips whose
edges are known to the sample, then put through channel conditions.

Nothing here is tuned on: it is the ground the timing analysis is measured against. Voices and
answer texts come in two disjoint parts, `tuning` (may be looked at while choosing how the
analysis works) and `heldout` (never used for that; reported apart). The acceptance checks use
material that is in neither.

A call: the caller (Piper) says a line; the agent answers D ms after the caller's last
sample (D from 150 to 2500 ms), in one voice of the part; some answers are interrupted: the
caller starts again B ms into the answer and the agent stops R ms later, cut mid-speech. The
agent's track then goes through a condition (a codec, packet loss, DC, hum, comfort noise,
steady noise, or a background of voices or music).

The truth of an answer's onset is its clip's first sample within 60 dB of the clip's peak
(resampling leaves ringing far below that before the first real sample); of a stop, the
clip's last such sample before the cut.

Voices: Piper's `en_US-joe-medium` (the project's), and espeak-ng voices and variants
(`apt-get install espeak-ng`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agora_runner.audio import SAMPLE_RATE, resample  # noqa: E402
from common.wav import read_wav  # noqa: E402

CACHE = ROOT / "var" / "bench" / "tts"
TRUTH_DB = -60.0  # an edge is the first (last) sample within this of the clip's peak


@dataclass(frozen=True)
class Voice:
    name: str
    engine: str  # "piper" | "espeak"
    voice: str = ""  # espeak-ng voice (+variant)
    speed: float = 1.0  # piper: speaking-rate factor; espeak: words per minute


# Disjoint parts. The held-out voices differ in accent, variant and rate from every tuning one.
VOICES: dict[str, list[Voice]] = {
    "tuning": [
        Voice("piper-joe", "piper"),
        Voice("piper-joe-fast", "piper", speed=1.25),
        Voice("espeak-us", "espeak", "en-us", 175),
        Voice("espeak-gb-f3", "espeak", "en-gb+f3", 150),
        Voice("espeak-us-m3-fast", "espeak", "en-us+m3", 210),
    ],
    "heldout": [
        Voice("espeak-scotland-f4", "espeak", "en-gb-scotland+f4", 165),
        Voice("espeak-caribbean-m7", "espeak", "en-029+m7", 185),
        Voice("espeak-rp-klatt2", "espeak", "en-gb-x-rp+klatt2", 140),
        Voice("espeak-nyc-female2", "espeak", "en-us-nyc+female2", 220),
        Voice("piper-joe-slow", "piper", speed=0.85),
    ],
}
# Voices of the background babble (never an agent's voice in the same part).
BABBLE_VOICES: dict[str, list[Voice]] = {
    "tuning": [
        Voice(f"babble-t{i}", "espeak", v, s)
        for i, (v, s) in enumerate(
            [
                ("en-us+m1", 160),
                ("en-gb+f2", 170),
                ("en-us+f5", 180),
                ("en-gb-x-gbclan+m2", 150),
                ("en-us+m4", 190),
            ]
        )
    ],
    "heldout": [
        Voice(f"babble-h{i}", "espeak", v, s)
        for i, (v, s) in enumerate(
            [
                ("en-gb-x-gbcwmd+m5", 165),
                ("en-us+f1", 175),
                ("en-029+f2", 155),
                ("en-gb-scotland+m6", 185),
                ("en-us+m2", 200),
            ]
        )
    ],
}
# Answers open on weak consonants (h, th, f, s, hm) and on vowels; 1 to ~25 words.
ANSWERS: dict[str, list[str]] = {
    "tuning": [
        "Okay, I can help with that.",
        "Sure, let me check the schedule for you.",
        "Thanks for waiting. Your order has shipped.",
        "Hi there, how can I help you today?",
        "Fine, we can do Tuesday at ten.",
        "Happy to help. What is your account number?",
        "Hmm, let me look that up.",
        "So the total comes to forty dollars.",
        "Yes.",
        "Absolutely, that works.",
        "For that I need your date of birth.",
        "We are open from nine to five on weekdays and from ten until two on Saturdays.",
        "Hold on.",
        "I see.",
    ],
    "heldout": [
        "Thank you, that is all set.",
        "Hello, this is the front desk.",
        "Fair enough, I will cancel it.",
        "Have a look at your email in a minute or two.",
        "Uh, one moment please.",
        "Perfect.",
        "Certainly, I have booked it for Monday.",
        "Excellent, see you then.",
        "Very well, goodbye for now.",
        "Whichever day suits you best is fine with me.",
        "It should arrive by Friday, along with the receipt and the return label.",
        "No problem at all.",
        "Fine.",
        "Shall I send the details by text message?",
    ],
}
CALLER_LINES = [
    "Hello, I have a question.",
    "Can you check my order?",
    "When are you open?",
    "Is Tuesday possible?",
    "How much is it?",
    "What do you need from me?",
    "Okay.",
    "And after that?",
    "Could you repeat that?",
    "Is there anything else?",
    "Can I come in the morning?",
    "Do you take walk ins?",
]
BABBLE_TEXT = (
    "The meeting moved to the third floor and nobody told the visitors where to go. "
    "I think the train was late again this morning because of the weather up north. "
    "She said the report would be ready by Thursday but I have not seen it yet. "
    "We should order lunch for everyone before the kitchen closes at two. "
)


def load_part(path: Path) -> str:
    """A set of voices, answer texts and babble voices from a JSON file (bench/timing_sets/),
    made a part of its own, named after the file: material to be looked at once, outside the
    two parts. Its shape: {"voices": [{"name", "engine", "voice", "speed"}, …], "answers":
    [text, …], "babble": [{"name", "voice", "speed"}, …] (espeak-ng; five are used)}."""
    import json

    spec = json.loads(path.read_text())
    name = path.stem
    try:
        VOICES[name] = [Voice(**v) for v in spec["voices"]]
        BABBLE_VOICES[name] = [Voice(engine="espeak", **v) for v in spec["babble"]]
        ANSWERS[name] = [str(t) for t in spec["answers"]]
    except (KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a set of voices, answers and babble ({e})") from e
    if len(BABBLE_VOICES[name]) < 5 or not VOICES[name] or not ANSWERS[name]:
        raise SystemExit(f"{path}: needs voices, answers and five babble voices")
    return name


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _cached(key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (hashlib.sha1(key.encode()).hexdigest() + ".npy")
    if path.exists():
        return np.load(path)
    audio = make()
    # Written aside and renamed: two benches run at once never read a half-written file.
    part = path.with_suffix(f".{os.getpid()}.part.npy")
    np.save(part, audio)
    part.replace(path)
    return audio


_piper: Any = None


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """A clip at 16 kHz (int16), exactly as the engine made it (no trimming)."""

    def make() -> np.ndarray:
        global _piper
        if voice.engine == "piper":
            if _piper is None:
                from agora_runner.speech import PiperTTS

                _piper = PiperTTS()
            return np.array(_piper.synthesize(text, voice.speed))
        if not espeak_available():
            raise SystemExit("espeak-ng is missing: apt-get install espeak-ng")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "clip.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice.voice, "-s", str(int(voice.speed)), "-w", str(out), text],
                check=True,
                capture_output=True,
            )
            rate, audio = read_wav(out.read_bytes())
        mono = audio[:, 0] if audio.ndim == 2 else audio
        # espeak speaks at up to full scale; bring it to Piper's level so conditions mean the same.
        clip = resample(mono.astype(np.int16), rate, SAMPLE_RATE).astype(np.float64)
        peak = np.abs(clip).max() or 1.0
        return np.clip(np.round(clip * (0.7 * 32767 / peak)), -32768, 32767).astype(np.int16)

    return _cached(f"{voice.engine}|{voice.voice}|{voice.speed}|{text}", make)


def edges(clip: np.ndarray) -> tuple[int, int]:
    """(first, last) sample within TRUTH_DB of the clip's peak."""
    mag = np.abs(clip.astype(np.float64))
    idx = np.flatnonzero(mag >= mag.max() * 10 ** (TRUTH_DB / 20))
    return int(idx[0]), int(idx[-1])


@dataclass
class Call:
    """A composed call: both tracks (int16), the caller's lines with authored edges, and the
    truth of every answer's onset and every interrupted answer's stop (samples)."""

    voice: Voice
    part: str
    caller: np.ndarray
    agent: np.ndarray  # clean: the answers over digital silence
    utterances: list[dict[str, Any]]
    answers: list[dict[str, Any]]  # {"caller_end", "onset", "text", "end", "barge_in"?, "stop"?}
    seed: int
    answer_spans: list[tuple[int, int]] = field(default_factory=list)  # (onset, end) on the track

    @property
    def seconds(self) -> float:
        return len(self.agent) / SAMPLE_RATE


def compose_call(
    voice: Voice,
    part: str,
    seed: int,
    turns: int = 12,
    piper_caller: Voice | None = None,
    texts: list[str] | None = None,
) -> Call:
    """One call of `turns` caller lines, each answered (from `texts`, by default the part's
    answers); about a third of the longer answers are interrupted (the caller's next line
    starts into the answer and the agent stops 150 to 450 ms later)."""
    rng = np.random.default_rng(seed)
    caller_voice = piper_caller or Voice("piper-joe", "piper")
    texts = texts or ANSWERS[part]
    order = rng.permutation(len(texts))
    lines = rng.permutation(len(CALLER_LINES))
    pieces_caller: list[tuple[int, np.ndarray]] = []
    pieces_agent: list[tuple[int, np.ndarray]] = []
    utterances, answers = [], []
    t = int(0.6 * SAMPLE_RATE)
    pending_start: int | None = None  # a barge-in: the next caller line starts here
    for i in range(turns):
        line = CALLER_LINES[lines[i % len(lines)]]
        cclip = synthesize(caller_voice, line)
        c_first, c_last = edges(cclip)
        start = (pending_start - c_first) if pending_start is not None else t
        pieces_caller.append((start, cclip))
        utterances.append(
            {
                "text": line,
                "start": start / SAMPLE_RATE,
                "end": (start + len(cclip)) / SAMPLE_RATE,
                "speech_start": (start + c_first) / SAMPLE_RATE,
                "speech_end": (start + c_last + 1) / SAMPLE_RATE,
            }
        )
        caller_end = start + c_last + 1
        text = texts[order[i % len(order)]]
        aclip = synthesize(voice, text)
        a_first, a_last = edges(aclip)
        delay = int(np.exp(rng.uniform(np.log(150), np.log(2500))) * SAMPLE_RATE / 1000)
        onset = caller_end + delay
        place = onset - a_first
        length = a_last - a_first + 1
        answer: dict[str, Any] = {"caller_end": caller_end, "onset": onset, "text": text}
        pending_start = None
        if i + 1 < turns and length > 1.0 * SAMPLE_RATE and rng.random() < 0.45:
            barge = int(rng.uniform(0.4, min(1.5, length / SAMPLE_RATE - 0.4)) * SAMPLE_RATE)
            react = int(
                rng.uniform(0.25, 0.5) * SAMPLE_RATE
            )  # overlaps under 200 ms are not interruptions
            cut = a_first + barge + react  # in the clip
            fade = int(0.001 * SAMPLE_RATE)
            aclip = aclip[:cut].astype(np.float64)
            aclip[-fade:] *= np.linspace(1.0, 0.0, fade)
            aclip = np.round(aclip).astype(np.int16)
            stop_in_clip = edges_before(aclip, len(aclip))
            answer.update(
                barge_in=onset + barge, stop=place + stop_in_clip, end=place + stop_in_clip + 1
            )
            pending_start = onset + barge
        else:
            answer["end"] = place + a_last + 1
        pieces_agent.append((place, aclip))
        answers.append(answer)
        t = answer["end"] + int(rng.uniform(0.3, 1.2) * SAMPLE_RATE)
    total = max(t, *(s + len(c) for s, c in pieces_caller)) + int(0.8 * SAMPLE_RATE)
    caller = np.zeros(total, dtype=np.int16)
    agent = np.zeros(total, dtype=np.int16)
    for s, c in pieces_caller:
        caller[s : s + len(c)] = c
    for s, c in pieces_agent:
        agent[s : s + len(c)] = c
    return Call(
        voice,
        part,
        caller,
        agent,
        utterances,
        answers,
        seed,
        [(a["onset"], a["end"]) for a in answers],
    )


def edges_before(clip: np.ndarray, end: int) -> int:
    """The last sample before `end` within TRUTH_DB of the (whole) clip's peak."""
    mag = np.abs(clip[:end].astype(np.float64))
    idx = np.flatnonzero(mag >= mag.max() * 10 ** (TRUTH_DB / 20))
    return int(idx[-1])


# ---------------------------------------------------------------------------------------------
# Channel conditions, applied to the agent's track.


def active_rms(track: np.ndarray) -> float:
    """The level of speech: RMS over 10 ms frames within 30 dB of the loudest."""
    x = track.astype(np.float64)
    n = len(x) // 160
    frames = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1))
    loud = frames[frames >= frames.max() * 10 ** (-30 / 20)]
    return float(np.sqrt(np.mean(loud**2)))


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white, pink (1/f) or brown (1/f²) noise."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        spectrum /= f ** (0.5 if kind == "pink" else 1.0)
        spectrum[f < 20] = 0
        x = np.fft.irfft(spectrum, n)
    x -= x.mean()
    return x / (np.sqrt(np.mean(x * x)) or 1.0)


def with_noise(call: Call, kind: str, snr_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = (
        coloured_noise(kind, len(call.agent), rng) * active_rms(call.agent) / 10 ** (snr_db / 20)
    )
    return _to_int16(call.agent.astype(np.float64) + noise)


def babble(call: Call, snr_db: float, seed: int, voices: int = 5) -> np.ndarray:
    """A background of several voices talking at once, `snr_db` under the agent's speech."""
    rng = np.random.default_rng(seed)
    pool = BABBLE_VOICES[call.part]
    sentences = [s.strip() + "." for s in BABBLE_TEXT.split(".") if s.strip()]
    mix = np.zeros(len(call.agent), dtype=np.float64)
    for v in pool[:voices]:
        stream: list[np.ndarray] = []
        length = 0
        while length < len(mix) + SAMPLE_RATE:
            clip = synthesize(v, sentences[int(rng.integers(len(sentences)))]).astype(np.float64)
            stream.append(clip)
            length += len(clip)
        joined = np.concatenate(stream)
        offset = int(rng.integers(0, SAMPLE_RATE))
        mix += joined[offset : offset + len(mix)]
    mix *= active_rms(call.agent) / (np.sqrt(np.mean(mix * mix)) or 1.0) / 10 ** (snr_db / 20)
    return _to_int16(call.agent.astype(np.float64) + mix)


def _in_steps(
    n: int, seed: int, step_s: float, sound: Callable[[int, np.random.Generator, np.ndarray], Any]
) -> np.ndarray:
    """`n` samples of music: `sound(k, rng, t)`, the k-th sound (t: the times of one step),
    struck every `step_s` seconds, each lasting one step."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=np.float64)
    step = int(step_s * SAMPLE_RATE)
    t = np.arange(step) / SAMPLE_RATE
    for k, i in enumerate(range(0, n, step)):
        out[i : i + step] += sound(k, rng, t)[: n - i]
    return out


def chords(n: int, seed: int) -> np.ndarray:
    """`n` samples of music: a chord of three notes (two octaves from 110 Hz, five harmonics
    each) struck every 300 ms, each decaying. Its level holds from chord to chord, but its
    spectrum moves with every chord."""

    def chord(k: int, rng: np.random.Generator, t: np.ndarray) -> Any:
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / 0.4)
        notes = 110.0 * 2 ** (rng.integers(0, 24, 3) / 12)
        return sum(np.sin(2 * np.pi * f * h * t) / h for f in notes for h in range(1, 6)) * envelope

    return _in_steps(n, seed, 0.3, chord)


def melody(n: int, seed: int) -> np.ndarray:
    """`n` samples of a melody: single notes (three harmonics, a slight vibrato) every 150 ms
    over two octaves from 220 Hz, each decaying."""

    def note(k: int, rng: np.random.Generator, t: np.ndarray) -> Any:
        envelope = np.minimum(1.0, t / 0.005) * np.exp(-t / 0.2)
        f = 220.0 * 2 ** (rng.integers(0, 24) / 12) * (1 + 0.005 * np.sin(2 * np.pi * 5 * t))
        return sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3)) * envelope

    return _in_steps(n, seed, 0.15, note)


def drums(n: int, seed: int) -> np.ndarray:
    """`n` samples of drums: a kick (a falling 60 Hz thump) and a hat (a burst of noise) in
    turn, every 250 ms."""

    def hit(k: int, rng: np.random.Generator, t: np.ndarray) -> Any:
        if k % 2 == 0:
            return np.sin(2 * np.pi * 60 * t * (1 + np.exp(-t / 0.03))) * np.exp(-t / 0.08)
        return rng.standard_normal(len(t)) * np.exp(-t / 0.03) * 0.5

    return _in_steps(n, seed, 0.25, hit)


def pad(n: int, seed: int) -> np.ndarray:
    """`n` samples of a pad: chords of four notes (seven soft harmonics each) that swell in
    and out, a new one every second."""

    def chord(k: int, rng: np.random.Generator, t: np.ndarray) -> Any:
        envelope = np.minimum(1.0, t / 0.2) * np.minimum(1.0, (1.0 - t) / 0.2)
        notes = 110.0 * 2 ** (rng.integers(0, 24, 4) / 12)
        return (
            sum(np.sin(2 * np.pi * f * h * t) / h**2 for f in notes for h in range(1, 8)) * envelope
        )

    return _in_steps(n, seed, 1.0, chord)


def music(
    call: Call, snr_db: float, seed: int, kind: Callable[[int, int], np.ndarray] = chords
) -> np.ndarray:
    """A background of music (`chords`, or another `kind`) `snr_db` under the agent's speech:
    an agent that plays hold music under its voice."""
    mix = kind(len(call.agent), seed)
    mix *= active_rms(call.agent) / (np.sqrt(np.mean(mix * mix)) or 1.0) / 10 ** (snr_db / 20)
    return _to_int16(call.agent.astype(np.float64) + mix)


def with_dc(call: Call, seed: int) -> np.ndarray:
    offset = np.random.default_rng(seed).choice([-1, 1]) * np.random.default_rng(seed + 1).uniform(
        200, 1200
    )
    return _to_int16(call.agent.astype(np.float64) + offset)


def with_hum(call: Call, seed: int) -> np.ndarray:
    """Mains hum (50 or 60 Hz and its odd harmonics) about 40 dB under the speech."""
    rng = np.random.default_rng(seed)
    base = rng.choice([50.0, 60.0])
    t = np.arange(len(call.agent)) / SAMPLE_RATE
    hum = sum(
        np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 3, 5, 7)
    )
    hum *= active_rms(call.agent) * 10 ** (-rng.uniform(35, 45) / 20) / np.sqrt(np.mean(hum * hum))
    return _to_int16(call.agent.astype(np.float64) + hum)


def with_comfort_noise(call: Call, seed: int) -> np.ndarray:
    """20-60 ms of low noise (-66 to -54 dBFS) right before each answer, digital silence
    elsewhere: what some pipelines send as they start to speak."""
    rng = np.random.default_rng(seed)
    x = call.agent.astype(np.float64)
    for a in call.answers:
        n = int(rng.uniform(0.02, 0.06) * SAMPLE_RATE)
        level = 32768 * 10 ** (rng.uniform(-66, -54) / 20)
        x[a["onset"] - n : a["onset"]] += rng.standard_normal(n) * level
    return _to_int16(x)


def mulaw_round_trip(call: Call, seed: int = 0) -> np.ndarray:
    """G.711 μ-law at 8 kHz, as a phone leg carries it."""
    narrow = resample(call.agent, SAMPLE_RATE, 8000).astype(np.float64) / 32768.0
    mu = 255.0
    coded = np.sign(narrow) * np.log1p(mu * np.abs(narrow)) / np.log1p(mu)
    coded = np.round(coded * 127) / 127  # 8 bits
    decoded = np.sign(coded) * ((1 + mu) ** np.abs(coded) - 1) / mu
    return resample(_to_int16(decoded * 32767), 8000, SAMPLE_RATE)


def packet_loss_zeros(call: Call, seed: int, loss: float = 0.05, frame_ms: int = 20) -> np.ndarray:
    """Lost 20 ms packets with no concealment: silence where they were."""
    rng = np.random.default_rng(seed)
    x = call.agent.copy()
    n = SAMPLE_RATE * frame_ms // 1000
    for i in range(0, len(x), n):
        if rng.random() < loss:
            x[i : i + n] = 0
    return x


def opus_round_trip(
    call: Call, seed: int, *, loss: float = 0.0, dtx: bool = False, bitrate: int = 24000
) -> np.ndarray:
    """Opus at 16 kHz (20 ms packets), as the agent's uplink carries it; lost packets are
    concealed by the decoder (its PLC); with `dtx`, silence is sent as comfort noise."""
    from agora_runner.channel.codec import OpusLink

    rng = np.random.default_rng(seed)
    link = OpusLink(bitrate=bitrate, dtx=dtx)
    n = SAMPLE_RATE // 50
    pad = (-len(call.agent)) % n
    x = np.concatenate([call.agent, np.zeros(pad, dtype=np.int16)])
    out = [link.carry(x[i : i + n], lost=bool(rng.random() < loss)) for i in range(0, len(x), n)]
    return np.concatenate(out)[: len(call.agent)]


def opus_fullband(call: Call, seed: int = 0, bitrate: int = 32000) -> np.ndarray:
    """Opus at 48 kHz (20 ms packets; hybrid or CELT, as a sender at 48 kHz gets), the agent's
    audio resampled up to it and the decoded audio back down to 16 kHz (soxr), as a recording
    made from a 48 kHz call is scored."""
    import soxr

    from agora_runner.channel.codec import OpusLink

    rate, n = 48000, 960
    up = _to_int16(soxr.resample(call.agent.astype(np.float32), SAMPLE_RATE, rate))
    up = np.concatenate([up, np.zeros((-len(up)) % n, dtype=np.int16)])
    link = OpusLink(bitrate=bitrate, rate=rate)
    out = np.concatenate([link.carry(up[i : i + n]) for i in range(0, len(up), n)])
    down = soxr.resample(out.astype(np.float32), rate, SAMPLE_RATE)
    return _to_int16(down[: len(call.agent)])


def with_gain(call: Call, db: float) -> np.ndarray:
    """The agent `db` louder (clipped at full scale) or quieter."""
    return _to_int16(call.agent.astype(np.float64) * 10 ** (db / 20))


def with_tone(call: Call, hz: float, snr_db: float) -> np.ndarray:
    """A steady whine at `hz`, `snr_db` under the agent's speech."""
    t = np.arange(len(call.agent)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * hz * t) * np.sqrt(2) * active_rms(call.agent) / 10 ** (snr_db / 20)
    return _to_int16(call.agent.astype(np.float64) + tone)


def with_fan(call: Call, snr_db: float, seed: int) -> np.ndarray:
    """A fan: brown noise with lines at 120 and 240 Hz, `snr_db` under the agent's speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(call.agent)) / SAMPLE_RATE
    x = coloured_noise("brown", len(call.agent), rng) + np.sqrt(2) * (
        0.7 * np.sin(2 * np.pi * 120 * t) + 0.3 * np.sin(2 * np.pi * 240 * t)
    )
    x *= active_rms(call.agent) / np.sqrt(np.mean(x * x)) / 10 ** (snr_db / 20)
    return _to_int16(call.agent.astype(np.float64) + x)


def with_typing(call: Call, snr_db: float, seed: int) -> np.ndarray:
    """Typing on a keyboard near the agent's microphone: runs of keystrokes (100–300 ms apart,
    for 1–4 s, then 0.5–3 s without), each a press and a release 60–100 ms later, each a
    click of 1–6 kHz noise dying away in about 2 ms whose loudest 3 ms stand `snr_db` under
    the agent's speech."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(seed)
    n = len(call.agent)
    out = np.zeros(n)
    k = int(0.004 * SAMPLE_RATE)
    shape = np.exp(-np.arange(k) / (0.0015 * SAMPLE_RATE))
    band = butter(2, [1000, 6000], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    level = active_rms(call.agent) / 10 ** (snr_db / 20)
    t = int(rng.uniform(0.0, 1.0) * SAMPLE_RATE)
    while t < n:
        run_end = t + int(rng.uniform(1.0, 4.0) * SAMPLE_RATE)
        while t < min(run_end, n):
            for at in (t, t + int(rng.uniform(0.06, 0.1) * SAMPLE_RATE)):
                click = sosfilt(band, rng.standard_normal(k)) * shape
                click *= level * rng.uniform(0.5, 1.0) / np.sqrt(np.mean(click[:48] ** 2))
                out[at : at + k] += click[: max(0, min(k, n - at))]
            t += int(rng.uniform(0.1, 0.3) * SAMPLE_RATE)
        t += int(rng.uniform(0.5, 3.0) * SAMPLE_RATE)
    return _to_int16(call.agent.astype(np.float64) + out)


def in_a_room(x: np.ndarray, seed: int, rt60: float = 0.3, wet_db: float = -6.0) -> np.ndarray:
    """`x` in a room: the direct sound and a tail of decaying noise (RT60 `rt60` s), `wet_db`
    under it."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    n = int(rt60 * SAMPLE_RATE)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail *= 10 ** (wet_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return _to_int16(fftconvolve(x.astype(np.float64), tail)[: len(x)])


def with_reverb(call: Call, seed: int) -> np.ndarray:
    """The agent's track in a room (`in_a_room`)."""
    return in_a_room(call.agent, seed)


def telephone_band(call: Call, seed: int = 0) -> np.ndarray:
    """The agent through a telephone band (300-3400 Hz, 4th-order Butterworth)."""
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return _to_int16(sosfilt(sos, call.agent.astype(np.float64)))


def with_agc(call: Call, seed: int = 0) -> np.ndarray:
    """An automatic gain control swinging the agent's level ±8 dB over 7 s."""
    t = np.arange(len(call.agent)) / SAMPLE_RATE
    return _to_int16(call.agent.astype(np.float64) * 10 ** (8 * np.sin(2 * np.pi * t / 7) / 20))


CONDITIONS: dict[str, Callable[[Call, int], np.ndarray]] = {
    "clean": lambda c, s: c.agent.copy(),
    "mulaw": mulaw_round_trip,
    "opus": lambda c, s: opus_round_trip(c, s),
    "opus dtx": lambda c, s: opus_round_trip(c, s, dtx=True),
    "opus loss 5% (plc)": lambda c, s: opus_round_trip(c, s, loss=0.05),
    "loss 5% (zeros)": packet_loss_zeros,
    "dc offset": with_dc,
    "hum": with_hum,
    "comfort noise": with_comfort_noise,
    "white 20 dB": lambda c, s: with_noise(c, "white", 20, s),
    "pink 20 dB": lambda c, s: with_noise(c, "pink", 20, s),
    "brown 20 dB": lambda c, s: with_noise(c, "brown", 20, s),
    "white 10 dB": lambda c, s: with_noise(c, "white", 10, s),
    "pink 10 dB": lambda c, s: with_noise(c, "pink", 10, s),
    "brown 10 dB": lambda c, s: with_noise(c, "brown", 10, s),
    "voices 30 dB": lambda c, s: babble(c, 30, s),
    "voices 20 dB": lambda c, s: babble(c, 20, s),
    "voices 10 dB": lambda c, s: babble(c, 10, s),
    "music 30 dB": lambda c, s: music(c, 30, s),
    "music 20 dB": lambda c, s: music(c, 20, s),
}
# Conditions the default run leaves out (`timing_bench.py --extra`): looked at once for
# gross failures (docs/metrics.md), not chosen on.
EXTRA_CONDITIONS: dict[str, Callable[[Call, int], np.ndarray]] = {
    "quiet -30 dB": lambda c, s: with_gain(c, -30),
    "loud clipped +15 dB": lambda c, s: with_gain(c, 15),
    "opus 12 kbit/s": lambda c, s: opus_round_trip(c, s, bitrate=12000),
    "opus 48 kbit/s": lambda c, s: opus_round_trip(c, s, bitrate=48000),
    "opus 48 kHz 32 kbit/s": opus_fullband,
    "telephone band": telephone_band,
    "agc swing": with_agc,
    "reverb 0.3 s": with_reverb,
    "white 30 dB": lambda c, s: with_noise(c, "white", 30, s),
    "tone 1 kHz 30 dB": lambda c, s: with_tone(c, 1000, 30),
    "fan 25 dB": lambda c, s: with_fan(c, 25, s),
    "melody 30 dB": lambda c, s: music(c, 30, s, melody),
    "drums 30 dB": lambda c, s: music(c, 30, s, drums),
    "pad 30 dB": lambda c, s: music(c, 30, s, pad),
    "typing 20 dB": lambda c, s: with_typing(c, 20, s),
    "typing 10 dB": lambda c, s: with_typing(c, 10, s),
}
# Which target each condition is held to (docs/metrics.md, issue 19).
CLASS = {
    **{
        k: "exact"
        for k in (
            "clean",
            "mulaw",
            "opus",
            "opus dtx",
            "opus loss 5% (plc)",
            "loss 5% (zeros)",
            "dc offset",
            "hum",
            "comfort noise",
        )
    },
    **{k: "noise 20" for k in ("white 20 dB", "pink 20 dB", "brown 20 dB")},
    **{k: "noise 10" for k in ("white 10 dB", "pink 10 dB", "brown 10 dB")},
    "voices 30 dB": "voices 30",
    "voices 20 dB": "voices loud",
    "voices 10 dB": "voices loud",
    "music 30 dB": "voices 30",
    "music 20 dB": "voices loud",
    **{
        k: "exact"
        for k in (
            "quiet -30 dB",
            "loud clipped +15 dB",
            "opus 12 kbit/s",
            "opus 48 kbit/s",
            "opus 48 kHz 32 kbit/s",
            "telephone band",
            "agc swing",
            "reverb 0.3 s",
        )
    },
    **{k: "noise 20" for k in ("white 30 dB", "tone 1 kHz 30 dB", "fan 25 dB")},
    **{k: "voices 30" for k in ("melody 30 dB", "drums 30 dB", "pad 30 dB")},
    "typing 20 dB": "voices 30",
    "typing 10 dB": "voices loud",
}
