"""Turn a recording into a transcript: ASR per speaker turn, times in call time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.vocabulary import Role

from .audio import SAMPLE_RATE, speech_segments
from .speech import Transcriber
from .types import CallRecording


@dataclass
class Turn:
    role: str
    content: str
    start_time: float
    end_time: float
    intended: str | None = None  # what the caller was made to say (caller turns only)

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "start_time": round(self.start_time, 3),
            "end_time": round(self.end_time, 3),
            "time": mmss(self.start_time),
        }


def mmss(seconds: float) -> str:
    total = int(max(0.0, seconds))
    return f"{total // 60:02d}:{total % 60:02d}"


def transcribe_call(
    recording: CallRecording, caller_utterances: list[dict[str, Any]], asr: Transcriber
) -> list[Turn]:
    """Caller turns are cut where the caller spoke (known exactly); agent turns by VAD."""
    turns: list[Turn] = []
    for utt in caller_utterances:
        start, end = float(utt["start"]), float(utt["end"])
        audio = recording.caller[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        text = asr.transcribe(audio)
        turns.append(Turn(Role.TESTING_AGENT, text, start, end, intended=str(utt["text"])))
    for seg in speech_segments(recording.agent):
        text = asr.transcribe(recording.agent[seg.start : seg.end])
        if text:
            turns.append(
                Turn(Role.MAIN_AGENT, text, seg.start / SAMPLE_RATE, seg.end / SAMPLE_RATE)
            )
    turns.sort(key=lambda t: t.start_time)
    return turns


def transcript_text(turns: list[Turn]) -> str:
    return "\n".join(f"[{mmss(t.start_time)}] {t.role}: {t.content}" for t in turns if t.content)
