"""Score any stereo recording (caller left, agent right) with the predefined catalogue: the
public entry point behind `python -m evaluators score` and `recordings/score/`."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import CallData
from .catalogue import evaluate_call

SAMPLE_RATE = 16000
MAX_SECONDS = 3600.0
MIN_RATE, MAX_RATE = 8000, 192000


class RecordingError(ValueError):
    """The recording or the turns cannot be scored; the message says why."""


@dataclass
class Recording:
    caller: np.ndarray
    agent: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.agent) / SAMPLE_RATE


def read_recording(data: bytes, max_seconds: float = MAX_SECONDS) -> Recording:
    """A stereo recording (caller left, agent right) as the two 16 kHz int16 tracks: WAV (8-,
    16-, 24- or 32-bit PCM, or float), FLAC, Ogg (Vorbis, Opus) or MP3, at any rate from
    8 kHz to 192 kHz, resampled to 16 kHz (soxr, linear phase: both tracks alike, and no edge
    moved). RecordingError saying what is wrong."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            channels, rate, frames = f.channels, f.samplerate, f.frames
            if channels != 2:
                raise RecordingError(
                    f"the recording must be stereo (caller left, agent right), not {channels} "
                    "channel(s)"
                )
            if not MIN_RATE <= rate <= MAX_RATE:
                raise RecordingError(
                    f"the recording is sampled at {rate} Hz; from {MIN_RATE} to {MAX_RATE} Hz "
                    "can be scored"
                )
            if frames > max_seconds * rate:
                raise RecordingError(
                    f"the recording is {frames / rate:.0f} s long; at most {max_seconds:.0f} s "
                    "can be scored"
                )
            pcm = (
                f.read(dtype="int16", always_2d=True)  # taken as they are
                if rate == SAMPLE_RATE
                else _resampled(f, rate)
            )
    except soundfile.LibsndfileError as exc:
        raise RecordingError(
            f"not an audio file that can be read (WAV, FLAC, Ogg or MP3): {exc.error_string}"
        ) from None
    if not len(pcm):
        raise RecordingError("the recording is empty")
    return Recording(np.ascontiguousarray(pcm[:, 0]), np.ascontiguousarray(pcm[:, 1]))


def _resampled(f: Any, rate: int) -> np.ndarray:
    """The rest of an open sound file, resampled to 16 kHz int16 a block at a time (an hour at
    192 kHz would not fit in memory whole)."""
    import soxr

    stream = soxr.ResampleStream(rate, SAMPLE_RATE, 2, dtype="float32", quality="HQ")
    out = [stream.resample_chunk(block) for block in f.blocks(10 * rate, dtype="float32")]
    out.append(stream.resample_chunk(np.zeros((0, 2), dtype=np.float32), last=True))
    return np.clip(np.round(np.concatenate(out) * 32768.0), -32768, 32767).astype(np.int16)


def caller_utterances(turns: Any, seconds: float) -> list[dict[str, Any]]:
    """`[{"start_s", "end_s"}, …]` (the caller's authored speech) as the utterances the
    metrics read; RecordingError naming the first bad entry."""
    if not isinstance(turns, list):
        raise RecordingError('caller turns must be a JSON list of {"start_s": …, "end_s": …}')
    out = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict) or not all(
            isinstance(t.get(k), int | float) and not isinstance(t.get(k), bool)
            for k in ("start_s", "end_s")
        ):
            raise RecordingError(
                f"caller turn {i} must be an object with numbers start_s and end_s"
            )
        start, end = float(t["start_s"]), float(t["end_s"])
        if not 0 <= start < end <= seconds + 0.05:
            raise RecordingError(
                f"caller turn {i} ({start:g}–{end:g} s) must lie within the recording "
                f"(0–{seconds:.2f} s) and end after it starts"
            )
        out.append(
            {
                "text": str(t.get("text", "")),
                "start": start,
                "end": end,
                "speech_start": start,
                "speech_end": end,
            }
        )
    return sorted(out, key=lambda u: u["start"])


def score_recording(
    recording: Recording, turns: Any = None, transcript: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The predefined metrics of one recording, in the API's shape, with its timing (every
    latency turn as {caller_end_s, agent_start_s, latency_ms, measurable, reason}). Without
    `turns`, the caller's lines are found on its track. Metrics that read a transcript say
    they were not judged unless one is given."""
    from .timing import find_turns
    from .timing.signal import Track

    agent = Track(recording.agent)  # its band powers, computed once for both uses
    if turns is None:
        found = find_turns(recording.caller, other=agent)
        utterances: list[dict[str, Any]] = [
            {
                "text": "",
                "start": line.start_s,
                "end": line.end_s,
                "speech_start": line.start_s,
                "speech_end": line.end_s,
                "end_unsure": line.unsure,
            }
            for line in found
        ]
        source = "found on the caller's track"
    else:
        utterances = caller_utterances(turns, recording.seconds)
        source = "given"
    call = CallData(
        SAMPLE_RATE,
        recording.caller,
        recording.agent,
        transcript or [],
        utterances,
        [],
        agent_track=agent,
    )
    outcome, metrics = evaluate_call(call)
    timing = call.timing
    return {
        "duration_s": round(recording.seconds, 3),
        "caller_turns": {
            "source": source,
            "turns": [
                {"start_s": round(u["start"], 4), "end_s": round(u["end"], 4)} for u in utterances
            ],
        },
        "latency_turns": [t.as_dict() for t in timing.turns],
        "stops": [s.as_dict() for s in timing.stops],
        "metrics": [outcome.as_dict()] + [m.as_dict() for m in metrics],
    }
