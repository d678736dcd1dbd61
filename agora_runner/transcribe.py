"""Turn a recording into a transcript: ASR per speaker turn, times in call time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.vocabulary import Role

from .audio import SAMPLE_RATE, speech_segments
from .speech import Transcriber, transcribe_many
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
    recording: CallRecording,
    caller_utterances: list[dict[str, Any]],
    asr: Transcriber,
    *,
    timeline: list[dict[str, Any]] | None = None,
) -> list[Turn]:
    """Caller turns are cut where the caller spoke (known exactly); agent turns by VAD. An
    agent reply the caller already heard live (an `agent_turn_heard` event with its span in
    the timeline) keeps that text: the same model heard the same audio, so it is not
    transcribed again; the agent's speech outside those spans is."""
    turns: list[Turn] = []
    spans = [(float(u["start"]), float(u["end"])) for u in caller_utterances]
    # The caller's lines in one pass where the recogniser can (their text is known: this is
    # the self-check), the agent's turns one by one.
    texts = transcribe_many(
        asr,
        [
            recording.caller[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            for start, end in spans
        ],
        [str(u["text"]) for u in caller_utterances],
    )
    for utt, (start, end), text in zip(caller_utterances, spans, texts, strict=True):
        turns.append(Turn(Role.TESTING_AGENT, text, start, end, intended=str(utt["text"])))
    heard = heard_replies(timeline or [])
    for group in _by_reply(speech_segments(recording.agent), heard):
        if group.text is not None:  # heard live: one turn, the reply's text
            first, last = group.segments[0], group.segments[-1]
            if group.text:
                turns.append(
                    Turn(
                        Role.MAIN_AGENT,
                        group.text,
                        first.start / SAMPLE_RATE,
                        last.end / SAMPLE_RATE,
                    )
                )
            continue
        for seg in group.segments:
            text = asr.transcribe(recording.agent[seg.start : seg.end])
            if text:
                turns.append(
                    Turn(Role.MAIN_AGENT, text, seg.start / SAMPLE_RATE, seg.end / SAMPLE_RATE)
                )
    turns.sort(key=lambda t: t.start_time)
    return turns


@dataclass
class Heard:
    start: float  # seconds, call time
    end: float
    text: str


def heard_replies(timeline: list[dict[str, Any]]) -> list[Heard]:
    """The agent's replies the caller transcribed live, with their spans (events from calls
    recorded before spans were kept, and hearings that timed out, are left out)."""
    out = []
    for event in timeline:
        data = event.get("data") or {}
        if event.get("kind") != "agent_turn_heard" or data.get("timed_out"):
            continue
        if isinstance(data.get("start"), int | float) and isinstance(data.get("end"), int | float):
            out.append(Heard(float(data["start"]), float(data["end"]), str(data.get("text") or "")))
    return out


@dataclass
class _Group:
    segments: list[Any]
    text: str | None  # the heard text, or None: transcribe each segment


def _by_reply(segments: list[Any], heard: list[Heard]) -> list[_Group]:
    """The agent's speech segments, those inside a heard reply's span grouped under its text
    (a segment is inside when it starts and ends within the span)."""
    groups: list[_Group] = []
    by_reply: dict[int, _Group] = {}
    for seg in segments:
        start, end = seg.start / SAMPLE_RATE, seg.end / SAMPLE_RATE
        reply = next(
            (i for i, h in enumerate(heard) if h.start - 0.05 <= start and end <= h.end + 0.05),
            None,
        )
        if reply is None:
            groups.append(_Group([seg], None))
        elif reply in by_reply:
            by_reply[reply].segments.append(seg)
        else:
            by_reply[reply] = _Group([seg], heard[reply].text)
            groups.append(by_reply[reply])
    return groups


def transcript_text(turns: list[Turn]) -> str:
    return "\n".join(f"[{mmss(t.start_time)}] {t.role}: {t.content}" for t in turns if t.content)
