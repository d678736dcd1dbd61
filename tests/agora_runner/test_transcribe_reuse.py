"""Post-processing reuses what the caller heard live: an agent reply transcribed during the
call (its span kept in the timeline) is not transcribed again."""

from __future__ import annotations

from typing import Any

import numpy as np

from agora_runner.transcribe import heard_replies, transcribe_call
from tests.test_framework.recorded import recorded_outcome


class Counting:
    """The real recogniser, counting what it is asked to transcribe."""

    def __init__(self, asr: Any) -> None:
        self.asr, self.calls = asr, 0

    def transcribe(self, audio: np.ndarray) -> str:
        self.calls += 1
        return str(self.asr.transcribe(audio))


def heard(text: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {
        "t": end,
        "kind": "agent_turn_heard",
        "data": {"text": text, "start": start, "end": end, **extra},
    }


def test_a_reply_heard_live_keeps_its_text_and_is_not_transcribed_again(asr: Any) -> None:
    outcome = recorded_outcome()
    rec, utts = outcome.recording, outcome.caller_utterances
    assert rec is not None
    full = Counting(asr)
    before = transcribe_call(rec, utts, full)
    agent_before = [t for t in before if t.role == "Main Agent"]
    # The agent's second reply (about 8.0-11.7 s) was heard live, in the words of live hearing.
    live = "We are open Monday to Friday, nine to five."
    reused = Counting(asr)
    after = transcribe_call(rec, utts, reused, timeline=[heard(live, 7.85, 11.85)])
    agent_after = [t for t in after if t.role == "Main Agent"]
    assert reused.calls < full.calls
    assert [t.content for t in agent_after if 7.5 < t.start_time < 12] == [live]
    # The replies outside that span are transcribed as before.
    outside = [t.content for t in agent_before if not 7.5 < t.start_time < 12]
    assert [t.content for t in agent_after if not 7.5 < t.start_time < 12] == outside
    # The caller's turns do not change.
    assert [t.content for t in after if t.role == "Testing Agent"] == [
        t.content for t in before if t.role == "Testing Agent"
    ]


def test_hearings_without_a_span_or_that_timed_out_are_not_reused() -> None:
    timeline = [
        {"t": 1, "kind": "agent_turn_heard", "data": {"text": "old call, no span"}},
        heard("", 1.0, 2.0, timed_out=True),
        heard("kept", 3.0, 4.0),
        {"t": 5, "kind": "agent_speech_end", "data": {}},
    ]
    assert [(h.start, h.end, h.text) for h in heard_replies(timeline)] == [(3.0, 4.0, "kept")]
