"""Where post-processing spends its CPU, and what it costs per minute of call: the recorded
demo call (tests/test_framework/recorded/, ~18 s) transcribed and scored as the post worker
does, under cProfile on CPU time, in three ways:

- full window: every turn through Whisper's whole 30 s window (post-processing before
  issue 24);
- short context: each turn encoded with 5 s of margin, in a window of at least 10 s
  (CEKURA_POST_ASR_SHORT_CONTEXT, now the default);
- short context, replies heard live reused: as a real call with live hearing leaves it, the
  agent's replies carry the text the caller heard (made here before measuring: that work was
  done during the call), so only the caller's lines are transcribed after it.

For each: CPU-seconds per minute of call (issue 24's target: at most 2), the caller's
self-check word error rate (what it was made to say against what our ASR heard) and the agent
transcript's word error rate against the demo agent's known lines. Then the top entries of
the last way's profile.

    .venv/bin/python bench/profile_post.py [--repeat 3] [--top 20]

The speech models are loaded and warmed before measuring: a post worker keeps them loaded.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    from agora_runner.demo import intents
    from agora_runner.speech import POST_MIN_WINDOW_SECONDS, FasterWhisperASR
    from agora_runner.transcribe import transcribe_call
    from evaluators import CallData
    from evaluators.catalogue import score_call
    from evaluators.text import word_error_rate
    from tests.test_framework.recorded import recorded_outcome

    outcome = recorded_outcome()
    rec = outcome.recording
    assert rec is not None
    seconds = len(rec.caller) / rec.sample_rate
    timeline = [asdict(e) for e in outcome.timeline]
    agent_lines = [
        intents.GREETING,
        "We are open Monday to Friday, from eight in the morning to six in the evening.",
        intents.FAREWELL,
    ]
    full = FasterWhisperASR(threads=2)
    short = FasterWhisperASR(
        threads=2, short_context=True, min_window_seconds=POST_MIN_WINDOW_SECONDS
    )
    heard = _heard_live(rec, timeline, short)

    def once(asr: Any, events: list[dict[str, Any]]) -> list[Any]:
        turns = transcribe_call(rec, outcome.caller_utterances, asr, timeline=events)
        call = CallData(
            rec.sample_rate,
            rec.caller,
            rec.agent,
            [t.as_dict() for t in turns],
            outcome.caller_utterances,
            events,
            expected_outcome_prompt='Says "Monday to Friday".',
            ended_reason=outcome.ended_reason,
        )
        score_call(call)
        return turns

    print(f"call: {seconds:.1f} s, {len(outcome.caller_utterances)} caller lines")
    print(f"{'way':<44} {'CPU-s/call':>10} {'CPU-s/min':>9} {'caller WER':>10} {'agent WER':>9}")
    profile = cProfile.Profile(time.process_time)
    for name, asr, events in (
        ("full window (before)", full, timeline),
        ("short context", short, timeline),
        ("short context, replies heard live reused", short, timeline + heard),
    ):
        turns = once(asr, events)  # warm
        profile = cProfile.Profile(time.process_time)
        started = time.process_time()
        profile.enable()
        for _ in range(args.repeat):
            turns = once(asr, events)
        profile.disable()
        cpu = (time.process_time() - started) / args.repeat
        caller = [t for t in turns if t.role == "Testing Agent"]
        said = " ".join(t.intended or "" for t in caller)
        caller_wer = word_error_rate(said, " ".join(t.content for t in caller))
        agent = " ".join(t.content for t in turns if t.role == "Main Agent")
        agent_wer = word_error_rate(" ".join(agent_lines), agent)
        print(
            f"{name:<44} {cpu:>10.2f} {cpu / seconds * 60:>9.2f} {caller_wer:>10.3f} "
            f"{agent_wer:>9.3f}"
        )
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
    print("\nprofile of the last way, by cumulative CPU time:")
    print(out.getvalue())


def _heard_live(rec: Any, timeline: list[dict[str, Any]], asr: Any) -> list[dict[str, Any]]:
    """What live hearing leaves in a call's timeline: each agent reply (agent_speech_start to
    the next caller line or the end) transcribed with the short context, with its span."""
    starts = [e["t"] for e in timeline if e["kind"] == "agent_speech_start"]
    edges = [e["t"] for e in timeline if e["kind"] == "caller_speech_start"]
    end_of_call = len(rec.agent) / rec.sample_rate
    events = []
    for start in starts:
        end = min([t for t in edges if t > start] + [end_of_call])
        a, b = max(0.0, start - 0.1), min(end_of_call, end)
        text = asr.transcribe(rec.agent[int(a * rec.sample_rate) : int(b * rec.sample_rate)])
        events.append(
            {"t": b, "kind": "agent_turn_heard", "data": {"text": text, "start": a, "end": b}}
        )
    return events


if __name__ == "__main__":
    main()
